'use strict';
// ctlreq-parse.js - what a control request means to a reader that
// follows JSON.parse, for tests/ctlreq_test.c
// (ctlreq_decode_matches_node_json_parse): stdin holds one request line per
// line, in hex; each is decoded from UTF-8 as Node decodes what it
// reads (ill-formed bytes become U+FFFD) and given to JSON.parse. One
// answer line each, the request as docs/control.md reads it:
//   E            not JSON
//   D            JSON, but nested deeper than libherd's limit
//                (HERD_JSON_MAX_DEPTH, 512; JSON.parse has none)
//   N            not an object
//   C            no "cmd" member that is a string
//   Z            "cmd" holds a NUL character
//   U            an unknown command
//   ping status reload restart reopen config
//   scale w N    "workers": a whole number N in 1..4096
//   scale a N    no "workers", "add": a whole number N in -4096..4096
//   scale give   neither, or one that is not a number
//   scale badw   "workers" a number, but not a whole one in range
//   scale bada   the same for "add"
//   stop g1      stop, "graceful" is true (g0: anything else)
//   send         "msg" is there, "slot" absent or a whole number in
//                0..4095 (else: send arg_err)
//   update       "app" is an object (else: update arg_err)
//   reload       "env" and "update_env" absent or arrays of "K=V"
//                strings (else: reload arg_err)
//   describe s1  describe, "show_env" is true (s0: anything else)
//   signal S     "sig": a whole number S in 1..64, "slot" absent; with
//                slot N: "signal S slot N" (signal arg_err: not so)
//   flush
//   upgrade      "binary" absent, or a string without NUL that begins
//                with '/' (else: upgrade arg_err)
const MAX = 4096;
const cmds = ['ping', 'status', 'reload', 'restart', 'scale', 'stop', 'reopen', 'send',
              'config', 'describe', 'update', 'signal', 'flush', 'upgrade'];
const slotOk = (v) => !own(v, 'slot') ||
  (Number.isInteger(v.slot) && v.slot >= 0 && v.slot <= MAX - 1);
const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

// In a text JSON.parse took: the deepest nesting of arrays and objects
// (1 for [] or {}). From the text, not the value: a member that a later
// one of the same key replaces is gone from the value, but herd has
// read it.
function nesting(text) {
  let depth = 0, max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '[' || c === '{') {
      if (++depth > max) max = depth;
    } else if (c === ']' || c === '}') {
      depth--;
    }
  }
  return max;
}

function meaning(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return 'E';
  }
  if (nesting(text) > 512) return 'D';
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'N';
  if (!own(v, 'cmd') || typeof v.cmd !== 'string') return 'C';
  if (v.cmd.includes('\0')) return 'Z';
  if (!cmds.includes(v.cmd)) return 'U';
  if (v.cmd === 'scale') {
    const hw = own(v, 'workers'), ha = own(v, 'add');
    if ((hw && typeof v.workers !== 'number') || (ha && typeof v.add !== 'number') ||
        (!hw && !ha))
      return 'scale give';
    if (hw)
      return Number.isInteger(v.workers) && v.workers >= 1 && v.workers <= MAX
        ? 'scale w ' + v.workers : 'scale badw';
    return Number.isInteger(v.add) && v.add >= -MAX && v.add <= MAX
      ? 'scale a ' + v.add : 'scale bada';
  }
  if (v.cmd === 'stop') return 'stop g' + (v.graceful === true ? 1 : 0);
  if (v.cmd === 'send') {
    const ok = own(v, 'msg') && (!own(v, 'slot') ||
      (Number.isInteger(v.slot) && v.slot >= 0 && v.slot < MAX));
    return ok ? 'send' : 'send arg_err';
  }
  if (v.cmd === 'update') {
    const a = v.app;
    return own(v, 'app') && a !== null && typeof a === 'object' && !Array.isArray(a)
      ? 'update' : 'update arg_err';
  }
  if (v.cmd === 'reload') {
    const kv = (e) => typeof e === 'string' && !e.includes('\0') && e.indexOf('=') > 0;
    for (const k of ['env', 'update_env'])
      if (own(v, k) && !(Array.isArray(v[k]) && v[k].every(kv))) return 'reload arg_err';
  }
  if (v.cmd === 'upgrade' && own(v, 'binary') && !(typeof v.binary === 'string' &&
      !v.binary.includes('\0') && v.binary.startsWith('/')))
    return 'upgrade arg_err';
  if (v.cmd === 'describe') return 'describe s' + (v.show_env === true ? 1 : 0);
  if (v.cmd === 'signal') {
    if (!Number.isInteger(v.sig) || v.sig < 1 || v.sig > 64 || !slotOk(v))
      return 'signal arg_err';
    return 'signal ' + v.sig + (own(v, 'slot') ? ' slot ' + v.slot : '');
  }
  return v.cmd;
}

const hex = require('fs').readFileSync(0, 'latin1').split('\n');
if (hex[hex.length - 1] === '') hex.pop();
let out = '';
for (const h of hex) out += meaning(Buffer.from(h, 'hex').toString('utf8')) + '\n';
process.stdout.write(out);

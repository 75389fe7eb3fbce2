'use strict';
// v8-cases.js - the values of tests/v8ser_test.c, made by Node itself, so
// that libherd's V8 serialization is checked against the real thing both
// ways. Run with --expose-internals: the channel's own serializer
// (lib/internal/child_process/serialization.js) writes and reads frames.
//
//   node --expose-internals v8-cases.js gen
//       one line per case: NAME TAB hex(v8.serialize) TAB hex(channel
//       payload, as Node's process.send writes it, without the 4-byte
//       length prefix)
//   node --expose-internals v8-cases.js check < lines
//       each line NAME TAB hex TAB hex as gen writes them, from C: both
//       are read (v8.deserialize, the channel's reader) and compared with
//       the case; prints "FAIL NAME: why" lines, then "checked N"
//   node v8-cases.js parent HERD-TEST
//       spawn HERD-TEST --helper v8-echo with an 'ipc' channel and
//       {serialization: 'advanced'} (what fork does),
//       send every case (but undefined and bigints: send refuses them), compare each
//       echo; prints as check does
//   node v8-cases.js echo PROGRAM json|advanced
//       spawn PROGRAM (examples/echo-child.c: sends back every message)
//       with an 'ipc' channel of that serialization; advanced: send every
//       case process.send takes as it is, then every case wrapped as
//       {v: case} (undefined and bigints too); json: every case
//       JSON.stringify takes, compared with its JSON round trip. Prints
//       as check does
//   node v8-cases.js child
//       a child of a C parent (herd_fork with HERD_FORK_ADVANCED): each
//       {name, v} is checked against the case and answered with
//       {name, r: null or why not, v: the case as Node makes it};
//       {op: 'end'} disconnects
//   node v8-cases.js numbers
//       doubles as NUMBER-BITS-HEX TAB String(x): edge cases and random

const v8 = require('v8');
const util = require('util');

function sparse(len, entries) {
  const a = [];
  a.length = len;
  for (const [i, v] of entries) a[i] = v;
  return a;
}

function withProps(a, props) {
  Object.assign(a, props);
  return a;
}

function err(ctor, msg, opts, stack) {
  const e = opts === undefined ? new ctor(msg) : new ctor(msg, opts);
  if (stack === undefined) delete e.stack;
  else e.stack = stack;
  return e;
}

// Each case: a function making a fresh value (identity matters).
const cases = {
  undef: () => undefined,
  null: () => null,
  true: () => true,
  false: () => false,
  int1: () => 1,
  int300: () => 300,
  intneg1: () => -1,
  intmin: () => -(2 ** 31),
  intmax: () => 2 ** 31 - 1,
  two31: () => 2 ** 31,
  u32max: () => 4294967295,
  dbl: () => 1.5,
  dbl_tenth: () => 0.1,
  dbl_pi: () => Math.PI,
  dbl_tiny: () => 5e-324,
  dbl_1e21: () => 1e21,
  dbl_big_int: () => 2 ** 53 + 2,
  dbl_neg_small: () => -1.25e-7,
  negzero: () => -0,
  nan: () => NaN,
  inf: () => Infinity,
  ninf: () => -Infinity,
  big0: () => 0n,
  big_neg5: () => -5n,
  big_2p70: () => 2n ** 70n,
  big_neg2p64: () => -(2n ** 64n),
  big_2p300m1: () => 2n ** 300n - 1n,
  big_dec: () => 123456789012345678901234567890n,
  str_empty: () => '',
  str_hi: () => 'hi',
  str_latin1: () => '\u00e9',
  str_all_latin1: () => String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i)),
  str_nul: () => 'a\u0000b',
  str_euro: () => '\u20ac',
  str_astral: () => 'ab\u{1F600}',
  str_lone_high: () => '\ud800',
  str_lone_low: () => 'x\udc00y',
  str_reversed_pair: () => '\udc00\ud800',
  str_ctrl: () => '\n\t"\\\u0001\u007f',
  str_fffd: () => '\ufffd',
  str_pad: () => ['a', '\u20ac'],
  str_pad_key: () => ({ '\u20ac': 1 }),
  str_long_2byte: () => '\u20ac'.repeat(300),
  date: () => new Date(1700000000000),
  date_neg: () => new Date(-1),
  date_invalid: () => new Date(NaN),
  re: () => /ab+c/gi,
  re_all: () => /a/dgimsuy,
  re_v: () => /[\p{L}--[a-z]]/v,
  re_newline: () => new RegExp('a/b\n\u20ac'),
  arr_empty: () => [],
  arr_dense: () => [1, 2, 3],
  arr_mixed: () => [1, 'two', null, undefined, true, 2.5],
  arr_holes: () => [1, , 3], // eslint-disable-line no-sparse-arrays
  arr_trailing_hole: () => [1, 2, , ], // eslint-disable-line no-sparse-arrays
  arr_sparse: () => sparse(6, [[5, 'x']]),
  arr_extra: () => withProps([1, 2, 3], { extra: true }),
  arr_sparse_extra: () => withProps(sparse(3, [[1, 'b']]), { k: 'v' }),
  arr_nested: () => [[1, [2]], { a: [] }],
  arr_max_len: () => sparse(4294967295, []),
  arr_last_index: () => sparse(4294967295, [[4294967294, 'z']]),
  obj_empty: () => ({}),
  obj_nested: () => ({ a: { b: 'c' } }),
  obj_int_keys: () => ({ b: 1, a: 2, 1: 3, '-1': 4, '01': 5 }),
  obj_big_keys: () => ({ 4294967295: 1, 4294967294: 2, 2147483647: 3, 2147483648: 4 }),
  obj_v8_key: () => ({ $v8: 'x', y: { $v8: 1 } }),
  obj_proto_key: () => JSON.parse('{"__proto__": {"x": 1}}'),
  obj_class: () => new (class Point { constructor() { this.x = 1; } })(),
  msg_hello: () => ({ hello: 'world', n: 1 }),
  map: () => new Map([[1, 'a'], ['k', { x: 1 }], [{}, []]]),
  map_empty: () => new Map(),
  set: () => new Set([1, 'a', {}, -0]),
  set_empty: () => new Set(),
  ab: () => new Uint8Array([1, 2]).buffer,
  ab_empty: () => new ArrayBuffer(0),
  ab_resizable: () => new ArrayBuffer(2, { maxByteLength: 8 }),
  v_int8: () => new Int8Array([-1, 2, 127]),
  v_uint8: () => new Uint8Array([0, 255]),
  v_clamped: () => new Uint8ClampedArray([7]),
  v_int16: () => new Int16Array([-2, 1000]),
  v_uint16: () => new Uint16Array([65535]),
  v_int32: () => new Int32Array([-5, 1 << 30]),
  v_uint32: () => new Uint32Array([4294967295]),
  v_float32: () => new Float32Array([1.5, NaN]),
  v_float64: () => new Float64Array([-0, Math.E]),
  v_dataview: () => new DataView(new Uint8Array([9, 8, 7]).buffer),
  v_buffer: () => Buffer.from([0, 1, 254, 255]),
  v_bigint64: () => new BigInt64Array([-1n]),
  v_biguint64: () => new BigUint64Array([2n ** 64n - 1n]),
  v_empty: () => new Uint8Array(0),
  v_window: () => Buffer.from([1, 2, 3, 4, 5]).subarray(1, 3),
  err_plain: () => err(Error, 'boom', undefined, 'Error: boom\n    at x'),
  err_type: () => err(TypeError, 'bad'),
  err_range_cause: () => err(RangeError, 'r', { cause: 7 }),
  err_no_message: () => err(Error),
  err_all_kinds: () => [err(EvalError, 'e'), err(ReferenceError, 'f'),
    err(SyntaxError, 's'), err(URIError, 'u')],
  err_cause_obj: () => err(Error, 'outer', { cause: { code: 'E1', list: [1] } }, 'S'),
  err_cause_undefined: () => err(Error, 'u', { cause: undefined }),
  err_cause_error: () => err(Error, 'top', { cause: err(TypeError, 'inner') }),
  err_custom: () => { class MyErr extends Error {} return err(MyErr, 'mine'); },
  box_true: () => new Boolean(true), // eslint-disable-line no-new-wrappers
  box_false: () => new Boolean(false), // eslint-disable-line no-new-wrappers
  box_num: () => new Number(2), // eslint-disable-line no-new-wrappers
  box_nan: () => new Number(NaN), // eslint-disable-line no-new-wrappers
  box_str: () => new String('s\u20ac'), // eslint-disable-line no-new-wrappers
  box_bigint: () => Object(3n),
  ref_shared: () => { const s = { k: 1 }; return { x: s, y: s }; },
  ref_cycle: () => { const o = {}; o.self = o; return o; },
  ref_array_cycle: () => { const a = []; a.push(a, 1, a); return a; },
  ref_map_cycle: () => { const m = new Map(); m.set(m, m); return m; },
  ref_set_cycle: () => { const s = new Set(); s.add(s); return s; },
  ref_error: () => { const e = err(Error, 'x', undefined, 's'); return { e, a: [e] }; },
  ref_buffer: () => { const b = Buffer.from([1]); return [b, b]; },
  ref_many: () => {
    const d = new Date(0), r = /x/, m = new Map(), s = new Set();
    const ab = new ArrayBuffer(1), n = new Number(1), e = err(Error, 'm');
    return [d, r, m, s, ab, n, e, 'x', 'x', d, r, m, s, ab, n, e];
  },
  ref_in_cause: () => { const o = { k: 1 }; return [o, err(Error, 'c', { cause: o })]; },
  ref_key_order: () => { const o = { k: 2 }; return { b: o, 1: o }; },
  kitchen_sink: () => ({
    id: 42, name: 'job \u20ac', when: new Date(86400000), tags: new Set(['a', 'b']),
    meta: new Map([['big', 2n ** 65n]]), data: Buffer.from('hello'),
    nested: [{ ok: true, ratio: 0.25 }, null, [undefined]], err: err(TypeError, 'nope'),
  }),
  // Written by Node other than libherd writes them (it writes what it
  // holds, not the value): compared as values, not bytes.
  nc_packed_double: () => [1.5, 2],
  nc_filled_holes: () => { const a = [1, , 3]; a[1] = 2; return a; }, // eslint-disable-line no-sparse-arrays
  nc_two_byte_latin1: () => ('\u20ac' + '\u00e9'.repeat(5)).slice(1),
};

// Is b (read back) the same value as a (the case): types, prototypes,
// contents, key order, and the same pattern of shared objects? A reason,
// or null.
function same(a, b, seen = new Map(), back = new Map()) {
  if (typeof a !== typeof b) return `typeof ${typeof a} vs ${typeof b}`;
  if (a === null || (typeof a !== 'object' && typeof a !== 'function')) {
    return Object.is(a, b) ? null : `${util.inspect(a)} vs ${util.inspect(b)}`;
  }
  if (b === null) return 'null';
  if (seen.has(a) || back.has(b)) {
    return seen.get(a) === b && back.get(b) === a ? null : 'shared differently';
  }
  seen.set(a, b);
  back.set(b, a);
  // Node reads a plain object for a class instance: compare against that
  const pa = Object.getPrototypeOf(a);
  const plain = pa !== null && pa.constructor && pa.constructor.name === 'Point';
  if (!plain && pa !== Object.getPrototypeOf(b)) {
    // an Error subclass of our own comes back as Error
    if (!(a instanceof Error && Object.getPrototypeOf(b) === Error.prototype &&
          ![EvalError, RangeError, ReferenceError, SyntaxError, TypeError,
            URIError].some((c) => a instanceof c))) {
      return `prototype ${a.constructor && a.constructor.name} vs ` +
        `${b.constructor && b.constructor.name}`;
    }
  }
  if (a instanceof Error) {
    for (const k of ['message', 'cause']) {
      if (Object.hasOwn(a, k) !== Object.hasOwn(b, k)) return `own ${k}`;
    }
    if (a.message !== b.message) return `message ${a.message} vs ${b.message}`;
    if (a.stack !== b.stack) return `stack ${util.inspect(a.stack)} vs ${util.inspect(b.stack)}`;
    if (Object.hasOwn(a, 'cause')) {
      const r = same(a.cause, b.cause, seen, back);
      if (r) return `cause: ${r}`;
    }
    return null;
  }
  if (ArrayBuffer.isView(a)) {
    const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    return x.equals(y) ? null : `bytes ${x.toString('hex')} vs ${y.toString('hex')}`;
  }
  if (a instanceof ArrayBuffer) {
    if (a.resizable !== b.resizable || a.maxByteLength !== b.maxByteLength) return 'resizable';
    return Buffer.from(a).equals(Buffer.from(b)) ? null : 'ArrayBuffer bytes';
  }
  if (a instanceof Date) return Object.is(a.getTime(), b.getTime()) ? null : 'time';
  if (a instanceof RegExp) {
    return a.source === b.source && a.flags === b.flags ? null : `${a} vs ${b}`;
  }
  if (a instanceof Number || a instanceof String || a instanceof Boolean ||
      (typeof BigInt === 'function' && Object.prototype.toString.call(a) === '[object BigInt]')) {
    return Object.is(a.valueOf(), b.valueOf()) ? null : 'boxed value';
  }
  if (a instanceof Map || a instanceof Set) {
    if (a.size !== b.size) return `size ${a.size} vs ${b.size}`;
    const ea = [...a.entries()], eb = [...b.entries()];
    for (let i = 0; i < ea.length; i++) {
      const r = same(ea[i][0], eb[i][0], seen, back) ||
        (a instanceof Map && same(ea[i][1], eb[i][1], seen, back));
      if (r) return `entry ${i}: ${r}`;
    }
    return null;
  }
  if (Array.isArray(a) && a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.join('\u0000') !== kb.join('\u0000')) return `keys ${ka} vs ${kb}`;
  for (const k of ka) {
    const r = same(a[k], b[k], seen, back);
    if (r) return `.${k}: ${r}`;
  }
  return null;
}

function check(name, got, how) {
  if (!(name in cases)) return `${how}: unknown case`;
  const want = cases[name]();
  const r = same(want, got);
  if (r) return `${how}: ${r}`;
  // a second opinion where it applies (it ignores Error stacks and causes,
  // and sees a class instance's prototype)
  // (and has Invalid Dates differ: NaN !== NaN)
  if (!['obj_class', 'err_custom', 'date_invalid'].includes(name) &&
      !util.isDeepStrictEqual(want, got)) {
    return `${how}: util.isDeepStrictEqual says no`;
  }
  return null;
}

let channel;
function chan() {
  if (!channel) channel = require('internal/child_process/serialization').advanced;
  return channel;
}

// The channel's writer: the payload it puts in a frame.
function chanPayload(value) {
  let frame;
  const fake = { writeBuffer(req, buf) { frame = Buffer.from(buf); return 0; } };
  chan().writeChannelMessage(fake, {}, value, undefined);
  if (frame.readUInt32BE(0) !== frame.length - 4) throw new Error('bad prefix');
  return frame.subarray(4);
}

// The channel's reader, on a frame made of payload.
function chanRead(payload) {
  const ch = {};
  chan().initMessageChannel(ch);
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  const got = [...chan().parseChannelMessages(ch, frame)];
  if (got.length !== 1) throw new Error(`${got.length} messages`);
  return got[0];
}

// Send every case to PROGRAM and compare what comes back.
function echo(program, serialization) {
  const { spawn } = require('child_process');
  const child = spawn(program, [],
    { serialization, stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  const todo = []; // [name, value to send, value expected back]
  for (const [name, make] of Object.entries(cases)) {
    if (serialization === 'advanced') {
      if (['string', 'object', 'number', 'boolean'].includes(typeof make()))
        todo.push([name, make, (m) => check(name, m, 'echo')]);
    } else {
      let text;
      try {
        text = JSON.stringify(make());
      } catch {
        continue; // bigints, cycles
      }
      if (text === undefined) continue;
      todo.push([name, make, (m) => (util.isDeepStrictEqual(m, JSON.parse(text)) ? null :
        `echo: ${JSON.stringify(m).slice(0, 80)} vs ${text.slice(0, 80)}`)]);
    }
  }
  if (serialization === 'advanced') {
    for (const [name, make] of Object.entries(cases)) {
      todo.push([name + '/wrapped', () => ({ v: make() }), (m) =>
        (m && typeof m === 'object' && Object.keys(m).join() === 'v' ?
          check(name, m.v, 'echo wrapped') : 'echo wrapped: not {v}')]);
    }
  }
  let i = 0, n = 0;
  child.on('message', (m) => {
    const r = todo[i][2](m);
    if (r) console.log(`FAIL ${todo[i][0]}: ${r}`);
    n++;
    if (++i < todo.length) child.send(todo[i][1]());
    else child.disconnect();
  });
  child.on('exit', (code, sig) => {
    if (code !== 0) console.log(`FAIL echo child: exit ${code} ${sig}`);
    console.log(`checked ${n}`);
  });
  child.send(todo[0][1]());
}

function main() {
  const mode = process.argv[2];
  if (mode === 'gen') {
    const out = [];
    for (const [name, make] of Object.entries(cases)) {
      out.push(`${name}\t${v8.serialize(make()).toString('hex')}\t` +
        `${chanPayload(make()).toString('hex')}`);
    }
    process.stdout.write(out.join('\n') + '\n');
    return;
  }
  if (mode === 'numbers') {
    // doubles as bits (hex) and String(x): edge cases, then random bits
    // and random short decimals (a fixed seed: the same every run)
    const xs = [0.1, 0.2, 0.3, 1 / 3, 2 / 3, 5e-324, 1e-323, 2.2250738585072014e-308,
      2.225073858507201e-308, 1.7976931348623157e308, 1e21, 1e20, 123456789012345680000,
      999999999999999900000, 1e-6, 1e-7, 9007199254740993, 4.35, 0.000001234, -1.5e300,
      100, 1e15, 1e16, 1e17, 12345.678, 0.5, -0.5, 2 ** 53, 2 ** 63, 2 ** -1074 * 3];
    let st = 0x243f6a8885a308d3n;
    const next = () => {
      st ^= (st << 13n) & 0xffffffffffffffffn;
      st ^= st >> 7n;
      st ^= (st << 17n) & 0xffffffffffffffffn;
      return st;
    };
    const b = Buffer.alloc(8);
    for (let i = 0; i < 2000; i++) {
      b.writeBigUInt64LE(next());
      const x = b.readDoubleLE(0);
      if (Number.isFinite(x)) xs.push(x);
      xs.push(Number(next() % 100000000n) / [10, 100, 1000, 1e6][i % 4]);
    }
    const out = xs.map((x) => {
      b.writeDoubleLE(x);
      return `${b.readBigUInt64LE(0).toString(16)}\t${String(x)}`;
    });
    process.stdout.write(out.join('\n') + '\n');
    return;
  }
  if (mode === 'check') {
    let n = 0;
    const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      const [name, ser, ch] = line.split('\t');
      for (const [how, read] of [['v8.deserialize', () => v8.deserialize(Buffer.from(ser, 'hex'))],
        ['channel', () => chanRead(Buffer.from(ch, 'hex'))]]) {
        let r;
        try {
          r = check(name, read(), how);
        } catch (e) {
          r = `${how} threw ${e.message}`;
        }
        if (r) console.log(`FAIL ${name}: ${r}`);
      }
      n++;
    }
    console.log(`checked ${n}`);
    return;
  }
  if (mode === 'parent') {
    // spawn with an 'ipc' fd is fork() for a program that is not a script
    const { spawn } = require('child_process');
    const child = spawn(process.argv[3], ['--helper', 'v8-echo'],
      { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // process.send takes a string, object, number or boolean (not
    // undefined, not a bigint): every case but those
    const names = Object.keys(cases).filter((k) =>
      ['string', 'object', 'number', 'boolean'].includes(typeof cases[k]()));
    let i = 0, n = 0;
    child.on('message', (m) => {
      const r = check(names[i], m, 'echo');
      if (r) console.log(`FAIL ${names[i]}: ${r}`);
      n++;
      if (++i < names.length) child.send(cases[names[i]]());
      else child.disconnect();
    });
    child.on('exit', (code, sig) => {
      if (code !== 0) console.log(`FAIL helper: exit ${code} ${sig}`);
      console.log(`checked ${n}`);
    });
    child.send(cases[names[0]]());
    return;
  }
  if (mode === 'echo') {
    echo(process.argv[3], process.argv[4]);
    return;
  }
  if (mode === 'child') {
    process.on('message', (m) => {
      if (m && m.op === 'end') {
        process.disconnect();
        return;
      }
      let r;
      try {
        r = check(m.name, m.v, 'from C');
      } catch (e) {
        r = `threw ${e.message}`;
      }
      process.send({ name: m.name, r, v: cases[m.name]() });
    });
    return;
  }
  console.error('usage: v8-cases.js gen | check | parent HERD-TEST | ' +
    'echo PROGRAM json|advanced | child');
  process.exit(2);
}

main();

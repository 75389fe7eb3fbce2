'use strict';
/*
 * bench/channel.js - Node's side of bench/channel.c.
 *
 *   node bench/channel.js CASE [-t MS | -n COUNT]
 *   node bench/channel.js list
 *   node bench/channel.js child echo|sink|hello    (the child side)
 *
 * Same contract as build/bench/channel: MS of timed work (default 1000)
 * after a short untimed warm-up on the same child, or exactly COUNT round
 * trips / messages / forks, then one line
 *
 *   CASE VALUE COUNT SECONDS
 *
 * VALUE: round trips/s (*_pingpong), messages/s (*_oneway), MB/s of line
 * bytes, 1 MB = 10^6 (*_bulk), median microseconds from fork() to the
 * first 'message' (*_first).
 *
 * Cases:
 *   node_pingpong    child_process.fork of `channel.js child echo`,
 *                    send({i}), the next one from the 'message' of the echo
 *   node_c_pingpong  the same with the C child: spawn(build/bench/channel,
 *                    ['child', 'echo'], {stdio: [0, 1, 2, 'ipc']}), which
 *                    opens herd_chan_from_env
 *   node_oneway      send({i, s: 'hi'}) until done, then {end: N}; the
 *                    child counts and answers {count: N}. Backpressure as
 *                    Node offers it: when send() returns false, one more
 *                    message is sent with a callback and sending resumes
 *                    from that callback (written = the queue drained)
 *   node_c_oneway    the same to the C child (`child sink`)
 *   node_bulk / node_c_bulk   as *_oneway with a 64 KiB JSON string
 *   node_fork_first  fork of `channel.js child hello`, which calls
 *                    process.send at once; time to the 'message'
 *   node_v8_pingpong / node_v8_oneway / node_v8_bulk
 *                    node_pingpong / _oneway / _bulk with
 *                    fork(..., {serialization: 'advanced'}): V8 values in
 *                    length-prefixed frames
 *   node_v8_c_pingpong / node_v8_c_oneway
 *                    the same with the C child of bench/chanv8.c
 *                    (spawn(..., {serialization: 'advanced'}): values,
 *                    herd_chan_send_val)
 *
 * Environment: HERD_BENCH_CBIN, the C program (default build/bench/channel);
 * HERD_BENCH_V8BIN, bench/chanv8.c's (default build/bench/chanv8);
 * HERD_BENCH_MOVE_TO=CPU: once the child is started (it inherits our CPU
 * affinity), move all our threads to CPU (with `taskset -a -p`), as
 * build/bench/channel does.
 */
const cp = require('child_process');

const BULK_PAYLOAD = 65536;
const BULK_LINE = BULK_PAYLOAD + 3; /* JSON.stringify adds the quotes, the wire '\n' */
const WAIT_MS = 60000;

function die(msg) {
  process.stderr.write(`channel.js: ${msg}\n`);
  process.exit(1);
}

function usage() {
  process.stderr.write('usage: node channel.js CASE [-t MS | -n COUNT]\n' +
                       '       node channel.js list\n' +
                       '       node channel.js child echo|sink|hello\n');
  process.exit(2);
}

const nowS = () => Number(process.hrtime.bigint()) / 1e9;

/* ---- the child side ---- */

function childMain(mode) {
  if (!process.send) die('child: no IPC channel');
  if (mode === 'echo') {
    process.on('message', (m) => process.send(m));
  } else if (mode === 'sink') {
    let count = 0;
    process.on('message', (m) => {
      if (typeof m === 'object' && m !== null && m.end !== undefined) {
        process.send({ count });
        count = 0;
      } else {
        count++;
      }
    });
  } else if (mode === 'hello') {
    process.send({ hello: 1 });
  } else {
    usage();
  }
  /* With the channel open, Node stays up; the parent's disconnect ends it. */
}

/* ---- the parent side ---- */

const CBIN = process.env.HERD_BENCH_CBIN || 'build/bench/channel';
const V8BIN = process.env.HERD_BENCH_V8BIN || 'build/bench/chanv8';

function startChild(withC, mode, advanced) {
  const serialization = advanced ? 'advanced' : 'json';
  const c = withC
    ? cp.spawn(advanced ? V8BIN : CBIN, ['child', mode],
      { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], serialization })
    : cp.fork(__filename, ['child', mode], { serialization });
  c.on('error', (e) => die(`child: ${e.message}`));
  c.exitP = new Promise((resolve) => c.on('exit', (code, sig) => {
    if (code !== 0) die(`child failed (code ${code}, signal ${sig})`);
    if (!c.stopping) die('child exited before the parent disconnected');
    resolve();
  }));
  c.handler = null;
  c.on('message', (m) => c.handler(m));
  return c;
}

function moveAfterStart() {
  const cpu = process.env.HERD_BENCH_MOVE_TO;
  if (!cpu) return;
  const r = cp.spawnSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) die(`taskset -a -p -c ${cpu} failed`);
}

function stopChild(c) {
  c.stopping = true;
  c.disconnect();
  return c.exitP;
}

/* more(k): whether to do the k-th one (k from 0). The clock is read every
 * 64 calls in one-way cases. */
function makeMore(n, deadline, every) {
  if (n > 0) return (k) => k < n;
  return (k) => (k % every !== 0) || nowS() < deadline;
}

function watchdog() {
  const t = setTimeout(() => die('the peer stopped answering'), WAIT_MS);
  return () => clearTimeout(t);
}

function pingpong(c, more) {
  return new Promise((resolve) => {
    const done = watchdog();
    let i = 0;
    c.handler = (m) => {
      if (m.i !== i) die(`ping-pong: sent ${i}, got ${JSON.stringify(m)}`);
      i++;
      if (more(i)) c.send({ i });
      else { done(); resolve(i); }
    };
    if (more(0)) c.send({ i: 0 });
    else { done(); resolve(0); }
  });
}

const BULK = 'x'.repeat(BULK_PAYLOAD);

function oneway(c, more, bulk) {
  return new Promise((resolve) => {
    const done = watchdog();
    let sent = 0;
    c.handler = (m) => {
      if (m.count !== sent) die(`sent ${sent}, the receiver says ${JSON.stringify(m)}`);
      done();
      resolve(sent);
    };
    const msg = bulk ? () => BULK : (i) => ({ i, s: 'hi' });
    const pump = (err) => {
      if (err) die(`send: ${err.message}`);
      while (more(sent)) {
        const ok = c.send(msg(sent));
        sent++;
        if (!ok) {
          /* Queue full: resume once one more message has been written. */
          if (more(sent)) {
            c.send(msg(sent), pump);
            sent++;
            return;
          }
          break;
        }
      }
      c.send({ end: sent });
    };
    pump();
  });
}

/* Forks one after the other; resolves [count, median microseconds]. */
function firstRuns(more) {
  return new Promise((resolve) => {
    const lat = [];
    const next = () => {
      if (!more(lat.length)) {
        const s = lat.slice().sort((a, b) => a - b);
        const k = s.length;
        const med = k === 0 ? 0 : (k % 2 ? s[(k - 1) / 2] : (s[k / 2 - 1] + s[k / 2]) / 2);
        resolve([k, med * 1e6]);
        return;
      }
      const t0 = nowS();
      const c = startChild(false, 'hello');
      c.handler = (m) => {
        const t1 = nowS();
        if (m.hello !== 1) die(`first message: ${JSON.stringify(m)}`);
        lat.push(t1 - t0);
        stopChild(c).then(next);
      };
    };
    next();
  });
}

const cases = {
  node_pingpong: { kind: 'pingpong', c: false },
  node_c_pingpong: { kind: 'pingpong', c: true },
  node_oneway: { kind: 'oneway', c: false },
  node_c_oneway: { kind: 'oneway', c: true },
  node_bulk: { kind: 'bulk', c: false },
  node_c_bulk: { kind: 'bulk', c: true },
  node_fork_first: { kind: 'first' },
  node_v8_pingpong: { kind: 'pingpong', c: false, v8: true },
  node_v8_c_pingpong: { kind: 'pingpong', c: true, v8: true },
  node_v8_oneway: { kind: 'oneway', c: false, v8: true },
  node_v8_c_oneway: { kind: 'oneway', c: true, v8: true },
  node_v8_bulk: { kind: 'bulk', c: false, v8: true },
};

function phase(bc, c, more) {
  if (bc.kind === 'pingpong') return pingpong(c, more);
  return oneway(c, more, bc.kind === 'bulk');
}

function parsePos(s) {
  if (!/^[0-9]+$/.test(s) || Number(s) <= 0) usage();
  return Number(s);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length < 1) usage();
  if (argv[0] === 'child') {
    if (argv.length !== 2) usage();
    childMain(argv[1]);
    return;
  }
  if (argv[0] === 'list') {
    for (const name of Object.keys(cases)) console.log(name);
    return;
  }
  const bc = cases[argv[0]];
  if (!bc) usage();
  let ms = 1000, n = 0;
  if (argv.length === 3 && argv[1] === '-t') ms = parsePos(argv[2]);
  else if (argv.length === 3 && argv[1] === '-n') n = parsePos(argv[2]);
  else if (argv.length !== 1) usage();
  const warm = Math.min(ms / 10, 100) / 1e3;
  const every = bc.kind === 'oneway' || bc.kind === 'bulk' ? 64 : 1;

  if (bc.kind === 'first') {
    if (n === 0) await firstRuns(makeMore(0, nowS() + warm, 1));
    const t0 = nowS();
    const [k, med] = await firstRuns(makeMore(n, t0 + ms / 1e3, 1));
    const t1 = nowS();
    console.log(`${argv[0]} ${med.toFixed(1)} ${k} ${(t1 - t0).toFixed(3)}`);
    return;
  }

  const c = startChild(bc.c, bc.kind === 'pingpong' ? 'echo' : 'sink', bc.v8);
  moveAfterStart();
  if (n === 0) await phase(bc, c, makeMore(0, nowS() + warm, every));
  const t0 = nowS();
  const done = await phase(bc, c, makeMore(n, t0 + ms / 1e3, every));
  const t1 = nowS();
  await stopChild(c);
  let value = done / (t1 - t0);
  if (bc.kind === 'bulk') value = value * BULK_LINE / 1e6;
  console.log(`${argv[0]} ${value.toFixed(1)} ${done} ${(t1 - t0).toFixed(3)}`);
}

if (require.main === module) main().catch((e) => die(e.stack || String(e)));

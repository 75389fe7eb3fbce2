'use strict';
// node-offload.js - a Node.js HTTP server that hands its long computation
// to a C child process, compute-worker (built on libherd), over Node's own
// IPC channel: the event loop stays free for everyone else.
//
// GET / answers "ok" at once. GET /compute sends {id, n} to the worker
// with child.send() and answers "Sum is S" when {id, sum} comes back;
// requests in flight are told apart by their id. The worker is started
// with spawn(file, [], {stdio: [0, 1, 2, 'ipc']}): Node opens the channel
// and names it in NODE_CHANNEL_FD, where libherd's herd_chan_from_env
// finds it. Compare with blocking-compute, which adds in its only loop.
//
//   make examples && node examples/node-offload.js
//   curl localhost:3000/compute & curl localhost:3000/    # "ok" at once
//
// Plain node, no npm packages. Settings from the environment: PORT
// (default 3000, on 127.0.0.1), COMPUTE_N (default 3e9), and
// HERD_COMPUTE_WORKER (default: ../build/examples/compute-worker from
// this file). If the worker dies, the requests it had get 503 and a new
// one is started. SIGINT or SIGTERM: stop serving, disconnect the worker
// (it exits 0 when its channel closes), exit 0.

const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn } = require('child_process');

const PROG = 'node-offload';
const RESPAWN_MIN_MS = 1000; // a worker that died younger is replaced later
const STOP_WAIT_MS = 2000; // per step of the worker's stop

function die(msg) {
  console.error(`${PROG}: ${msg}`);
  process.exit(1);
}

// A whole number from the environment, as the C examples take it: digits
// or a form like 3e9.
function wholeNumber(name, dflt, max, maxText) {
  const s = process.env[name];
  if (s === undefined) return dflt;
  const v = Number(s);
  if (s.trim() === '' || !Number.isInteger(v) || v < 0 || v > max)
    die(`bad ${name} '${s}' (a whole number, 0-${maxText})`);
  return v;
}

const port = wholeNumber('PORT', 3000, 65535, '65535');
const n = wholeNumber('COMPUTE_N', 3e9, 6e9, '6e9');
const workerPath = process.env.HERD_COMPUTE_WORKER ||
  path.join(__dirname, '../build/examples/compute-worker');
try {
  fs.accessSync(workerPath, fs.constants.X_OK);
} catch (err) {
  die(`${workerPath}: ${err.code}: run 'make examples' first, or set ` +
    'HERD_COMPUTE_WORKER to the compute-worker program');
}

let worker = null; // the running compute-worker, or null
let startedAt = 0;
let respawnTimer = null;
let nextId = 1;
const pending = new Map(); // job id -> the response waiting for its sum
let inflight = 0; // jobs sent and not answered: the worker is busy
let stopping = false;

function reply(res, status, body) {
  const headers = {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
  };
  if (stopping) headers.Connection = 'close';
  if (status === 405) headers.Allow = 'GET';
  res.writeHead(status, headers);
  res.end(body);
}

function startWorker() {
  respawnTimer = null;
  startedAt = Date.now();
  const w = spawn(workerPath, [], { stdio: [0, 1, 2, 'ipc'] });
  worker = w;
  // A failed spawn (EACCES...) is an 'error' and then a 'close'.
  w.on('error', (err) => console.error(`${PROG}: compute-worker: ${err.message}`));
  w.on('message', onReply);
  w.on('exit', (code, signal) => {
    const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
    console.log(`${PROG}: compute-worker ${w.pid} ${how}`);
  });
  // 'close' comes after 'exit' once the channel is closed too, so every
  // reply the worker sent before it died has been delivered by then. (Not
  // after our own disconnect(): Node then emits 'exit' only, which is why
  // stop() does not wait for 'close'.)
  w.on('close', () => gone(w));
  if (w.pid !== undefined)
    console.log(`${PROG}: compute-worker ${w.pid} does the sums`);
}

// The worker died (or never started): answer what it had, start another.
function gone(w) {
  if (w !== worker) return;
  worker = null;
  inflight = 0;
  for (const [id, res] of pending) {
    console.log(`job ${id} -> 503`);
    reply(res, 503, 'the compute worker died, try again\n');
  }
  pending.clear();
  if (stopping) return;
  // A worker that dies at start must not make us spawn in a tight loop.
  const wait = Math.max(0, RESPAWN_MIN_MS - (Date.now() - startedAt));
  if (wait > 0) console.log(`${PROG}: a new worker in ${wait} ms`);
  respawnTimer = setTimeout(startWorker, wait);
}

function onReply(m) {
  const id = m && m.id;
  const res = pending.get(id);
  inflight = Math.max(0, inflight - 1);
  if (res === undefined) {
    console.log(`job ${id}: its client has gone`);
    return;
  }
  pending.delete(id);
  if (typeof m.sum === 'string') {
    console.log(`job ${id} -> Sum is ${m.sum}`);
    reply(res, 200, `Sum is ${m.sum}\n`);
  } else {
    console.log(`job ${id} -> 500: ${m.error}`);
    reply(res, 500, `compute worker: ${m.error}\n`);
  }
}

const server = http.createServer((req, res) => {
  let pathname;
  try {
    pathname = new URL(req.url, 'http://localhost').pathname;
  } catch {
    return reply(res, 400, 'Bad Request\n');
  }
  if (req.method !== 'GET') return reply(res, 405, 'only GET here\n');
  if (pathname === '/') {
    console.log('GET / -> ok');
    return reply(res, 200, 'ok\n');
  }
  if (pathname !== '/compute') {
    console.log(`GET ${pathname} -> 404`);
    return reply(res, 404, 'not found\n');
  }
  if (worker === null || !worker.connected) {
    console.log('GET /compute -> 503: no compute worker right now');
    return reply(res, 503, 'no compute worker right now, try again\n');
  }
  const id = nextId++;
  pending.set(id, res);
  res.on('close', () => pending.delete(id)); // answered, or the client left
  inflight++;
  worker.send({ id, n }, (err) => {
    if (err && pending.delete(id)) {
      console.log(`job ${id} -> 503: ${err.message}`);
      reply(res, 503, 'compute worker unreachable\n');
    }
  });
  console.log(`GET /compute: job ${id} sent to compute-worker ${worker.pid}` +
    ` (${inflight} in flight)`);
});

function stop(sig) {
  if (stopping) return;
  stopping = true;
  console.log(`${PROG}: ${sig}, stopping`);
  clearTimeout(respawnTimer);
  for (const res of pending.values()) reply(res, 503, 'the server is stopping\n');
  pending.clear();
  server.close(); // no new connections; idle keep-alive ones are closed
  server.closeIdleConnections();
  const w = worker;
  if (w === null) return;
  // The polite stop: the worker sees the end of its channel and exits 0.
  // One busy with a sum nobody will read gets SIGTERM at once; any other
  // after STOP_WAIT_MS, SIGKILL after another. The timers are unref'd:
  // the child itself keeps the process alive until it is gone.
  if (inflight > 0) w.kill('SIGTERM');
  if (w.connected) w.disconnect();
  const term = setTimeout(() => w.kill('SIGTERM'), STOP_WAIT_MS).unref();
  const kill = setTimeout(() => w.kill('SIGKILL'), 2 * STOP_WAIT_MS).unref();
  w.once('exit', () => {
    clearTimeout(term);
    clearTimeout(kill);
  });
}

process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

server.on('error', (err) => die(`listen on 127.0.0.1:${port}: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  console.log(`${PROG}: pid ${process.pid} serving ` +
    `http://127.0.0.1:${server.address().port}: GET / and GET /compute ` +
    `(n = ${n})`);
  startWorker(); // before any request: this callback runs first
});

// nodecluster-primary.js - Node's own cluster primary for
// bench/nodecluster.sh, as a Node user would write one: it forks WORKERS
// (2) workers of bench/nodecluster-app.js (or APP) and replaces one that
// dies.
//   SIGHUP: rolling restart, one worker at a time: fork the new one, wait
//           for its 'listening', then old.disconnect() (the worker closes
//           its server, finishes what is under way and exits), and on to
//           the next once the old one has exited. Prints "reload done".
//   SIGTERM/SIGINT: disconnect every worker, exit when they are gone
//           (SIGKILL to what is left after 5 s).
// The scheduling policy is Node's: NODE_CLUSTER_SCHED_POLICY=rr (the
// default on Linux: the primary accepts and hands connections out) or none
// (every worker accepts on the shared socket).
'use strict';
const cluster = require('cluster');
const path = require('path');

const n = Number(process.env.WORKERS || 2);
cluster.setupPrimary({ exec: process.env.APP || path.join(__dirname, 'nodecluster-app.js') });

let stopping = false;
let reloading = false;
for (let i = 0; i < n; i++) cluster.fork();

cluster.on('exit', (w) => {
  if (stopping) {
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
    return;
  }
  // a crash, not our disconnect: replace it
  if (!w.exitedAfterDisconnect) cluster.fork();
});

process.on('SIGHUP', () => {
  if (reloading || stopping) return;
  reloading = true;
  const old = Object.values(cluster.workers);
  const next = () => {
    const w = old.shift();
    if (!w) { reloading = false; console.log('reload done'); return; }
    if (w.isDead()) return next();
    const nw = cluster.fork();
    nw.once('listening', () => {
      w.once('exit', next);
      w.disconnect();
    });
  };
  next();
});

const stop = () => {
  if (stopping) return;
  stopping = true;
  const ws = Object.values(cluster.workers);
  if (ws.length === 0) process.exit(0);
  for (const w of ws) w.disconnect();
  setTimeout(() => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
    process.exit(0);
  }, 5000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// node-cluster.js - Node's own cluster module, the baseline of herd's
// cluster benchmark (bench/cluster.sh): a primary forks WORKERS workers
// (default 2) that serve the same hello world as examples/node-worker.js
// (same headers: Content-Type, Content-Length, X-Worker; /pid answers
// "PID ID") on 127.0.0.1:$PORT, and forks a new worker whenever one exits
// (for the restart-latency case). SIGTERM/SIGINT to the primary: the
// workers are told to stop, then the primary exits.
//
//   PORT=8080 node bench/node-cluster.js
//   NODE_CLUSTER_SCHED_POLICY=none PORT=8080 node bench/node-cluster.js
//
// The scheduling policy is Node's: round-robin by default on Linux (the
// primary accepts and hands connections out), "none" = every worker
// accepts on the shared socket.
'use strict';
const cluster = require('cluster');
const http = require('http');

const port = Number(process.env.PORT || 3000);
const n = Number(process.env.WORKERS || 2);

if (cluster.isPrimary) {
  let stopping = false;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', () => {
    if (stopping) {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
      return;
    }
    cluster.fork(); // replace it at once
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const ws = Object.values(cluster.workers);
    if (ws.length === 0) process.exit(0);
    for (const w of ws) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  // X-Worker: 0..N-1 for the first workers, N.. for replacements.
  const id = String(cluster.worker.id - 1);
  const server = http.createServer((req, res) => {
    const body = req.url === '/pid' ? `${process.pid} ${id}\n` : 'Hello, World!\n';
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      'X-Worker': id,
    });
    res.end(body);
  });
  server.keepAliveTimeout = 5000;
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    if (server.closeIdleConnections) server.closeIdleConnections();
  });
}

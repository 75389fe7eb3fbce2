// node-worker.js - a Node.js HTTP server made to run under herd:
//   herd run -w auto -l 127.0.0.1:8080 -- node examples/node-worker.js
//
// What it shows: any server that can listen on an inherited socket works
// under herd unchanged. It takes fd 3 (LISTEN_FDS, systemd's protocol),
// else 127.0.0.1:$PORT (default 3000); it answers with its slot
// (HERD_WORKER_ID) and pid; on SIGTERM it stops accepting, lets requests
// in flight finish, closes idle keep-alive connections, and exits 0.
'use strict';
const http = require('http');
const net = require('net');

const id = process.env.HERD_WORKER_ID || '-';
let stopping = false;
const server = http.createServer((req, res) => {
  const body = req.url === '/pid' ? `${process.pid} ${id}\n` : 'Hello, World!\n';
  const headers = {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
    'X-Worker': id,
  };
  // Stopping: this response ends its connection (Node closes it after),
  // so a keep-alive client is told before, never cut between requests.
  if (stopping) headers.Connection = 'close';
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 5000;

const fromHerd = process.env.LISTEN_FDS && Number(process.env.LISTEN_PID) === process.pid;
if (fromHerd) {
  server.listen({ fd: 3 });
} else {
  const port = Number(process.env.PORT || 3000);
  server.listen(port, '127.0.0.1', () => {
    console.log(`node-worker: listening on http://127.0.0.1:${server.address().port}/`);
  });
}

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  // First a short grace: every busy connection gets one more response,
  // with 'Connection: close' (see above), and ends after it. Only then
  // stop accepting (the master keeps the socket: new connections wait in
  // its queue for the other workers) - server.close() also closes the
  // connections idle at that moment, which by then are idle for real,
  // not between two requests of a busy client. Exit once all are closed.
  setTimeout(() => server.close(() => process.exit(0)), 300);
});

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

const nfds = Number(process.env.LISTEN_FDS || 0);
const fromHerd = nfds > 0 && Number(process.env.LISTEN_PID) === process.pid;
if (fromHerd) {
  server.listen({ fd: 3 });
} else if (process.env.HERD_WORKER_ID !== undefined && process.send) {
  // herd run --balance roundrobin: the master accepts and hands each
  // connection over the channel as a net.Socket. (Only under herd: a
  // worker of Node's cluster or PM2 has a channel too, and listens.)
  process.on('message', (msg, socket) => {
    if (msg === 'herd:connection' && socket) server.emit('connection', socket);
  });
} else {
  const port = Number(process.env.PORT || 3000);
  server.listen(port, '127.0.0.1', () => {
    console.log(`node-worker: listening on http://127.0.0.1:${server.address().port}/`);
  });
}

// Connections, counted so that a worker fed by the master (roundrobin),
// which has no listening socket to close, knows when it is done.
let conns = 0;
let closing = false;
server.on('connection', (socket) => {
  conns++;
  socket.on('close', () => {
    conns--;
    if (closing && conns === 0) process.exit(0);
  });
});

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  // First a short grace: every busy connection gets one more response,
  // with 'Connection: close' (see above), and ends after it. Only then
  // stop accepting (the master keeps the socket: new connections wait in
  // its queue for the other workers) - server.close() also closes the
  // connections idle at that moment, which by then are idle for real,
  // not between two requests of a busy client. Exit once all are closed.
  setTimeout(() => {
    closing = true;
    if (server.listening) {
      server.close(() => process.exit(0));
    } else {
      if (process.connected) process.disconnect();
      server.closeIdleConnections();
      if (conns === 0) process.exit(0);
    }
  }, 300);
});

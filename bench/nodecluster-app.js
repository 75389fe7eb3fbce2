// nodecluster-app.js - the unmodified Node app of bench/nodecluster.sh: a
// plain hello world that calls listen(PORT) and knows nothing of who runs
// it (herd --node-cluster, Node's cluster primary, PM2's cluster mode).
// X-Worker names the worker that answered: NODE_APP_INSTANCE (set by herd
// and PM2: the slot) or else cluster.worker.id (Node's primary).
'use strict';
const http = require('http');
const cluster = require('cluster');

const id = process.env.NODE_APP_INSTANCE !== undefined ? process.env.NODE_APP_INSTANCE
  : cluster.worker ? String(cluster.worker.id) : '-';

http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Worker': id });
  res.end('Hello, World!\n');
}).listen(Number(process.env.PORT || 3000), '127.0.0.1');

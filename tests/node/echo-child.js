'use strict';
// echo-child.js - a Node child of a C parent (tests/channel_test.c,
// herd_fork of `node echo-child.js`), speaking only through
// process.send / process.on('message').
//
//   {seq, s}       checked against gen.msg(0, seq) and answered with
//                  gen.msg(1, seq) (the sequence must be 0, 1, 2, ...)
//   {big: 1, s}    checked against gen.big(0), answered with gen.big(1)
//   {op: 'server'} + a net.Server: answers each connection's first line
//                  L with "pong:L", replies {op:'server-ok', ...}
//   {op: 'socket'} + a net.Socket: writes "from-node-socket\n" and ends it,
//                  replies {op:'socket-ok', ...}
//   {op: 'give'}   sends a listening net.Server to the parent
//                  ({op:'gift', port}), closes its own copy, then sends
//                  {op:'after-gift'}
//   {op: 'end'}    replies {op:'done', count, nerrors, errors} and
//                  disconnects; the process then exits 0 on its own
//   anything else  is echoed back as is
const net = require('net');
const gen = require('./gen');

let expect = 0;
const errors = [];
const servers = [];
const sockets = [];

function fail(what) {
  errors.push(what);
}

function onHandle(m, h) {
  if (m && m.op === 'server') {
    h.on('connection', (c) => {
      sockets.push(c);
      c.setEncoding('utf8');
      let buf = '';
      c.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) c.end('pong:' + buf);
      });
    });
    servers.push(h);
    const a = h.address();
    process.send({ op: 'server-ok', isServer: h instanceof net.Server,
      listening: h.listening, port: a ? a.port : -1 });
  } else if (m && m.op === 'socket') {
    sockets.push(h);
    h.on('error', (e) => fail('socket: ' + e.message));
    h.end('from-node-socket\n');
    process.send({ op: 'socket-ok', isSocket: h instanceof net.Socket });
  } else {
    fail('unexpected handle with ' + JSON.stringify(m));
  }
}

process.on('message', (m, handle) => {
  if (handle) return onHandle(m, handle);
  if (m === null || typeof m !== 'object') {
    process.send(m);
    return;
  }
  if ('seq' in m) {
    if (m.seq !== expect) fail(`seq ${m.seq}, expected ${expect}`);
    expect++;
    const want = gen.msg(0, m.seq);
    if (m.s !== want.s) fail(`seq ${m.seq}: content differs`);
    process.send(gen.msg(1, m.seq));
  } else if (m.big === 1) {
    if (m.s !== gen.big(0).s) fail('big message differs');
    process.send(gen.big(1));
  } else if (m.op === 'give') {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port;
      process.send({ op: 'gift', port }, srv, (err) => {
        if (err) fail('gift: ' + err.message);
        // Once written the fd is the parent's too: close ours so only the
        // parent accepts on it.
        srv.close();
        process.send({ op: 'after-gift' });
      });
    });
  } else if (m.op === 'end') {
    for (const s of servers) s.close();
    for (const s of sockets) s.destroy();
    process.send({ op: 'done', count: expect, nerrors: errors.length,
      errors: errors.slice(0, 5) }, () => process.disconnect());
  } else {
    process.send(m);
  }
});

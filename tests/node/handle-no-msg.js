'use strict';
// handle-no-msg.js - node handle-no-msg.js HERD_TEST_BIN
//
// child.send({toJSON() { return undefined; }}, server) makes Node write
// {"cmd":"NODE_HANDLE","type":"net.Server"} with the fd: the wrapper's
// "msg" member vanishes from JSON.stringify's output. Sent to
//  - a Node child: shows what Node's own receiver delivers (msg
//    undefined, with the handle), and
//  - a C child (`HERD_TEST_BIN --helper chan-echo`, herd_chan_from_env),
//    which must survive it and answer what it got.
// Prints one JSON line {"node":..., "c":..., "cexit":[code, signal]} and
// exits 0, or 1 with a message on stderr.
const { spawn } = require('child_process');
const net = require('net');

const bin = process.argv[2];
if (!bin) {
  console.error('usage: node handle-no-msg.js HERD_TEST_BIN');
  process.exit(2);
}
setTimeout(() => {
  console.error('handle-no-msg.js: timed out');
  process.exit(1);
}, 20000).unref();

const noJSON = { toJSON() { return undefined; } };
const result = {};

// Node's receiver: reports typeof the message and whether a handle came.
const nodeChild = `process.on('message', (m, h) => {
  process.send({ type: typeof m, value: m === undefined ? 'undefined' : m,
                 handle: h ? h.constructor.name : null });
  if (h) h.close();
  process.disconnect();
});`;

function toNode(server, done) {
  const c = spawn(process.execPath, ['-e', nodeChild], { stdio: [0, 1, 2, 'ipc'] });
  c.on('message', (m) => { result.node = m; });
  c.on('exit', () => done());
  c.send(noJSON, server);
}

function toC(server, done) {
  const c = spawn(bin, ['--helper', 'chan-echo'], { stdio: [0, 1, 2, 'ipc'] });
  c.on('message', (m) => {
    result.c = m;
    c.disconnect();
  });
  c.on('exit', (code, sig) => {
    result.cexit = [code, sig];
    done();
  });
  c.send(noJSON, server);
}

const server = net.createServer();
server.listen(0, '127.0.0.1', () => {
  toNode(server, () => toC(server, () => {
    server.close();
    console.log(JSON.stringify(result));
  }));
});

'use strict';
// parent.js - a Node parent of a C child:
//   node parent.js HERD_TEST_BIN [json|advanced]
//
// Starts `HERD_TEST_BIN --helper chan-echo` with stdio [0, 1, 2, 'ipc']
// (the C child opens the channel with herd_chan_from_env and answers every
// message m with {echo: m}, a handle with {gotfd: TYPE, echo: m}), sends
// 10,000 messages, a 10 MiB one and a net.Server, checks every answer,
// then disconnects: the child must see the end and exit 0.
// Exits 0 on success, 1 with a message on stderr otherwise.
const { spawn } = require('child_process');
const net = require('net');
const gen = require('./gen');

const N = 10000;
const bin = process.argv[2];
if (!bin) {
  console.error('usage: node parent.js HERD_TEST_BIN');
  process.exit(2);
}

function die(why) {
  console.error('parent.js: ' + why);
  process.exit(1);
}

setTimeout(() => die('timed out in phase ' + phase), 40000).unref();

// argv[3]: the channel's serialization, 'json' (the default) or 'advanced'
const serialization = process.argv[3] || 'json';
const child = spawn(bin, ['--helper', 'chan-echo'],
  { stdio: [0, 1, 2, 'ipc'], serialization });
let phase = 'messages';
let got = 0;
let server = null;

child.on('error', (e) => die('spawn: ' + e.message));
child.on('exit', (code, sig) => {
  if (phase !== 'disconnected') die(`child exited early (${code}, ${sig}) in phase ${phase}`);
  if (code !== 0) die(`child exited ${code} (signal ${sig})`);
  process.exit(0);
});

child.on('message', (m) => {
  if (m === null || typeof m !== 'object') die('bad answer ' + JSON.stringify(m));
  if (phase === 'messages') {
    const want = gen.msg(0, got);
    if (!m.echo || m.echo.seq !== got) die(`answer ${got}: wrong seq ${JSON.stringify(m).slice(0, 80)}`);
    if (m.echo.s !== want.s) die(`answer ${got}: content differs`);
    if (++got === N) {
      phase = 'big';
      child.send(gen.big(0));
    }
  } else if (phase === 'big') {
    if (!m.echo || m.echo.big !== 1 || m.echo.s !== gen.big(0).s) die('big answer differs');
    phase = 'server';
    server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      child.send({ what: 'server', port: server.address().port }, server);
      // Queued behind the handle until the C child ACKs it.
      child.send({ what: 'after-server' });
    });
  } else if (phase === 'server') {
    if (m.gotfd !== 'net.Server' || !m.echo || m.echo.what !== 'server' ||
        m.echo.port !== server.address().port)
      die('handle answer ' + JSON.stringify(m));
    phase = 'after';
  } else if (phase === 'after') {
    if (!m.echo || m.echo.what !== 'after-server') die('after answer ' + JSON.stringify(m));
    server.close();
    phase = 'disconnected';
    child.disconnect();
  } else {
    die(`unexpected message in phase ${phase}: ${JSON.stringify(m).slice(0, 80)}`);
  }
});

for (let i = 0; i < N; i++) child.send(gen.msg(0, i));

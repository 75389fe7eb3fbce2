// ipc-close.js [child]: Node's reference for herd_loop_child_io with an
// IPC channel (loopev_test.c). As the parent: forks itself as the child
// with stdio [pipe, pipe, pipe, ipc] and prints the child's events, one
// a line. As the child: sends "hi", disconnects, and exits 4 once a line
// comes on stdin (the parent writes it at 'disconnect', so the order of
// the channel's end and the exit does not depend on timing).
'use strict';
const { fork } = require('child_process');
const log = (s) => process.stdout.write(s + '\n');
if (process.argv[2] === 'child') {
  process.send('hi');
  process.disconnect();
  process.stdin.once('data', () => process.exit(4));
} else {
  const c = fork(__filename, ['child'],
                 { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] });
  c.on('message', (m) => log(`message ${JSON.stringify(m)}`));
  c.on('disconnect', () => {
    log('disconnect');
    c.stdin.write('go\n');
  });
  c.on('exit', (code, sig) => log(`exit ${code} ${sig}`));
  c.on('close', (code, sig) => log(`close ${code} ${sig}`));
}

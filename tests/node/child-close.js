// child-close.js FIFO < SCRIPT: Node's reference for herd_loop_child_io
// (loopev_test.c). Spawns `sh -c SCRIPT sh FIFO` with stdout and stderr
// piped and prints the child's events, one a line: "data STREAM LINE",
// "exit CODE SIGNAL", "close CODE SIGNAL". Whenever the child prints
// "early", and at its exit, it opens the FIFO and writes a line: the
// script waits on the FIFO so that the order of its output and its exit
// does not depend on timing.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const fifo = process.argv[2];
const script = fs.readFileSync(0, 'utf8');
const log = (s) => process.stdout.write(s + '\n');
const gate = () => fs.writeFileSync(fifo, 'go\n');
const c = spawn('sh', ['-c', script, 'sh', fifo],
                { stdio: ['ignore', 'pipe', 'pipe'] });
const onData = (stream) => (d) => {
  for (const line of d.toString().split('\n').filter(Boolean)) {
    log(`data ${stream} ${line}`);
    if (line === 'early')
      gate();
  }
};
c.stdout.on('data', onData(1));
c.stderr.on('data', onData(2));
c.on('exit', (code, sig) => {
  log(`exit ${code} ${sig}`);
  gate();
});
c.on('close', (code, sig) => log(`close ${code} ${sig}`));

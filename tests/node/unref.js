// unref.js CASE: Node's reference for herd_loop_*_ref (loopev_test.c):
// what fires before the process ends, one event a line, then "end".
//  timers  an unref'd 5 ms interval and a ref'd 100 ms timeout: the
//          interval fires while the timeout keeps the process alive,
//          and not after it
//  unref   only an unref'd 10 s timer: the process ends at once
//  reref   a 50 ms timer unref'd, then ref'd again: it keeps the process
//  child   a child (sleep 0.3) unref'd, then ref'd again: its exit is
//          waited for
'use strict';
const { spawn } = require('child_process');
const log = (s) => process.stdout.write(s + '\n');
process.on('exit', () => log('end'));
const cases = {
  timers() {
    let ticks = 0;
    const iv = setInterval(() => { if (ticks++ === 0) log('tick'); }, 5);
    iv.unref();
    setTimeout(() => log('timeout'), 100);
  },
  unref() {
    setTimeout(() => log('timeout'), 10000).unref();
  },
  reref() {
    const t = setTimeout(() => log('timeout'), 50);
    t.unref();
    t.ref();
  },
  child() {
    const c = spawn('sleep', ['0.3'], { stdio: 'ignore' });
    c.on('exit', (code) => log(`exit ${code}`));
    c.unref();
    c.ref();
  },
};
cases[process.argv[2]]();

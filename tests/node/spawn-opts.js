// spawn-opts.js CASE - what Node's child_process does with the spawn
// options libherd copies (spawnopts_test.c runs the same cases through
// herd_spawn and compares). Prints one JSON line.
'use strict';
const cp = require('child_process');

const cases = {
  // shell: file and args joined by spaces, unquoted: the shell splits,
  // expands $ and strips quotes.
  shell() {
    const r = cp.spawnSync('echo', ['a  b', '$HERD_X', "'q'", '*.none'],
      {shell: true, encoding: 'utf8',
       env: {HERD_X: 'ex', PATH: process.env.PATH}});
    out({stdout: r.stdout});
  },
  // argv0 with a shell: it replaces the shell's argv[0] ($0).
  shell_argv0() {
    const r = cp.spawnSync('echo $0', [], {shell: true, argv0: 'zz',
      encoding: 'utf8'});
    out({stdout: r.stdout});
  },
  // exec: /bin/sh by default, or the given shell.
  exec_shell() {
    const a = cp.execSync('echo $0', {encoding: 'utf8'});
    const b = cp.execSync('echo $0', {encoding: 'utf8', shell: 'bash'});
    out({sh: a, bash: b});
  },
  // a shell that does not exist: an ENOENT error.
  shell_missing() {
    const c = cp.spawn('x', [], {shell: '/nonexistent/sh'});
    c.on('error', (e) => out({code: e.code}));
  },
  // timeout: killSignal (SIGTERM by default) at the deadline; killed.
  timeout() {
    const c = cp.spawn('sleep', ['5'], {timeout: 100});
    c.on('exit', (code, signal) => out({code, signal, killed: c.killed}));
  },
  timeout_kill_signal() {
    const c = cp.spawn('sleep', ['5'], {timeout: 100, killSignal: 'SIGKILL'});
    c.on('exit', (code, signal) => out({code, signal, killed: c.killed}));
  },
  // killed: true once kill() sent any signal, 0 too; false if never.
  killed() {
    const c = cp.spawn('sleep', ['5']);
    const before = c.killed;
    c.kill(0);
    const after0 = c.killed;
    c.kill('SIGKILL');
    c.on('exit', (code, signal) =>
      out({before, after0, signal, killed: c.killed}));
  },
  // abort: the child gets killSignal; an abort after the exit does nothing.
  abort() {
    const ac = new AbortController();
    const c = cp.spawn('sleep', ['5'], {signal: ac.signal});
    c.on('error', () => {});
    c.on('spawn', () => ac.abort());
    c.on('exit', (code, signal) => out({code, signal, killed: c.killed}));
  },
  abort_after_exit() {
    const ac = new AbortController();
    const c = cp.spawn('true', [], {signal: ac.signal});
    c.on('error', (e) => out({error: e.name}));
    c.on('exit', (code, signal) => {
      ac.abort();
      setTimeout(() => out({code, signal, killed: c.killed}), 50);
    });
  },
};

function out(o) {
  process.stdout.write(JSON.stringify(o) + '\n');
}

cases[process.argv[2]]();

'use strict';
/*
 * bench/spawn.js - Node's side of bench/spawn.c.
 *
 *   node bench/spawn.js CASE [-t MS | -n COUNT]
 *
 * Same contract as build/bench/spawn: MS of timed work (default 1000)
 * after a short untimed warm-up, or exactly COUNT iterations, then one line
 *
 *   CASE RATE_PER_S COUNT SECONDS
 *
 * Cases:
 *   node_spawn_seq     child_process.spawn('/bin/true'), wait for 'exit', repeat
 *   node_spawn_par8    the same with 8 in flight, a new one on each 'exit'
 *   node_spawnSync     child_process.spawnSync('/bin/true')
 *   node_exec          child_process.exec('echo hi'), callback, repeat
 *   node_execSync      child_process.execSync('echo hi')
 *   node_spawnSync_sh  child_process.spawnSync('/bin/sh', ['-c', 'echo hi'])
 *
 * The /bin/true cases use stdio 'inherit', like herd_spawn's default and
 * the raw C cases (Node's default would add three pipes). The 'echo hi'
 * cases capture stdout (and stderr where Node does) and check it.
 */
const cp = require('child_process');

const PAR = 8;

function die(msg) {
  process.stderr.write(`spawn.js: ${msg}\n`);
  process.exit(1);
}

function usage() {
  process.stderr.write('usage: node spawn.js CASE [-t MS | -n COUNT]\n' +
                       '       node spawn.js list\n');
  process.exit(2);
}

const nowS = () => Number(process.hrtime.bigint()) / 1e9;

function checkExit(code, signal) {
  if (code !== 0) die(`child failed (code ${code}, signal ${signal})`);
}

function checkHi(out) {
  if (String(out) !== 'hi\n') die(`unexpected output ${JSON.stringify(String(out))}`);
}

/* Async cases: start(done) launches one and calls done() when it is over. */
function spawnTrue(done) {
  const c = cp.spawn('/bin/true', [], { stdio: 'inherit' });
  c.on('error', (e) => die(`spawn: ${e.message}`));
  c.on('exit', (code, signal) => { checkExit(code, signal); done(); });
}

function execHi(done) {
  cp.exec('echo hi', (err, stdout, stderr) => {
    if (err) die(`exec: ${err.message}`);
    checkHi(stdout);
    if (stderr !== '') die('exec: unexpected stderr');
    done();
  });
}

/* Sync cases: one iteration. */
function spawnSyncTrue() {
  const r = cp.spawnSync('/bin/true', [], { stdio: 'inherit' });
  if (r.error) die(`spawnSync: ${r.error.message}`);
  checkExit(r.status, r.signal);
}

function execSyncHi() {
  checkHi(cp.execSync('echo hi'));
}

function spawnSyncSh() {
  const r = cp.spawnSync('/bin/sh', ['-c', 'echo hi']);
  if (r.error) die(`spawnSync: ${r.error.message}`);
  checkExit(r.status, r.signal);
  checkHi(r.stdout);
}

const cases = {
  node_spawn_seq: { start: spawnTrue, par: 1 },
  node_spawn_par8: { start: spawnTrue, par: PAR },
  node_spawnSync: { once: spawnSyncTrue },
  node_exec: { start: execHi, par: 1 },
  node_execSync: { once: execSyncHi },
  node_spawnSync_sh: { once: spawnSyncSh },
};

/* more(started): whether to launch another. */
function runSync(once, more) {
  let done = 0;
  while (more(done)) { once(); done++; }
  return Promise.resolve(done);
}

/* Keep par in flight; stop launching once more() says so, drain. */
function runAsync(start, par, more) {
  return new Promise((resolve) => {
    let started = 0, done = 0, running = 0;
    const launch = () => {
      started++;
      running++;
      start(() => {
        running--;
        done++;
        if (more(started)) launch();
        else if (running === 0) resolve(done);
      });
    };
    while (running < par && more(started)) launch();
    if (running === 0) resolve(done);
  });
}

function drive(bc, more) {
  return bc.once ? runSync(bc.once, more) : runAsync(bc.start, bc.par, more);
}

function parsePos(s) {
  if (!/^[0-9]+$/.test(s) || Number(s) <= 0) usage();
  return Number(s);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length < 1) usage();
  if (argv[0] === 'list') {
    for (const name of Object.keys(cases)) console.log(name);
    return;
  }
  const bc = cases[argv[0]];
  if (!bc) usage();
  let ms = 1000, n = 0;
  if (argv.length === 3 && argv[1] === '-t') ms = parsePos(argv[2]);
  else if (argv.length === 3 && argv[1] === '-n') n = parsePos(argv[2]);
  else if (argv.length !== 1) usage();

  if (n === 0) {
    /* Warm-up, untimed: JIT, libuv's signal and process machinery. */
    const until = nowS() + Math.min(ms / 10, 100) / 1e3;
    await drive(bc, () => nowS() < until);
  }
  const t0 = nowS();
  const deadline = t0 + ms / 1e3;
  const done = await drive(bc, n > 0 ? (k) => k < n : () => nowS() < deadline);
  const t1 = nowS();
  console.log(`${argv[0]} ${(done / (t1 - t0)).toFixed(1)} ${done} ${(t1 - t0).toFixed(3)}`);
}

main().catch((e) => die(e.stack || String(e)));

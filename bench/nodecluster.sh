#!/bin/sh
# bench/nodecluster.sh - one unmodified Node app (bench/nodecluster-app.js,
# a plain http.createServer(...).listen(PORT)) run by N workers under herd
# --node-cluster (shared and round-robin), under Node's own cluster primary
# (bench/nodecluster-primary.js, round-robin and "none") and under PM2's
# cluster mode; all side by side in one run, written as tables into
# bench/RESULTS.md (only the part between <!-- nodecluster:begin --> and
# <!-- nodecluster:end --> is replaced).
#
#   sh bench/run.sh nodecluster      (this part only; `sh bench/run.sh`
#   sh bench/nodecluster.sh           and `make bench` run it after the others)
#
# What it measures (loopback only, every step bounded in time; about 6
# minutes with the defaults), in interleaved rounds:
#   1. throughput and p99 latency: wrk, keep-alive, and a new connection
#      per request (-H 'Connection: close');
#   2. the supervising process (herd's master, Node's primary, PM2's God
#      daemon): VmRSS, and CPU time (utime+stime) per request of each run
#      of 1;
#   3. balance: requests served per worker (X-Worker, bench/cluster-count.lua);
#   4. failed requests across one reload in the middle of a wrk run, with
#      keep-alive and with a new connection per request.
# See bench/README.md.
#
# Environment:
#   ROUNDS=3       rounds; each round runs every case once, interleaved
#   SECS=3         seconds per wrk run (throughput and balance)
#   THREADS=2 CONNS=50   wrk -t / -c
#   WORKERS=2      workers per pool
#   RELOAD_SECS=5  the wrk run of a reload case; the reload is at RELOAD_AT=2
#   PORT_BASE=18470  the ports used are PORT_BASE+1 .. PORT_BASE+5
#   BUILD=build NODE=node PYTHON=python3 WRK=wrk
#   PM2=...        the pm2 program; default: bench/node_modules/.bin/pm2,
#                  /tmp/herd-bench/pm2/node_modules/.bin/pm2, or pm2 on PATH
#   RESULTS=bench/RESULTS.md
#
# Needs build/herd (`make`), node, wrk and python3; without pm2 its rows are
# skipped (the reason is printed and written). Exit status: 0, or 1 if a
# case failed (the tables still show the cases that ran).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/common.sh

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-50}
WORKERS=${WORKERS:-2}
RELOAD_SECS=${RELOAD_SECS:-5}
RELOAD_AT=${RELOAD_AT:-2}
PORT_BASE=${PORT_BASE:-18470}
BUILD=${BUILD:-build}
NODE=${NODE:-node}
PYTHON=${PYTHON:-python3}
WRK=${WRK:-wrk}
PM2=${PM2:-}
RESULTS=${RESULTS:-bench/RESULTS.md}
OUT=bench/out

positive_ints nodecluster.sh ROUNDS SECS THREADS CONNS WORKERS RELOAD_SECS RELOAD_AT PORT_BASE
[ "$RELOAD_AT" -lt "$RELOAD_SECS" ] || { echo "nodecluster.sh: RELOAD_AT must be less than RELOAD_SECS" >&2; exit 2; }

HERD=$BUILD/herd
APP=$ROOT/bench/nodecluster-app.js
PRIMARY=$ROOT/bench/nodecluster-primary.js
[ -x "$HERD" ] || { echo "nodecluster.sh: $HERD is missing: run \`make\`" >&2; exit 1; }
NODE_BIN=$(command -v "$NODE" 2>/dev/null) || { echo "nodecluster.sh: node not found (NODE=$NODE)" >&2; exit 1; }
command -v "$WRK" >/dev/null 2>&1 || { echo "nodecluster.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
command -v "$PYTHON" >/dev/null 2>&1 || { echo "nodecluster.sh: $PYTHON not found" >&2; exit 1; }
command -v timeout >/dev/null 2>&1 || { echo "nodecluster.sh: timeout (coreutils) not found" >&2; exit 1; }

SKIPS=
skip() { echo "nodecluster.sh: $1" >&2; SKIPS="$SKIPS$1. "; }

if [ -z "$PM2" ]; then
  for p in bench/node_modules/.bin/pm2 /tmp/herd-bench/pm2/node_modules/.bin/pm2; do
    [ -x "$p" ] && { PM2=$p; break; }
  done
  [ -n "$PM2" ] || PM2=$(command -v pm2 2>/dev/null) || PM2=
fi
[ -n "$PM2" ] || skip "pm2 not found (mkdir -p /tmp/herd-bench/pm2 && cd /tmp/herd-bench/pm2 && npm init -y && npm install pm2): the PM2 rows are skipped"

# Clock ticks per second of utime/stime in /proc/PID/stat.
HZ=$(getconf CLK_TCK 2>/dev/null) || HZ=100

mkdir -p "$OUT"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/herd-bench-nodecluster.XXXXXX")
PIDS=$SCRATCH/pids        # "NAME PID" of every process started here
: > "$PIDS"
PM2_HOME=$SCRATCH/pm2home
export PM2_HOME
PM2_STARTED=
PM2_APP=herd-bench-nodecluster

# ---- starting and stopping (only what this script started, by pid) ----

# alive, stop_pid: bench/common.sh (STOP_WAIT=70: Node's primary waits for
# its workers to disconnect)
STOP_WAIT=70

# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$PM2_STARTED" ]; then
    timeout 30 "$PM2" kill > "$SCRATCH/pm2-kill.log" 2>&1 || true
    god=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) || god=
    [ -n "$god" ] && stop_pid "$god"
  fi
  # the newest first
  tac "$PIDS" 2>/dev/null | while read -r _ p; do stop_pid "$p"; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: run CMD in the background, output to $SCRATCH/NAME.log;
# its pid in $START_PID. CMD must exec the supervisor (env does), so that
# the pid is the supervisor's.
start() {
  st_name=$1
  shift
  "$@" > "$SCRATCH/$st_name.log" 2>&1 &
  START_PID=$!
  echo "$st_name $START_PID" >> "$PIDS"
}

pid_of() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$PIDS"; }

port_of() {
  case $1 in
    herd_shared) echo $((PORT_BASE + 1)) ;;
    herd_rr) echo $((PORT_BASE + 2)) ;;
    node_rr) echo $((PORT_BASE + 3)) ;;
    node_none) echo $((PORT_BASE + 4)) ;;
    pm2) echo $((PORT_BASE + 5)) ;;
  esac
}

# master_of CASE: the supervising process, whose children are the workers.
master_of() {
  case $1 in
    pm2) cat "$PM2_HOME/pm2.pid" ;;
    *) pid_of "$1" ;;
  esac
}

start_server() { # start_server CASE
  ss_port=$(port_of "$1")
  case $1 in
    # A HERD_HOME each: two masters of one name in one HERD_HOME refuse
    # each other, and nothing here must meet another run's.
    herd_shared|herd_rr)
      ss_bal=shared
      [ "$1" = herd_rr ] && ss_bal=roundrobin
      mkdir -p "$SCRATCH/home-$1"
      start "$1" env HERD_HOME="$SCRATCH/home-$1" PORT="$ss_port" \
        "$HERD" run -n "nc_$1" --node-cluster --balance "$ss_bal" -w "$WORKERS" -- "$NODE_BIN" "$APP" ;;
    node_rr)
      start "$1" env PORT="$ss_port" WORKERS="$WORKERS" NODE_CLUSTER_SCHED_POLICY=rr \
        "$NODE_BIN" "$PRIMARY" ;;
    node_none)
      start "$1" env PORT="$ss_port" WORKERS="$WORKERS" NODE_CLUSTER_SCHED_POLICY=none \
        "$NODE_BIN" "$PRIMARY" ;;
    pm2)
      # PM2's cluster mode (its daemon is the cluster primary) with its
      # defaults: the app as it is, kill_signal SIGINT.
      cat > "$SCRATCH/pm2.config.js" <<EOF
module.exports = {
  apps: [{
    name: '$PM2_APP',
    script: '$APP',
    exec_mode: 'cluster',
    instances: $WORKERS,
    env: { PORT: '$ss_port' },
    out_file: '$SCRATCH/pm2-app-out.log',
    error_file: '$SCRATCH/pm2-app-err.log',
  }],
};
EOF
      PM2_STARTED=1
      timeout 60 "$PM2" start "$SCRATCH/pm2.config.js" > "$SCRATCH/pm2.log" 2>&1 || {
        echo "nodecluster.sh: pm2 start failed:" >&2; tail -n 20 "$SCRATCH/pm2.log" >&2; return 1; } ;;
  esac
  if ! timeout 40 "$PYTHON" bench/cluster.py wait "$ss_port" 30; then
    echo "nodecluster.sh: $1 did not answer on 127.0.0.1:$ss_port; its log:" >&2
    tail -n 20 "$SCRATCH/$1.log" >&2 2>/dev/null || true
    return 1
  fi
  # What answered must be ours: the process started is still there.
  ss_m=$(master_of "$1")
  if [ -z "$ss_m" ] || ! alive "$ss_m"; then
    echo "nodecluster.sh: $1 exited; its log:" >&2
    tail -n 20 "$SCRATCH/$1.log" >&2 2>/dev/null || true
    return 1
  fi
}

# cpu_of PID: utime+stime of PID (every thread), in clock ticks. The
# fields are counted after the ") " that ends the command name.
cpu_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
rss_of() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
kids_of() { "$PYTHON" bench/cluster.py children "$1" 2>/dev/null | sort | tr '\n' ' '; }

# Written in the scratch directory, copied to bench/out at the end.
RAW=$SCRATCH/nodecluster-raw.txt       # every measurement, one per line
WRKLOG=$SCRATCH/nodecluster-wrk.txt    # wrk's own output of every run
: > "$RAW"
: > "$WRKLOG"
failed=0

# wrk_run FILE PORT SECS [wrk options]: bounded.
wrk_run() {
  wr_f=$1 wr_p=$2 wr_s=$3
  shift 3
  timeout $((wr_s + 20)) "$WRK" -t"$THREADS" -c"$CONNS" -d"${wr_s}s" --latency "$@" \
    "http://127.0.0.1:$wr_p/" > "$wr_f" 2>&1
}

CASES="herd_shared herd_rr node_rr node_none pm2"
ports=
for c in $CASES; do ports="$ports $(port_of "$c")"; done
# shellcheck disable=SC2086
if busy=$("$PYTHON" bench/cluster.py busy $ports); then :; else
  echo "nodecluster.sh: 127.0.0.1 port(s) in use: $(echo "$busy" | tr '\n' ' ')- another run of" \
    "bench/nodecluster.sh? (or set PORT_BASE)" >&2
  exit 1
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

echo "starting the pools ($WORKERS workers each)"
UP=
for c in $CASES; do
  [ "$c" = pm2 ] && [ -z "$PM2" ] && continue
  if start_server "$c"; then
    echo "  $c: 127.0.0.1:$(port_of "$c"), supervisor pid $(master_of "$c")"
    UP="$UP $c"
  else
    echo "  $c: FAILED to start"
    failed=1
  fi
done
[ -n "$UP" ] || { echo "nodecluster.sh: no pool started" >&2; exit 1; }
sleep 1
echo "warm-up (1 s of wrk each)"
for c in $UP; do
  wrk_run "$SCRATCH/warm.txt" "$(port_of "$c")" 1 || true
done

reverse() { rv=; for x in "$@"; do rv="$x $rv"; done; echo "$rv"; }

# ---- 1-3: throughput with the supervisor's CPU and RSS, then balance ----

# tp_case ROUND CASE MODE (ka|close): "tp ROUND CASE MODE <bench_wrk_parse
# fields> CPU_TICKS RSS_KIB"
tp_case() {
  tc_m=$(master_of "$2")
  tc_f=$SCRATCH/tp.txt
  tc_c0=$(cpu_of "$tc_m")
  if [ "$3" = close ]; then
    wrk_run "$tc_f" "$(port_of "$2")" "$SECS" -H 'Connection: close' || true
  else
    wrk_run "$tc_f" "$(port_of "$2")" "$SECS" || true
  fi
  tc_c1=$(cpu_of "$tc_m")
  tc_rss=$(rss_of "$tc_m")
  { echo "== throughput round $1 $2 $3"; cat "$tc_f"; } >> "$WRKLOG"
  # shellcheck disable=SC2046  # (split into fields on purpose)
  set -- $(bench_wrk_parse "$1" "$2" "$tc_f") "$3"
  if [ "$3" = FAIL ] || [ -z "$tc_c0" ] || [ -z "$tc_c1" ] || [ -z "$tc_rss" ]; then
    echo "tp $1 $2 ${4:-$3} FAIL" >> "$RAW"
    printf '  %-12s %-5s FAILED\n' "$2" "${4:-$3}"
    failed=1
    return 0
  fi
  tc_mode=${12}
  echo "tp $1 $2 $tc_mode $3 $4 $5 $6 $7 $8 $9 ${10} ${11} $((tc_c1 - tc_c0)) $tc_rss" >> "$RAW"
  printf '  %-12s %-5s %8s req/s  p99 %7s us  errors %s  supervisor %s ticks, %s KiB\n' \
    "$2" "$tc_mode" "$3" "$4" "$(($6 + $7 + $8 + $9 + ${10}))" "$((tc_c1 - tc_c0))" "$tc_rss"
}

bal_case() { # bal_case ROUND CASE MODE
  bc_f=$SCRATCH/bal.txt
  if [ "$3" = close ]; then
    wrk_run "$bc_f" "$(port_of "$2")" "$SECS" -s bench/cluster-count.lua -H 'Connection: close' || true
  else
    wrk_run "$bc_f" "$(port_of "$2")" "$SECS" -s bench/cluster-count.lua || true
  fi
  { echo "== balance round $1 $2 $3"; cat "$bc_f"; } >> "$WRKLOG"
  bc_w=$(sed -n 's/^workers //p' "$bc_f")
  if [ -n "$bc_w" ]; then
    echo "bal $1 $2 $3 $bc_w" >> "$RAW"
    printf '  %-12s %-5s %s\n' "$2" "$3" "$bc_w"
  else
    echo "bal $1 $2 $3 FAIL" >> "$RAW"
    printf '  %-12s %-5s FAILED\n' "$2" "$3"
    failed=1
  fi
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "throughput and balance, round $r/$ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$UP; else list=$(reverse $UP); fi
  for mode in ka close; do
    for c in $list; do tp_case "$r" "$c" "$mode"; done
  done
  for mode in ka close; do
    for c in $list; do bal_case "$r" "$c" "$mode"; done
  done
  r=$((r + 1))
done

# ---- 4: one reload in the middle of a wrk run ----

# reload_case ROUND CASE MODE: "rl ROUND CASE MODE <bench_wrk_parse fields>
# REPLACED(yes|no)"
reload_case() {
  rc_m=$(master_of "$2")
  rc_before=$(kids_of "$rc_m")
  rc_done0=$(grep -c 'reload done' "$SCRATCH/$2.log" 2>/dev/null) || rc_done0=0
  rc_f=$SCRATCH/rl.txt
  if [ "$3" = close ]; then
    wrk_run "$rc_f" "$(port_of "$2")" "$RELOAD_SECS" -H 'Connection: close' &
  else
    wrk_run "$rc_f" "$(port_of "$2")" "$RELOAD_SECS" &
  fi
  rc_wrk=$!
  sleep "$RELOAD_AT"
  case $2 in
    pm2) timeout 60 "$PM2" reload "$PM2_APP" > "$SCRATCH/pm2-reload.log" 2>&1 || true ;;
    *) kill -HUP "$rc_m" ;;    # herd's reload; nodecluster-primary.js's rolling restart
  esac
  wait "$rc_wrk" || true
  # Replaced? Every worker of before gone from the supervisor's children
  # (wait up to 15 s), and herd and nodecluster-primary.js say "reload
  # done", so that the next run does not meet a reload still under way.
  rc_i=0 rc_ok=no
  while [ $rc_i -lt 150 ]; do
    rc_now=$(kids_of "$rc_m")
    rc_left=0
    for k in $rc_before; do case " $rc_now " in *" $k "*) rc_left=1 ;; esac; done
    if [ $rc_left = 0 ] && [ -n "$rc_now" ]; then
      case $2 in
        pm2) rc_ok=yes; break ;;
        *) [ "$(grep -c 'reload done' "$SCRATCH/$2.log")" -gt "$rc_done0" ] && { rc_ok=yes; break; } ;;
      esac
    fi
    sleep 0.1
    rc_i=$((rc_i + 1))
  done
  { echo "== reload round $1 $2 $3 (workers replaced: $rc_ok)"; cat "$rc_f"; } >> "$WRKLOG"
  # shellcheck disable=SC2046  # (split into fields on purpose)
  set -- $(bench_wrk_parse "$1" "$2" "$rc_f") "$3"
  if [ "$3" = FAIL ]; then
    echo "rl $1 $2 $4 FAIL" >> "$RAW"
    printf '  %-12s %-5s FAILED\n' "$2" "$4"
    failed=1
    return 0
  fi
  echo "rl $1 $2 ${12} $3 $4 $5 $6 $7 $8 $9 ${10} ${11} $rc_ok" >> "$RAW"
  printf '  %-12s %-5s %7s requests, non-2xx %s, socket errors connect %s read %s write %s timeout %s, max latency %s us, workers replaced: %s\n' \
    "$2" "${12}" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}" "$rc_ok"
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "reload round $r/$ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$UP; else list=$(reverse $UP); fi
  for mode in ka close; do
    for c in $list; do
      reload_case "$r" "$c" "$mode"
      sleep 1
    done
  done
  r=$((r + 1))
done

echo "stopping the pools"
if [ -n "$PM2_STARTED" ]; then
  timeout 30 "$PM2" kill > "$SCRATCH/pm2-kill.log" 2>&1 || true
  god=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) || god=
  [ -n "$god" ] && stop_pid "$god"
  PM2_STARTED=
fi
for c in $UP; do
  [ "$c" = pm2 ] && continue
  p=$(pid_of "$c")
  [ -n "$p" ] && stop_pid "$p"
done

# ---- the section for RESULTS.md ----

bench_machine
node_v=$("$NODE_BIN" --version)
wrk_v=$("$WRK" -v 2>&1 | head -n 1 | awk '{ print $1, $2 }') || wrk_v=unknown
if [ -n "$PM2" ]; then
  # from its package.json: `pm2 -v` would start a daemon in ~/.pm2
  pm2_v=$("$NODE_BIN" -p "require('$(dirname "$(readlink -f "$PM2")")/../package.json').version" 2>/dev/null) || pm2_v=unknown
else pm2_v=none; fi
herd_v=$("$HERD" --version)
date_=$(date -u '+%Y-%m-%d %H:%M UTC')
load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

cp "$RAW" "$OUT/nodecluster-raw.txt"
cp "$WRKLOG" "$OUT/nodecluster-wrk.txt"
RAW=$OUT/nodecluster-raw.txt
WRKLOG=$OUT/nodecluster-wrk.txt
SECTION=$OUT/nodecluster-section.md
{
  echo "<!-- nodecluster:begin -->"
  echo "## nodecluster: one unmodified Node app under herd --node-cluster, Node's cluster and PM2"
  echo
  echo "- machine: $nproc_ CPUs, $model; $kernel"
  echo "- $herd_v; node: $node_v; pm2: $pm2_v; wrk: $wrk_v"
  echo "- date: $date_; load average (1/5/15 min) before: $load_start, after: $load_end"
  echo "- command: \`ROUNDS=$ROUNDS SECS=$SECS sh bench/run.sh nodecluster\` (bench/nodecluster.sh; \`make bench\` runs it after the other parts)"
  echo "- the app: bench/nodecluster-app.js, \`http.createServer(...).listen(PORT, '127.0.0.1')\`, X-Worker from NODE_APP_INSTANCE or cluster.worker.id;"
  echo "  $WORKERS workers in every pool; wrk -t$THREADS -c$CONNS GET /, wrk, workers and supervisors share the $nproc_ CPUs;"
  echo "  $ROUNDS rounds, the cases interleaved (even rounds backwards); a value is the median over the rounds (spread = min-max),"
  echo "  a ratio the median over the rounds of the quotient of two cases measured in the same round. See bench/README.md."
  echo
  awk -v skips="$SKIPS" -v secs="$SECS" -v rsecs="$RELOAD_SECS" -v rat="$RELOAD_AT" -v hz="$HZ" \
      -v workers="$WORKERS" -v rounds="$ROUNDS" -v wrkopt="-t$THREADS -c$CONNS" -v conns="$CONNS" "$AWK_STATS"'
    # sets M (median), LO, HI of the values of K in kind; returns how many
    function stat(K, kind,   k, i, a) {
      k = cnt[kind, K]
      if (!k) return 0
      for (i = 1; i <= k; i++) a[i] = vals[kind, K, i]
      M = medof(a, k); LO = a[1]; HI = a[k]
      return k
    }
    function ratio(kind, a, b,   q) { q = pratio(kind, a, b); return q < 0 ? "-" : sprintf("%.2fx", q) }
    function desc(c) {
      if (c == "herd_shared") return "`herd run --node-cluster --balance shared -w " workers " -- node app.js`"
      if (c == "herd_rr") return "`herd run --node-cluster --balance roundrobin -w " workers " -- node app.js`"
      if (c == "node_rr") return "Node cluster primary (bench/nodecluster-primary.js), round-robin (the default on Linux)"
      if (c == "node_none") return "the same, NODE_CLUSTER_SCHED_POLICY=none (every worker accepts)"
      if (c == "pm2") return "PM2 cluster mode, `instances: " workers "` (defaults: kill_signal SIGINT)"
      return c
    }
    function sup(c) {
      if (c ~ /^herd_/) return "herd master"
      if (c ~ /^node_/) return "Node primary"
      return "PM2 God daemon"
    }
    function ffmt(x) { return x >= 1e9 ? "inf" : sprintf("%.2f", x) }
    $1 == "tp" {
      c = $3; m = $4
      seen["tp", c, m] = 1
      if ($5 == "FAIL") { tpfail[c, m] = 1; next }
      add("rps_" m, c, $2, $5); add("p99_" m, c, $2, $6)
      add("rss", c, $2, $15)
      cpu_t[c, m] += $14; cpu_req[c, m] += $7
      # per round, µs of supervisor CPU per request
      if ($7 > 0) add("cpu_" m, c, $2, $14 * 1e6 / hz / $7)
      next
    }
    $1 == "bal" {
      seen["bal", $3, $4] = 1
      if ($5 == "FAIL") next
      mx = 0; mn = -1; s = ""
      for (i = 5; i <= NF; i++) {
        split($i, kv, "="); x = kv[2] + 0
        if (x > mx) mx = x
        if (mn < 0 || x < mn) mn = x
        s = s (s == "" ? "" : " / ") x
      }
      if (NF - 4 < workers) mn = 0        # a worker that served nothing
      add("bal", $3 SUBSEP $4, $2, mn > 0 ? mx / mn : 1e9)
      shares[$3, $4, $2] = s
      next
    }
    $1 == "rl" {
      c = $3; m = $4
      seen["rl", c, m] = 1
      if ($5 == "FAIL") { rlfail[c, m] = 1; next }
      rl_n[c, m]++
      rl_req[c, m] += $7; rl_n2[c, m] += $8; rl_ce[c, m] += $9; rl_re[c, m] += $10; rl_we[c, m] += $11; rl_te[c, m] += $12
      bad = $8 + $9 + $10 + $11 + $12
      rl_bad[c, m] = rl_bad[c, m] (rl_bad[c, m] == "" ? "" : ", ") bad
      rl_tot[c, m] += bad
      add("rlmax_" m, c, $2, $13)
      if ($14 != "yes") rl_norep[c, m]++
      next
    }
    END {
      n = split("herd_shared herd_rr node_rr node_none pm2", o, " ")
      print "### 1. Throughput: wrk " wrkopt " -d" secs "s --latency per round"
      print ""
      print "keep-alive: " conns " connections kept for the whole run; new connection: `-H \"Connection: close\"`, one connection (and accept) per request."
      print ""
      print "| case | what | keep-alive req/s (spread) | p99 ms | vs Node cluster | new connection req/s (spread) | p99 ms | vs Node cluster |"
      print "|---|---|---:|---:|---:|---:|---:|---:|"
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(("tp", c, "ka") in seen)) continue
        line = "| " c " | " desc(c) " |"
        split("ka close", md, " ")
        for (j = 1; j <= 2; j++) {
          m = md[j]
          if (!stat(c, "rps_" m)) { line = line " failed | | |"; continue }
          rs = sprintf("%.0f (%.0f-%.0f)", M, LO, HI)
          stat(c, "p99_" m); ps = sprintf("%.2f", M / 1000)
          line = line " " rs " | " ps " | " (c == "node_rr" ? "1.00x" : ratio("rps_" m, c, "node_rr")) " |"
        }
        print line
      }
      print ""

      print "### 2. The supervising process: memory, and CPU per request during the runs of 1"
      print ""
      print "CPU: utime+stime of the supervisor (every thread) from /proc/PID/stat before and after each run of 1, summed over the"
      print "rounds and divided by the requests served in them (" hz " ticks a second: " sprintf("%.0f", 1e3 / hz) " ms resolution per reading). With a new connection"
      print "per request it is the CPU per connection. VmRSS read after each run."
      print ""
      print "| case | supervisor | VmRSS KiB (spread) | vs Node cluster | CPU keep-alive: ms / µs per request | vs Node cluster | CPU new connections: ms / µs per connection | vs Node cluster |"
      print "|---|---|---:|---:|---:|---:|---:|---:|"
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!stat(c, "rss")) continue
        rssm[c] = M
        line = sprintf("| %s | %s | %.0f (%.0f-%.0f) | %s |", c, sup(c), M, LO, HI,
          (c == "node_rr" ? "1.00x" : ratio("rss", c, "node_rr")))
        split("ka close", md, " ")
        for (j = 1; j <= 2; j++) {
          m = md[j]
          if (!cpu_req[c, m]) { line = line " - | - |"; continue }
          cpu[c, m] = cpu_t[c, m] * 1e6 / hz / cpu_req[c, m]
          line = line sprintf(" %.0f / %.2f |", cpu_t[c, m] * 1e3 / hz, cpu[c, m])
          if (c == "node_rr") line = line " 1.00x |"
          else if (cpu_req["node_rr", m] && cpu_t["node_rr", m] > 0)
            line = line sprintf(" %.2fx |", cpu[c, m] / (cpu_t["node_rr", m] * 1e6 / hz / cpu_req["node_rr", m]))
          else line = line " - |"
        }
        print line
      }
      print ""
      print "Ratios of CPU are of the totals (a 3 s run of a supervisor that does nothing per request reads 0 or 1 tick)."
      print ""

      print "### 3. Balance: requests served per worker (X-Worker, counted by bench/cluster-count.lua), wrk " wrkopt " -d" secs "s"
      print ""
      print "max/min is the busiest worker over the idlest, median over the rounds; inf: a worker served nothing. Keep-alive: how the"
      print "first " conns " accepts fell; new connection: one accept per request."
      print ""
      print "| case | keep-alive: max/min (spread) | requests per worker, median round | new connection: max/min (spread) | requests per worker, median round |"
      print "|---|---:|---|---:|---|"
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(("bal", c, "ka") in seen) && !(("bal", c, "close") in seen)) continue
        line = "| " c " |"
        split("ka close", md, " ")
        for (j = 1; j <= 2; j++) {
          K = c SUBSEP md[j]
          k = stat(K, "bal")
          if (!k) { line = line " failed | |"; continue }
          fm = ffmt(M) " (" ffmt(LO) "-" ffmt(HI) ")"
          mr = ""
          for (r = 1; r <= maxr; r++) if ((("bal", K, r) in byr) && byr["bal", K, r] == M) { mr = r; break }
          if (mr == "") for (r = 1; r <= maxr; r++) if (("bal", K, r) in byr) { mr = r; break }
          line = line " " fm " | " shares[c, md[j], mr] " |"
        }
        print line
      }
      print ""

      print "### 4. One reload under load: wrk " wrkopt " -d" rsecs "s, the reload " rat " s in; totals over " rounds " rounds"
      print ""
      print "Failed = non-2xx responses + socket errors (connect, read, write, timeout)."
      print ""
      print "| case | reload | connections | requests | non-2xx | socket errors c / r / w / t | failed per round | max latency ms (median round) | workers replaced |"
      print "|---|---|---|---:|---:|---|---|---:|---|"
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (c ~ /^herd_/) how = "SIGHUP to the herd master (one slot at a time: `disconnect`, successor ready at `listening`)"
        else if (c ~ /^node_/) how = "SIGHUP: nodecluster-primary.js forks a successor, waits for `listening`, then old.disconnect()"
        else how = "`pm2 reload` (successor online, then the old one gets SIGINT)"
        split("ka close", md, " ")
        for (j = 1; j <= 2; j++) {
          m = md[j]
          if (!(("rl", c, m) in seen)) continue
          stat(c, "rlmax_" m)
          printf "| %s | %s | %s | %d | %d | %d / %d / %d / %d | %s | %.1f | %s |\n", c, (j == 1 ? how : "\"\""),
            (m == "ka" ? "keep-alive" : "new per request"), rl_req[c, m], rl_n2[c, m],
            rl_ce[c, m], rl_re[c, m], rl_we[c, m], rl_te[c, m], rl_bad[c, m] ((c, m) in rlfail ? " (a run failed)" : ""),
            M / 1000, (rl_norep[c, m] ? "NO in " rl_norep[c, m] " of " rl_n[c, m] " rounds" : "yes, every round")
        }
      }
      print ""
      if (skips != "") { print "Not run: " skips; print "" }

      print "Targets (issue 11):"
      tg("round-robin throughput vs Node cluster (keep-alive)", pratio("rps_ka", "herd_rr", "node_rr"), 1.0)
      tg("round-robin throughput vs Node cluster (new connections)", pratio("rps_close", "herd_rr", "node_rr"), 1.0)
      if (cpu["node_rr", "close"] > 0 && ("herd_rr", "close") in cpu) {
        q = cpu["herd_rr", "close"] / cpu["node_rr", "close"]
        printf "- round-robin: the master\047s CPU per connection well below Node\047s primary (taken as at most 0.5x): %.2f µs vs %.2f µs, %.2fx: %s\n",
          cpu["herd_rr", "close"], cpu["node_rr", "close"], q, (q <= 0.5 ? "met" : "NOT met")
      } else print "- round-robin: the master\047s CPU per connection: no result"
      tg("shared mode throughput vs Node cluster (keep-alive)", pratio("rps_ka", "herd_shared", "node_rr"), 1.0, 1)
      tg("shared mode throughput vs Node cluster (new connections)", pratio("rps_close", "herd_shared", "node_rr"), 1.0, 1)
      tg("shared mode throughput vs herd round-robin (keep-alive)", pratio("rps_ka", "herd_shared", "herd_rr"), 1.0, 1)
      tg("shared mode throughput vs herd round-robin (new connections)", pratio("rps_close", "herd_shared", "herd_rr"), 1.0, 1)
      pm = (("pm2", "close") in rl_n) ? sprintf("PM2: %d with new connections, %d with keep-alive", rl_tot["pm2", "close"], rl_tot["pm2", "ka"]) : "PM2: not run"
      split("herd_shared herd_rr", hh, " ")
      for (i = 1; i <= 2; i++) {
        c = hh[i]
        if (!((c, "close") in rl_n)) { printf "- zero failed requests per reload, %s, new connections: no result\n", c; continue }
        printf "- zero failed requests per reload, %s, new connections: %d failed in %d reloads (keep-alive: %d; %s): %s\n", c,
          rl_tot[c, "close"], rl_n[c, "close"], rl_tot[c, "ka"], pm,
          (rl_tot[c, "close"] == 0 && !((c, "close") in rlfail) && !rl_norep[c, "close"] ? "met" : "NOT met")
      }
      for (i = 1; i <= 2; i++) {
        c = hh[i]
        if (!(c in rssm)) { printf "- supervisor RSS under 2.5 MiB, %s: no result\n", c; continue }
        printf "- supervisor RSS under 2.5 MiB, %s: %.0f KiB (PM2\047s God daemon: %s): %s\n", c, rssm[c],
          ("pm2" in rssm ? sprintf("%.0f KiB", rssm["pm2"]) : "not run"), (rssm[c] < 2560 ? "met" : "NOT met")
      }
    }
    # tg WHAT Q WANT [STRICT]: met if Q >= WANT (Q > WANT if STRICT)
    function tg(what, q, want, strict) {
      if (q < 0) { printf "- %s: no result\n", what; return }
      printf "- %s: %.2fx (want %s %.2fx): %s\n", what, q, (strict ? ">" : ">="), want,
        ((strict ? q > want : q >= want) ? "met" : "NOT met")
    }
  ' "$RAW"
  echo "<!-- nodecluster:end -->"
} > "$SECTION"

# Replace the section in RESULTS.md, keeping everything around it.
bench_write_section nodecluster "$SECTION" "$RESULTS"

echo
sed -e '1d' -e '$d' "$SECTION"
echo
echo "written: $RESULTS (raw values: $RAW, wrk output: $WRKLOG)"
exit "$failed"

#!/bin/sh
# bench/daemon.sh - herd's daemon commands (herd start / status / stop and
# its log files) next to PM2's (pm2 start / jlist / delete and its log
# files), side by side in one run, written as tables into bench/RESULTS.md
# (only the part between <!-- daemon:begin --> and <!-- daemon:end --> is
# replaced).
#
#   sh bench/run.sh daemon       (this part only; `sh bench/run.sh` and
#   sh bench/daemon.sh            `make bench` run it after the others)
#
# What it measures (loopback only, every step bounded in time; about 2-3
# minutes with the defaults):
#   1. start to ready: the wall time of `herd start -w 2` (hello-http,
#      node-worker.js) and of `pm2 start node-worker.js -i 2` (warm: PM2's
#      daemon already running; and cold: the first start, which spawns
#      it), then to the first HTTP answer, then of the stop;
#   2. status round trip: `herd status NAME --json` (and `herd status
#      --json`, `herd list`) next to `pm2 jlist` (and `pm2 ls`), with 4
#      apps of 2 workers running under each;
#   3. memory: VmRSS of herd's 4 masters (summed) next to PM2's daemon,
#      workers excluded on both sides;
#   4. log throughput: a worker prints LOG_LINES lines of 100 bytes as
#      fast as it can (awk, and Node); the time until the last one is in
#      the log file, lines per second, and lines lost; on a quiet machine,
#      then with a busy loop per CPU beside it.
# See bench/README.md.
#
# Environment:
#   START_ROUNDS=10  rounds of part 1 (each starts and stops every case once)
#   COLD_ROUNDS=3    cold PM2 starts (the first one, then after `pm2 kill`)
#   STATUS_ROUNDS=20 rounds of part 2
#   APPS=4 WORKERS=2 apps of parts 2 and 3, workers per app
#   LOG_LINES=1000000 LOG_ROUNDS=3   part 4
#   LOG_BUSY=1       part 4 also with one busy loop per CPU beside (0: not)
#   PORT_BASE=18600  PM2's apps listen on PORT_BASE+1 .. PORT_BASE+20
#   BUILD=build CC=cc NODE=node
#   PM2=...          the pm2 program; default: bench/node_modules/.bin/pm2,
#                    /tmp/herd-bench/pm2/node_modules/.bin/pm2, or pm2 on PATH
#   RESULTS=bench/RESULTS.md
#
# Needs build/herd and build/examples/hello-http (`make`); without node or
# pm2 the PM2 rows (and the Node ones) are skipped and the reason written.
# Scratch (HERD_HOME, PM2_HOME, the log files) in /tmp/herd-bench/daemon.*,
# removed at the end; everything started is stopped (herd stop, pm2 kill,
# then by pid). Exit status: 0, or 1 if a case failed (the tables still
# show the cases that ran).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/common.sh

START_ROUNDS=${START_ROUNDS:-10}
COLD_ROUNDS=${COLD_ROUNDS:-3}
STATUS_ROUNDS=${STATUS_ROUNDS:-20}
APPS=${APPS:-4}
WORKERS=${WORKERS:-2}
LOG_LINES=${LOG_LINES:-1000000}
LOG_ROUNDS=${LOG_ROUNDS:-3}
LOG_BUSY=${LOG_BUSY:-1}
PORT_BASE=${PORT_BASE:-18600}
BUILD=${BUILD:-build}
CC=${CC:-cc}
NODE=${NODE:-node}
PM2=${PM2:-}
RESULTS=${RESULTS:-bench/RESULTS.md}
OUT=bench/out

positive_ints daemon.sh START_ROUNDS COLD_ROUNDS STATUS_ROUNDS APPS WORKERS LOG_LINES LOG_ROUNDS PORT_BASE
[ "$APPS" -le 9 ] || { echo "daemon.sh: APPS must be at most 9" >&2; exit 2; }

HERD=$ROOT/$BUILD/herd
HELLO=$ROOT/$BUILD/examples/hello-http
for f in "$HERD" "$HELLO"; do
  [ -x "$f" ] || { echo "daemon.sh: $f is missing: run \`make\`" >&2; exit 1; }
done
command -v timeout >/dev/null 2>&1 || { echo "daemon.sh: timeout (coreutils) not found" >&2; exit 1; }

# Which herd is measured: the commit, and whether build/herd is older than
# its sources.
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
  [ -z "$(git status --porcelain -- src include 2>/dev/null)" ] ||
    rev="$rev, with uncommitted changes in src/ or include/"
else
  rev="unknown (not a git checkout)"
fi
newer=$(find src include -name '*.[ch]' -newer "$HERD" 2>/dev/null | head -n 1)
if [ -n "$newer" ]; then
  rev="$rev; WARNING: $BUILD/herd is older than $newer (run \`make\`)"
  echo "daemon.sh: $BUILD/herd is older than $newer: run \`make\`" >&2
fi

SKIPS=
skip() { echo "daemon.sh: $1" >&2; SKIPS="$SKIPS$1. "; }
NODE_BIN=
if NODE_BIN=$(command -v "$NODE" 2>/dev/null); then :; else
  NODE_BIN=
  skip "node not found (NODE=$NODE): the PM2 rows and the Node worker rows are skipped"
fi
if [ -z "$PM2" ]; then
  for p in bench/node_modules/.bin/pm2 /tmp/herd-bench/pm2/node_modules/.bin/pm2; do
    [ -x "$p" ] && { PM2=$p; break; }
  done
  [ -n "$PM2" ] || PM2=$(command -v pm2 2>/dev/null) || PM2=
fi
if [ -z "$NODE_BIN" ]; then
  PM2=
elif [ -z "$PM2" ]; then
  skip "pm2 not found (mkdir -p /tmp/herd-bench/pm2 && cd /tmp/herd-bench/pm2 && npm init -y && npm install pm2): the PM2 rows are skipped"
fi

# The stopwatch (bench/daemon-time.c, no libherd).
mkdir -p "$BUILD/bench" "$OUT"
TIMER=$ROOT/$BUILD/bench/daemon-time
BUILD_CMD="$CC -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o $BUILD/bench/daemon-time bench/daemon-time.c"
echo "$BUILD_CMD"
$BUILD_CMD

mkdir -p /tmp/herd-bench
SCRATCH=$(mktemp -d /tmp/herd-bench/daemon.XXXXXX)
HERD_HOME=$SCRATCH/herd
PM2_HOME=$SCRATCH/pm2
export HERD_HOME PM2_HOME
mkdir -p "$HERD_HOME" "$PM2_HOME"
PIDS=$SCRATCH/pids        # herd masters and other processes started here
: > "$PIDS"
PM2_STARTED=

alive() { kill -0 "$1" 2>/dev/null; }

# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  trap - EXIT INT TERM
  timeout 60 "$HERD" stop all > /dev/null 2>&1 || true
  if [ -n "$PM2_STARTED" ]; then
    timeout 30 "$PM2" kill > /dev/null 2>&1 || true
    god=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) || god=
    if [ -n "$god" ] && alive "$god"; then kill -TERM "$god" 2>/dev/null || true; fi
  fi
  # Whatever is left: by pid, the newest first (a herd master stops its
  # workers on TERM).
  tac "$PIDS" 2>/dev/null | while read -r p; do
    if alive "$p"; then
      kill -TERM "$p" 2>/dev/null || true
      i=0
      while alive "$p" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
      alive "$p" && kill -KILL "$p" 2>/dev/null
    fi
  done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Another run (or anything else) on PM2's ports would answer in place of
# the app being measured.
if [ -n "$PM2" ] && ! busy=$("$TIMER" busy $(seq $((PORT_BASE + 1)) $((PORT_BASE + 20)))); then
  echo "daemon.sh: 127.0.0.1 port(s) in use: $(echo "$busy" | tr '\n' ' ')- another run? (or set PORT_BASE)" >&2
  exit 1
fi

RAW=$SCRATCH/daemon-raw.txt
: > "$RAW"
failed=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# tm OUTFILE SECS ANSWER_PORT CMD...: time CMD (ANSWER_PORT: "" for none,
# 0 for the port in its output). Sets TM (microseconds), TM_ST (exit
# status or sigN/timeout) and TM_ANS (microseconds to the first HTTP
# answer, or "-"); returns 0 if CMD exited 0.
tm() {
  tm_o=$1 tm_s=$2 tm_a=$3
  shift 3
  if [ -n "$tm_a" ]; then
    tm_line=$("$TIMER" run -o "$tm_o" -t "$tm_s" -a "$tm_a" -- "$@") && tm_rc=0 || tm_rc=1
  else
    tm_line=$("$TIMER" run -o "$tm_o" -t "$tm_s" -- "$@") && tm_rc=0 || tm_rc=1
  fi
  # shellcheck disable=SC2086
  set -- $tm_line
  TM=${1:-0} TM_ST=${2:-?} TM_ANS=${3:--}
  return $tm_rc
}

# The master pid of herd app NAME from `herd status NAME --json`.
herd_pid() {
  timeout 10 "$HERD" status "$1" --json 2>/dev/null | grep -o '"pid":[0-9]*' | head -n 1 | cut -d: -f2
}

rss_of() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# Pss: the shared pages (the binary, libc) divided among the processes
# that map them, so that 4 herd masters do not count them 4 times.
pss_of() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }

reverse() { rv=; for x in "$@"; do rv="$x $rv"; done; echo "$rv"; }

# ---- 1. start to ready ----

START_CASES="herd_hello herd_hello_notify"
[ -n "$NODE_BIN" ] && START_CASES="$START_CASES herd_node"
[ -n "$PM2" ] && START_CASES="$START_CASES pm2"

# start_case ROUND CASE: start, first answer, stop; one raw line
# "start ROUND CASE START_US ANSWER_US STOP_US" (FAIL in place of START_US
# if it did not start).
start_case() {
  sc_r=$1 sc_c=$2 sc_n=s$1_$2 sc_o=$SCRATCH/start.out
  sc_ok=1
  case $sc_c in
    herd_hello)
      tm "$sc_o" 30 0 "$HERD" start -n "$sc_n" -w "$WORKERS" -l 127.0.0.1:0 -- "$HELLO" || sc_ok=0 ;;
    herd_hello_notify)
      tm "$sc_o" 30 0 "$HERD" start -n "$sc_n" -w "$WORKERS" -l 127.0.0.1:0 --ready notify -- "$HELLO" || sc_ok=0 ;;
    herd_node)
      tm "$sc_o" 30 0 "$HERD" start -n "$sc_n" -w "$WORKERS" -l 127.0.0.1:0 -- \
        "$NODE_BIN" examples/node-worker.js || sc_ok=0 ;;
    pm2|pm2_cold)
      PM2_STARTED=1
      PORT=$((PORT_BASE + 11 + sc_r % 5))
      export PORT
      tm "$sc_o" 60 "$PORT" "$PM2" start examples/node-worker.js -i "$WORKERS" --name "$sc_n" || sc_ok=0
      unset PORT ;;
  esac
  case $sc_c in
    herd_*) sed -n 's/.*master pid \([0-9][0-9]*\).*/\1/p' "$sc_o" >> "$PIDS" ;;
  esac
  if [ $sc_ok = 0 ]; then
    echo "start $sc_r $sc_c FAIL" >> "$RAW"
    printf '  %-18s FAILED (%s): %s\n' "$sc_c" "$TM_ST" "$(tail -n 3 "$sc_o" | tr '\n' ' ')"
    failed=1
  fi
  sc_start=$TM sc_ans=$TM_ANS
  case $sc_c in
    herd_*) tm "$SCRATCH/stop.out" 60 "" "$HERD" stop "$sc_n" || true ;;
    pm2*) tm "$SCRATCH/stop.out" 60 "" "$PM2" delete "$sc_n" || true ;;
  esac
  if [ "$TM_ST" != 0 ]; then
    echo "daemon.sh: stopping $sc_n failed ($TM_ST): $(tail -n 3 "$SCRATCH/stop.out" | tr '\n' ' ')" >&2
    failed=1
  fi
  [ $sc_ok = 1 ] || return 0
  echo "start $sc_r $sc_c $sc_start $sc_ans $TM" >> "$RAW"
  [ "$sc_ans" = - ] && { echo "daemon.sh: $sc_n: no HTTP answer" >&2; failed=1; }
  printf '  %-18s start %8.1f ms   first answer %8s ms   stop %8.1f ms\n' "$sc_c" \
    "$(echo "$sc_start" | awk '{ print $1 / 1000 }')" \
    "$(echo "$sc_ans" | awk '{ print $1 == "-" ? "-" : sprintf("%.1f", $1 / 1000) }')" \
    "$(echo "$TM" | awk '{ print $1 / 1000 }')"
}

# pm2_kill: stop PM2's daemon (and so its apps), wait for it to be gone.
pm2_kill() {
  pk_god=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) || pk_god=
  timeout 30 "$PM2" kill > "$SCRATCH/pm2-kill.out" 2>&1 || true
  if [ -n "$pk_god" ]; then
    pk_i=0
    while alive "$pk_god" && [ $pk_i -lt 100 ]; do sleep 0.1; pk_i=$((pk_i + 1)); done
  fi
}

echo "1. start to ready ($START_ROUNDS rounds, $WORKERS workers)"
if [ -n "$PM2" ]; then
  # The first pm2 command of the run: its daemon is not running yet.
  start_case 1 pm2_cold
  sed -i 's/^start 1 pm2_cold /cold 1 pm2_cold /' "$RAW"
fi
echo " warm-up"
for c in $START_CASES; do start_case 0 "$c"; done
sed -i '/^start 0 /d' "$RAW"
r=1
while [ "$r" -le "$START_ROUNDS" ]; do
  echo " round $r/$START_ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$START_CASES; else list=$(reverse $START_CASES); fi
  for c in $list; do start_case "$r" "$c"; done
  r=$((r + 1))
done
if [ -n "$PM2" ]; then
  r=2
  while [ "$r" -le "$COLD_ROUNDS" ]; do
    echo " cold PM2 start $r/$COLD_ROUNDS (after pm2 kill)"
    pm2_kill
    start_case "$r" pm2_cold
    sed -i "s/^start $r pm2_cold /cold $r pm2_cold /" "$RAW"
    r=$((r + 1))
  done
  # PM2's daemon with no app at all: the floor of its RSS (part 3).
  sleep 1
  god=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) || god=
  [ -n "$god" ] && echo "rss idle pm2_god $(rss_of "$god") $(pss_of "$god")" >> "$RAW"
fi

# ---- 3 (then 2): APPS apps of WORKERS workers under each ----

W=examples/node-worker.js
echo "3. memory: starting $APPS apps of $WORKERS workers under each"
HERD_APPS=
PM2_APPS=
k=1
while [ "$k" -le "$APPS" ]; do
  if [ -n "$NODE_BIN" ]; then
    set -- "$NODE_BIN" "$W"
  else
    set -- "$HELLO"
  fi
  if tm "$SCRATCH/m.out" 30 0 "$HERD" start -n "m$k" -w "$WORKERS" -l 127.0.0.1:0 -- "$@"; then
    sed -n 's/.*master pid \([0-9][0-9]*\).*/\1/p' "$SCRATCH/m.out" >> "$PIDS"
    HERD_APPS="$HERD_APPS m$k"
  else
    echo "  herd start m$k FAILED: $(tail -n 3 "$SCRATCH/m.out" | tr '\n' ' ')"; failed=1
  fi
  if [ -n "$PM2" ]; then
    PORT=$((PORT_BASE + 1 + k))
    export PORT
    if tm "$SCRATCH/m.out" 60 "$PORT" "$PM2" start "$W" -i "$WORKERS" --name "m$k"; then
      PM2_APPS="$PM2_APPS m$k"
    else
      echo "  pm2 start m$k FAILED: $(tail -n 3 "$SCRATCH/m.out" | tr '\n' ' ')"; failed=1
    fi
    unset PORT
  fi
  k=$((k + 1))
done
if [ -n "$HERD_APPS" ]; then HERD_ONE=${HERD_APPS# }; HERD_ONE=${HERD_ONE%% *}; else HERD_ONE=; fi

# rss_all PHASE: the masters' VmRSS now.
rss_all() {
  ra_sum=0 ra_psum=0 ra_n=0
  for a in $HERD_APPS; do
    ra_p=$(herd_pid "$a")
    ra_k=$( [ -n "$ra_p" ] && rss_of "$ra_p") || ra_k=
    ra_s=$( [ -n "$ra_p" ] && pss_of "$ra_p") || ra_s=
    if [ -n "$ra_k" ] && [ -n "$ra_s" ]; then
      echo "rss $1 herd_$a $ra_k $ra_s" >> "$RAW"
      ra_sum=$((ra_sum + ra_k)) ra_psum=$((ra_psum + ra_s)) ra_n=$((ra_n + 1))
    fi
  done
  [ "$ra_n" -gt 0 ] && echo "rss $1 herd_sum $ra_sum $ra_psum $ra_n" >> "$RAW"
  ra_g=
  if [ -n "$PM2_APPS" ]; then
    ra_god=$(cat "$PM2_HOME/pm2.pid" 2>/dev/null) || ra_god=
    ra_g=$( [ -n "$ra_god" ] && rss_of "$ra_god") || ra_g=
    ra_s=$( [ -n "$ra_god" ] && pss_of "$ra_god") || ra_s=
    [ -n "$ra_g" ] && echo "rss $1 pm2_god $ra_g ${ra_s:-0}" >> "$RAW"
  fi
  printf '  %-14s herd masters: %s KiB in %s; PM2 daemon: %s KiB\n' "$1" "$ra_sum" "$ra_n" "${ra_g:--}"
}
sleep 2
rss_all started

# ---- 2. status round trip ----

STATUS_CASES=
[ -n "$HERD_ONE" ] && STATUS_CASES="herd_status_one herd_status_all herd_list"
[ -n "$PM2_APPS" ] && STATUS_CASES="$STATUS_CASES pm2_jlist pm2_ls"

status_case() { # status_case ROUND CASE
  case $2 in
    herd_status_one) tm "$SCRATCH/st.out" 30 "" "$HERD" status "$HERD_ONE" --json ;;
    herd_status_all) tm "$SCRATCH/st.out" 30 "" "$HERD" status --json ;;
    herd_list) tm "$SCRATCH/st.out" 30 "" "$HERD" list ;;
    pm2_jlist) tm "$SCRATCH/st.out" 60 "" "$PM2" jlist ;;
    pm2_ls) tm "$SCRATCH/st.out" 60 "" "$PM2" ls ;;
  esac && st_ok=1 || st_ok=0
  # The answer must be a real one: every app in it.
  if [ $st_ok = 1 ]; then
    case $2 in
      herd_status_one) grep -q "\"name\":\"$HERD_ONE\"" "$SCRATCH/st.out" || st_ok=0 ;;
      herd_*) for a in $HERD_APPS; do grep -q "$a" "$SCRATCH/st.out" || st_ok=0; done ;;
      pm2_*) for a in $PM2_APPS; do grep -q "$a" "$SCRATCH/st.out" || st_ok=0; done ;;
    esac
  fi
  if [ $st_ok = 1 ]; then
    echo "status $1 $2 $TM" >> "$RAW"
  else
    echo "status $1 $2 FAIL" >> "$RAW"
    [ "$1" = 0 ] || { printf '  %-16s FAILED (%s)\n' "$2" "$TM_ST"; failed=1; }
  fi
}

echo "2. status round trip ($STATUS_ROUNDS rounds)"
for c in $STATUS_CASES; do status_case 0 "$c"; done     # warm-up
sed -i '/^status 0 /d' "$RAW"
r=1
while [ "$r" -le "$STATUS_ROUNDS" ]; do
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$STATUS_CASES; else list=$(reverse $STATUS_CASES); fi
  for c in $list; do status_case "$r" "$c"; done
  r=$((r + 1))
done
awk '$1 == "status" && $4 != "FAIL" { s[$3] = s[$3] sprintf(" %.1f", $4 / 1000) }
     END { for (c in s) printf "  %-16s ms:%s\n", c, s[c] }' "$RAW" | sort

rss_all after_status

echo "  stopping the apps"
for a in $HERD_APPS; do timeout 60 "$HERD" stop "$a" > /dev/null 2>&1 || failed=1; done
for a in $PM2_APPS; do timeout 60 "$PM2" delete "$a" > /dev/null 2>&1 || failed=1; done

# ---- 4. log throughput ----

# The printers: LOG_LINES lines "L0000000 xxx...x" of 99 characters and a
# newline, as fast as they can; the clock (ms) into T0 before the first and
# into T1 after the last; then they stay (a worker that exits would be
# restarted, and print again).
cat > "$SCRATCH/lines.sh" <<'EOF'
# lines.sh N T0 T1
date +%s%3N > "$2"
awk -v n="$1" 'BEGIN { p = sprintf("%90s", ""); gsub(/ /, "x", p)
  for (i = 0; i < n; i++) printf "L%07d %s\n", i, p }'
date +%s%3N > "$3"
exec sleep 100000
EOF
cat > "$SCRATCH/lines.js" <<'EOF'
// lines.js N T0 T1 (process.stdout.write of 1000 lines at a time)
'use strict';
const fs = require('fs');
const [n, t0, t1] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
fs.writeFileSync(t0, `${Date.now()}\n`);
const pad = 'x'.repeat(90);
for (let i = 0; i < n;) {
  let s = '';
  for (let k = 0; k < 1000 && i < n; k++, i++) s += `L${String(i).padStart(7, '0')} ${pad}\n`;
  process.stdout.write(s);
}
fs.writeFileSync(t1, `${Date.now()}\n`);
setInterval(() => {}, 1 << 30);
EOF

LOG_CASES="floor_awk herd_awk"
[ -n "$PM2" ] && LOG_CASES="$LOG_CASES pm2_awk"
[ -n "$NODE_BIN" ] && LOG_CASES="$LOG_CASES floor_node herd_node"
[ -n "$PM2" ] && LOG_CASES="$LOG_CASES pm2_node"
# The same on a busy machine: one busy loop per CPU beside the case.
if [ "$LOG_BUSY" = 1 ]; then
  LOG_CASES="$LOG_CASES herd_awk_busy"
  [ -n "$PM2" ] && LOG_CASES="$LOG_CASES pm2_awk_busy"
  [ -n "$NODE_BIN" ] && LOG_CASES="$LOG_CASES herd_node_busy"
  [ -n "$PM2" ] && LOG_CASES="$LOG_CASES pm2_node_busy"
fi
NCPU=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
# herd's line: "2026-11-28T01:02:03.456Z [0] " + the 100 bytes
HERD_PREFIX=29

# log_case ROUND CASE: one raw line "log ROUND CASE PRINTED ON_DISK
# DROPPED PRINT_MS DONE_MS REASON" (ms from the printer's first line:
# PRINT_MS to its last write, DONE_MS to the last growth of the log file).
log_case() {
  lc_r=$1 lc_c=$2 lc_n=l$1_$2
  # PM2 names the log file after the app, [^a-zA-Z0-9.-] made "-"
  lc_pn=$(echo "$lc_n" | sed 's/[^a-zA-Z0-9.-]/-/g')
  lc_t0=$SCRATCH/t0 lc_t1=$SCRATCH/t1
  rm -f "$lc_t0" "$lc_t1"
  case $lc_c in
    *_awk|*_awk_busy) set -- sh "$SCRATCH/lines.sh" ;;
    *_node|*_node_busy) set -- "$NODE_BIN" "$SCRATCH/lines.js" ;;
  esac
  lc_ok=1 lc_pid='' lc_drop=- lc_hogs=''
  case $lc_c in
    *_busy)
      lc_i=0
      while [ $lc_i -lt "$NCPU" ]; do
        timeout 300 sh -c 'while :; do :; done' &
        lc_hogs="$lc_hogs $!"
        echo "$!" >> "$PIDS"
        lc_i=$((lc_i + 1))
      done ;;
  esac
  case $lc_c in
    floor_*)
      lc_file=$SCRATCH/floor.log lc_want=$((LOG_LINES * 100))
      "$@" "$LOG_LINES" "$lc_t0" "$lc_t1" > "$lc_file" 2>&1 &
      lc_pid=$!
      echo "$lc_pid" >> "$PIDS" ;;
    herd_*)
      lc_file=$HERD_HOME/logs/$lc_n-out.log lc_want=$((LOG_LINES * (100 + HERD_PREFIX)))
      if tm "$SCRATCH/log.out" 30 "" "$HERD" start -n "$lc_n" -w 1 --log-max-size 0 -- \
           "$@" "$LOG_LINES" "$lc_t0" "$lc_t1"; then
        sed -n 's/.*master pid \([0-9][0-9]*\).*/\1/p' "$SCRATCH/log.out" >> "$PIDS"
      else lc_ok=0; fi ;;
    pm2_*)
      lc_file=$PM2_HOME/logs/$lc_pn-out.log lc_want=$((LOG_LINES * 100))
      case $lc_c in
        pm2_awk*) set -- "$SCRATCH/lines.sh" --interpreter sh ;;
        pm2_node*) set -- "$SCRATCH/lines.js" ;;
      esac
      tm "$SCRATCH/log.out" 60 "" "$PM2" start "$@" --name "$lc_n" -- "$LOG_LINES" "$lc_t0" "$lc_t1" ||
        lc_ok=0 ;;
  esac
  if [ $lc_ok = 1 ]; then
    # until the file is whole, or the printer is done and the file has
    # not grown for 2 s (lines lost); 90 s at most
    # shellcheck disable=SC2046
    set -- $("$TIMER" watch "$lc_file" "$lc_want" "$lc_t1" 2000 90000)
    lc_done=$1 lc_why=$3
    [ -f "$lc_file" ] || { echo "daemon.sh: $lc_c: no log file $lc_file" >&2; lc_ok=0; }
    lc_lines=$(wc -l < "$lc_file" 2>/dev/null) || lc_lines=0
    if [ -s "$lc_t0" ] && [ -s "$lc_t1" ]; then
      lc_a=$(cat "$lc_t0") lc_b=$(cat "$lc_t1")
      lc_print=$((lc_b - lc_a)) lc_dms=$((lc_done - lc_a))
    else
      lc_print=- lc_dms=- lc_ok=0
    fi
    case $lc_c in
      herd_*) lc_drop=$(timeout 10 "$HERD" status "$lc_n" --json 2>/dev/null |
                sed -n 's/.*"dropped":\[\([0-9]*\),\([0-9]*\)\].*/\1 \2/p' |
                awk '{ print $1 + $2 }') || lc_drop='?'
              [ -n "$lc_drop" ] || lc_drop='?' ;;
    esac
  fi
  for p in $lc_hogs; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  case $lc_c in
    floor_*) kill "$lc_pid" 2>/dev/null || true; wait "$lc_pid" 2>/dev/null || true ;;
    herd_*) timeout 60 "$HERD" stop "$lc_n" > /dev/null 2>&1 || failed=1 ;;
    pm2_*) timeout 60 "$PM2" delete "$lc_n" > /dev/null 2>&1 || failed=1 ;;
  esac
  rm -f "$SCRATCH/floor.log" "$HERD_HOME/logs/$lc_n"-*.log* "$PM2_HOME/logs/$lc_pn"-*.log
  if [ $lc_ok = 0 ]; then
    echo "log $lc_r $lc_c FAIL" >> "$RAW"
    printf '  %-14s FAILED: %s\n' "$lc_c" "$(tail -n 3 "$SCRATCH/log.out" 2>/dev/null | tr '\n' ' ')"
    failed=1
    return 0
  fi
  echo "log $lc_r $lc_c $LOG_LINES $lc_lines $lc_drop $lc_print $lc_dms $lc_why" >> "$RAW"
  printf '  %-14s %7s lines on disk of %s, %s dropped (reported), printer done at %5s ms, file done at %5s ms (%s)\n' \
    "$lc_c" "$lc_lines" "$LOG_LINES" "$lc_drop" "$lc_print" "$lc_dms" "$lc_why"
}

echo "4. log throughput ($LOG_LINES lines of 100 bytes, $LOG_ROUNDS rounds)"
r=1
while [ "$r" -le "$LOG_ROUNDS" ]; do
  echo " round $r/$LOG_ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$LOG_CASES; else list=$(reverse $LOG_CASES); fi
  for c in $list; do log_case "$r" "$c"; done
  r=$((r + 1))
done

echo "stopping"
if [ -n "$PM2_STARTED" ]; then
  pm2_kill
  PM2_STARTED=
fi

# ---- the section for RESULTS.md ----

bench_machine
if [ -n "$NODE_BIN" ]; then node_v=$("$NODE_BIN" --version); else node_v=none; fi
if [ -n "$PM2" ]; then
  # from its package.json: `pm2 -v` would start a daemon
  pm2_v=$("$NODE_BIN" -p "require('$(dirname "$(readlink -f "$PM2")")/../package.json').version" 2>/dev/null) || pm2_v=unknown
else pm2_v=none; fi
herd_v=$("$HERD" --version)
awk_v=$(readlink -f "$(command -v awk)" 2>/dev/null | xargs -r basename) || awk_v='awk'
date_=$(date -u '+%Y-%m-%d %H:%M UTC')
load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
if [ -n "$NODE_BIN" ]; then mworker="node examples/node-worker.js"; else mworker="build/examples/hello-http"; fi

cp "$RAW" "$OUT/daemon-raw.txt"
RAW=$OUT/daemon-raw.txt
SECTION=$OUT/daemon-section.md
{
  echo "<!-- daemon:begin -->"
  echo "## daemon: herd start / status / logs next to PM2"
  echo
  echo "- machine: $nproc_ CPUs, $model; $kernel"
  echo "- $herd_v (commit $rev); node: $node_v; pm2: $pm2_v; awk: $awk_v"
  echo "- date: $date_; load average (1/5/15 min) before: $load_start, after: $load_end"
  echo "- command: \`START_ROUNDS=$START_ROUNDS COLD_ROUNDS=$COLD_ROUNDS STATUS_ROUNDS=$STATUS_ROUNDS LOG_LINES=$LOG_LINES LOG_ROUNDS=$LOG_ROUNDS sh bench/run.sh daemon\` (bench/daemon.sh; \`make bench\` runs it after the other parts)"
  echo "- wall times by \`$BUILD/bench/daemon-time\` (bench/daemon-time.c: fork, exec, pidfd, waitpid); HERD_HOME and PM2_HOME in a scratch"
  echo "  directory; cases interleaved (even rounds backwards); a value is the median over the rounds (spread = min-max), a ratio"
  echo "  the median over the rounds of the quotient of two cases measured in the same round. See bench/README.md."
  echo
  awk -v skips="$SKIPS" -v workers="$WORKERS" -v apps="$APPS" -v mworker="$mworker" -v nlines="$LOG_LINES" \
      -v ncpu="$NCPU" -v sr="$START_ROUNDS" -v cr="$COLD_ROUNDS" -v str="$STATUS_ROUNDS" -v lr="$LOG_ROUNDS" "$AWK_STATS"'
    function stat(kind, K,   k, i, a) {
      k = cnt[kind, K]
      if (!k) return 0
      for (i = 1; i <= k; i++) a[i] = vals[kind, K, i]
      M = medof(a, k); LO = a[1]; HI = a[k]
      return k
    }
    function ms(kind, K, d) { return stat(kind, K) ? sprintf("%." d "f (%." d "f-%." d "f)", M / 1000, LO / 1000, HI / 1000) : "-" }
    function rx(q) { return q < 0 ? "-" : sprintf("%.1fx", q) }
    $1 == "start" || $1 == "cold" {
      seen[$3] = 1
      if ($4 == "FAIL") { nfail[$3]++; next }
      add("st", $3, $2, $4); if ($5 != "-") add("ans", $3, $2, $5); else noans[$3]++
      add("stop", $3, $2, $6)
      next
    }
    $1 == "status" { if ($4 == "FAIL") { nfail[$3]++; next } add("status", $3, $2, $4); next }
    $1 == "rss" { rss[$2, $3] = $4; pss[$2, $3] = $5; if ($3 == "herd_sum") nmast[$2] = $6; next }
    $1 == "log" {
      lseen[$3] = 1
      if ($4 == "FAIL") { lfail[$3]++; next }
      add("ldone", $3, $2, $8); add("lprint", $3, $2, $7)
      if ($8 > 0) add("lrate", $3, $2, $5 * 1000 / $8)
      lost = $4 - $5
      lost_s[$3] = lost_s[$3] (lost_s[$3] == "" ? "" : ", ") lost
      if (lost > maxlost[$3]) maxlost[$3] = lost
      if (lost != 0) anylost[$3] = 1
      drop_s[$3] = drop_s[$3] (drop_s[$3] == "" ? "" : ", ") $6
      next
    }
    END {
      print "### 1. Start to ready: " workers " workers, median of " sr " rounds (PM2 cold: " cr ")"
      print ""
      print "| case | command | returns, ms (spread) | first HTTP answer, ms (spread) | stop, ms (spread) | PM2 warm / this (returns) | PM2 warm / this (answer) |"
      print "|---|---|---:|---:|---:|---:|---:|"
      n = split("herd_hello herd_hello_notify herd_node pm2 pm2_cold", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(c in seen)) continue
        if (c == "herd_hello") w = "`herd start -n NAME -w " workers " -l 127.0.0.1:0 -- build/examples/hello-http`"
        else if (c == "herd_hello_notify") w = "the same with `--ready notify` (returns once both sent READY=1, after listen)"
        else if (c == "herd_node") w = "`herd start -n NAME -w " workers " -l 127.0.0.1:0 -- node examples/node-worker.js`"
        else if (c == "pm2") w = "`PORT=P pm2 start examples/node-worker.js -i " workers " --name NAME`, daemon running (warm)"
        else w = "the same, first pm2 command: spawns PM2\047s daemon (cold; the first of the run, then after `pm2 kill`)"
        r1 = (c == "pm2" || c == "pm2_cold") ? "" : rx(pratio("st", "pm2", c))
        r2 = (c == "pm2" || c == "pm2_cold") ? "" : rx(pratio("ans", "pm2", c))
        if (c == "pm2_cold") { r1 = ""; r2 = "" }
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", c, w, ms("st", c, 1), ms("ans", c, 1), ms("stop", c, 1), r1, r2
      }
      print ""
      print "returns: the start command until it exits; first HTTP answer: from the same start until `GET /` on 127.0.0.1 is"
      print "answered (tried every 1 ms once the command has returned); stop: `herd stop NAME` / `pm2 delete NAME` until it returns."
      print ""

      print "### 2. Status round trip, " apps " apps of " workers " workers running under each, median of " str " rounds"
      print ""
      print "| case | command | ms (spread) | PM2 / this |"
      print "|---|---|---:|---:|"
      n = split("herd_status_one herd_status_all herd_list pm2_jlist pm2_ls", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!stat("status", c) && !(c in nfail)) continue
        if (c == "herd_status_one") { w = "`herd status NAME --json` (one app: master, " workers " workers, counters)"; q = rx(pratio("status", "pm2_jlist", c)) " (jlist)" }
        else if (c == "herd_status_all") { w = "`herd status --json` (every app)"; q = rx(pratio("status", "pm2_jlist", c)) " (jlist)" }
        else if (c == "herd_list") { w = "`herd list` (a table)"; q = rx(pratio("status", "pm2_ls", c)) " (ls)" }
        else if (c == "pm2_jlist") { w = "`pm2 jlist` (every app, JSON)"; q = "" }
        else { w = "`pm2 ls` (a table)"; q = "" }
        if (q ~ /^- /) q = "-"
        printf "| %s | %s | %s | %s |\n", c, w, ms("status", c, 2), q
      }
      print ""

      print "### 3. Memory: VmRSS of the supervising processes, " apps " apps of " workers " x " mworker ", workers excluded"
      print ""
      print "| what | VmRSS after start (+2 s), KiB | VmRSS after part 2, KiB | Pss after part 2, KiB |"
      print "|---|---:|---:|---:|"
      for (k = 1; k <= apps; k++)
        if (("started", "herd_m" k) in rss)
          printf "| herd master of app m%d | %s | %s | %s |\n", k, rss["started", "herd_m" k], rss["after_status", "herd_m" k], pss["after_status", "herd_m" k]
      if (("started", "herd_sum") in rss)
        printf "| **herd, the %d masters summed** | %s | %s | %s |\n", nmast["started"], rss["started", "herd_sum"], rss["after_status", "herd_sum"], pss["after_status", "herd_sum"]
      if (("idle", "pm2_god") in rss)
        printf "| PM2 daemon (God) with no app | %s | | %s |\n", rss["idle", "pm2_god"], pss["idle", "pm2_god"]
      if (("started", "pm2_god") in rss)
        printf "| **PM2 daemon (God), the %d apps** (also their cluster primary) | %s | %s | %s |\n", apps, rss["started", "pm2_god"], rss["after_status", "pm2_god"], pss["after_status", "pm2_god"]
      for (j = 1; j <= 2; j++) {
        ph = j == 1 ? "started" : "after_status"
        if (((ph, "herd_sum") in rss) && ((ph, "pm2_god") in rss) && rss[ph, "pm2_god"] > 0)
          memq[ph] = rss[ph, "herd_sum"] / rss[ph, "pm2_god"]
      }
      if ((("after_status", "herd_sum") in pss) && pss["after_status", "pm2_god"] > 0)
        pssq = pss["after_status", "herd_sum"] / pss["after_status", "pm2_god"]
      if ("started" in memq)
        printf "| herd / PM2 | %.3f (1/%.1f) | %s | %s |\n", memq["started"], 1 / memq["started"],
          ("after_status" in memq) ? sprintf("%.3f (1/%.1f)", memq["after_status"], 1 / memq["after_status"]) : "-",
          (pssq > 0 ? sprintf("%.3f (1/%.1f)", pssq, 1 / pssq) : "-")
      print ""
      print "VmRSS counts every page a process has mapped, the shared ones (herd\047s binary, libc) in each of the " apps " masters;"
      print "Pss (/proc/PID/smaps_rollup) divides a shared page among the processes that map it (here also the workers and"
      print "any other process using libc or node)."
      print ""

      print "### 4. Log throughput: a worker prints " nlines " lines of 100 bytes as fast as it can, " lr " rounds"
      print ""
      print "| case | printer, supervisor | until the last line is in the file, ms (spread) | lines/s on disk (spread) | printer done, ms | lines lost per round | herd: dropped per round (status --json) |"
      print "|---|---|---:|---:|---:|---|---|"
      n = split("floor_awk herd_awk pm2_awk floor_node herd_node pm2_node herd_awk_busy pm2_awk_busy herd_node_busy pm2_node_busy", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(c in lseen)) continue
        if (c == "floor_awk") w = "awk, no supervisor: `sh lines.sh > file` (the floor)"
        else if (c == "herd_awk") w = "awk under `herd start -w 1 --log-max-size 0`"
        else if (c == "pm2_awk") w = "awk under `pm2 start lines.sh --interpreter sh` (fork mode)"
        else if (c == "floor_node") w = "Node, no supervisor: `node lines.js > file`"
        else if (c == "herd_node") w = "Node under `herd start -w 1 --log-max-size 0`"
        else if (c == "pm2_node") w = "Node under `pm2 start lines.js` (fork mode)"
        else if (c == "herd_awk_busy") w = "herd_awk with a busy loop per CPU (" ncpu ") beside"
        else if (c == "pm2_awk_busy") w = "pm2_awk with a busy loop per CPU beside"
        else if (c == "herd_node_busy") w = "herd_node with a busy loop per CPU beside"
        else w = "pm2_node with a busy loop per CPU beside"
        if (!stat("ldone", c)) { printf "| %s | %s | failed | | | | |\n", c, w; continue }
        dd = sprintf("%.0f (%.0f-%.0f)", M, LO, HI)
        stat("lrate", c); rr = sprintf("%.0f (%.0f-%.0f)", M, LO, HI); lrate_med[c] = M
        stat("lprint", c); pp = sprintf("%.0f", M)
        printf "| %s | %s | %s | %s | %s | %s%s | %s |\n", c, w, dd, rr, pp, lost_s[c],
          (c in lfail ? " (" lfail[c] " failed)" : ""), (c ~ /^herd_/ ? drop_s[c] : "")
      }
      print ""
      print "herd writes each line as `2026-11-28T01:02:03.456Z [0] ` + the line (129 bytes), PM2 the line alone (100 bytes; with"
      print "`--time` it would prefix a date too). Times are from the printer\047s first line (its own clock) to the last growth of"
      print "the file (polled every 2 ms); lines lost = printed - lines in the file. _busy: `sh -c \047while :; do :; done\047` once per"
      print "CPU for the length of the case, as another program busy on the machine would be."
      print ""
      if (skips != "") { print "Not run: " skips; print "" }

      print "Targets:"
      tgr("start: PM2 warm / herd start hello-http (returns)", pratio("st", "pm2", "herd_hello"), 10)
      tgr("start: PM2 warm / herd start node-worker.js (returns)", pratio("st", "pm2", "herd_node"), 10)
      q = pratio("ans", "pm2", "herd_node")
      if (q > 0)
        printf "- (not a target) start to the first HTTP answer, PM2 warm / herd + node-worker.js: %.1fx; Node\047s own start-up is in both\n", q
      tgr("status: pm2 jlist / herd status NAME --json", pratio("status", "pm2_jlist", "herd_status_one"), 10)
      if ("after_status" in memq)
        printf "- memory: herd\047s %d masters / PM2 daemon, VmRSS: %.3f (want <= 0.100): %s%s\n", nmast["after_status"], memq["after_status"],
          (memq["after_status"] <= 0.1 ? "met" : "NOT met"), (pssq > 0 ? sprintf(" (Pss: %.3f)", pssq) : "")
      else print "- memory: no result"
      for (j = 1; j <= 4; j++) {
        p = j == 1 ? "awk" : j == 2 ? "node" : j == 3 ? "awk_busy" : "node_busy"
        h = "herd_" p; q = "pm2_" p
        if (!(h in lseen) && j > 2) continue
        if (!(h in lrate_med) || !(q in lrate_med)) { printf "- logs (%s): no result\n", p; continue }
        x = pratio("lrate", h, q)
        printf "- logs (%s): herd / PM2 lines per second on disk %.2fx (want > 1): %s; lines lost, herd: %s (want 0 in every round): %s; PM2: %s\n",
          p, x, (x > 1 ? "met" : "NOT met"), lost_s[h], (!(h in anylost) && !(h in lfail) ? "met" : "NOT met"), lost_s[q]
      }
    }
    function tgr(what, q, want) {
      if (q < 0) { printf "- %s: no result\n", what; return }
      printf "- %s: %.1fx (want >= %dx): %s\n", what, q, want, (q >= want ? "met" : "NOT met")
    }
  ' "$RAW"
  echo "<!-- daemon:end -->"
} > "$SECTION"

bench_write_section daemon "$SECTION" "$RESULTS"

echo
sed -e '1d' -e '$d' "$SECTION"
echo
echo "written: $RESULTS (raw values: $RAW)"
exit "$failed"

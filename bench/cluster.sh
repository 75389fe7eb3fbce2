#!/bin/sh
# bench/cluster.sh - `herd run` next to the other ways of running a server
# as a pool of workers sharing its socket: N copies started by hand on one
# socket, nginx (worker_processes N), Node's cluster module and PM2's
# cluster mode; all side by side in one run, written as tables into
# bench/RESULTS.md (only the part between <!-- cluster:begin --> and
# <!-- cluster:end --> is replaced).
#
#   sh bench/run.sh cluster      (this part only; `sh bench/run.sh` and
#   sh bench/cluster.sh           `make bench` run it after the others)
#
# What it measures (loopback only, every step bounded in time; about 6
# minutes with the defaults):
#   1. throughput and p99 latency: wrk on a hello world, keep-alive;
#   2. VmRSS of each master process (herd, Node's primary, PM2's daemon,
#      nginx's master), after each round of 1;
#   3. balance: requests served per worker (X-Worker header), keep-alive
#      and one request per connection;
#   4. failed requests across one reload in the middle of a wrk run;
#   5. restart latency: SIGKILL of a worker to its successor answering.
# See bench/README.md.
#
# Environment:
#   ROUNDS=3       rounds; each round runs every case once, interleaved
#   SECS=3         seconds per wrk run (throughput and balance)
#   THREADS=2 CONNS=50   wrk -t / -c
#   WORKERS=2      workers per pool
#   RELOAD_SECS=5  the wrk run of a reload case; the reload is at RELOAD_AT=2
#   KILLS=4        kills per restart case per round (so 12 with 3 rounds)
#   GAP_MS=1100    pause before each kill (herd's --min-uptime is 1 s)
#   PORT_BASE=18400  the ports used are PORT_BASE+1 .. PORT_BASE+30
#   BUILD=build NODE=node PYTHON=python3 WRK=wrk NGINX=nginx
#   PM2=...        the pm2 program; default: bench/node_modules/.bin/pm2,
#                  /tmp/herd-bench/pm2/node_modules/.bin/pm2, or pm2 on PATH
#   RESULTS=bench/RESULTS.md
#
# Needs build/herd and build/examples/hello-http (`make`), wrk and
# python3; without node, nginx or pm2 their rows are skipped (the reason is
# printed and written). Exit status: 0, or 1 if a case failed (the tables
# still show the cases that ran).
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
KILLS=${KILLS:-4}
GAP_MS=${GAP_MS:-1100}
PORT_BASE=${PORT_BASE:-18400}
BUILD=${BUILD:-build}
NODE=${NODE:-node}
PYTHON=${PYTHON:-python3}
WRK=${WRK:-wrk}
NGINX=${NGINX:-nginx}
PM2=${PM2:-}
RESULTS=${RESULTS:-bench/RESULTS.md}
OUT=bench/out

positive_ints cluster.sh ROUNDS SECS THREADS CONNS WORKERS RELOAD_SECS RELOAD_AT KILLS GAP_MS PORT_BASE
[ "$RELOAD_AT" -lt "$RELOAD_SECS" ] || { echo "cluster.sh: RELOAD_AT must be less than RELOAD_SECS" >&2; exit 2; }

HERD=$BUILD/herd
HELLO=$BUILD/examples/hello-http
for f in "$HERD" "$HELLO"; do
  [ -x "$f" ] || { echo "cluster.sh: $f is missing: run \`make\`" >&2; exit 1; }
done
command -v "$WRK" >/dev/null 2>&1 || { echo "cluster.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
command -v "$PYTHON" >/dev/null 2>&1 || { echo "cluster.sh: $PYTHON not found" >&2; exit 1; }
command -v timeout >/dev/null 2>&1 || { echo "cluster.sh: timeout (coreutils) not found" >&2; exit 1; }

SKIPS=
skip() { echo "cluster.sh: $1" >&2; SKIPS="$SKIPS$1. "; }

NODE_BIN=
if NODE_BIN=$(command -v "$NODE" 2>/dev/null); then :; else
  NODE_BIN=
  skip "node not found (NODE=$NODE): the Node, PM2 and herd+Node rows are skipped"
fi
NGINX_BIN=
if NGINX_BIN=$(command -v "$NGINX" 2>/dev/null); then :; elif [ -x /usr/sbin/nginx ]; then
  NGINX_BIN=/usr/sbin/nginx
else
  NGINX_BIN=
  skip "nginx not found (apt-get install nginx-light): the nginx rows are skipped"
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
SSA=$(command -v systemd-socket-activate 2>/dev/null) || SSA=

mkdir -p "$OUT"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/herd-bench-cluster.XXXXXX")
PIDS=$SCRATCH/pids        # "NAME PID" of every process started here
: > "$PIDS"
PM2_HOME=$SCRATCH/pm2home
export PM2_HOME
PM2_STARTED=

# ---- starting and stopping (only what this script started, by pid) ----

# alive, stop_pid: bench/common.sh

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
# its pid in $START_PID.
start() {
  st_name=$1
  shift
  "$@" > "$SCRATCH/$st_name.log" 2>&1 &
  START_PID=$!
  echo "$st_name $START_PID" >> "$PIDS"
}

pid_of() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$PIDS"; }

wait_port() { # wait_port NAME PORT
  if ! timeout 40 "$PYTHON" bench/cluster.py wait "$2" 30; then
    echo "cluster.sh: $1 did not answer on 127.0.0.1:$2; its log:" >&2
    tail -n 20 "$SCRATCH/$1.log" >&2 2>/dev/null || true
    return 1
  fi
}

port_of() {
  case $1 in
    herd_shared) echo $((PORT_BASE + 1)) ;;
    herd_reuseport) echo $((PORT_BASE + 2)) ;;
    byhand) echo $((PORT_BASE + 3)) ;;
    nginx) echo $((PORT_BASE + 4)) ;;
    herd_node) echo $((PORT_BASE + 5)) ;;
    node_cluster) echo $((PORT_BASE + 6)) ;;
    pm2) echo $((PORT_BASE + 7)) ;;
    node_cluster_none) echo $((PORT_BASE + 8)) ;;
    byhand_close) echo $((PORT_BASE + 9)) ;;
    r_herd_1) echo $((PORT_BASE + 21)) ;;
    r_herd_rp) echo $((PORT_BASE + 22)) ;;
    r_herd_node_1) echo $((PORT_BASE + 23)) ;;
    r_node_cluster) echo $((PORT_BASE + 24)) ;;
    r_node_cluster_1) echo $((PORT_BASE + 25)) ;;
  esac
}

# master_of CASE: the pid whose VmRSS is "the master's" and whose children
# are the workers.
master_of() {
  case $1 in
    pm2) cat "$PM2_HOME/pm2.pid" ;;
    nginx) cat "$SCRATCH/nginx/nginx.pid" ;;
    *) pid_of "$1" ;;
  esac
}

start_server() { # start_server CASE
  ss_port=$(port_of "$1")
  case $1 in
    herd_shared)
      start "$1" "$HERD" run -n "$1" -w "$WORKERS" -l "127.0.0.1:$ss_port" --balance shared -- "$HELLO" ;;
    herd_reuseport)
      start "$1" "$HERD" run -n "$1" -w "$WORKERS" -l "127.0.0.1:$ss_port" --balance reuseport -- "$HELLO" ;;
    herd_node)
      start "$1" "$HERD" run -n "$1" -w "$WORKERS" -l "127.0.0.1:$ss_port" -- "$NODE_BIN" examples/node-worker.js ;;
    byhand)
      if [ -n "$SSA" ]; then
        # systemd-socket-activate binds the socket and execs sh (at the
        # first connection), which starts the copies, each with
        # LISTEN_PID set to its own pid ($$ of the inner sh, kept by exec).
        # shellcheck disable=SC2016
        start "$1" "$SSA" -l "127.0.0.1:$ss_port" sh -c '
          i=0
          while [ $i -lt "$1" ]; do
            HERD_WORKER_ID=$i sh -c "export LISTEN_PID=\$\$; exec \"\$0\"" "$2" &
            i=$((i + 1))
          done
          wait' sh "$WORKERS" "$ROOT/$HELLO"
      else
        start "$1" "$PYTHON" bench/cluster.py launch "$ss_port" "$WORKERS" "$ROOT/$HELLO"
      fi ;;
    nginx)
      mkdir -p "$SCRATCH/nginx/logs"
      sed -e "s|@PORT@|$ss_port|g" -e "s|@WORKERS@|$WORKERS|g" -e "s|@DIR@|$SCRATCH/nginx|g" \
        bench/nginx.conf > "$SCRATCH/nginx/nginx.conf"
      start "$1" "$NGINX_BIN" -p "$SCRATCH/nginx" -e "$SCRATCH/nginx/logs/error.log" \
        -c "$SCRATCH/nginx/nginx.conf" ;;
    node_cluster)
      start "$1" env PORT="$ss_port" WORKERS="$WORKERS" NODE_CLUSTER_SCHED_POLICY=rr \
        "$NODE_BIN" bench/node-cluster.js ;;
    node_cluster_none)
      start "$1" env PORT="$ss_port" WORKERS="$WORKERS" NODE_CLUSTER_SCHED_POLICY=none \
        "$NODE_BIN" bench/node-cluster.js ;;
    pm2)
      # The ecosystem file, generated: PM2's cluster mode (its daemon is
      # the cluster primary) running the plain Node server of
      # examples/node-worker.js (no LISTEN_FDS: it listens on $PORT),
      # stopped with SIGTERM, on which that server stops gracefully.
      cat > "$SCRATCH/pm2.config.js" <<EOF
module.exports = {
  apps: [{
    name: 'herd-bench-hello',
    script: '$ROOT/examples/node-worker.js',
    exec_mode: 'cluster',
    instances: $WORKERS,
    kill_signal: 'SIGTERM',
    env: { PORT: '$ss_port' },
    out_file: '$SCRATCH/pm2-app-out.log',
    error_file: '$SCRATCH/pm2-app-err.log',
  }],
};
EOF
      PM2_STARTED=1
      timeout 60 "$PM2" start "$SCRATCH/pm2.config.js" > "$SCRATCH/pm2.log" 2>&1 || {
        echo "cluster.sh: pm2 start failed:" >&2; tail -n 20 "$SCRATCH/pm2.log" >&2; return 1; } ;;
    # The restart pools: herd parks a slot whose worker was restarted
    # --max-restarts times (10) within --restart-window (60 s), whatever
    # the uptimes; 12 kills in about a minute would park it, so the limit
    # is raised (Node's cluster has none).
    r_herd_1)
      start "$1" "$HERD" run -n "$1" -w 1 --max-restarts 1000 -l "127.0.0.1:$ss_port" -- "$HELLO" ;;
    r_herd_rp)
      start "$1" "$HERD" run -n "$1" -w "$WORKERS" --max-restarts 1000 --balance reuseport \
        -l "127.0.0.1:$ss_port" -- "$HELLO" ;;
    r_herd_node_1)
      start "$1" "$HERD" run -n "$1" -w 1 --max-restarts 1000 -l "127.0.0.1:$ss_port" -- \
        "$NODE_BIN" examples/node-worker.js ;;
    r_node_cluster)
      start "$1" env PORT="$ss_port" WORKERS="$WORKERS" NODE_CLUSTER_SCHED_POLICY=rr \
        "$NODE_BIN" bench/node-cluster.js ;;
    r_node_cluster_1)
      start "$1" env PORT="$ss_port" WORKERS=1 NODE_CLUSTER_SCHED_POLICY=rr \
        "$NODE_BIN" bench/node-cluster.js ;;
  esac
  wait_port "$1" "$ss_port" || return 1
  # What answered must be ours: the process started is still there.
  ss_m=$(master_of "$1")
  if [ -z "$ss_m" ] || ! alive "$ss_m"; then
    echo "cluster.sh: $1 exited; its log:" >&2
    tail -n 20 "$SCRATCH/$1.log" >&2 2>/dev/null || true
    return 1
  fi
}

wanted() { # wanted CASE: can this machine run it?
  case $1 in
    nginx) [ -n "$NGINX_BIN" ] ;;
    pm2) [ -n "$PM2" ] ;;
    herd_node|node_cluster|node_cluster_none|r_herd_node_1|r_node_cluster|r_node_cluster_1)
      [ -n "$NODE_BIN" ] ;;
    *) return 0 ;;
  esac
}

# Written in the scratch directory, copied to bench/out at the end.
RAW=$SCRATCH/cluster-raw.txt       # every measurement, one per line
WRKLOG=$SCRATCH/cluster-wrk.txt    # wrk's own output of every run
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

# Another run (or anything else) on these ports would be measured in place
# of our own servers: stop instead.
ports=
for c in herd_shared herd_reuseport byhand nginx herd_node node_cluster pm2 node_cluster_none \
         r_herd_1 r_herd_rp r_herd_node_1 r_node_cluster r_node_cluster_1; do
  ports="$ports $(port_of "$c")"
done
# shellcheck disable=SC2086
if busy=$("$PYTHON" bench/cluster.py busy $ports); then :; else
  echo "cluster.sh: 127.0.0.1 port(s) in use: $(echo "$busy" | tr '\n' ' ')- another run of" \
    "bench/cluster.sh? (or set PORT_BASE)" >&2
  exit 1
fi

load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# ---- start the pools of parts 1-4 ----

TP_ALL="herd_shared byhand herd_reuseport nginx herd_node node_cluster pm2"
TP=
for c in $TP_ALL; do wanted "$c" && TP="$TP $c"; done
BAL=
for c in herd_shared herd_reuseport byhand node_cluster node_cluster_none; do
  wanted "$c" && BAL="$BAL $c"
done
RL=
for c in herd_shared herd_reuseport herd_node pm2 nginx; do wanted "$c" && RL="$RL $c"; done

echo "starting the pools ($WORKERS workers each)"
UP=
for c in $TP node_cluster_none; do
  wanted "$c" || continue
  if start_server "$c"; then
    echo "  $c: 127.0.0.1:$(port_of "$c"), master pid $(master_of "$c")"
    UP="$UP $c"
  else
    echo "  $c: FAILED to start"
    failed=1
  fi
done
# Only what started.
old=
for v in TP BAL RL; do
  eval "old=\$$v"
  new=
  for c in $old; do case " $UP " in *" $c "*) new="$new $c" ;; esac; done
  eval "$v=\$new"
done
sleep 1
echo "warm-up (1 s of wrk each)"
for c in $UP; do
  wrk_run "$SCRATCH/warm.txt" "$(port_of "$c")" 1 || true
done

reverse() { rv=; for x in "$@"; do rv="$x $rv"; done; echo "$rv"; }

# ---- 1 + 2: throughput, then the masters' RSS ----

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "throughput round $r/$ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$TP; else list=$(reverse $TP); fi
  for c in $list; do
    f=$SCRATCH/tp.txt
    if wrk_run "$f" "$(port_of "$c")" "$SECS"; then :; fi
    { echo "== throughput round $r $c"; cat "$f"; } >> "$WRKLOG"
    line=$(bench_wrk_parse "$r" "$c" "$f")
    echo "tp $line" >> "$RAW"
    # shellcheck disable=SC2086
    set -- $line
    if [ "$3" = FAIL ]; then printf '  %-16s FAILED\n' "$c"; failed=1
    else printf '  %-16s %9s req/s  p99 %7s us  non-2xx %s, socket errors %s\n' "$c" "$3" "$4" "$6" "$(($7 + $8 + $9 + ${10}))"; fi
  done
  for c in herd_shared herd_reuseport herd_node node_cluster pm2 nginx; do
    case " $TP " in *" $c "*) ;; *) continue ;; esac
    m=$(master_of "$c") || continue
    kib=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$m/status" 2>/dev/null) || kib=
    [ -n "$kib" ] && echo "rss $r $c $kib" >> "$RAW"
  done
  r=$((r + 1))
done

# ---- 3: balance ----

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "balance round $r/$ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$BAL; else list=$(reverse $BAL); fi
  for mode in ka close; do
    for c in $list; do
      f=$SCRATCH/bal.txt
      if [ $mode = close ]; then
        wrk_run "$f" "$(port_of "$c")" "$SECS" -s bench/cluster-count.lua -H 'Connection: close' || true
      else
        wrk_run "$f" "$(port_of "$c")" "$SECS" -s bench/cluster-count.lua || true
      fi
      { echo "== balance round $r $c $mode"; cat "$f"; } >> "$WRKLOG"
      w=$(sed -n 's/^workers //p' "$f")
      if [ -n "$w" ]; then
        echo "bal $r $c $mode $w" >> "$RAW"
        printf '  %-18s %-5s %s\n' "$c" "$mode" "$w"
      else
        echo "bal $r $c $mode FAIL" >> "$RAW"
        printf '  %-18s %-5s FAILED\n' "$c" "$mode"
        failed=1
      fi
    done
  done
  r=$((r + 1))
done

# ---- 4: one reload in the middle of a wrk run ----

kids_of() { "$PYTHON" bench/cluster.py children "$1" 2>/dev/null | sort | tr '\n' ' '; }

reload_case() { # reload_case ROUND CASE
  rc_m=$(master_of "$2")
  rc_before=$(kids_of "$rc_m")
  rc_done0=$(grep -c 'reload done' "$SCRATCH/$2.log" 2>/dev/null) || rc_done0=0
  f=$SCRATCH/rl.txt
  wrk_run "$f" "$(port_of "$2")" "$RELOAD_SECS" &
  rc_wrk=$!
  sleep "$RELOAD_AT"
  case $2 in
    herd_*) kill -HUP "$rc_m" ;;
    nginx) kill -HUP "$rc_m" ;;        # = nginx -s reload
    pm2) timeout 60 "$PM2" reload herd-bench-hello > "$SCRATCH/pm2-reload.log" 2>&1 || true ;;
  esac
  wait "$rc_wrk" || true
  # Replaced? Every worker of before gone from the master's children (the
  # old ones may still be finishing: wait up to 10 s). herd also logs
  # "reload done".
  rc_i=0 rc_ok=no
  while [ $rc_i -lt 100 ]; do
    rc_now=$(kids_of "$rc_m")
    rc_left=0
    for k in $rc_before; do case " $rc_now " in *" $k "*) rc_left=1 ;; esac; done
    if [ $rc_left = 0 ] && [ -n "$rc_now" ]; then
      case $2 in
        herd_*) [ "$(grep -c 'reload done' "$SCRATCH/$2.log")" -gt "$rc_done0" ] && { rc_ok=yes; break; } ;;
        *) rc_ok=yes; break ;;
      esac
    fi
    sleep 0.1
    rc_i=$((rc_i + 1))
  done
  { echo "== reload round $1 $2 (workers replaced: $rc_ok)"; cat "$f"; } >> "$WRKLOG"
  line=$(bench_wrk_parse "$1" "$2" "$f")
  echo "rl $line $rc_ok" >> "$RAW"
  # shellcheck disable=SC2086
  set -- $line
  if [ "$3" = FAIL ]; then printf '  %-16s FAILED\n' "$2"; failed=1
  else printf '  %-16s %8s requests, non-2xx %s, socket errors connect %s read %s write %s timeout %s, max latency %s us, workers replaced: %s\n' \
    "$2" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}" "$rc_ok"; fi
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "reload round $r/$ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$RL; else list=$(reverse $RL); fi
  for c in $list; do
    reload_case "$r" "$c"
    sleep 1
  done
  r=$((r + 1))
done

echo "stopping the pools"
if [ -n "$PM2_STARTED" ]; then
  timeout 30 "$PM2" kill > "$SCRATCH/pm2-kill.log" 2>&1 || true
  PM2_STARTED=
fi
for c in $UP; do
  [ "$c" = pm2 ] && continue
  p=$(pid_of "$c")
  [ -n "$p" ] && stop_pid "$p"
done

# ---- 5: restart latency ----

RS=
for c in r_herd_1 r_herd_rp r_herd_node_1 r_node_cluster r_node_cluster_1; do
  wanted "$c" && RS="$RS $c"
done
echo "starting the restart pools"
RS_UP=
for c in $RS; do
  if start_server "$c"; then RS_UP="$RS_UP $c"; else echo "  $c: FAILED to start"; failed=1; fi
done
RS=$RS_UP
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "restart round $r/$ROUNDS"
  # shellcheck disable=SC2086
  if [ $((r % 2)) -eq 1 ]; then list=$RS; else list=$(reverse $RS); fi
  for c in $list; do
    if out=$(timeout $((KILLS * (GAP_MS / 1000 + 12) + 10)) "$PYTHON" bench/cluster.py restart "$c" \
          "$(pid_of "$c")" "$(port_of "$c")" "$KILLS" "$GAP_MS"); then
      echo "$out" | sed "s/^/rst $r /" >> "$RAW"
      printf '  %-18s %s ms\n' "$c" "$(echo "$out" | awk '{ printf "%s ", $2 }')"
    else
      [ -n "$out" ] && echo "$out" | sed "s/^/rst $r /" >> "$RAW"
      echo "rst $r $c FAIL" >> "$RAW"
      printf '  %-18s FAILED\n' "$c"
      failed=1
    fi
  done
  r=$((r + 1))
done
for c in $RS; do stop_pid "$(pid_of "$c")"; done

# ---- the section for RESULTS.md ----

bench_machine
if [ -n "$NODE_BIN" ]; then node_v=$("$NODE_BIN" --version); else node_v=none; fi
wrk_v=$("$WRK" -v 2>&1 | head -n 1 | awk '{ print $1, $2 }') || wrk_v=unknown
if [ -n "$NGINX_BIN" ]; then nginx_v=$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //'); else nginx_v=none; fi
if [ -n "$PM2" ]; then
  # from its package.json: `pm2 -v` would start a daemon
  pm2_v=$("$NODE_BIN" -p "require('$(dirname "$(readlink -f "$PM2")")/../package.json').version" 2>/dev/null) || pm2_v=unknown
else pm2_v=none; fi
herd_v=$("$HERD" --version)
if [ -n "$SSA" ]; then byhand_how="systemd-socket-activate -l 127.0.0.1:PORT sh -c '...' (one socket; the sh starts $WORKERS hello-http, each with LISTEN_FDS=1, LISTEN_PID=its pid, HERD_WORKER_ID=i)"
else byhand_how="python3 bench/cluster.py launch PORT $WORKERS hello-http (binds one socket, forks $WORKERS hello-http with LISTEN_FDS=1, LISTEN_PID, HERD_WORKER_ID)"; fi
date_=$(date -u '+%Y-%m-%d %H:%M UTC')
load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

cp "$RAW" "$OUT/cluster-raw.txt"
cp "$WRKLOG" "$OUT/cluster-wrk.txt"
RAW=$OUT/cluster-raw.txt
WRKLOG=$OUT/cluster-wrk.txt
SECTION=$OUT/cluster-section.md
{
  echo "<!-- cluster:begin -->"
  echo "## cluster: herd run next to nginx, Node's cluster, PM2 and processes started by hand"
  echo
  echo "- machine: $nproc_ CPUs, $model; $kernel"
  echo "- $herd_v; node: $node_v; nginx: $nginx_v; pm2: $pm2_v; wrk: $wrk_v"
  echo "- date: $date_; load average (1/5/15 min) before: $load_start, after: $load_end"
  echo "- command: \`ROUNDS=$ROUNDS SECS=$SECS sh bench/run.sh cluster\` (bench/cluster.sh; \`make bench\` runs it after the other parts)"
  echo "- every pool has $WORKERS workers on 127.0.0.1; wrk -t$THREADS -c$CONNS, keep-alive, GET /; wrk, servers and masters share the $nproc_ CPUs;"
  echo "  $ROUNDS rounds, the cases interleaved (even rounds backwards); a value is the median over the rounds (spread = min-max),"
  echo "  a ratio the median over the rounds of the quotient of two cases measured in the same round. See bench/README.md."
  echo
  awk -v skips="$SKIPS" -v secs="$SECS" -v rsecs="$RELOAD_SECS" -v rat="$RELOAD_AT" -v byhand="$byhand_how" \
      -v workers="$WORKERS" -v kills="$KILLS" -v rounds="$ROUNDS" -v gap="$GAP_MS" \
      -v wrkopt="-t$THREADS -c$CONNS" -v conns="$CONNS" "$AWK_STATS"'
    # median / spread of the values of key K in table T (T[K, i], i = 1..N[K])
    function stat(K, kind,   k, i, a) {
      k = cnt[kind, K]
      if (!k) return 0
      for (i = 1; i <= k; i++) a[i] = vals[kind, K, i]
      M = medof(a, k); LO = a[1]; HI = a[k]
      return k
    }
    function ratio(kind, a, b,   q) { q = pratio(kind, a, b); return q < 0 ? "-" : sprintf("%.2fx", q) }
    function tpdesc(c) {
      if (c == "herd_shared") return "herd run --balance shared, " workers " hello-http (one socket, EPOLLEXCLUSIVE accept)"
      if (c == "herd_reuseport") return "herd run --balance reuseport, " workers " hello-http (one SO_REUSEPORT socket per worker)"
      if (c == "byhand") return workers " hello-http started by hand on one shared socket, no supervisor (the floor)"
      if (c == "nginx") return "nginx, worker_processes " workers ", `return 200 \"Hello, World!\\n\"` (bench/nginx.conf)"
      if (c == "herd_node") return "herd run (shared), " workers " x node examples/node-worker.js"
      if (c == "node_cluster") return "Node cluster, " workers " workers, round-robin (the default on Linux), bench/node-cluster.js"
      if (c == "node_cluster_none") return "Node cluster, " workers " workers, NODE_CLUSTER_SCHED_POLICY=none (every worker accepts)"
      if (c == "pm2") return "PM2 cluster mode, " workers " instances of examples/node-worker.js (plain listen on PORT)"
      return c
    }
    $1 == "tp" {
      seen["tp", $3] = 1
      if ($4 == "FAIL") next
      add("rps", $3, $2, $4); add("p99", $3, $2, $5)
      next
    }
    $1 == "rss" { add("rss", $3, $2, $4); next }
    $1 == "bal" {
      seen["bal", $3, $4] = 1
      if ($5 == "FAIL") next
      mx = 0; mn = -1; tot = 0; s = ""
      for (i = 5; i <= NF; i++) {
        split($i, kv, "="); x = kv[2] + 0; tot += x
        if (x > mx) mx = x
        if (mn < 0 || x < mn) mn = x
        s = s (s == "" ? "" : " / ") x
      }
      if (NF - 4 < workers) mn = 0        # a worker that served nothing
      add("bal", $3 SUBSEP $4, $2, mn > 0 ? mx / mn : 1e9)
      shares[$3, $4, $2] = s
      nw[$3, $4, $2] = NF - 4
      next
    }
    $1 == "rst" {
      seen["rst", $3] = 1
      if ($4 == "FAIL") { rstfail[$3] = 1; next }
      add("rst", $3, $2, $4)
      next
    }
    $1 == "rl" {
      seen["rl", $3] = 1
      if ($4 == "FAIL") { rlfail[$3] = 1; next }
      c = $3
      rl_n[c]++
      rl_req[c] += $6; rl_n2[c] += $7; rl_ce[c] += $8; rl_re[c] += $9; rl_we[c] += $10; rl_te[c] += $11
      bad = $7 + $8 + $9 + $10 + $11
      rl_bad[c] = rl_bad[c] (rl_bad[c] == "" ? "" : ", ") bad
      if (bad > rl_maxbad[c]) rl_maxbad[c] = bad
      add("rlmax", c, $2, $12)
      if ($13 != "yes") rl_norep[c]++
      next
    }
    END {
      print "### 1. Throughput: hello world, wrk " wrkopt " -d" secs "s --latency per round, keep-alive"
      print ""
      print "| case | what | req/s (spread) | p99 latency ms (spread) | vs by hand | vs nginx | vs Node cluster |"
      print "|---|---|---:|---:|---:|---:|---:|"
      n = split("herd_shared herd_reuseport byhand nginx herd_node node_cluster pm2", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(("tp", c) in seen)) continue
        if (!stat(c, "rps")) { printf "| %s | %s | failed | | | | |\n", c, tpdesc(c); continue }
        rs = sprintf("%.0f (%.0f-%.0f)", M, LO, HI); med_rps[c] = M
        stat(c, "p99"); ps = sprintf("%.2f (%.2f-%.2f)", M / 1000, LO / 1000, HI / 1000)
        isc = (c == "herd_shared" || c == "herd_reuseport" || c == "byhand" || c == "nginx")
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", c, tpdesc(c), rs, ps,
          (isc ? (c == "byhand" ? "1.00x" : ratio("rps", c, "byhand")) : ""),
          (isc ? (c == "nginx" ? "1.00x" : ratio("rps", c, "nginx")) : ""),
          (isc ? "" : (c == "node_cluster" ? "1.00x" : ratio("rps", c, "node_cluster")))
      }
      print ""
      print "By hand: " byhand "."
      print ""

      print "### 2. Master RSS: VmRSS of the supervising process, KiB (read after each throughput round)"
      print ""
      print "| master | of | VmRSS KiB (spread) |"
      print "|---|---|---:|"
      n = split("herd_shared herd_reuseport herd_node node_cluster pm2 nginx", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!stat(c, "rss")) continue
        if (c == "herd_shared") w = "herd run master, " workers " hello-http (shared)"
        else if (c == "herd_reuseport") w = "herd run master, " workers " hello-http (reuseport)"
        else if (c == "herd_node") w = "herd run master, " workers " node-worker.js"
        else if (c == "node_cluster") w = "Node cluster primary (node bench/node-cluster.js)"
        else if (c == "pm2") w = "PM2 daemon (\"PM2 God Daemon\", also the cluster primary)"
        else w = "nginx master process"
        printf "| %s | %s | %.0f (%.0f-%.0f) |\n", c, w, M, LO, HI
        med_rss[c] = M
      }
      print ""

      print "### 3. Balance: requests served per worker (X-Worker header, counted by bench/cluster-count.lua), wrk " wrkopt " -d" secs "s"
      print ""
      print "keep-alive: " conns " connections opened at the start and kept (the balance is how the first " conns " accepts fell);"
      print "one per connection: `-H \"Connection: close\"`, a new connection (and accept) per request. max/min is the"
      print "busiest worker over the idlest; inf: a worker served nothing."
      print ""
      print "| case | keep-alive: max/min (spread) | requests per worker, median round | one per connection: max/min (spread) | requests per worker, median round |"
      print "|---|---:|---|---:|---|"
      n = split("herd_shared herd_reuseport byhand node_cluster node_cluster_none", o, " ")
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
          # the round whose ratio is the median (lower median)
          mr = ""
          for (r = 1; r <= maxr; r++) if ((("bal", K, r) in byr) && byr["bal", K, r] == M) { mr = r; break }
          if (mr == "") for (r = 1; r <= maxr; r++) if (("bal", K, r) in byr) { mr = r; break }
          line = line " " fm " | " shares[c, md[j], mr] " |"
          bal_med[c, md[j]] = M
        }
        print line
      }
      print ""

      print "### 4. One reload under load: wrk " wrkopt " -d" rsecs "s, the reload " rat " s in; totals over " rounds " rounds"
      print ""
      print "| case | reload | requests | non-2xx | socket errors connect / read / write / timeout | failed per round | max latency ms (median round) | workers replaced |"
      print "|---|---|---:|---:|---|---|---:|---|"
      n = split("herd_shared herd_reuseport herd_node pm2 nginx", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(("rl", c) in seen)) continue
        if (c ~ /^herd_/) how = "SIGHUP to the herd master (herd\047s default --ready immediate: each successor counts as ready when spawned, so every slot is replaced at once)"
        else if (c == "pm2") how = "`pm2 reload herd-bench-hello` (kill_signal SIGTERM)"
        else how = "SIGHUP to the nginx master (= nginx -s reload)"
        stat(c, "rlmax")
        printf "| %s | %s | %d | %d | %d / %d / %d / %d | %s | %.1f | %s |\n", c, how, rl_req[c], rl_n2[c],
          rl_ce[c], rl_re[c], rl_we[c], rl_te[c], rl_bad[c] (c in rlfail ? " (a run failed)" : ""),
          M / 1000, (rl_norep[c] ? "NO in " rl_norep[c] " of " rl_n[c] " rounds" : "yes, every round")
      }
      print ""

      print "### 5. Restart: SIGKILL of a worker to its successor answering, ms (" kills " kills per round, " rounds " rounds)"
      print ""
      print "| case | pool | median ms | min-max | kills |"
      print "|---|---|---:|---:|---:|"
      n = split("r_herd_1 r_herd_rp r_herd_node_1 r_node_cluster r_node_cluster_1", o, " ")
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(("rst", c) in seen)) continue
        if (c == "r_herd_1") w = "herd run -w 1 --max-restarts 1000, hello-http (shared socket: requests wait in its queue)"
        else if (c == "r_herd_rp") w = "herd run -w " workers " --max-restarts 1000 --balance reuseport, hello-http (the dead slot keeps its socket: requests hashed to it wait)"
        else if (c == "r_herd_node_1") w = "herd run -w 1 --max-restarts 1000, node examples/node-worker.js"
        else if (c == "r_node_cluster") w = "Node cluster, " workers " workers, round-robin; the primary forks on exit"
        else w = "Node cluster, 1 worker; the primary forks on exit"
        k = stat(c, "rst")
        if (!k) { printf "| %s | %s | failed | | |\n", c, w; continue }
        printf "| %s | %s | %.2f | %.2f-%.2f | %d%s |\n", c, w, M, LO, HI, k, (c in rstfail ? " (a batch failed)" : "")
        med_rst[c] = M
      }
      print ""
      print "Each kill: the oldest worker is SIGKILLed (" gap " ms after the previous one answered; herd backs off a worker that dies"
      print "within --min-uptime, 1 s), then GET /pid on new connections (each given 50 ms) until a pid that was not a worker"
      print "before answers. With -w 2 and a shared socket (herd shared, Node none) the surviving worker answers everything"
      print "(EPOLLEXCLUSIVE wakes the first idle waiter), so the shared-socket rows use 1 worker. --max-restarts 1000: by default"
      print "herd parks a slot after 10 restarts within 60 s (for 60 s), which these kills would reach."
      print ""
      if (skips != "") { print "Not run: " skips; print "" }

      print "Targets:"
      tg("herd shared + hello-http vs the same by hand", pratio("rps", "herd_shared", "byhand"), 0.97, ">=")
      tg("herd reuseport + hello-http vs by hand", pratio("rps", "herd_reuseport", "byhand"), 0.97, ">=")
      tg("hello-http under herd (shared) vs nginx", pratio("rps", "herd_shared", "nginx"), 0.9, ">=")
      tg("hello-http under herd (reuseport) vs nginx", pratio("rps", "herd_reuseport", "nginx"), 0.9, ">=")
      tg("node-worker.js under herd vs Node cluster", pratio("rps", "herd_node", "node_cluster"), 1.0, ">=")
      tgabs("herd master RSS (2 hello-http, shared), KiB", "herd_shared" in med_rss ? med_rss["herd_shared"] : -1, 2048, " KiB")
      tgabs("restart of a C worker, herd -w 1 shared, median ms", "r_herd_1" in med_rst ? med_rst["r_herd_1"] : -1, 10, " ms")
      tgabs("restart of a C worker, herd -w " workers " reuseport, median ms", "r_herd_rp" in med_rst ? med_rst["r_herd_rp"] : -1, 10, " ms")
      n = split("herd_shared herd_reuseport herd_node", o, " ")
      peers = ""
      split("pm2 nginx", pp, " ")
      for (j = 1; j <= 2; j++) if (pp[j] in rl_n) peers = peers sprintf("; %s: %d", pp[j], rl_n2[pp[j]] + rl_ce[pp[j]] + rl_re[pp[j]] + rl_we[pp[j]] + rl_te[pp[j]])
      for (i = 1; i <= n; i++) {
        c = o[i]
        if (!(c in rl_n)) { printf "- zero failed requests per reload, %s: no result\n", c; continue }
        tot = rl_n2[c] + rl_ce[c] + rl_re[c] + rl_we[c] + rl_te[c]
        printf "- zero failed requests per reload, %s: %d failed in %d reloads (peers, total failed%s): %s\n", c, tot, rl_n[c], peers,
          (tot == 0 && !(c in rlfail) && !rl_norep[c] ? "met" : "NOT met")
      }
    }
    function ffmt(x) { return x >= 1e9 ? "inf" : sprintf("%.2f", x) }
    function tg(what, q, want, op) {
      if (q < 0) { printf "- %s: no result\n", what; return }
      printf "- %s: %.2fx (want %s %.2fx): %s\n", what, q, op, want, (q >= want ? "met" : "NOT met")
    }
    function tgabs(what, x, lim, unit) {
      if (x < 0) { printf "- %s: no result\n", what; return }
      printf "- %s: %.2f%s (want < %s%s): %s\n", what, x, unit, lim, unit, (x < lim ? "met" : "NOT met")
    }
  ' "$RAW"
  echo "<!-- cluster:end -->"
} > "$SECTION"

# Replace the section in RESULTS.md, keeping everything around it.
bench_write_section cluster "$SECTION" "$RESULTS"

echo
sed -e '1d' -e '$d' "$SECTION"
echo
echo "written: $RESULTS (raw values: $RAW, wrk output: $WRKLOG)"
exit "$failed"

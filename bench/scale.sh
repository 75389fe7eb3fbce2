#!/bin/sh
# bench/scale.sh - one herd master with 1, 64, 1024 and 4096 workers: the
# time of `herd start` (until it reports all ready), of a `herd status`
# round trip, of `herd reload` (until it reports it done) and of `herd
# stop` (until the master has exited), and the master's RSS, written as a
# table into bench/RESULTS.md (only the part between <!-- scale:begin -->
# and <!-- scale:end --> is replaced), per worker and side by side with
# the 64-worker figures: does each grow linearly?
#
#   sh bench/run.sh scale        (this part only; `sh bench/run.sh` and
#   sh bench/scale.sh             `make bench` run it after the others)
#
# The workers are `/bin/sleep 100000` with --ready 0 (ready as soon as
# started): what is measured is the master and the kernel's process
# creation, not a program. Each count runs ROUNDS times (start, a pause,
# the RSS, status, reload, stop); the table gives medians. A count the
# machine's limits cannot hold (ulimit -u, ulimit -n, pid_max) is skipped
# and the reason written.
#
# Environment:
#   ROUNDS=3               rounds per count
#   COUNTS="1 64 1024 4096" worker counts
#   HERD=build/herd        the herd measured
#   BASE=                  another herd (a build of main, say), measured in
#                          the same rounds: its table, and base over herd
#   BUILD=build RESULTS=bench/RESULTS.md
#
# Scratch HERD_HOME in /tmp/herd-bench/scale.*, removed at the end; every
# master started is stopped (herd stop, then by pid). Exit status: 0, or 1
# if a step failed.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/common.sh

ROUNDS=${ROUNDS:-3}
COUNTS=${COUNTS:-1 64 1024 4096}
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/RESULTS.md}
PYTHON=${PYTHON:-python3} # stop_pid's
CC=${CC:-cc}
NODE=node
NODE_SKIP="not used here"
OUT=bench/out
positive_ints scale.sh ROUNDS
HERD=${HERD:-$ROOT/$BUILD/herd}
BASE=${BASE:-}  # another herd (a build of main, say): measured alike, side by side
WHO=herd
[ -z "$BASE" ] || WHO="herd base"
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "scale.sh: BASE=$BASE is not a program" >&2; exit 2; }
[ -x "$HERD" ] || { echo "scale.sh: $HERD is missing: run \`make\`" >&2; exit 1; }
command -v timeout >/dev/null 2>&1 || { echo "scale.sh: timeout (coreutils) not found" >&2; exit 1; }
case $(date +%N) in *N|'') echo "scale.sh: date +%N (GNU date) is needed" >&2; exit 1 ;; esac

mkdir -p "$OUT" /tmp/herd-bench
HERD_HOME=$(mktemp -d /tmp/herd-bench/scale.XXXXXX)
export HERD_HOME
RAW=$OUT/scale-raw.txt
SECTION=$OUT/scale-section.md
: > "$RAW"
load_begin=$(cut -d' ' -f1-3 /proc/loadavg)
failed=0
skipped=
fails=

cleanup() {
  for p in "$HERD_HOME"/*.pid; do
    [ -f "$p" ] || continue
    pid=$(cat "$p" 2>/dev/null) || continue
    [ -n "$pid" ] && stop_pid "$pid"
  done
  rm -rf "$HERD_HOME"
}
trap cleanup EXIT INT TERM

now_us() { echo $(($(date +%s%N) / 1000)); }

# limit NAME: the soft limit of that name (/proc/self/limits: dash's
# ulimit has no -u).
limit() { awk -v n="$1" 'index($0, n) == 1 { print $(split(n, w, " ") + 1) }' /proc/self/limits; }

# room N: empty if N workers fit the limits, else why not.
room() {
  procs=$(cut -d' ' -f4 /proc/loadavg | cut -d/ -f2)
  pmax=$(cat /proc/sys/kernel/pid_max)
  nproc_lim=$(limit 'Max processes')
  nofile=$(limit 'Max open files')
  if [ $((pmax - procs)) -lt $(($1 + 200)) ]; then
    echo "pid_max $pmax with $procs tasks"
  elif [ "$nproc_lim" != unlimited ] && [ "$nproc_lim" -lt $((procs + $1 + 200)) ]; then
    echo "ulimit -u $nproc_lim with $procs tasks"
  elif [ "$nofile" != unlimited ] && [ "$nofile" -lt $((3 * $1 + 256)) ]; then
    echo "ulimit -n $nofile: the master needs 3 fds per worker"
  fi
}

# timed WHO ROUND N WHAT CMD...: CMD's wall time in microseconds into RAW.
timed() {
  t_who=$1 t_r=$2 t_n=$3 t_what=$4
  shift 4
  t0=$(now_us)
  if timeout 600 "$@" >/dev/null 2>"$OUT/scale-err.txt"; then
    echo "$t_who $t_r $t_n $t_what $(($(now_us) - t0))" >> "$RAW"
  else
    echo "scale.sh: $t_who: $t_what of $t_n workers failed: $(head -c 300 "$OUT/scale-err.txt")" >&2
    case $fails in *"$t_who: $t_what of $t_n workers"*) ;; *)
      fails="$fails $t_who: $t_what of $t_n workers ($(head -n 1 "$OUT/scale-err.txt" | cut -c 1-120));" ;;
    esac
    failed=1
    return 1
  fi
}

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

for n in $COUNTS; do
  why=$(room "$n")
  if [ -n "$why" ]; then
    skipped="$skipped $n workers ($why);"
    echo "scale.sh: $n workers skipped: $why" >&2
    continue
  fi
  r=1
  while [ $r -le "$ROUNDS" ]; do
    for who in $WHO; do
      bin=$HERD
      [ "$who" = herd ] || bin=$BASE
      name=$who$n
      echo "round $r: $who, $n workers" >&2
      if timed "$who" $r "$n" start "$bin" start -n "$name" -w "$n" --ready 0 \
          --kill-timeout 30s -- /bin/sleep 100000; then
        pid=$(cat "$HERD_HOME/$name.pid")
        sleep 1 # the master idle, its log lines written: then its RSS
        echo "$who $r $n rss $(rss_kb "$pid")" >> "$RAW"
        timed "$who" $r "$n" status "$bin" status "$name" || true
        timed "$who" $r "$n" reload "$bin" reload "$name" || true
        timed "$who" $r "$n" stop "$bin" stop "$name" || stop_pid "$pid"
      else
        "$bin" stop "$name" >/dev/null 2>&1 || true # a master that outlived its report
      fi
    done
    r=$((r + 1))
  done
done

bench_machine
bench_versions
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "<!-- scale:begin -->"
  echo "## scale: one master, 1 to 4096 workers"
  echo
  echo "- machine: $nproc_ CPUs, $model; $kernel; ulimit -u $(limit 'Max processes'), ulimit -n $(limit 'Max open files'), pid_max $(cat /proc/sys/kernel/pid_max)"
  echo "- herd: commit $commit; date: $date_; load average (1/5/15 min) before: $load_begin, after: $load_end"
  echo "- command: \`ROUNDS=$ROUNDS${BASE:+ BASE=$BASE} sh bench/run.sh scale\` (bench/scale.sh): per count, \`herd start -n sN -w N --ready 0 --kill-timeout 30s -- /bin/sleep 100000\`, 1 s idle, the master's VmRSS, \`herd status sN\`, \`herd reload sN\`, \`herd stop sN\`, each timed by its wall time; rounds: $ROUNDS"
  echo "- median over the rounds; µs/worker = the time / N; vs 64 = µs/worker at N over µs/worker at 64 (1.00x: linear). RSS/worker = (RSS at N - RSS at 1) / (N - 1)."
  [ -z "$skipped" ] || echo "- skipped:$skipped"
  [ -z "$fails" ] || echo "- failed:$fails"
  echo "- linear? status and stop cost less per worker as N grows (fixed costs spread); start and reload stay near the 64-worker cost per worker since a spawn's child copies only the few fds it needs, not the master's 3 per worker (docs/spawn.md); what a reload of thousands still pays per worker is the kernel's walk of every child at each reap (waitid P_ALL) and at each look for processes left behind (bench/README.md, scale, says more)."
  echo
  for who in $WHO; do
    if [ "$who" = base ]; then
      echo
      echo "### base: \`$BASE\`"
      echo
    fi
    awk -v who="$who" "$AWK_STATS"'
      $1 != who { next }
      { add($4, $3, $2, $5); if (!($3 in seen)) { seen[$3] = 1; ns[++nn] = $3 } }
      function med(kind, n,   k, a, i) {
        k = cnt[kind, n]
        if (!k) return -1
        for (i = 1; i <= k; i++) a[i] = vals[kind, n, i]
        return medof(a, k)
      }
      function cell(kind, n,   v, b) {
        v = med(kind, n)
        if (v < 0) return "failed | - | -"
        b = med(kind, 64)
        return sprintf("%.1f | %.0f | %s", v / 1000, v / n,
                       (b > 0 ? sprintf("%.2fx", (v / n) / (b / 64)) : "-"))
      }
      END {
        print "| workers | start ms | µs/worker | vs 64 | status ms | µs/worker | vs 64 | reload ms | µs/worker | vs 64 | stop ms | µs/worker | vs 64 | RSS KiB | RSS/worker |"
        print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        r1 = med("rss", 1)
        for (i = 1; i <= nn; i++) {
          n = ns[i]
          rs = med("rss", n)
          per = (n > 1 && r1 > 0 && rs > 0) ? sprintf("%.2f KiB", (rs - r1) / (n - 1)) : "-"
          printf "| %d | %s | %s | %s | %s | %s | %s |\n", n, cell("start", n), cell("status", n),
            cell("reload", n), cell("stop", n), (rs > 0 ? sprintf("%d", rs) : "-"), per
        }
      }' "$RAW"
  done
  if [ -n "$BASE" ]; then
    echo
    echo "### herd vs base: base's figure over herd's, paired within a round (above 1.00x: herd is faster, or smaller)"
    echo
    awk "$AWK_STATS"'
      { add($3 " " $4, $1, $2, $5); if (!($3 in seen)) { seen[$3] = 1; ns[++nn] = $3 } }
      function q(n, what,   v) {
        v = pratio(n " " what, "base", "herd")
        return v < 0 ? "-" : sprintf("%.2fx", v)
      }
      END {
        print "| workers | start | status | reload | stop | RSS |"
        print "|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nn; i++)
          printf "| %d | %s | %s | %s | %s | %s |\n", ns[i], q(ns[i], "start"), q(ns[i], "status"),
            q(ns[i], "reload"), q(ns[i], "stop"), q(ns[i], "rss")
      }' "$RAW"
  fi
  echo
  echo "<!-- scale:end -->"
} > "$SECTION"
bench_write_section scale "$SECTION" "$RESULTS"
echo
sed -e '1d' -e '$d' "$SECTION"
echo
echo "written: $RESULTS (raw: $RAW)"
exit "$failed"

#!/bin/sh
# bench/run.sh - process-creation benchmarks: herd next to raw syscalls and
# Node, in one run, written as a table into bench/RESULTS.md (only the part
# between <!-- spawn:begin --> and <!-- spawn:end --> is replaced); then
# the message channel benchmarks of bench/channel.sh (their own section);
# then the worker-pool benchmarks of bench/cluster.sh (their own section);
# then herd start/status/logs next to PM2, bench/daemon.sh (its own section);
# then one unmodified Node app under herd --node-cluster, Node's cluster and
# PM2, bench/nodecluster.sh (its own section); then one master with 1 to
# 4096 workers, bench/scale.sh (its own section).
#
#   sh bench/run.sh          (or `make bench`, which builds the library first)
#   sh bench/run.sh spawn    the process-creation part only
#   sh bench/run.sh channel  the channel part only (bench/channel.sh)
#   sh bench/run.sh cluster  the herd run vs nginx/Node cluster/PM2 part only
#                            (bench/cluster.sh)
#   sh bench/run.sh daemon   the herd start/status/logs vs PM2 part only
#                            (bench/daemon.sh)
#   sh bench/run.sh nodecluster  the herd --node-cluster vs Node's cluster
#                            vs PM2 part only (bench/nodecluster.sh)
#   sh bench/run.sh scale    start/status/reload/stop and the master's RSS
#                            with 1, 64, 1024, 4096 workers (bench/scale.sh)
#
# Environment:
#   ROUNDS=3     rounds; each round runs every case once, interleaved
#   MS=1000      timed milliseconds per case per round (plus a 100 ms warm-up)
#   BUILD=build  where libherd.a is; the bench binary goes to $BUILD/bench/
#   CC=cc NODE=node
#   RESULTS=bench/RESULTS.md
#
# Exit status: 0, or 1 if the build or any case failed (the table still
# shows the cases that ran).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/common.sh

PART=${1:-all}
case $PART in
  all|spawn) ;;
  channel) exec sh bench/channel.sh ;;
  cluster) exec sh bench/cluster.sh ;;
  daemon) exec sh bench/daemon.sh ;;
  nodecluster) exec sh bench/nodecluster.sh ;;
  scale) exec sh bench/scale.sh ;;
  *) echo "usage: sh bench/run.sh [all|spawn|channel|cluster|daemon|nodecluster|scale]" >&2; exit 2 ;;
esac

ROUNDS=${ROUNDS:-3}
MS=${MS:-1000}
BUILD=${BUILD:-build}
CC=${CC:-cc}
NODE=${NODE:-node}
RESULTS=${RESULTS:-bench/RESULTS.md}
OUT=bench/out
BIN=$BUILD/bench/spawn
# A hung case must not hang the run.
CASE_TIMEOUT=$((MS / 1000 + 30))

case $ROUNDS in ''|*[!0-9]*|0) echo "run.sh: ROUNDS must be a positive integer" >&2; exit 2 ;; esac
case $MS in ''|*[!0-9]*|0) echo "run.sh: MS must be a positive integer" >&2; exit 2 ;; esac

if [ ! -f "$BUILD/libherd.a" ]; then
  echo "run.sh: $BUILD/libherd.a is missing: run \`make lib\` (or \`make bench\`)" >&2
  exit 1
fi

mkdir -p "$BUILD/bench" "$OUT"
BUILD_CMD="$CC -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -o $BIN bench/spawn.c $BUILD/libherd.a -lpthread"
echo "$BUILD_CMD"
$BUILD_CMD

C_CASES=$("$BIN" list)
NODE_CASES=
NODE_SKIP=
if ! command -v "$NODE" >/dev/null 2>&1; then
  NODE_SKIP="node not found (NODE=$NODE): Node rows skipped"
elif ! NODE_CASES=$("$NODE" bench/spawn.js list 2>&1); then
  NODE_SKIP="\`$NODE bench/spawn.js list\` failed: Node rows skipped"
  NODE_CASES=
fi
[ -n "$NODE_SKIP" ] && echo "run.sh: $NODE_SKIP" >&2

if command -v timeout >/dev/null 2>&1; then
  TIMEOUT="timeout $CASE_TIMEOUT"
else
  TIMEOUT=
fi

# Other work on the machine skews some cases more than others: record the
# load so that a reader can tell.
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

RAW=$OUT/spawn-raw.txt
: > "$RAW"
failed=0

# run_case ROUND NAME CMD...: append "ROUND NAME RATE COUNT SECONDS", or
# "ROUND NAME FAIL" if it failed or printed something else.
# (sh has no locals: its variables are named apart from the callers'.)
run_case() {
  rc_round=$1 name=$2
  shift 2
  # $line is split into fields on purpose.
  # shellcheck disable=SC2086
  if line=$($TIMEOUT "$@" "$name" -t "$MS") &&
     set -- $line && [ $# -eq 4 ] && [ "$1" = "$name" ]; then
    echo "$rc_round $line" >> "$RAW"
    printf '  %-20s %10s/s\n' "$name" "$2"
  else
    echo "$rc_round $name FAIL" >> "$RAW"
    printf '  %-20s FAILED\n' "$name"
    failed=1
  fi
}

# One list, "c:NAME" or "n:NAME"; odd rounds run it forwards, even rounds
# backwards, so that neither case of a herd/baseline pair (neighbours in
# the list) always runs first.
ALL=
for c in $C_CASES; do ALL="$ALL c:$c"; done
for c in $NODE_CASES; do ALL="$ALL n:$c"; done
REV=
for x in $ALL; do REV="$x $REV"; done

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "round $r/$ROUNDS"
  if [ $((r % 2)) -eq 1 ]; then list=$ALL; else list=$REV; fi
  for x in $list; do
    case $x in
      c:*) run_case "$r" "${x#c:}" "$BIN" ;;
      n:*) run_case "$r" "${x#n:}" "$NODE" bench/spawn.js ;;
    esac
  done
  r=$((r + 1))
done

# ---- the section for RESULTS.md ----

bench_machine
bench_versions

SECTION=$OUT/spawn-section.md
{
  echo "<!-- spawn:begin -->"
  echo "## spawn: process creation"
  echo
  echo "- machine: $nproc_ CPUs, $model; $kernel"
  echo "- node: $node_v; gcc: $gcc_v; CC: $cc_v"
  echo "- date: $date_; load average (1/5/15 min) before: $load_start, after: $load_end"
  echo "- command: \`ROUNDS=$ROUNDS MS=$MS sh bench/run.sh\` (\`make bench\` builds the library, then runs bench/run.sh), which builds with"
  echo "  \`$BUILD_CMD\`"
  if [ -n "$NODE_SKIP" ]; then runs="\`$BIN CASE -t $MS\`"
  else runs="\`$BIN CASE -t $MS\` and \`$NODE bench/spawn.js CASE -t $MS\`"; fi
  echo "  and runs $runs for every case, interleaved, rounds: $ROUNDS"
  echo "- rate: median over the rounds of completed processes per second (spread = min-max);"
  echo "  a ratio is the median over the rounds of the two rates' quotient within one round."
  echo "  See bench/README.md for what each case does."
  echo
  awk -v skip="$NODE_SKIP" '
    function desc(c) {
      if (c == "herd_spawn_seq") return "herd_spawn + herd_child_wait + herd_child_close, one at a time"
      if (c == "herd_spawn_par8") return "the same, 8 in flight (poll on pidfds)"
      if (c == "fork_seq") return "fork + execve + waitpid"
      if (c == "fork_par8") return "the same, 8 in flight (waitpid(-1))"
      if (c == "vfork_seq") return "vfork + execve + waitpid"
      if (c == "vfork_par8") return "the same, 8 in flight"
      if (c == "posix_spawn_seq") return "posix_spawn + waitpid (the baseline)"
      if (c == "posix_spawn_par8") return "the same, 8 in flight (the baseline)"
      if (c == "node_spawn_seq") return "child_process.spawn, wait for exit, repeat"
      if (c == "node_spawn_par8") return "child_process.spawn, 8 in flight"
      if (c == "node_spawnSync") return "child_process.spawnSync"
      if (c == "herd_exec") return "herd_exec(\"echo hi\")"
      if (c == "posix_spawn_sh") return "posix_spawn /bin/sh -c, stdout+stderr piped, poll to EOF, waitpid (the baseline)"
      if (c == "node_exec") return "child_process.exec, callback, repeat"
      if (c == "node_execSync") return "child_process.execSync"
      if (c == "node_spawnSync_sh") return "child_process.spawnSync(\"/bin/sh\", [\"-c\", \"echo hi\"])"
      return ""
    }
    # The baseline of a case: same kind of work, same concurrency.
    function base(c) {
      if (c ~ /_par8$/) return "posix_spawn_par8"
      if (c == "herd_exec" || c == "posix_spawn_sh" || c == "node_exec" ||
          c == "node_execSync" || c == "node_spawnSync_sh") return "posix_spawn_sh"
      return "posix_spawn_seq"
    }
    # Paired: the median over the rounds of a/b within the same round, so
    # that a slow stretch of the machine, which touches neighbours alike,
    # cancels out. "-" when no round has both.
    function pratio(a, b,   r, k, x, i, j, t, q) {
      k = 0
      for (r = 1; r <= maxr; r++)
        if (((a, r) in rate) && ((b, r) in rate) && rate[b, r] > 0)
          q[++k] = rate[a, r] / rate[b, r]
      if (k == 0) return -1
      for (i = 2; i <= k; i++) {
        x = q[i]
        for (j = i - 1; j >= 1 && q[j] > x; j--) q[j + 1] = q[j]
        q[j + 1] = x
      }
      return (k % 2) ? q[(k + 1) / 2] : (q[k / 2] + q[k / 2 + 1]) / 2
    }
    function ratio(a, b,   q) {
      q = pratio(a, b)
      return q < 0 ? "-" : sprintf("%.2fx", q)
    }
    function vsnode(c,   s, i, n, parts) {
      if (c == "herd_spawn_seq") s = "node_spawn_seq node_spawnSync"
      else if (c == "herd_spawn_par8") s = "node_spawn_par8"
      else if (c == "herd_exec") s = "node_exec node_execSync node_spawnSync_sh"
      else return ""
      n = split(s, parts, " ")
      out = ""
      for (i = 1; i <= n; i++) {
        if (!(parts[i] in med)) continue
        out = out (out == "" ? "" : ", ") ratio(c, parts[i]) " vs " parts[i]
      }
      return out == "" ? "-" : out
    }
    function row(c) {
      if (!(c in seen)) return
      if (c in med)
        printf "| %s | %s | %.0f | %s | %s | %s |\n", c, desc(c), med[c], spread[c],
          (c == base(c) ? "1.00x (baseline)" : ratio(c, base(c))), vsnode(c)
      else
        printf "| %s | %s | failed | - | - | %s |\n", c, desc(c), vsnode(c) == "" ? "" : "-"
    }
    {
      seen[$2] = 1
      if ($1 > maxr) maxr = $1
      if ($3 == "FAIL") next
      n[$2]++
      v[$2, n[$2]] = $3 + 0
      rate[$2, $1] = $3 + 0
    }
    END {
      for (c in n) {
        k = n[c]
        for (i = 1; i <= k; i++) a[i] = v[c, i]
        for (i = 2; i <= k; i++) {          # insertion sort, k is small
          x = a[i]
          for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
          a[j + 1] = x
        }
        med[c] = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        spread[c] = sprintf("%.0f-%.0f", a[1], a[k])
      }
      print "### /bin/true: spawns per second"
      print ""
      print "| case | what | rate/s | spread | vs raw posix_spawn | herd vs Node |"
      print "|---|---|---:|---:|---:|---|"
      split("herd_spawn_seq posix_spawn_seq fork_seq vfork_seq node_spawn_seq node_spawnSync " \
            "herd_spawn_par8 posix_spawn_par8 fork_par8 vfork_par8 node_spawn_par8", order, " ")
      for (i = 1; i in order; i++) row(order[i])
      print ""
      print "### exec `echo hi`, output captured: round trips per second"
      print ""
      print "| case | what | rate/s | spread | vs raw posix_spawn sh -c | herd vs Node |"
      print "|---|---|---:|---:|---:|---|"
      split("herd_exec posix_spawn_sh node_exec node_execSync node_spawnSync_sh", order2, " ")
      for (i = 1; i in order2; i++) row(order2[i])
      print ""
      if (skip != "") { print "Node rows missing: " skip "."; print "" }
      print "Targets: herd_spawn >= 0.9x raw posix_spawn, herd_exec >= 0.9x raw posix_spawn sh -c."
      t[1] = "herd_spawn_seq"; b[1] = "posix_spawn_seq"
      t[2] = "herd_spawn_par8"; b[2] = "posix_spawn_par8"
      t[3] = "herd_exec"; b[3] = "posix_spawn_sh"
      for (i = 1; i <= 3; i++) {
        if (!(t[i] in med) || !(b[i] in med)) { printf "- %s: no result\n", t[i]; continue }
        q = pratio(t[i], b[i])
        if (q < 0) { printf "- %s: no round with both\n", t[i]; continue }
        printf "- %s: %.2fx %s: %s\n", t[i], q, b[i], (q >= 0.9 ? "met" : "BELOW target")
      }
    }
  ' "$RAW"
  echo "<!-- spawn:end -->"
} > "$SECTION"

# Replace the section in RESULTS.md, keeping everything around it.
bench_write_section spawn "$SECTION" "$RESULTS"

echo
sed -e '1d' -e '$d' "$SECTION"
echo
echo "written: $RESULTS (raw rates: $RAW)"
if [ "$PART" = all ]; then
  echo
  sh bench/channel.sh || failed=1
  echo
  sh bench/cluster.sh || failed=1
  echo
  sh bench/daemon.sh || failed=1
  echo
  sh bench/nodecluster.sh || failed=1
  echo
  sh bench/scale.sh || failed=1
fi
exit "$failed"

#!/bin/sh
# bench/channel.sh - message channel benchmarks: herd's channel next to a
# raw socketpair and Node's child_process IPC, C and Node on either end, in
# one run, written as tables into bench/RESULTS.md (only the part between
# <!-- channel:begin --> and <!-- channel:end --> is replaced).
#
#   sh bench/run.sh channel      (this part only; `sh bench/run.sh` or
#   sh bench/channel.sh           `make bench` run it after the spawn part)
#
# Environment: as bench/run.sh -
#   ROUNDS=3     rounds; each round runs every case once, interleaved
#   MS=1000      timed milliseconds per case per round (plus a 100 ms warm-up)
#   BUILD=build  where libherd.a is; the bench binary goes to $BUILD/bench/
#   CC=cc NODE=node
#   RESULTS=bench/RESULTS.md
#
# Exit status: 0, or 1 if the build or any case failed (the tables still
# show the cases that ran).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/common.sh

ROUNDS=${ROUNDS:-3}
MS=${MS:-1000}
BUILD=${BUILD:-build}
CC=${CC:-cc}
NODE=${NODE:-node}
RESULTS=${RESULTS:-bench/RESULTS.md}
OUT=bench/out
BIN=$BUILD/bench/channel
V8BIN=$BUILD/bench/chanv8
CASE_TIMEOUT=$((MS / 1000 + 30))

case $ROUNDS in ''|*[!0-9]*|0) echo "channel.sh: ROUNDS must be a positive integer" >&2; exit 2 ;; esac
case $MS in ''|*[!0-9]*|0) echo "channel.sh: MS must be a positive integer" >&2; exit 2 ;; esac

if [ ! -f "$BUILD/libherd.a" ]; then
  echo "channel.sh: $BUILD/libherd.a is missing: run \`make lib\` (or \`make bench\`)" >&2
  exit 1
fi

# Which library is measured: the commit now, and whether libherd.a is
# older than its sources (then it is not that commit: run `make lib`).
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
  [ -z "$(git status --porcelain -- src include 2>/dev/null)" ] ||
    rev="$rev, with uncommitted changes in src/ or include/"
else
  rev="unknown (not a git checkout)"
fi
newer=$(find src include -name '*.[ch]' -newer "$BUILD/libherd.a" 2>/dev/null | head -n 1)
if [ -n "$newer" ]; then
  rev="$rev; WARNING: $BUILD/libherd.a is older than $newer (run \`make lib\`)"
  echo "channel.sh: $BUILD/libherd.a is older than $newer: run \`make lib\`" >&2
fi

mkdir -p "$BUILD/bench" "$OUT"
BUILD_CMD="$CC -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -o $BIN bench/channel.c $BUILD/libherd.a -lpthread"
echo "$BUILD_CMD"
$BUILD_CMD
BUILD_V8_CMD="$CC -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -o $V8BIN bench/chanv8.c $BUILD/libherd.a -lpthread"
echo "$BUILD_V8_CMD"
$BUILD_V8_CMD

# The programs find each other through these.
HERD_BENCH_CBIN=$ROOT/$BIN
HERD_BENCH_JS=$ROOT/bench/channel.js
HERD_BENCH_V8BIN=$ROOT/$V8BIN
export HERD_BENCH_CBIN HERD_BENCH_JS HERD_BENCH_V8BIN

C_CASES="$("$BIN" list) $("$V8BIN" list)"
NODE_CASES=
NODE_SKIP=
if ! NODE_PATH_=$(command -v "$NODE" 2>/dev/null); then
  NODE_SKIP="node not found (NODE=$NODE): the Node rows and herd_node_* are skipped"
elif ! NODE_CASES=$("$NODE" bench/channel.js list 2>&1); then
  NODE_SKIP="\`$NODE bench/channel.js list\` failed: the Node rows and herd_node_* are skipped"
  NODE_CASES=
else
  HERD_BENCH_NODE=$NODE_PATH_
  export HERD_BENCH_NODE
fi
[ -n "$NODE_SKIP" ] && echo "channel.sh: $NODE_SKIP" >&2

if command -v timeout >/dev/null 2>&1; then
  TIMEOUT="timeout $CASE_TIMEOUT"
else
  TIMEOUT=
fi

# Ping-pong is one message in flight: each side sleeps while the other
# works, and where the scheduler puts the two processes decides the rate
# (on a 2-CPU VM, about 10x between "same CPU" and "one CPU each", and
# unpinned runs flip between the two). So it runs pinned, both ways:
#   1cpu: taskset -c 0 (parent, child, all threads on CPU 0);
#   2cpu: the parent on CPU 0, the child on CPU 1 (started under
#         taskset -c 1, the parent then moves itself: HERD_BENCH_MOVE_TO).
# The other cases keep both processes busy and run where the scheduler
# puts them.
bench_machine
PIN_NOTE=
if ! command -v taskset >/dev/null 2>&1; then
  PLACES=free
  PIN_NOTE="taskset not found: ping-pong runs unpinned (placement free), expect a wide spread"
elif [ "$nproc_" -lt 2 ]; then
  PLACES=1cpu
  PIN_NOTE="one CPU: ping-pong runs on CPU 0 only"
else
  PLACES="1cpu 2cpu"
fi
[ -n "$PIN_NOTE" ] && echo "channel.sh: $PIN_NOTE" >&2

load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

RAW=$OUT/channel-raw.txt
: > "$RAW"
failed=0

has() { # has WORD LIST...
  h_w=$1
  shift
  for h_x in "$@"; do [ "$h_x" = "$h_w" ] && return 0; done
  return 1
}

# run_case ROUND ROW PLACE NAME CMD...: append "ROUND ROW VALUE COUNT
# SECONDS", or "ROUND ROW FAIL" if it failed or printed something else.
run_case() {
  rc_round=$1 rc_row=$2 rc_place=$3 rc_name=$4
  shift 4
  case $rc_place in
    1cpu) set -- taskset -c 0 "$@" ;;
    2cpu) set -- env HERD_BENCH_MOVE_TO=0 taskset -c 1 "$@" ;;
  esac
  # $line is split into fields on purpose.
  # shellcheck disable=SC2086
  if line=$($TIMEOUT "$@" "$rc_name" -t "$MS") &&
     set -- $line && [ $# -eq 4 ] && [ "$1" = "$rc_name" ]; then
    echo "$rc_round $rc_row $2 $3 $4" >> "$RAW"
    printf '  %-26s %14s\n' "$rc_row" "$2"
  else
    echo "$rc_round $rc_row FAIL" >> "$RAW"
    printf '  %-26s FAILED\n' "$rc_row"
    failed=1
  fi
}

# The order: each herd case next to what it is compared with.
ALL=
for p in $PLACES; do
  for c in raw_pingpong raw_pingpong_poll herd_pingpong herd_pingpong_poll \
           herd_node_pingpong node_pingpong node_c_pingpong; do
    ALL="$ALL $c@$p"
  done
done
for p in $PLACES; do
  for c in herd_v8_pingpong herd_v8text_pingpong node_v8_pingpong \
           node_v8_c_pingpong; do
    ALL="$ALL $c@$p"
  done
done
for c in raw_oneway herd_oneway node_oneway node_c_oneway herd_node_oneway \
         raw_bulk herd_bulk node_bulk node_c_bulk herd_node_bulk \
         raw_fork_first herd_fork_fn_first raw_spawn_first herd_fork_first \
         node_fork_first \
         herd_v8_oneway herd_v8text_oneway node_v8_oneway node_v8_c_oneway \
         herd_v8_bulk node_v8_bulk; do
  ALL="$ALL $c@free"
done
# Keep what this machine can run (the case lists are split into words on
# purpose).
LIST=
# shellcheck disable=SC2086
for x in $ALL; do
  c=${x%@*}
  case $c in
    node_*) has "$c" $NODE_CASES || continue ;;
    herd_node_*) if [ -n "$NODE_SKIP" ] || ! has "$c" $C_CASES; then continue; fi ;;
    *) has "$c" $C_CASES || continue ;;
  esac
  LIST="$LIST $x"
done
REV=
for x in $LIST; do REV="$x $REV"; done

r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "round $r/$ROUNDS"
  if [ $((r % 2)) -eq 1 ]; then list=$LIST; else list=$REV; fi
  for x in $list; do
    c=${x%@*} p=${x#*@}
    row=$c
    [ "$p" = free ] || row=${c}_$p
    case $c in
      node_*) run_case "$r" "$row" "$p" "$c" "$NODE" bench/channel.js ;;
      herd_v8*) run_case "$r" "$row" "$p" "$c" "$V8BIN" ;;
      *) run_case "$r" "$row" "$p" "$c" "$BIN" ;;
    esac
  done
  r=$((r + 1))
done

# ---- the section for RESULTS.md ----

bench_versions

SECTION=$OUT/channel-section.md
{
  echo "<!-- channel:begin -->"
  echo "## channel: messages between processes"
  echo
  echo "- machine: $nproc_ CPUs, $model; $kernel"
  echo "- node: $node_v; gcc: $gcc_v; CC: $cc_v; libherd: commit $rev"
  echo "- date: $date_; load average (1/5/15 min) before: $load_start, after: $load_end"
  echo "- command: \`ROUNDS=$ROUNDS MS=$MS sh bench/run.sh channel\` (\`make bench\` and \`sh bench/run.sh\` run it after the spawn part), which builds with"
  echo "  \`$BUILD_CMD\`"
  echo "  and \`$BUILD_V8_CMD\`"
  if [ -n "$NODE_SKIP" ]; then runs="\`$BIN CASE -t $MS\`, \`$V8BIN CASE -t $MS\`"
  else runs="\`$BIN CASE -t $MS\`, \`$V8BIN CASE -t $MS\` and \`$NODE bench/channel.js CASE -t $MS\`"; fi
  echo "  and runs $runs for every case, interleaved (even rounds backwards), rounds: $ROUNDS"
  echo "- value: median over the rounds (spread = min-max); a ratio is the median over the rounds of"
  echo "  the two values' quotient within one round. See bench/README.md for what each case does."
  echo
  awk -v skip="$NODE_SKIP" -v pinnote="$PIN_NOTE" -v places="$PLACES" '
    function desc(c) {
      if (c == "raw_pingpong") return "fork + socketpair, blocking write/read, no library (the floor)"
      if (c == "raw_pingpong_poll") return "the same on non-blocking sockets, poll then read, no library (how an event loop waits)"
      if (c == "herd_pingpong") return "C parent, herd_fork_fn C child; send + flush + herd_chan_recv_wait on both sides"
      if (c == "herd_pingpong_poll") return "the same with a poll loop (poll, then herd_chan_recv) on both sides"
      if (c == "herd_node_pingpong") return "C parent, herd_fork of a Node echo child"
      if (c == "node_pingpong") return "Node parent, child_process.fork Node child"
      if (c == "node_c_pingpong") return "Node parent, C child (spawn, stdio ipc, herd_chan_from_env)"
      if (c == "raw_oneway") return "64 KiB write()s of the lines, the reader counts newlines (the floor)"
      if (c == "herd_oneway") return "C -> C: herd_chan_send each, flush + poll on backpressure; herd_fork_fn child counts"
      if (c == "node_oneway") return "Node -> Node (fork), send() with its backpressure"
      if (c == "node_c_oneway") return "Node -> C child"
      if (c == "herd_node_oneway") return "C -> Node child (herd_fork)"
      if (c == "raw_bulk") return "64 KiB write()s of the lines, the reader counts newlines (the floor)"
      if (c == "herd_bulk") return "C -> C, herd_fork_fn child"
      if (c == "node_bulk") return "Node -> Node (fork)"
      if (c == "node_c_bulk") return "Node -> C child"
      if (c == "herd_node_bulk") return "C -> Node child (herd_fork)"
      if (c == "raw_fork_first") return "socketpair + fork(), the child write()s a line (the floor of herd_fork_fn)"
      if (c == "herd_fork_fn_first") return "herd_fork_fn, the child sends at once"
      if (c == "raw_spawn_first") return "posix_spawn of the C program, socket at fd 3, it write()s a line (the floor of herd_fork)"
      if (c == "herd_fork_first") return "herd_fork of the C program: herd_chan_from_env, send"
      if (c == "node_fork_first") return "child_process.fork of a script that calls process.send at once"
      if (c == "herd_v8_pingpong") return "C -> C (herd_fork, HERD_FORK_ADVANCED): a tree built per message, herd_chan_send_val; the child sends msg.val back"
      if (c == "herd_v8text_pingpong") return "the same written for json mode: herd_chan_send of text, msg.json (converted both ways)"
      if (c == "node_v8_pingpong") return "Node parent, fork Node child, {serialization: advanced}"
      if (c == "node_v8_c_pingpong") return "Node parent, C child of bench/chanv8.c (spawn, serialization advanced)"
      if (c == "herd_v8_oneway") return "C -> C: trees {i, s} sent with herd_chan_send_val, the child counts"
      if (c == "herd_v8text_oneway") return "the same as JSON text (herd_chan_send converts)"
      if (c == "node_v8_oneway") return "Node -> Node (fork, advanced)"
      if (c == "node_v8_c_oneway") return "Node -> C child (advanced)"
      if (c == "herd_v8_bulk") return "C -> C: a 64 KiB string value per message"
      if (c == "node_v8_bulk") return "Node -> Node (fork, advanced)"
      return ""
    }
    function median(c,   k, i, j, x, a) {
      k = n[c]
      for (i = 1; i <= k; i++) a[i] = v[c, i]
      for (i = 2; i <= k; i++) {
        x = a[i]
        for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
        a[j + 1] = x
      }
      lo[c] = a[1]; hi[c] = a[k]
      return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    # Paired: the median over the rounds of a/b within the same round.
    function pratio(a, b,   r, k, x, i, j, q) {
      k = 0
      for (r = 1; r <= maxr; r++)
        if (((a, r) in val) && ((b, r) in val) && val[b, r] > 0)
          q[++k] = val[a, r] / val[b, r]
      if (k == 0) return -1
      for (i = 2; i <= k; i++) {
        x = q[i]
        for (j = i - 1; j >= 1 && q[j] > x; j--) q[j + 1] = q[j]
        q[j + 1] = x
      }
      return (k % 2) ? q[(k + 1) / 2] : (q[k / 2] + q[k / 2 + 1]) / 2
    }
    function ratio(a, b,   q) {
      if (!(a in med) || !(b in med)) return "-"
      q = pratio(a, b)
      return q < 0 ? "-" : sprintf("%.2fx", q)
    }
    function num(x, fmt) { return sprintf(fmt, x) }
    function cell(c, fmt) {
      if (c in med) return num(med[c], fmt) " (" num(lo[c], fmt) "-" num(hi[c], fmt) ")"
      if (c in seen) return "failed"
      return "not run"
    }
    # A target line: "- what: 1.23x (want >= 0.90x): met".
    function target(what, a, b, want,   q) {
      if (!(a in med) || !(b in med)) { printf "- %s: no result (%s / %s)\n", what, a, b; return }
      q = pratio(a, b)
      if (q < 0) { printf "- %s: no round with both\n", what; return }
      printf "- %s: %.2fx (want >= %.2fx): %s\n", what, q, want, (q >= want ? "met" : "NOT met")
    }
    {
      seen[$2] = 1
      if ($1 > maxr) maxr = $1
      if ($3 == "FAIL") next
      n[$2]++
      v[$2, n[$2]] = $3 + 0
      val[$2, $1] = $3 + 0
    }
    END {
      for (c in n) med[c] = median(c)
      np = split(places, pl, " ")
      pname["1cpu"] = "both on CPU 0"; pname["2cpu"] = "parent CPU 0, child CPU 1"; pname["free"] = "unpinned"

      print "### ping-pong: round trips per second, `{\"i\":N}`, one message in flight"
      print ""
      hdr = "| case | what |"; sep = "|---|---|"
      for (i = 1; i <= np; i++) { hdr = hdr " " pname[pl[i]] ": rt/s (spread) | vs raw |"; sep = sep "---:|---:|" }
      print hdr; print sep
      split("raw_pingpong raw_pingpong_poll herd_pingpong herd_pingpong_poll herd_node_pingpong node_pingpong node_c_pingpong", o, " ")
      for (k = 1; k in o; k++) {
        line = "| " o[k] " | " desc(o[k]) " |"
        for (i = 1; i <= np; i++) {
          c = o[k] (pl[i] == "free" ? "" : "_" pl[i])
          line = line " " cell(c, "%.0f") " | " (o[k] == "raw_pingpong" ? "1.00x" : ratio(c, "raw_pingpong" (pl[i] == "free" ? "" : "_" pl[i]))) " |"
        }
        print line
      }
      print ""
      print "### one-way small messages: messages per second, `{\"i\":N,\"s\":\"hi\"}` (about 20 bytes)"
      print ""
      print "| case | what | msgs/s (spread) | vs raw | vs node_oneway |"
      print "|---|---|---:|---:|---:|"
      split("raw_oneway herd_oneway node_oneway node_c_oneway herd_node_oneway", o, " ")
      for (k = 1; k in o; k++)
        printf "| %s | %s | %s | %s | %s |\n", o[k], desc(o[k]), cell(o[k], "%.0f"),
          ratio(o[k], "raw_oneway"), ratio(o[k], "node_oneway")
      print ""
      print "### one-way 64 KiB messages: MB/s (10^6 bytes of lines; each line is a 65,536-character JSON string)"
      print ""
      print "| case | what | MB/s (spread) | vs raw | vs node_bulk |"
      print "|---|---|---:|---:|---:|"
      split("raw_bulk herd_bulk node_bulk node_c_bulk herd_node_bulk", o, " ")
      for (k = 1; k in o; k++)
        printf "| %s | %s | %s | %s | %s |\n", o[k], desc(o[k]), cell(o[k], "%.0f"),
          ratio(o[k], "raw_bulk"), ratio(o[k], "node_bulk")
      print ""
      print "### fork to first message: microseconds (median of the forks in a round; lower is better)"
      print ""
      print "| case | what | us (spread) | time vs its floor | node_fork_first / this |"
      print "|---|---|---:|---:|---:|"
      split("raw_fork_first herd_fork_fn_first raw_spawn_first herd_fork_first node_fork_first", o, " ")
      for (k = 1; k in o; k++) {
        fl = o[k] == "herd_fork_fn_first" ? "raw_fork_first" : o[k] == "herd_fork_first" ? "raw_spawn_first" : ""
        printf "| %s | %s | %s | %s | %s |\n", o[k], desc(o[k]), cell(o[k], "%.0f"),
          (fl == "" ? "" : ratio(o[k], fl)), (o[k] == "node_fork_first" ? "1.00x" : ratio("node_fork_first", o[k]))
      }
      print ""
      print "### serialization: advanced (V8 values in length-prefixed frames), herd C to C next to Node to Node"
      print ""
      print "Ping-pong `{i: N}` in round trips/s, one-way `{i: N, s: \"hi\"}` in messages/s, bulk (a 64 KiB string a message) in MB/s"
      print "counted as the json rows count them (65,539 bytes a message). The json rows above are the reference."
      print ""
      hdr = "| case | what |"; sep = "|---|---|"
      for (i = 1; i <= np; i++) { hdr = hdr " " pname[pl[i]] ": rt/s (spread) | vs node_v8 | vs its json row |"; sep = sep "---:|---:|---:|" }
      print hdr; print sep
      split("herd_v8_pingpong herd_v8text_pingpong node_v8_pingpong node_v8_c_pingpong", o, " ")
      split("herd_pingpong herd_pingpong - node_c_pingpong", js, " ")
      for (k = 1; k in o; k++) {
        line = "| " o[k] " | " desc(o[k]) " |"
        for (i = 1; i <= np; i++) {
          s = pl[i] == "free" ? "" : "_" pl[i]
          line = line " " cell(o[k] s, "%.0f") " | " (o[k] == "node_v8_pingpong" ? "1.00x" : ratio(o[k] s, "node_v8_pingpong" s)) " | " (o[k] == "node_v8_pingpong" ? ratio(o[k] s, "node_pingpong" s) : ratio(o[k] s, js[k] s)) " |"
        }
        print line
      }
      print ""
      print "| case | what | msgs/s or MB/s (spread) | vs node_v8 | vs its json row |"
      print "|---|---|---:|---:|---:|"
      split("herd_v8_oneway herd_v8text_oneway node_v8_oneway node_v8_c_oneway herd_v8_bulk node_v8_bulk", o, " ")
      split("herd_oneway herd_oneway node_oneway node_c_oneway herd_bulk node_bulk", js, " ")
      for (k = 1; k in o; k++) {
        ref = o[k] ~ /bulk/ ? "node_v8_bulk" : "node_v8_oneway"
        printf "| %s | %s | %s | %s | %s |\n", o[k], desc(o[k]), cell(o[k], "%.0f"),
          (o[k] == ref ? "1.00x" : ratio(o[k], ref)), ratio(o[k], js[k])
      }
      print ""
      if (skip != "") { print "Rows not run: " skip "."; print "" }
      if (pinnote != "") { print "Placement: " pinnote "."; print "" }
      print "Targets (paired ratios as above):"
      for (i = 1; i <= np; i++) {
        s = pl[i] == "free" ? "" : "_" pl[i]
        target("herd_pingpong vs raw_pingpong, " pname[pl[i]], "herd_pingpong" s, "raw_pingpong" s, 0.9)
      }
      for (i = 1; i <= np; i++) {
        s = pl[i] == "free" ? "" : "_" pl[i]
        target("(poll loop) herd_pingpong_poll vs raw_pingpong, " pname[pl[i]], "herd_pingpong_poll" s, "raw_pingpong" s, 0.9)
      }
      target("herd_oneway vs node_oneway", "herd_oneway", "node_oneway", 10)
      target("herd_bulk vs node_bulk (MB/s)", "herd_bulk", "node_bulk", 10)
      target("fork to first message, node_fork_first / herd_fork_fn_first", "node_fork_first", "herd_fork_fn_first", 20)
      target("fork to first message, node_fork_first / herd_fork_first", "node_fork_first", "herd_fork_first", 20)
      for (i = 1; i <= np; i++) {
        s = pl[i] == "free" ? "" : "_" pl[i]
        target("Node parent: C child vs Node child, ping-pong, " pname[pl[i]], "node_c_pingpong" s, "node_pingpong" s, 1)
      }
      target("Node parent: C child vs Node child, one-way", "node_c_oneway", "node_oneway", 1)
      target("Node parent: C child vs Node child, 64 KiB", "node_c_bulk", "node_bulk", 1)
      for (i = 1; i <= np; i++) {
        s = pl[i] == "free" ? "" : "_" pl[i]
        target("advanced: herd_v8_pingpong vs node_v8_pingpong, " pname[pl[i]], "herd_v8_pingpong" s, "node_v8_pingpong" s, 1)
      }
      target("advanced: herd_v8_oneway vs node_v8_oneway", "herd_v8_oneway", "node_v8_oneway", 1)
      target("advanced: herd_v8_bulk vs node_v8_bulk (MB/s)", "herd_v8_bulk", "node_v8_bulk", 1)
    }
  ' "$RAW"
  echo "<!-- channel:end -->"
} > "$SECTION"

# Replace the section in RESULTS.md, keeping everything around it.
bench_write_section channel "$SECTION" "$RESULTS"

echo
sed -e '1d' -e '$d' "$SECTION"
echo
echo "written: $RESULTS (raw values: $RAW)"
exit "$failed"

#!/bin/sh
# Every fuzz harness (fuzz/NAME.c), built as a plain program with
# fuzz/replay.c, replays its seed corpus fuzz/corpus/NAME/: the inputs
# that once crashed a parser stay regression tests of the normal build
# (and of SANITIZE=1), without clang or libFuzzer.
set -eu
b=${HERD_BUILD:-build}
n=0
for bin in "$b"/fuzz-replay/*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  if [ ! -d "fuzz/corpus/$name" ]; then
    echo "fuzz/corpus/$name: missing (every harness has seeds)"
    exit 1
  fi
  "$bin" "fuzz/corpus/$name" >/dev/null || {
    echo "fuzz harness $name failed on its corpus"
    exit 1
  }
  n=$((n + 1))
done
[ $n -gt 0 ] || { echo "no fuzz harness built in $b/fuzz-replay"; exit 1; }
echo "$n harnesses replayed their corpora"

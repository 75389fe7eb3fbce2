#!/bin/sh
# fuzz/run.sh OUT SECS NAME... - run each libFuzzer harness OUT/NAME for
# SECS seconds over its seeds (fuzz/corpus/NAME, read only) and its own
# growing corpus (OUT/corpus/NAME), with fuzz/NAME.dict when there is one.
# Prints one line per harness (executions, corpus, result) and exits 1
# if any found a crash (saved as OUT/crash-NAME-*; make it a regression
# test: copy it to fuzz/corpus/NAME/ and fix the bug).
set -u
out=$1 secs=$2
shift 2
fail=0
printf '%-14s %12s %9s %7s  %s\n' harness executions exec/s corpus result
for name in "$@"; do
  mkdir -p "$out/corpus/$name"
  seeds=fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=
  dict=
  [ -f "fuzz/$name.dict" ] && dict=-dict=fuzz/$name.dict
  log=$out/$name.log
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds memory
  "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/crash-$name-" $dict \
    "$out/corpus/$name" $seeds >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  ncorp=$(ls "$out/corpus/$name" | wc -l)
  if [ $rc -eq 0 ]; then
    res=ok
  else
    res="FAILED (exit $rc): $(ls "$out"/crash-"$name"-* 2>/dev/null | head -1); see $log"
    fail=1
  fi
  printf '%-14s %12s %9s %7s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$ncorp" "$res"
done
exit $fail

# bench/common.sh - what the benchmark parts share (sourced, POSIX sh).

# bench_machine: sets nproc_, model, kernel for the header of a section.
bench_machine() {
  nproc_=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
  model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
  [ -n "$model" ] || model=unknown
  kernel=$(uname -srm)
}

# bench_versions: sets node_v, gcc_v, cc_v, date_, load_end (uses NODE,
# NODE_SKIP and CC) for the header of a section.
bench_versions() {
  if [ -n "${NODE_SKIP:-}" ]; then node_v="none ($NODE_SKIP)"; else node_v=$("$NODE" --version); fi
  gcc_v=$(gcc --version 2>/dev/null | head -n 1) || gcc_v="not found"
  cc_v=$($CC --version 2>/dev/null | head -n 1) || cc_v=unknown
  date_=$(date -u '+%Y-%m-%d %H:%M UTC')
  load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
}

# bench_write_section NAME FILE RESULTS: put FILE (which starts with
# <!-- NAME:begin --> and ends with <!-- NAME:end -->) in place of that
# section of RESULTS, keeping everything around it; append it if the
# section is not there yet.
bench_write_section() {
  _name=$1 _sec=$2 _res=$3
  if [ ! -f "$_res" ]; then
    { echo "# herd benchmarks"; echo; cat "$_sec"; } > "$_res.new"
  elif grep -q "^<!-- $_name:begin -->" "$_res" && grep -q "^<!-- $_name:end -->" "$_res"; then
    awk -v sec="$_sec" -v b="<!-- $_name:begin -->" -v e="<!-- $_name:end -->" '
      $0 == b { while ((getline l < sec) > 0) print l; skip = 1; next }
      $0 == e { skip = 0; next }
      !skip { print }
    ' "$_res" > "$_res.new"
  else
    { cat "$_res"; echo; cat "$_sec"; } > "$_res.new"
  fi
  mv "$_res.new" "$_res"
}

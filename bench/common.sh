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

# bench_wrk_parse ROUND CASE FILE: one line, "ROUND CASE RPS P99_US REQUESTS
# NON2XX CONNECT READ WRITE TIMEOUT MAX_US" (latencies in microseconds), from
# the output of `wrk --latency`; "ROUND CASE FAIL" if it has no rate.
bench_wrk_parse() {
  awk -v r="$1" -v c="$2" '
    function us(s,   v) {
      v = s + 0
      if (s ~ /us$/) return v
      if (s ~ /ms$/) return v * 1000
      if (s ~ /m$/) return v * 60000000
      if (s ~ /s$/) return v * 1000000
      return v
    }
    $1 == "Latency" && NF >= 4 { mx = us($4) }
    $1 == "99%" { p99 = us($2) }
    $2 == "requests" && $3 == "in" { reqs = $1 }
    $1 == "Socket" && $2 == "errors:" { ce = $4 + 0; re = $6 + 0; we = $8 + 0; te = $10 + 0 }
    /^ *Non-2xx or 3xx responses:/ { n2 = $NF + 0 }
    $1 == "Requests/sec:" { rps = $2 }
    END {
      if (rps == "" || reqs == "") { print r, c, "FAIL"; exit }
      printf "%s %s %.0f %.0f %d %d %d %d %d %d %.0f\n", r, c, rps, p99, reqs, n2 + 0,
        ce + 0, re + 0, we + 0, te + 0, mx
    }' "$3"
}

# ---- processes the scripts started (by pid only) ----

alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID: SIGTERM to PID and (if they outlive it) to the children it
# had, SIGKILL after STOP_WAIT tenths of a second (50: 5 s).
stop_pid() {
  sp_pid=$1
  alive "$sp_pid" || return 0
  sp_kids=$("$PYTHON" bench/cluster.py children "$sp_pid" 2>/dev/null | tr '\n' ' ') || sp_kids=
  kill -TERM "$sp_pid" 2>/dev/null || true
  sp_i=0
  while alive "$sp_pid" && [ $sp_i -lt "${STOP_WAIT:-50}" ]; do sleep 0.1; sp_i=$((sp_i + 1)); done
  alive "$sp_pid" && kill -KILL "$sp_pid" 2>/dev/null
  for sp_k in $sp_kids; do
    # still ours only if not reaped and renumbered: check its parent
    if alive "$sp_k" && [ "$(cut -d' ' -f4 "/proc/$sp_k/stat" 2>/dev/null)" = 1 ]; then
      kill -TERM "$sp_k" 2>/dev/null || true
    fi
  done
  return 0
}

# The awk functions the tables share (cluster.sh, daemon.sh,
# nodecluster.sh: awk ... "$AWK_STATS"'the program'): medof(a, k), the
# median of a[1..k] (sorted in place); add(kind, K, round, x) records a
# value in vals/cnt and byr; pratio(kind, a, b), the median over the rounds
# of a/b measured in the same round, -1 if none.
AWK_STATS='
    function sortn(a, k,   i, j, x) {
      for (i = 2; i <= k; i++) {
        x = a[i]
        for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
        a[j + 1] = x
      }
    }
    function medof(a, k) { sortn(a, k); return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    function add(kind, K, r, x) { vals[kind, K, ++cnt[kind, K]] = x; byr[kind, K, r] = x; if (r > maxr) maxr = r }
    function pratio(kind, a, b,   r, k, q) {
      k = 0
      for (r = 1; r <= maxr; r++)
        if (((kind, a, r) in byr) && ((kind, b, r) in byr) && byr[kind, b, r] > 0)
          q[++k] = byr[kind, a, r] / byr[kind, b, r]
      if (!k) return -1
      return medof(q, k)
    }
'

# positive_ints SCRIPT VAR...: each VAR a positive integer, or exit 2
# saying which.
positive_ints() {
  pi_who=$1
  shift
  for pi_v in "$@"; do
    eval "pi_val=\$$pi_v"
    case $pi_val in ''|*[!0-9]*|0) echo "$pi_who: $pi_v must be a positive integer" >&2; exit 2 ;; esac
  done
}

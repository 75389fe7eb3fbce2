#!/bin/sh
# bench/static.sh - the static (musl) build next to the glibc one: the
# programs' sizes, and the memory of a `herd run` master of 2 hello-http
# workers, read from /proc/PID/status once all are ready (ROUNDS rounds,
# each a new master; the median and the spread). Writes the "static"
# section of bench/RESULTS.md.
#
#   make all static && sh bench/static.sh
#
# Environment: ROUNDS (5), PORT (19090, loopback), RESULTS (bench/RESULTS.md),
# BASE: another build folder (a build of main, say) whose glibc herd is
# measured too, against its own hello-http, for "unchanged or smaller".
set -eu
cd "$(dirname "$0")/.."
. bench/common.sh

ROUNDS=${ROUNDS:-5}
PORT=${PORT:-19090}
RESULTS=${RESULTS:-bench/RESULTS.md}
for f in build/herd build/examples/hello-http build/static/herd build/static/examples/hello-http; do
	[ -x "$f" ] || { echo "static.sh: $f not built (make all static)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-bench-static.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# one_round DIR: "VmRSS RssAnon RssFile" (kB) of DIR/herd's master
one_round() {
	HERD_HOME=$tmp/home "$1/herd" run -n rss -w 2 -l "127.0.0.1:$PORT" -- \
		"$1/examples/hello-http" 2>"$tmp/log" &
	pid=$!
	i=0
	until grep -q "all 2 workers ready" "$tmp/log"; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "static.sh: $1/herd never got ready" >&2; cat "$tmp/log" >&2; exit 1; }
		sleep 0.1
	done
	sleep 1 # settled: the ready lines written, the loop idle
	awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
		END { print r, a, f }' "/proc/$pid/status"
	cp "/proc/$pid/smaps" "$tmp/smaps" # the last round's: the breakdown below
	kill -TERM "$pid"
	wait "$pid"
}

# median_of FILE COLUMN: "median (min-max)"
median_of() {
	cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

builds="build build/static"
[ -z "${BASE:-}" ] || builds="$builds $BASE"
for b in $builds; do
	: > "$tmp/$(echo "$b" | tr / _).rss"
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		one_round "$b" >> "$tmp/$(echo "$b" | tr / _).rss"
		r=$((r + 1))
	done
	[ "$b" != build/static ] || cp "$tmp/smaps" "$tmp/smaps.static"
done

bench_machine
size_of() { wc -c < "$1" | tr -d ' '; }
{
	echo "<!-- static:begin -->"
	echo "## static: the musl build (make static) next to the glibc one"
	echo
	echo "- machine: $nproc_ CPUs, $model; $kernel"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(musl-gcc --version 2>/dev/null | head -n 1 || echo gcc) with musl"
	echo "- command: \`make all static && sh bench/static.sh\` (ROUNDS=$ROUNDS): \`herd run -w 2 -l 127.0.0.1:$PORT -- hello-http\`,"
	echo "  each build's herd with its own hello-http; /proc/PID/status of the master 1 s after \"all 2 workers ready\""
	echo "- RssFile is the program's own pages (shared with every process of the same file, the page cache's);"
	echo "  on a page fault the kernel maps up to 16 pages (64 KiB, fault-around) of the file from the"
	echo "  64 KiB-aligned block of the page touched (from the mapping's start if that is later), so code spread"
	echo "  over the whole program counts all of it: make static links herd with src/cli/static-hot.ld"
	echo "  (bench/hot.sh), the code and read-only data its master touches in segments of their own."
	echo "  RssAnon is the master's own memory: heap, stack, data."
	echo
	echo "| build | herd bytes | hello-http bytes | master VmRSS KiB | RssAnon KiB | RssFile KiB |"
	echo "|---|---:|---:|---:|---:|---:|"
	echo "| glibc (build/, -O2 -g, dynamic) | $(size_of build/herd) | $(size_of build/examples/hello-http) | $(median_of "$tmp/build.rss" 1) | $(median_of "$tmp/build.rss" 2) | $(median_of "$tmp/build.rss" 3) |"
	echo "| musl (build/static/, -Os, static, stripped) | $(size_of build/static/herd) | $(size_of build/static/examples/hello-http) | $(median_of "$tmp/build_static.rss" 1) | $(median_of "$tmp/build_static.rss" 2) | $(median_of "$tmp/build_static.rss" 3) |"
	if [ -n "${BASE:-}" ]; then
		bf=$tmp/$(echo "$BASE" | tr / _).rss
		echo "| glibc, BASE=$BASE | $(size_of "$BASE/herd") | $(size_of "$BASE/examples/hello-http") | $(median_of "$bf" 1) | $(median_of "$bf" 2) | $(median_of "$bf" 3) |"
	fi
	echo
	s=$(median_of "$tmp/build_static.rss" 1 | cut -d' ' -f1)
	g=$(median_of "$tmp/build.rss" 1 | cut -d' ' -f1)
	if [ "$s" -lt 256 ]; then v=met; else v="not met"; fi
	echo "- static master of 2 workers under 256 KiB VmRSS: $s KiB: $v"
	if [ -n "${BASE:-}" ]; then
		b0=$(median_of "$bf" 1 | cut -d' ' -f1)
		if [ "$g" -le "$b0" ]; then v=met; else v="not met"; fi
		echo "- the glibc master unchanged or smaller than BASE's: $g KiB, BASE $b0 KiB: $v"
	fi
	echo
	echo "The static master's mappings, the last round (/proc/PID/smaps; those with no page resident left out):"
	echo
	echo "| mapping | size KiB | Rss KiB | of which anonymous |"
	echo "|---|---:|---:|---:|"
	awk '/^[0-9a-f]+-[0-9a-f]+ / {
			split($1, ad, "-"); perm = $2; name = $6
			if (name ~ /\/herd$/) {
				name = perm ~ /x/ ? "herd: text" : perm ~ /w/ ? "herd: data" : ++ro == 1 ? "herd: ELF headers" : "herd: rodata"
			} else if (name == "") name = "anonymous (" perm ")"
			next
		}
		/^Size:/ { size = $2 }
		/^Rss:/ { rss = $2 }
		/^Anonymous:/ { if (rss > 0 && name !~ /^\[v/) printf "| %s | %d | %d | %d |\n", name, size, rss, $2 }
	' "$tmp/smaps.static"
	echo "<!-- static:end -->"
} > "$tmp/section"
bench_write_section static "$tmp/section" "$RESULTS"
cat "$tmp/section"

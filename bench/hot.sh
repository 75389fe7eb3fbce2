#!/bin/sh
# bench/hot.sh - writes src/cli/static-hot.ld, the linker script that
# lays out the static herd (make static): the code and the read-only data
# its master touches, from start-up to the idle loop, each in a segment of
# its own, after the rest, from a 64 KiB boundary.
#
#   make static && sh bench/hot.sh && make static && sh bench/static.sh
#
# Why: on a page fault Linux maps up to 16 pages of the file (fault-
# around), so a master whose 96 KB of code is spread over 320 KB of text
# has all of it resident (bench/RESULTS.md, "static"). How: herd is linked
# from build/static's objects (B=) with a map, its master (herd run -w 2 of
# hello-http, as bench/static.sh measures it) run under valgrind's lackey
# and under strace (what the kernel reads: paths, signal masks) until it
# idles, the addresses named by their input sections (bench/hotld.py);
# again with that script, until no new section turns up.
# A stale script costs memory, never correctness: what it does not name is
# laid out as before. Needs valgrind, strace and python3; PORT (19095).
set -eu
cd "$(dirname "$0")/.."
PORT=${PORT:-19095}
OUT=src/cli/static-hot.ld
B=${B:-build/static} # the static build whose objects are linked
for t in valgrind strace python3; do
	command -v $t >/dev/null || { echo "hot.sh: $t not found" >&2; exit 1; }
done
[ -x $B/examples/hello-http ] && [ -f $B/libherd.a ] || { echo "hot.sh: make static first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-hot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# link N [SCRIPT]: $tmp/herdN and its map $tmp/mapN, as make static links
# build/static/herd (Makefile, HERD_BIN), not stripped
link() {
	${MUSL_CC:-musl-gcc} -o "$tmp/herd$1" $B/obj/src/cli/*.o $B/libherd.a -static \
		-Wl,--gc-sections -Wl,-z,now ${2:+-Wl,-T,"$2"} -Wl,-Map,"$tmp/map$1" -lpthread -lm
}

# trace N: $tmp/traceN, the addresses herdN's master touched until idle
trace() {
	HERD_HOME=$tmp/home valgrind --tool=lackey --trace-mem=yes --log-file="$tmp/lk$1" \
		"$tmp/herd$1" run -n hot -w 2 -l "127.0.0.1:$PORT" -- $B/examples/hello-http 2>"$tmp/log$1" &
	pid=$!
	i=0
	until grep -q "all 2 workers ready" "$tmp/log$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "hot.sh: the traced master never got ready" >&2; cat "$tmp/log$1" >&2; exit 1; }
		sleep 0.1
	done
	sleep 2 # idle: the ready lines written
	n=$(wc -c < "$tmp/lk$1")
	kill -TERM $pid
	wait $pid || :
	# up to the idle moment: the shutdown's pages are not the idle master's
	head -c "$n" "$tmp/lk$1" | awk '$1 == "I" || $1 == "L" || $1 == "S" || $1 == "M" {
		sub(/,.*/, "", $2); print $1, $2 }' | sort -u > "$tmp/trace$1"
}

# kread N: the system calls' arguments as numbers ("K 0x...", appended to
# $tmp/traceN): what the kernel reads (a path, a signal mask) lackey does
# not see, and a page the kernel faults in counts as one the master did
kread() {
	HERD_HOME=$tmp/home strace -f -e raw=all -o "$tmp/st$1" \
		"$tmp/herd$1" run -n hot -w 2 -l "127.0.0.1:$PORT" -- $B/examples/hello-http 2>"$tmp/log$1" &
	pid=$!
	i=0
	until grep -q "all 2 workers ready" "$tmp/log$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "hot.sh: the straced master never got ready" >&2; cat "$tmp/log$1" >&2; exit 1; }
		sleep 0.1
	done
	sleep 1
	n=$(wc -c < "$tmp/st$1")
	# the master: strace's first tracee (its line starts with its pid)
	kill -TERM "$(awk 'NR == 1 { print $1 }' "$tmp/st$1")"
	wait $pid || :
	head -c "$n" "$tmp/st$1" | grep -o '0x[0-9a-f]*' | sort -u | sed 's/^/K /' >> "$tmp/trace$1"
}

pairs=
script=
r=1
while [ $r -le 5 ]; do
	link $r $script
	trace $r
	kread $r
	pairs="$pairs $tmp/map$r $tmp/trace$r"
	python3 bench/hotld.py $pairs > "$tmp/hot$r.ld"
	if [ -n "$script" ] && cmp -s "$script" "$tmp/hot$r.ld"; then
		break
	fi
	script=$tmp/hot$r.ld
	r=$((r + 1))
done
cp "$tmp/hot$r.ld" "$OUT" 2>/dev/null || cp "$script" "$OUT"
echo "hot.sh: $OUT written ($((r > 5 ? 5 : r)) rounds)"

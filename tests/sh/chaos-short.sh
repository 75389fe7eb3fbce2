#!/bin/sh
# chaos-short.sh - the chaos test (bench/chaos.c, bench/README.md), short:
# every --balance mode for 5 s of SIGKILLs, reloads, scaling and log
# bursts under load after a 1 s warm-up, judged against the full bar (no
# refused, timed-out or non-2xx request, no reset that a SIGKILL does not
# explain, the master's fds equal and RSS within 64 kB, no zombie, herd
# exits 0). About 20 s in all; `make chaos` is the 60 s version.
#
# Environment: HERD_BUILD (the build dir, default build), HERD_PROGS (the
# folder of herd and examples/ under test, default the build dir), HERD_SANITIZE=1
# when built with ASan+UBSan (the RSS bar is then left out: ASan's
# quarantine holds freed memory by design).
set -eu

cd "$(dirname "$0")/../.."
build=${HERD_BUILD:-build}
chaos=$build/bench/chaos
progs=${HERD_PROGS:-$build}

for f in "$chaos" "$progs/herd" "$progs/examples/hello-http"; do
	if [ ! -x "$f" ]; then
		echo "skip: $f not built (make all tests)"
		exit 77
	fi
done
if [ ! -r "/proc/$$/task/$$/children" ]; then
	echo "skip: no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN) to find the workers"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-chaos-short.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

rssbar=
[ "${HERD_SANITIZE:-}" = 1 ] && rssbar="--rss-bar 0"
# Bounded well inside the runner's 300 s, when timeout(1) is there
# (chaos bounds each of its own steps too).
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout -s INT 150"

status=0
# shellcheck disable=SC2086
$limit "$chaos" --mode all --secs 5 --warmup 1 --evidence 1 $rssbar \
	--herd "$progs/herd" --worker "$progs/examples/hello-http" \
	>"$tmp/out" 2>&1 || status=$?

if [ "$status" -ne 0 ]; then
	# the failures' evidence first, then the verdicts last (the runner
	# keeps the end of the output)
	grep -v '^ \{8\}' "$tmp/out" | grep -v '^chaos: [a-z]*: ' | tail -n 60
	grep '^RESULT' "$tmp/out"
	echo "FAIL: chaos exited $status"
	exit 1
fi
grep '^RESULT' "$tmp/out"
echo "ok: $(tail -n 1 "$tmp/out")"

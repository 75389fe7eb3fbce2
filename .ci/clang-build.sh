#!/bin/sh
# clang-build.sh - the whole tree (library, examples, tests) builds with
# clang under the Makefile's -Wall -Wextra -Werror, without a single
# warning, into a build dir of its own.
set -eu

cd "$(dirname "$0")/.."

if ! command -v clang >/dev/null 2>&1; then
	echo "skip: clang not found"
	exit 77
fi
if ! command -v make >/dev/null 2>&1; then
	echo "skip: make not found"
	exit 77
fi

# Not the runner's make flags (SANITIZE=1, TESTS=...): a plain clang build.
unset MAKEFLAGS MFLAGS MAKELEVEL CFLAGS LDFLAGS || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-clang.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# Bounded, when timeout(1) is there.
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 240"

status=0
# shellcheck disable=SC2086
$limit make -s -j"$jobs" CC=clang BUILD="$tmp/b" all tests \
	>"$tmp/log" 2>&1 || status=$?

if [ "$status" -ne 0 ]; then
	tail -n 40 "$tmp/log"
	[ "$status" -eq 124 ] && echo "FAIL: clang build timed out" ||
		echo "FAIL: clang build exited $status"
	exit 1
fi
if grep -n 'warning:' "$tmp/log" >/dev/null; then
	grep -n -A3 'warning:' "$tmp/log" | head -n 40
	echo "FAIL: clang build printed warnings"
	exit 1
fi
[ -f "$tmp/b/libherd.a" ] && [ -f "$tmp/b/tests/herd-test" ] ||
	{ echo "FAIL: clang build made no libherd.a or herd-test"; exit 1; }
echo "ok: clang $(clang -dumpversion) builds the tree without a warning"

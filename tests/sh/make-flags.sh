#!/bin/sh
# make-flags.sh - the Makefile takes a packager's flags: CPPFLAGS and
# CFLAGS on every compile line, LDFLAGS on every link line (programs and
# libherd.so), and -Werror only while WERROR is 1 (the default, which CI
# keeps; a distribution builds with WERROR=0 so that a newer compiler's
# new warnings do not fail its build). Read from `make -n` in an empty
# build dir: nothing is built.
#
# Environment: HERD_BUILD is not used (a build dir of its own).
set -eu

cd "$(dirname "$0")/../.."
unset MAKEFLAGS MFLAGS MAKELEVEL CPPFLAGS CFLAGS LDFLAGS || true

command -v make >/dev/null 2>&1 || { echo "skip: make not found"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-flags.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

# the commands make would run, one a line (continuations joined)
commands() {
	make -n BUILD="$tmp/b" CC=cc "$@" all tests >"$tmp/raw" 2>&1 || { cat "$tmp/raw"; fail "make -n $*"; }
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$tmp/raw" | grep '^cc ' >"$tmp/cmds" || true
}

commands CPPFLAGS=-DHERD_PKG_FLAG_TEST "CFLAGS=-O1 -g -fstack-protector-strong" \
	"LDFLAGS=-Wl,--as-needed -Wl,-z,relro" WERROR=0
grep ' -c ' "$tmp/cmds" >"$tmp/compile" || fail "no compile line"
grep -v ' -c ' "$tmp/cmds" >"$tmp/link" || fail "no link line"
ncc=$(wc -l <"$tmp/compile")
nld=$(wc -l <"$tmp/link")
[ "$ncc" -gt 50 ] || fail "only $ncc compile lines"
grep -q -- '-shared' "$tmp/link" || fail "no link line for libherd.so"
grep -q -- "-o $tmp/b/herd " "$tmp/link" || fail "no link line for herd"

bad=$(grep -v -- '-DHERD_PKG_FLAG_TEST' "$tmp/compile" | head -n 1)
[ -z "$bad" ] || fail "CPPFLAGS missing: $bad"
bad=$(grep -v -- '-O1 -g -fstack-protector-strong' "$tmp/compile" | head -n 1)
[ -z "$bad" ] || fail "CFLAGS missing: $bad"
bad=$(grep -v -- '-Wl,--as-needed -Wl,-z,relro' "$tmp/link" | head -n 1)
[ -z "$bad" ] || fail "LDFLAGS missing: $bad"
bad=$(grep -- '-Werror' "$tmp/cmds" | head -n 1)
[ -z "$bad" ] || fail "WERROR=0 still has -Werror: $bad"
# the packager's CFLAGS replace the default -O2, they do not follow it
bad=$(grep -- ' -O2 ' "$tmp/compile" | head -n 1)
[ -z "$bad" ] || fail "-O2 despite CFLAGS: $bad"

# by default: warnings are errors, on every compile line
commands
bad=$(grep ' -c ' "$tmp/cmds" | grep -v -- '-Werror' | head -n 1)
[ -z "$bad" ] || fail "no -Werror by default: $bad"

echo "ok: CPPFLAGS and CFLAGS on $ncc compile lines, LDFLAGS on $nld link lines; WERROR=0 drops -Werror"

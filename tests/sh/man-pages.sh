#!/bin/sh
# man-pages.sh - `man NAME` works for every function libherd.so exports:
# docs/man/NAME.3 is its family's page or a one-line link page
# (".so man3/FAMILY.3") to a page that exists, is no link itself and
# names NAME in its NAME section; and every page renders without a
# warning (groff -ww).
#
# The names are what libherd.so exports through src/lib/libherd.map
# (its global patterns matched against the library's dynamic symbols),
# so a function added to the API without a page fails here.
#
# Environment: HERD_BUILD (the build dir, default build).
set -eu

cd "$(dirname "$0")/../.."
build=${HERD_BUILD:-build}
so=$build/libherd.so
map=src/lib/libherd.map
man=docs/man

fail=0
bad() {
	echo "FAIL: $*"
	fail=1
}

[ -f "$so" ] || { echo "$so: not built (make tests)"; exit 1; }

# --- the exported names ------------------------------------------------
# The map's global patterns: what stands between "global:" and "local:",
# comments removed.
pats=$(sed -e 's|/\*.*\*/||g' "$map" |
	awk '/global:/ { on = 1; sub(/.*global:/, "") } /local:/ { on = 0 }
	     on { gsub(/[;{}]/, " "); print }' | tr -s ' \t' '\n' | grep -v '^$' || true)
[ -n "$pats" ] || { echo "no global patterns in $map"; exit 1; }

if command -v nm >/dev/null 2>&1; then
	syms=$(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }')
elif command -v readelf >/dev/null 2>&1; then
	syms=$(readelf -W --dyn-syms "$so" |
		awk '$7 != "UND" && $8 != "" { sub(/@.*/, "", $8); print $8 }')
else
	echo "skip: neither nm nor readelf to read $so's symbols"
	exit 77
fi

names=
n=0
for s in $syms; do
	for p in $pats; do
		# shellcheck disable=SC2254
		case $s in
		$p)
			names="$names $s"
			n=$((n + 1))
			break
			;;
		esac
	done
done
[ "$n" -gt 0 ] || { echo "$so exports nothing that $map names"; exit 1; }

# The names a page documents: its NAME section, up to the "\-".
named() {
	awk '/^\.SH/ { on = ($2 == "NAME"); next }
	     on { print; if (index($0, "\\-")) exit }' "$1" |
		sed -e 's/\\-.*//' | tr ', ' '\n\n' | grep -v '^$' || true
}

# --- a page for every name ---------------------------------------------
for s in $names; do
	[ -f "$man/$s.3" ] || bad "$s is exported but has no page: no $man/$s.3"
done

# --- link pages point at a page that documents them ---------------------
nlinks=0
for f in "$man"/*.3; do
	head -n 1 "$f" | grep -q '^\.so ' || continue
	nlinks=$((nlinks + 1))
	name=$(basename "$f" .3)
	if [ "$(wc -l <"$f")" -ne 1 ]; then
		bad "$f: a link page is one .so line"
		continue
	fi
	target=$(sed -n 's|^\.so man3/\([A-Za-z0-9_]*\.3\)$|\1|p' "$f")
	if [ -z "$target" ]; then
		bad "$f: not a '.so man3/PAGE.3' line: $(cat "$f")"
		continue
	fi
	if [ ! -f "$man/$target" ]; then
		bad "$f: links to $target, which does not exist"
		continue
	fi
	if head -n 1 "$man/$target" | grep -q '^\.so '; then
		bad "$f: links to $target, which is a link itself"
		continue
	fi
	named "$man/$target" | grep -qx "$name" ||
		bad "$f: $target does not name $name in its NAME section"
done

# --- every page renders without a warning -------------------------------
if ! command -v groff >/dev/null 2>&1; then
	[ "$fail" = 0 ] || exit 1
	echo "skip: groff not found (apt-get install groff-base); $n names have pages, not rendered"
	exit 77
fi
npages=0
for f in "$man"/*.1 "$man"/*.3; do
	# a link page is the page it links to, checked above
	head -n 1 "$f" | grep -q '^\.so ' && continue
	out=$(groff -man -Tutf8 -ww -z "$f" 2>&1) || bad "$f: groff failed"
	[ -z "$out" ] || bad "$f: groff warns:
$out"
	npages=$((npages + 1))
done

[ "$fail" = 0 ] || exit 1
echo "ok: $n exported names have pages ($nlinks links); $npages pages render without warnings"

#!/bin/sh
# install.sh - `make install` puts a usable libherd under PREFIX (and under
# DESTDIR): header, static and shared library with the right soname, a
# pkg-config file that works, the man pages; a program built against the
# installed copy only, dynamically and statically, runs herd_exec_file.
#
# Environment: HERD_BUILD (the build dir, default build), HERD_SANITIZE=1
# when the libraries are built with ASan+UBSan.
set -eu

cd "$(dirname "$0")/../.."
build=${HERD_BUILD:-build}
san=${HERD_SANITIZE:-}

# The runner's make passes its own command line down through MAKEFLAGS;
# this test says exactly what it wants.
unset MAKEFLAGS MFLAGS MAKELEVEL || true

for tool in cc pkg-config make; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "skip: $tool not found"
		exit 77
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

# The version and the soname as the Makefile has them (the soname
# carries the minor until 1.0: include/herd.h)
version=$(sed -n 's/^VERSION := //p' Makefile)
somajor=$(sed -n 's/^SOMAJOR := //p' Makefile)
[ -n "$version" ] && [ -n "$somajor" ] || fail "no VERSION or SOMAJOR in the Makefile"
real=libherd.so.$version
soname=libherd.so.$somajor

prefix=$tmp/prefix
make -s install PREFIX="$prefix" BUILD="$build" SANITIZE="$san" \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make install"; }

# --- files ------------------------------------------------------------
lib=$prefix/lib
[ -f "$prefix/include/herd.h" ] || fail "no include/herd.h"
cmp -s include/herd.h "$prefix/include/herd.h" || fail "include/herd.h differs"
[ -f "$lib/libherd.a" ] || fail "no lib/libherd.a"
[ -f "$lib/$real" ] || fail "no lib/$real"
for l in libherd.so "$soname"; do
	[ -L "$lib/$l" ] || fail "lib/$l is not a symlink"
	[ "$(readlink "$lib/$l")" = "$real" ] ||
		fail "lib/$l -> $(readlink "$lib/$l"), expected $real"
done
[ -f "$lib/pkgconfig/herd.pc" ] || fail "no lib/pkgconfig/herd.pc"
grep -qx "prefix=$prefix" "$lib/pkgconfig/herd.pc" ||
	fail "herd.pc does not say prefix=$prefix: $(grep '^prefix=' "$lib/pkgconfig/herd.pc")"

if command -v readelf >/dev/null 2>&1; then
	got=$(readelf -d "$lib/$real" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
elif command -v objdump >/dev/null 2>&1; then
	got=$(objdump -p "$lib/$real" | awk '$1 == "SONAME" { print $2 }')
else
	echo "skip: neither readelf nor objdump to read the soname"
	exit 77
fi
[ "$got" = "$soname" ] || fail "soname is '$got', expected $soname"

nman=0
for m in docs/man/*.1 docs/man/*.3; do
	[ -f "$m" ] || continue
	sec=${m##*.}
	cmp -s "$m" "$prefix/share/man/man$sec/$(basename "$m")" ||
		fail "man page $m not installed in share/man/man$sec"
	nman=$((nman + 1))
done

# --- a program built against the installed copy -----------------------
cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <herd.h>

int main(void) {
  char *argv[] = {"echo", "installed", NULL};
  herd_exec_result_t res;
  int r = herd_exec_file("echo", argv, NULL, &res);
  if (r < 0) {
    fprintf(stderr, "herd_exec_file: %s\n", herd_strerror(r));
    return 1;
  }
  fputs(res.out, stdout);
  int code = res.reason == HERD_EXEC_EXITED ? res.exit_code : 1;
  herd_exec_result_free(&res);
  printf("version %s\n", HERD_VERSION_STRING);
  return code;
}
EOF
export PKG_CONFIG_PATH="$lib/pkgconfig"
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR || true
[ "$(pkg-config --modversion herd)" = "$version" ] ||
	fail "pkg-config --modversion herd: $(pkg-config --modversion herd 2>&1)"
sanflags=
[ "$san" = 1 ] && sanflags="-fsanitize=address,undefined"
want="installed
version $version"

# Dynamic: through the .so, found only with LD_LIBRARY_PATH.
# shellcheck disable=SC2046,SC2086
cc $sanflags -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs herd) ||
	fail "cc with pkg-config --cflags --libs herd"
out=$(LD_LIBRARY_PATH=$lib "$tmp/prog") || fail "the dynamic program failed: $out"
[ "$out" = "$want" ] || fail "dynamic program printed '$out'"
if command -v readelf >/dev/null 2>&1; then
	readelf -d "$tmp/prog" | grep NEEDED | grep -qF "[$soname]" ||
		fail "the dynamic program does not need $soname"
fi

# Static: the .a, plus whatever pkg-config --static adds besides -lherd.
libs=
for f in $(pkg-config --static --libs herd); do
	[ "$f" = -lherd ] || libs="$libs $f"
done
# shellcheck disable=SC2046,SC2086
cc $sanflags -o "$tmp/prog-static" "$tmp/prog.c" \
	$(pkg-config --static --cflags herd) "$lib/libherd.a" $libs ||
	fail "static link with $lib/libherd.a"
if command -v readelf >/dev/null 2>&1; then
	if readelf -d "$tmp/prog-static" | grep -q 'NEEDED.*libherd'; then
		fail "the static program still needs libherd.so"
	fi
fi
out=$(unset LD_LIBRARY_PATH; "$tmp/prog-static") || fail "the static program failed: $out"
[ "$out" = "$want" ] || fail "static program printed '$out'"

# --- DESTDIR: everything lands under it, the .pc says the real prefix --
dest=$tmp/dest
make -s install DESTDIR="$dest" PREFIX=/usr BUILD="$build" SANITIZE="$san" \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make install DESTDIR"; }
for f in include/herd.h lib/libherd.a "lib/$real" "lib/$soname" \
	lib/libherd.so lib/pkgconfig/herd.pc; do
	[ -e "$dest/usr/$f" ] || fail "DESTDIR install: no $dest/usr/$f"
done
grep -qx 'prefix=/usr' "$dest/usr/lib/pkgconfig/herd.pc" ||
	fail "DESTDIR install: herd.pc says $(grep '^prefix=' "$dest/usr/lib/pkgconfig/herd.pc"), expected prefix=/usr"
if grep -q "$dest" "$dest/usr/lib/pkgconfig/herd.pc"; then
	fail "DESTDIR leaked into herd.pc"
fi
for m in docs/man/*.1 docs/man/*.3; do
	[ -f "$m" ] || continue
	[ -f "$dest/usr/share/man/man${m##*.}/$(basename "$m")" ] ||
		fail "DESTDIR install: man page $m missing"
done
# Nothing outside DESTDIR: the only top folder is usr.
[ "$(ls "$dest")" = usr ] || fail "DESTDIR holds $(ls "$dest")"

# --- uninstall removes what install put there --------------------------
make -s uninstall PREFIX="$prefix" BUILD="$build" SANITIZE="$san" \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make uninstall"; }
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"

echo "ok: installed, built and ran against $prefix ($nman man pages)"

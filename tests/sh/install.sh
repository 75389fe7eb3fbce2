#!/bin/sh
# install.sh - `make install` puts a usable libherd under PREFIX (and under
# DESTDIR): header, static and shared library with the right soname, a
# pkg-config file that works, the man pages, herd@.service; a program
# built against the installed copy only, dynamically (with nothing but
# `pkg-config --cflags --libs herd`: no LD_LIBRARY_PATH) and statically,
# runs herd_exec_file. LIBDIR (Debian's multiarch dir) moves the library
# and herd.pc, whose libdir says so.
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

prefix=$tmp/prefix
make -s install PREFIX="$prefix" BUILD="$build" SANITIZE="$san" \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make install"; }

# the version herd.h says; until 1.0 the soname carries the minor
ver=$(sed -n 's/^#define HERD_VERSION_STRING "\(.*\)"$/\1/p' include/herd.h)
case $ver in
0.*) so=libherd.so.$(echo "$ver" | cut -d. -f1-2) ;;
*) so=libherd.so.${ver%%.*} ;;
esac
[ -n "$ver" ] || fail "no HERD_VERSION_STRING in include/herd.h"

# --- files ------------------------------------------------------------
lib=$prefix/lib
[ -f "$prefix/include/herd.h" ] || fail "no include/herd.h"
cmp -s include/herd.h "$prefix/include/herd.h" || fail "include/herd.h differs"
[ -f "$lib/libherd.a" ] || fail "no lib/libherd.a"
[ -f "$lib/libherd.so.$ver" ] || fail "no lib/libherd.so.$ver"
for l in libherd.so $so; do
	[ -L "$lib/$l" ] || fail "lib/$l is not a symlink"
	[ "$(readlink "$lib/$l")" = libherd.so.$ver ] ||
		fail "lib/$l -> $(readlink "$lib/$l"), expected libherd.so.$ver"
done
[ -f "$lib/pkgconfig/herd.pc" ] || fail "no lib/pkgconfig/herd.pc"
[ -f "$lib/systemd/system/herd@.service" ] || fail "no lib/systemd/system/herd@.service"
grep -qx "ExecStart=$prefix/bin/herd run -c /etc/herd/%i.conf %i" "$lib/systemd/system/herd@.service" ||
	fail "herd@.service: $(grep '^ExecStart=' "$lib/systemd/system/herd@.service")"
# a prefix of one's own is not the linker's cache's business
if grep -q ldconfig "$tmp/make.log"; then
	fail "make install ran ldconfig for $prefix"
fi
grep -qx "prefix=$prefix" "$lib/pkgconfig/herd.pc" ||
	fail "herd.pc does not say prefix=$prefix: $(grep '^prefix=' "$lib/pkgconfig/herd.pc")"

if command -v readelf >/dev/null 2>&1; then
	soname=$(readelf -d "$lib/libherd.so.$ver" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
elif command -v objdump >/dev/null 2>&1; then
	soname=$(objdump -p "$lib/libherd.so.$ver" | awk '$1 == "SONAME" { print $2 }')
else
	echo "skip: neither readelf nor objdump to read the soname"
	exit 77
fi
[ "$soname" = "$so" ] || fail "soname is '$soname', expected $so"

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
[ "$(pkg-config --modversion herd)" = "$ver" ] ||
	fail "pkg-config --modversion herd: $(pkg-config --modversion herd 2>&1)"
sanflags=
[ "$san" = 1 ] && sanflags="-fsanitize=address,undefined"
want="installed
version $ver"

# Dynamic: through the .so, found through the run path herd.pc gives
# for a LIBDIR the dynamic linker does not search (once: "cannot open
# shared object file" without LD_LIBRARY_PATH).
# shellcheck disable=SC2046,SC2086
cc $sanflags -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs herd) ||
	fail "cc with pkg-config --cflags --libs herd"
out=$(unset LD_LIBRARY_PATH; "$tmp/prog" 2>&1) || fail "the dynamic program failed: $out"
[ "$out" = "$want" ] || fail "dynamic program printed '$out'"
if command -v readelf >/dev/null 2>&1; then
	readelf -d "$tmp/prog" | grep -qF "[$so]" ||
		fail "the dynamic program does not need $so"
	readelf -d "$tmp/prog" | grep -E 'R(UN)?PATH' | grep -qF "[$lib]" ||
		fail "the dynamic program has no run path $lib: $(readelf -d "$tmp/prog" | grep PATH)"
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
for f in include/herd.h lib/libherd.a lib/libherd.so.$ver lib/$so \
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
# /usr/lib is the linker's own: no run path, and no ldconfig for DESTDIR
if grep -q rpath "$dest/usr/lib/pkgconfig/herd.pc"; then
	fail "herd.pc for /usr/lib has a run path: $(grep '^Libs:' "$dest/usr/lib/pkgconfig/herd.pc")"
fi
grep -q ldconfig "$tmp/make.log" && fail "make install DESTDIR= ran ldconfig"
[ -f "$dest/usr/lib/systemd/system/herd@.service" ] ||
	fail "DESTDIR install: no usr/lib/systemd/system/herd@.service"
grep -qx 'ExecStart=/usr/bin/herd run -c /etc/herd/%i.conf %i' "$dest/usr/lib/systemd/system/herd@.service" ||
	fail "DESTDIR herd@.service: $(grep '^ExecStart=' "$dest/usr/lib/systemd/system/herd@.service")"

# --- LIBDIR: Debian's multiarch dir; the unit where Debian 12 keeps them --
ma=$(cc -print-multiarch 2>/dev/null || true)
[ -n "$ma" ] || ma=x86_64-linux-gnu
dest2=$tmp/dest2
make -s install DESTDIR="$dest2" PREFIX=/usr LIBDIR=/usr/lib/$ma SYSTEMDUNITDIR=/lib/systemd/system \
	BUILD="$build" SANITIZE="$san" >"$tmp/make.log" 2>&1 ||
	{ cat "$tmp/make.log"; fail "make install LIBDIR=/usr/lib/$ma"; }
for f in usr/lib/$ma/libherd.a usr/lib/$ma/libherd.so.$ver usr/lib/$ma/$so usr/lib/$ma/libherd.so \
	usr/lib/$ma/pkgconfig/herd.pc usr/bin/herd usr/include/herd.h lib/systemd/system/herd@.service; do
	[ -e "$dest2/$f" ] || fail "LIBDIR install: no $f"
done
[ ! -e "$dest2/usr/lib/libherd.a" ] || fail "LIBDIR install: libherd.a in usr/lib too"
grep -qx "libdir=/usr/lib/$ma" "$dest2/usr/lib/$ma/pkgconfig/herd.pc" ||
	fail "LIBDIR install: herd.pc says $(grep '^libdir=' "$dest2/usr/lib/$ma/pkgconfig/herd.pc")"
if grep -q rpath "$dest2/usr/lib/$ma/pkgconfig/herd.pc"; then
	fail "herd.pc for /usr/lib/$ma has a run path"
fi

# --- uninstall removes what install put there --------------------------
make -s uninstall PREFIX="$prefix" BUILD="$build" SANITIZE="$san" \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make uninstall"; }
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"

echo "ok: installed, built and ran against $prefix ($nman man pages)"

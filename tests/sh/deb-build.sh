#!/bin/sh
# deb-build.sh - debian/ builds the packages: `dpkg-buildpackage -us -uc
# -b` in a copy of the tree (it writes ../*.deb) makes herd, libherd0.2
# and libherd-dev, each with its files; dpkg-buildflags' flags reach the
# compiler and the linker (fortified calls, RELRO) and -Werror does not;
# the packages, unpacked into a temporary root (nothing is installed on
# this machine), run: herd --version, and a program built against
# libherd-dev through its herd.pc runs with libherd0.2's library. Then
# lintian, when it is there: no error.
#
# DEB_BUILD_OPTIONS=nocheck: the suite that runs this is the check.
set -eu

cd "$(dirname "$0")/../.."

# The packages are built as a packager builds them, without the
# sanitizer; under make test SANITIZE=1 the environment asks every
# program it runs for ASan's runtime, which the packages' programs do
# not link (the plain make test runs this).
if [ "${HERD_SANITIZE:-}" = 1 ]; then
	echo "skip: under SANITIZE=1 (the packages are built without the sanitizer)"
	exit 77
fi
unset MAKEFLAGS MFLAGS MAKELEVEL CPPFLAGS CFLAGS LDFLAGS CC || true

for tool in dpkg-buildpackage dpkg-deb dh cc pkg-config readelf; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "skip: $tool not found (dpkg-dev, debhelper, pkg-config, binutils)"
		exit 77
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

ver=$(sed -n '1s/^herd (\([^)]*\)).*/\1/p' debian/changelog)
[ -n "$ver" ] || fail "no version in debian/changelog"
arch=$(dpkg --print-architecture)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
hv=$(sed -n 's/^#define HERD_VERSION_STRING "\(.*\)"$/\1/p' include/herd.h)
[ "${ver%%-*}" = "$hv" ] || fail "debian/changelog says $ver, include/herd.h $hv"
sominor=$(echo "$hv" | cut -d. -f1-2)
libpkg=libherd$sominor
grep -qx "Package: $libpkg" debian/control ||
	fail "debian/control has no $libpkg (the soname is libherd.so.$sominor)"

# the tree as it is, without its builds and its git
src=$tmp/herd-$ver
mkdir "$src"
tar --exclude=./build --exclude=./.git --exclude=./tests/node/node_modules -cf - . |
	tar -xf - -C "$src"
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" dpkg-buildpackage -us -uc -b) \
	>"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log"; fail "dpkg-buildpackage -us -uc -b"; }

# --- the packages and their files --------------------------------------
for p in herd $libpkg libherd-dev; do
	[ -f "$tmp/${p}_${ver}_$arch.deb" ] || fail "no ${p}_${ver}_$arch.deb: $(ls "$tmp")"
	dpkg-deb -c "$tmp/${p}_${ver}_$arch.deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/$p.files"
done
has() { # has PACKAGE PATH
	grep -qx "$2" "$tmp/$1.files" || fail "$1 has no $2: $(tr '\n' ' ' <"$tmp/$1.files")"
}
has herd /usr/bin/herd
has herd /usr/share/man/man1/herd.1.gz
has herd /lib/systemd/system/herd@.service
has herd /usr/share/doc/herd/copyright
has "$libpkg" "/usr/lib/$ma/libherd.so.$hv"
has "$libpkg" "/usr/lib/$ma/libherd.so.$sominor"
has libherd-dev /usr/include/herd.h
has libherd-dev "/usr/lib/$ma/libherd.so"
has libherd-dev "/usr/lib/$ma/libherd.a"
has libherd-dev "/usr/lib/$ma/pkgconfig/herd.pc"
has libherd-dev /usr/share/man/man3/libherd.3.gz
if grep -q 'libherd\.so' "$tmp/herd.files"; then
	fail "herd ships a libherd.so (it is linked statically)"
fi
dep=$(dpkg-deb -f "$tmp/libherd-dev_${ver}_$arch.deb" Depends)
case $dep in
*"$libpkg (= $ver)"*) ;;
*) fail "libherd-dev depends on '$dep', not $libpkg (= $ver)" ;;
esac

# --- the build took the packager's flags -------------------------------
if grep -E -- '-Werror( |$)' "$tmp/build.log" >/dev/null; then
	fail "the package build used -Werror: $(grep -m1 -E -- '-Werror( |$)' "$tmp/build.log")"
fi
root=$tmp/root
for p in herd $libpkg libherd-dev; do
	dpkg-deb -x "$tmp/${p}_${ver}_$arch.deb" "$root"
done
# _FORTIFY_SOURCE (CPPFLAGS) makes calls such as __snprintf_chk;
# -z relro (LDFLAGS) a GNU_RELRO segment
readelf --dyn-syms -W "$root/usr/bin/herd" | grep -q '__[a-z]*_chk' ||
	fail "herd has no fortified call: dpkg-buildflags' CPPFLAGS were not used"
readelf --dyn-syms -W "$root/usr/lib/$ma/libherd.so.$hv" | grep -q '__[a-z]*_chk' ||
	fail "libherd.so has no fortified call: dpkg-buildflags' CPPFLAGS were not used"
readelf -l -W "$root/usr/lib/$ma/libherd.so.$hv" | grep -q GNU_RELRO ||
	fail "libherd.so has no GNU_RELRO"
soname=$(readelf -d "$root/usr/lib/$ma/libherd.so.$hv" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libherd.so.$sominor" ] || fail "soname $soname"

# --- what was unpacked runs ---------------------------------------------
out=$("$root/usr/bin/herd" --version 2>&1) || fail "herd --version: $out"
case $out in
*"$hv"*) ;;
*) fail "herd --version printed '$out'" ;;
esac
cat >"$tmp/prog.c" <<'CEOF'
#include <stdio.h>
#include <herd.h>

int main(void) {
  char *argv[] = {"echo", "packaged", NULL};
  herd_exec_result_t res;
  int r = herd_exec_file("echo", argv, NULL, &res);
  if (r < 0) {
    fprintf(stderr, "herd_exec_file: %s\n", herd_strerror(r));
    return 1;
  }
  fputs(res.out, stdout);
  herd_exec_result_free(&res);
  printf("%s\n", HERD_VERSION_STRING);
  return 0;
}
CEOF
# herd.pc as installed (libdir=/usr/lib/MA), seen under the root
export PKG_CONFIG_PATH="$root/usr/lib/$ma/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
unset PKG_CONFIG_LIBDIR || true
grep -qx "libdir=/usr/lib/$ma" "$root/usr/lib/$ma/pkgconfig/herd.pc" ||
	fail "herd.pc: $(grep '^libdir' "$root/usr/lib/$ma/pkgconfig/herd.pc")"
if grep -q rpath "$root/usr/lib/$ma/pkgconfig/herd.pc"; then
	fail "the package's herd.pc has a run path"
fi
# shellcheck disable=SC2046
cc -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs herd) ||
	fail "cc with the package's pkg-config --cflags --libs herd"
readelf -d "$tmp/prog" | grep -qF "[libherd.so.$sominor]" || fail "prog does not need libherd.so.$sominor"
out=$(LD_LIBRARY_PATH="$root/usr/lib/$ma" "$tmp/prog" 2>&1) || fail "prog: $out"
[ "$out" = "packaged
$hv" ] || fail "prog printed '$out'"

# --- lintian ---------------------------------------------------------------
lint=
if command -v lintian >/dev/null 2>&1; then
	lintian --allow-root --tag-display-limit 0 "$tmp/herd_${ver}_$arch.changes" >"$tmp/lintian.log" 2>&1 || true
	if grep '^E:' "$tmp/lintian.log"; then
		fail "lintian found errors"
	fi
	nw=$(grep -c '^W:' "$tmp/lintian.log" || true)
	lint=", lintian: no error, $nw warnings"
	grep '^W:' "$tmp/lintian.log" || true
else
	lint=" (lintian not found: not linted)"
fi

echo "ok: herd, $libpkg and libherd-dev $ver built, unpacked and run$lint"

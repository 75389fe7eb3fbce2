#!/bin/sh
# herd linked against libherd.so (build/herd-shared) works as build/herd
# does: the program uses the library's public API only (it called
# herd__read once, which libherd.so does not export, so it could not be
# linked against it at all).
set -eu
b=${HERD_BUILD:-build}
bin=$b/herd-shared
[ -x "$bin" ] || { echo "$bin: not built"; exit 1; }
ldd "$bin" | grep -q 'libherd\.so' || { echo "$bin does not use libherd.so"; exit 1; }
v=$("$bin" --version)
case $v in herd*) ;; *) echo "herd-shared --version said: $v"; exit 1 ;; esac
"$bin" help run >/dev/null
# a start and a stop through the library's cluster engine
export HERD_HOME=${HERD_HOME:-$(mktemp -d)}
"$bin" start -n shared -w 1 -- sleep 30 >/dev/null
"$bin" status shared >/dev/null
"$bin" stop shared >/dev/null
echo "herd-shared: $v"

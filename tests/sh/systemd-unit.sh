#!/bin/sh
# systemd-unit.sh - herd@.service, the unit `make install` puts in
# SYSTEMDUNITDIR (one app per instance: herd@NAME runs the app NAME of
# /etc/herd/NAME.conf): it names the installed herd, it says what
# `herd startup systemd` units say (Type=notify, KillMode=mixed, the
# HERD_HOME, ExecReload=herd reload, the TimeoutStopSec of a 60 s
# kill-timeout), systemd-analyze verify finds nothing in it, and its
# commands work: ExecStart with an instance's config file sends READY=1,
# ExecReload reloads (RELOADING=1, READY=1), KillSignal stops it with
# STOPPING=1 and exit 0, and a missing config file exits with the status
# RestartPreventExitStatus names.
#
# Environment: HERD_BUILD (the build dir, default build).
set -eu

cd "$(dirname "$0")/../.."
build=${HERD_BUILD:-build}
san=${HERD_SANITIZE:-}
unset MAKEFLAGS MFLAGS MAKELEVEL || true

for tool in make python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "skip: $tool not found"
		exit 77
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-unit.XXXXXX")
herd_pid= notify_pid=
cleanup() {
	[ -n "$herd_pid" ] && kill -KILL "$herd_pid" 2>/dev/null
	[ -n "$notify_pid" ] && kill "$notify_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*"
	[ -f "$tmp/notify.log" ] && { echo "notify:"; cat "$tmp/notify.log"; }
	[ -f "$tmp/herd.log" ] && { echo "herd:"; tail -n 20 "$tmp/herd.log"; }
	exit 1
}

prefix=$tmp/prefix
make -s install PREFIX="$prefix" BUILD="$build" SANITIZE="$san" LDCONFIG= \
	>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make install"; }
unit=$prefix/lib/systemd/system/herd@.service
[ -f "$unit" ] || fail "no $unit"
herd=$prefix/bin/herd

key() { # key FILE KEY: the values of KEY=, one a line
	sed -n "s/^$2=//p" "$1"
}

# --- what it says --------------------------------------------------------
[ "$(key "$unit" ExecStart)" = "$herd run -c /etc/herd/%i.conf %i" ] ||
	fail "ExecStart=$(key "$unit" ExecStart)"
[ "$(key "$unit" ExecReload)" = "$herd reload %i" ] || fail "ExecReload=$(key "$unit" ExecReload)"
[ "$(key "$unit" RestartPreventExitStatus)" = 2 ] ||
	fail "RestartPreventExitStatus=$(key "$unit" RestartPreventExitStatus)"

# the unit herd startup systemd makes for a config file whose app has a
# kill-timeout of 60 s: the same lines, but for the file
mkdir -p "$tmp/etc/herd" "$tmp/home"
cat >"$tmp/etc/herd/herd.conf" <<'CONF'
[web]
command = ["sleep", "1000"]
workers = 2
kill-timeout = "60s"
CONF
HERD_HOME=$tmp/home "$herd" startup systemd -c "$tmp/etc/herd/herd.conf" >"$tmp/startup.service" \
	2>"$tmp/startup.err" || fail "herd startup systemd: $(cat "$tmp/startup.err")"
for k in Type NotifyAccess Environment KillMode KillSignal TimeoutStopSec Restart RestartSec \
	After Wants WantedBy ExecReload; do
	a=$(key "$unit" $k)
	b=$(key "$tmp/startup.service" $k)
	[ -n "$a" ] || fail "herd@.service has no $k="
	[ "$a" = "$b" ] || fail "$k: herd@.service says '$a', herd startup systemd '$b'"
done
[ "$(key "$tmp/startup.service" ExecStart)" = "$herd run -c $tmp/etc/herd/herd.conf %i" ] ||
	fail "herd startup systemd: ExecStart=$(key "$tmp/startup.service" ExecStart)"

# --- systemd-analyze verify ------------------------------------------------
verified="systemd-analyze not found: not verified"
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$tmp/units"
	cp "$unit" "$tmp/units/herd@web.service"
	if ! systemd-analyze verify --man=no "$tmp/units/herd@web.service" >"$tmp/verify.log" 2>&1 ||
		[ -s "$tmp/verify.log" ]; then
		cat "$tmp/verify.log"
		fail "systemd-analyze verify herd@web.service"
	fi
	verified="systemd-analyze verify: clean"
fi

# --- its commands, as systemd would run them for herd@web ------------------
# systemd's side of NOTIFY_SOCKET: each assignment of each datagram,
# one a line
cat >"$tmp/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    print("BOUND", file=f, flush=True)
    while True:
        for a in s.recv(4096).decode().split("\n"):
            if a:
                print(a, file=f, flush=True)
PY
python3 "$tmp/notify.py" "$tmp/notify.sock" "$tmp/notify.log" &
notify_pid=$!
# wait_for PATTERN SECONDS [N]: the notify log has N (1) lines matching
# PATTERN
wait_for() {
	i=0
	while n=$(grep -c "$1" "$tmp/notify.log" 2>/dev/null) || true; [ "${n:-0}" -lt "${3:-1}" ]; do
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}
wait_for BOUND 10 || fail "the notify socket is not bound"

# the unit's command lines, for instance web, with the test's /etc/herd
# and HERD_HOME (the unit's words need no quoting)
start=$(key "$unit" ExecStart | sed -e "s|/etc/herd/|$tmp/etc/herd/|" -e 's/%i/web/g')
reload=$(key "$unit" ExecReload | sed -e 's/%i/web/g')
cp "$tmp/etc/herd/herd.conf" "$tmp/etc/herd/web.conf"
export HERD_HOME="$tmp/home"
# shellcheck disable=SC2086
NOTIFY_SOCKET=$tmp/notify.sock $start >"$tmp/herd.log" 2>&1 &
herd_pid=$!
wait_for '^READY=1' 20 || fail "no READY=1 from $start"
grep -q '^STATUS=2/2 workers ready' "$tmp/notify.log" || fail "no STATUS=2/2 workers ready"
# shellcheck disable=SC2086
$reload >"$tmp/reload.log" 2>&1 || fail "$reload: $(cat "$tmp/reload.log")"
wait_for '^RELOADING=1' 10 || fail "no RELOADING=1 after $reload"
wait_for '^READY=1' 10 2 || fail "no READY=1 after the reload"
kill -"$(key "$unit" KillSignal | sed 's/^SIG//')" "$herd_pid"
rc=0
wait "$herd_pid" || rc=$?
herd_pid=
[ "$rc" = 0 ] || fail "herd exited $rc after $(key "$unit" KillSignal)"
grep -q '^STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1"
# in this order: ready, reloading, ready, stopping
order=$(grep -E '^(READY|RELOADING|STOPPING)=1$' "$tmp/notify.log" | tr '\n' ' ')
[ "$order" = "READY=1 RELOADING=1 READY=1 STOPPING=1 " ] || fail "notifications: $order"

# an instance without its config file: the status that stops restarts
nostart=$(key "$unit" ExecStart | sed -e "s|/etc/herd/|$tmp/etc/herd/|" -e 's/%i/nope/g')
rc=0
# shellcheck disable=SC2086
$nostart >"$tmp/nope.log" 2>&1 || rc=$?
[ "$rc" = "$(key "$unit" RestartPreventExitStatus)" ] ||
	fail "herd@nope without its file exited $rc: $(cat "$tmp/nope.log")"

echo "ok: herd@.service matches herd startup systemd's units, runs, reloads and stops ($verified)"

#!/bin/sh
# make demo: herd's main job on a built-in default - hello-http as a pool
# of workers, one per core, sharing 127.0.0.1:8080.
#
# On a terminal it runs in the foreground until Ctrl-C (a clean, graceful
# stop), to be driven from another terminal (herd status, reload, scale).
# Elsewhere (CI, a pipe) it shows itself as a daemon: herd start, a few
# requests, status, a zero-downtime reload, a scale-up, the logs, stop.
#   DEMO_ADDR=127.0.0.1:9090 make demo     another address
set -eu
build=${1:-build}
addr=${DEMO_ADDR:-127.0.0.1:8080}
herd="$build/herd"
worker="$build/examples/hello-http"
for f in "$herd" "$worker"; do
  [ -x "$f" ] || { echo "demo: $f is missing: run make first" >&2; exit 1; }
done

if [ -t 0 ] && [ -t 1 ]; then
  echo "######## herd run -n demo -w auto -l $addr -- $worker"
  echo
  echo "Point a browser or curl at http://$addr/ (try: curl -i http://$addr/pid)"
  echo "In another terminal: $herd status demo; $herd reload demo (zero"
  echo "failed requests); $herd scale demo +1; Ctrl-C here stops it."
  echo
  exec "$herd" run -n demo -w auto -l "$addr" -- "$worker"
fi

# A HERD_HOME of its own: the demo's app, sockets and logs stay here.
HERD_HOME=$(mktemp -d)
export HERD_HOME
started=0
cleanup() {
  [ "$started" = 1 ] && "$herd" stop demo >/dev/null 2>&1
  rm -rf "$HERD_HOME"
}
trap cleanup EXIT
run() {
  echo
  echo "\$ herd $*"
  "$herd" "$@"
}
echo "\$ herd start -n demo -w auto -l $addr -- $worker"
if ! "$herd" start -n demo -w auto -l "$addr" -- "$worker"; then
  echo "demo: herd could not start (is $addr in use? try DEMO_ADDR=127.0.0.1:9090)" >&2
  exit 1
fi
started=1
if command -v curl >/dev/null 2>&1; then
  echo
  for n in 1 2 3; do
    printf '$ curl http://%s/pid -> ' "$addr"
    curl -s "http://$addr/pid"
  done
fi
run status demo
run reload demo
run scale demo +1
run status demo
run logs demo --herd -n 6
run stop demo
started=0
echo
echo "More: 'make tour' (the libherd examples), man docs/man/herd.1"

#!/bin/sh
# make demo: herd's main job on a built-in default - hello-http as a pool
# of workers, one per core, sharing 127.0.0.1:8080.
#
# On a terminal it runs in the foreground until Ctrl-C (a clean, graceful
# stop). Elsewhere (CI, a pipe) it shows itself: a few requests, a
# zero-downtime reload, a scale-up, then a graceful stop.
#   DEMO_ADDR=127.0.0.1:9090 make demo     another address
set -eu
build=${1:-build}
addr=${DEMO_ADDR:-127.0.0.1:8080}
herd="$build/herd"
worker="$build/examples/hello-http"
for f in "$herd" "$worker"; do
  [ -x "$f" ] || { echo "demo: $f is missing: run make first" >&2; exit 1; }
done

echo "######## herd run -w auto -l $addr -- $worker"
echo
if [ -t 0 ] && [ -t 1 ]; then
  echo "Point a browser or curl at http://$addr/ (try: curl -i http://$addr/pid)"
  echo "In another terminal: kill -HUP <master pid> reloads with zero failed"
  echo "requests, kill -TTIN/-TTOU adds/removes a worker. Ctrl-C stops it."
  echo
  exec "$herd" run -w auto -l "$addr" -- "$worker"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$herd" run -w auto -l "$addr" -- "$worker" 2>"$tmp/log" &
pid=$!
# wait (bounded) for the workers, or for herd to give up
i=0
until grep -q "workers ready" "$tmp/log" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$tmp/log" >&2
    echo "demo: herd could not start (is $addr in use? try DEMO_ADDR=127.0.0.1:9090)" >&2
    exit 1
  fi
  i=$((i + 1))
  [ "$i" -lt 100 ] || { kill "$pid"; echo "demo: no workers after 10 s" >&2; exit 1; }
  sleep 0.1
done
cat "$tmp/log"
if command -v curl >/dev/null 2>&1; then
  echo
  for n in 1 2 3; do
    printf 'curl http://%s/pid -> ' "$addr"
    curl -s "http://$addr/pid"
  done
fi
echo
echo "kill -HUP $pid   (reload: each worker replaced, successor first)"
kill -HUP "$pid"
i=0
until grep -q "reload done" "$tmp/log"; do
  i=$((i + 1)); [ "$i" -lt 100 ] || break; sleep 0.1
done
echo "kill -TTIN $pid  (one more worker)"
kill -TTIN "$pid"
i=0
until grep -q "scaled to" "$tmp/log"; do
  i=$((i + 1)); [ "$i" -lt 100 ] || break; sleep 0.1
done
echo "kill -TERM $pid  (graceful stop)"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
sed -n '/reload begin/,$p' "$tmp/log"
echo
echo "herd exited with status $status. More: 'make tour' (the libherd examples), man docs/man/herd.1"
exit "$status"

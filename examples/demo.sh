#!/bin/sh
# demo.sh - a tour of the examples: `make demo` runs `sh examples/demo.sh BUILD`.
#
# Runs the examples that finish by themselves, each under a heading, then
# says how to try the HTTP servers, which run until stopped.
set -e

build=${1:-build}
ex=$build/examples
src=$(dirname "$0")

for prog in process-info threads spawn-exec blocking-compute node-child \
    fork-compute compute-worker daemon; do
  if [ ! -x "$ex/$prog" ]; then
    echo "demo: $ex/$prog is missing: run 'make examples' first" >&2
    exit 1
  fi
done

heading() {
  printf '\n######## %s\n\n' "$1"
}

heading "process-info: pid, cwd, platform, uptime, RSS, CPU, a new title"
"$ex/process-info"

heading "threads: one process, shared memory, lost updates vs atomics"
"$ex/threads"

heading "spawn-exec: herd_spawn, herd_exec, herd_exec_file"
"$ex/spawn-exec"

heading "daemon: herd_daemonize, a status pipe and a pid file"
# In a directory of its own (it logs to stdout.log and stderr.log there).
# flock(1) on its pid file returns when the daemon's lock goes, that is
# when it has written its two lines and exited.
dir=$(mktemp -d)
exabs=$(cd "$ex" && pwd)
(cd "$dir" && "$exabs/daemon" -i 1 -n 2 -p daemon.pid)
if command -v flock >/dev/null 2>&1; then
  flock "$dir/daemon.pid" true
else
  sleep 2 # no flock(1): its two lines take one second
fi
echo "stdout.log:"
cat "$dir/stdout.log"
echo "stderr.log:"
cat "$dir/stderr.log"
rm -rf "$dir"

heading "blocking-compute: a long computation blocks the event loop"
cat <<EOF
It serves until Ctrl-C. In one terminal:

    PORT=3000 $ex/blocking-compute

In another, start a slow request, then a fast one: the fast one waits.

    curl localhost:3000/compute & curl localhost:3000/

(COMPUTE_N=1e9 makes /compute shorter; under socket activation, with
LISTEN_FDS and LISTEN_PID set, it serves fd 3 instead.)
EOF

heading "node-child: a C parent and a Node.js child on one IPC channel"
"$ex/node-child" "$src/node-child.js"

heading "fork-compute: the cure - the computation goes to a forked child"
cat <<EOF
The same server, but /compute is sent over a channel to a child made with
herd_fork_fn; the loop stays free. In one terminal:

    PORT=3000 $ex/fork-compute

In another, the fast request is answered at once this time:

    curl localhost:3000/compute & curl localhost:3000/

(Kill the child - its pid is printed - and the requests it had get 503
while a new child is forked. Ctrl-C: the child is stopped and reaped.)
EOF

heading "node-offload: a Node.js server with a C worker"
if command -v node >/dev/null 2>&1; then
  if [ "$build" = build ]; then
    run="node $src/node-offload.js"
  else
    run="HERD_COMPUTE_WORKER=$ex/compute-worker node $src/node-offload.js"
  fi
  cat <<EOF
Node serves HTTP and hands /compute to a C program on Node's own IPC
channel ($ex/compute-worker, spawned with stdio [0, 1, 2, 'ipc']).
In one terminal:

    PORT=3000 $run

In another:

    curl localhost:3000/compute & curl localhost:3000/
EOF
else
  echo "node is not installed: skipped (node-offload.js needs plain node)"
fi

#!/bin/sh
# demo.sh - a tour of the examples: `make demo` runs `sh examples/demo.sh BUILD`.
#
# Runs the examples that finish by themselves, each under a heading, then
# says how to try the HTTP server, which runs until stopped.
set -e

build=${1:-build}
ex=$build/examples

for prog in process-info threads spawn-exec blocking-compute; do
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

heading "blocking-compute: a long computation blocks the event loop"
cat <<EOF
It serves until Ctrl-C. In one terminal:

    PORT=3000 $ex/blocking-compute

In another, start a slow request, then a fast one: the fast one waits.

    curl localhost:3000/compute & curl localhost:3000/

(COMPUTE_N=1e9 makes /compute shorter; under socket activation, with
LISTEN_FDS and LISTEN_PID set, it serves fd 3 instead.)
EOF

#!/bin/sh
# kubernetes.sh - examples/kubernetes.yaml is a Deployment Kubernetes
# takes (its schema, no unknown field), whose numbers agree with herd's
# command line (probes on the --metrics port at /readyz and /healthz, the
# scrape annotation, the grace period over preStop and --kill-timeout,
# memory), and whose command line herd runs: the probes' GETs answer 200
# and SIGTERM stops it with 0 well within the grace period. The checks
# are tests/node/k8s-manifest.mjs's.
#
# Needs node; the schema check needs kubernetes-models in tests/node
# (.ci/run installs it from npm) and YAML, npm's yaml there or
# python3-yaml.
#
# Environment: HERD_BUILD (the build dir, default build).
set -eu

cd "$(dirname "$0")/../.."
build=${HERD_BUILD:-build}

if ! command -v node >/dev/null 2>&1; then
	echo "skip: node not found"
	exit 77
fi
[ -x "$build/herd" ] || { echo "FAIL: no $build/herd (make all)"; exit 1; }

rc=0
node tests/node/k8s-manifest.mjs examples/kubernetes.yaml "$build/herd" || rc=$?
exit $rc

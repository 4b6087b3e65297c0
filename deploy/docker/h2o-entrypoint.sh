#!/bin/sh
# Start one H2O-3 node of the h2o StatefulSet (training image): `converge h2o node` with the heap of
# the memory split of the container's cgroup limit (`converge memory-split`, 70 % by default:
# XGBoost and the JVM itself need the rest outside the heap). `converge h2o node` reads the cloud's
# settings (H2O_CLOUD_NAME, H2O_PORT, H2O_FLATFILE), refuses to start when its peers already run a
# locked cloud (a restarted node cannot rejoin one), then execs the JVM. Clustering: with
# H2O_KUBERNETES_SERVICE_DNS set (the headless Service), h2o.jar's built-in Kubernetes support
# looks the pods up in DNS, waits for H2O_NODE_EXPECTED_COUNT of them and elects a leader; only the
# leader reports ready on /kubernetes/isLeaderNode (H2O_K8S_API_PORT). Arguments go to
# `converge h2o node` (--ip, --port, --flatfile, --name), the rest to H2O.
# CONVERGE_MEMORY_LIMIT (e.g. 8g) overrides the cgroup limit, CONVERGE_HEAP_FRACTION the 70 %.
set -eu

split_file="${TMPDIR:-/tmp}/h2o-memory.env"
converge memory-split \
    ${CONVERGE_MEMORY_LIMIT:+--container-limit "$CONVERGE_MEMORY_LIMIT"} \
    ${CONVERGE_HEAP_FRACTION:+--heap-fraction "$CONVERGE_HEAP_FRACTION"} \
    --output "$split_file" >&2
# shellcheck disable=SC1090
. "$split_file"

exec converge h2o node --heap "$H2O_JVM_HEAP" "$@"

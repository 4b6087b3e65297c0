#!/bin/sh
# Start one H2O-3 node of the h2o StatefulSet (training image).
# The heap is the memory split of the container's cgroup limit (`converge memory-split`, 70 % by
# default: XGBoost and the JVM itself need the rest outside the heap). Clustering: with
# H2O_KUBERNETES_SERVICE_DNS set (the headless Service), h2o.jar's built-in Kubernetes support
# looks the pods up in DNS, waits for H2O_NODE_EXPECTED_COUNT of them and elects a leader; only the
# leader reports ready on /kubernetes/isLeaderNode (H2O_K8S_API_PORT). Extra arguments go to H2O.
# CONVERGE_MEMORY_LIMIT (e.g. 8g) overrides the cgroup limit, CONVERGE_HEAP_FRACTION the 70 %.
set -eu

split_file="${TMPDIR:-/tmp}/h2o-memory.env"
converge memory-split \
    ${CONVERGE_MEMORY_LIMIT:+--container-limit "$CONVERGE_MEMORY_LIMIT"} \
    ${CONVERGE_HEAP_FRACTION:+--heap-fraction "$CONVERGE_HEAP_FRACTION"} \
    --output "$split_file" >&2
# shellcheck disable=SC1090
. "$split_file"

# h2o.jar ships inside the pinned h2o wheel, so the JVM and the Python client are the same version.
h2o_jar="$(python -c 'import importlib.util as u, pathlib as p
print(p.Path(u.find_spec("h2o").origin).parent / "backend" / "bin" / "h2o.jar")')"

# $H2O_JVM_ARGS is unquoted on purpose: it holds several JVM options.
# shellcheck disable=SC2086
exec java -XX:+ExitOnOutOfMemoryError $H2O_JVM_ARGS -jar "$h2o_jar" \
    -name "${H2O_CLOUD_NAME:-converge}" -port "${H2O_PORT:-54321}" "$@"

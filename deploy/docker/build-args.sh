#!/usr/bin/env bash
# Print the `docker build` arguments of an image from versions.env (the single source of versions):
# one --build-arg per KEY=VALUE line, the tag `converge-IMAGE:<converge version>-h2o<H2O_VERSION>`
# and the Dockerfile. Usage, from the repository root:
#   docker build $(deploy/docker/build-args.sh serving) .
#   docker build $(deploy/docker/build-args.sh training) .
# Set CONVERGE_IMAGE_REGISTRY (e.g. ghcr.io/acme) to prefix the tag with a registry.
set -euo pipefail

image="${1:-}"
if [[ "$image" != serving && "$image" != training ]]; then
    echo "usage: $0 serving|training" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
versions="${CONVERGE_VERSIONS_FILE:-$root/versions.env}"

args=()
h2o_version=""
while IFS= read -r raw || [[ -n "$raw" ]]; do
    line="${raw%%#*}"
    line="${line//[[:space:]\"\']/}"
    [[ -z "$line" ]] && continue
    if [[ ! "$line" =~ ^[A-Z][A-Z0-9_]*=.+$ ]]; then
        echo "$versions: not a KEY=VALUE line: $raw" >&2
        exit 1
    fi
    args+=(--build-arg "$line")
    [[ "$line" == H2O_VERSION=* ]] && h2o_version="${line#H2O_VERSION=}"
done < "$versions"

converge_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/pyproject.toml" | head -n 1)"
if [[ -z "$h2o_version" || -z "$converge_version" ]]; then
    echo "cannot tell the image tag: H2O_VERSION in $versions or version in pyproject.toml is missing" >&2
    exit 1
fi
tag="converge-$image:$converge_version-h2o$h2o_version"
if [[ -n "${CONVERGE_IMAGE_REGISTRY:-}" ]]; then
    tag="${CONVERGE_IMAGE_REGISTRY%/}/$tag"
fi

# The commit is baked in so that models trained in the image record where their code came from
# (shared.registry.current_git_commit); `+dirty` marks a build from a modified tree.
commit="${CONVERGE_GIT_COMMIT:-}"
if [[ -z "$commit" ]]; then
    if ! commit="$(git -C "$root" rev-parse HEAD 2>/dev/null)"; then
        echo "not a git checkout: set CONVERGE_GIT_COMMIT to the commit being built" >&2
        exit 1
    fi
    if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]]; then
        commit="$commit+dirty"
    fi
fi

printf '%s\n' "${args[@]}" --build-arg "CONVERGE_GIT_COMMIT=$commit" \
    --tag "$tag" --file "deploy/docker/$image.Dockerfile"

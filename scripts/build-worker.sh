#!/usr/bin/env bash
# The build command wrangler runs (wrangler.toml [build]). Builds the wasm Worker with
# worker-build using only local tools, and skips the build when neither the inputs nor the
# commit changed since the last successful build (wrangler dev runs this twice at start).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# wrangler dev instances started together (tests) must not build at the same time: take a lock,
# then the stamp check below makes all but the first a no-op.
mkdir -p build target
exec 9>target/.build-worker.lock
flock 9

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- src assets Cargo.toml Cargo.lock 2>/dev/null)" ]; then dirty=true; else dirty=false; fi
inputs=$( { echo "$commit"; find src assets Cargo.toml Cargo.lock wrangler.toml -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
stamp=build/.paulp-inputs
if [ -f build/index.js ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  exit 0
fi

export PAULP_GIT_COMMIT="$commit" PAULP_GIT_DIRTY="$dirty"
export PAULP_BUILT_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# The compatibility date the Worker is deployed with, for the gate artifacts' provenance.
PAULP_COMPAT_DATE="$(sed -n 's/^compatibility_date *= *"\([0-9-]*\)".*/\1/p' wrangler.toml | head -n1)"
export PAULP_COMPAT_DATE
say "building the Worker (release wasm)"
worker-build --release >&2
echo "$inputs" > "$stamp"

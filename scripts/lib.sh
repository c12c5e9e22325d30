# Shared helpers for the project's scripts. Sourced, not executed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
# Never let wrangler phone home or prompt.
export WRANGLER_SEND_METRICS=false
export WRANGLER_LOG_SANITIZE=true
export NO_UPDATE_NOTIFIER=1
export NPM_CONFIG_UPDATE_NOTIFIER=false
# worker-build must never download a tool from GitHub: point it at the local ones.
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/node_modules/.bin/esbuild}"

say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# The version of a package as pinned in Cargo.lock.
lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Waits until URL answers 200, for at most $2 seconds.
wait_http() {
  local url=$1 deadline=$((SECONDS + ${2:-60}))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    sleep 0.3
  done
  return 1
}

# Security tools, pinned: ./scripts/setup.sh installs exactly these, the preflight checks them.
export CARGO_AUDIT_VERSION=0.22.2
export CARGO_DENY_VERSION=0.20.2

# The offline RustSec snapshot: $ADVISORY_DB, else ../shared/advisory-db next to the repository
# (for a linked git worktree: next to the main checkout). Prints nothing if none exists.
advisory_db_path() {
  if [ -n "${ADVISORY_DB:-}" ]; then echo "$ADVISORY_DB"; return; fi
  local candidate common
  candidate="$ROOT/../shared/advisory-db"
  if [ ! -d "$candidate" ] && common=$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
    candidate="$(dirname "$common")/../shared/advisory-db"
  fi
  if [ -d "$candidate" ]; then (cd "$candidate" && pwd); fi
}

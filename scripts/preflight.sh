#!/usr/bin/env bash
# Strict dependency preflight (README "Security preflight"): cargo audit and cargo deny against the
# offline RustSec snapshot, lock-file consistency for Cargo and npm, the allowlist in
# security/allowlist.toml. Writes reports/security_preflight_<UTC timestamp>.json and prints its
# path. Exit 1 on FAIL unless SECURITY_HARD_FAIL=0.
#   ENABLE_SECURITY_CHECKS=1  SECURITY_STRICT=1  SECURITY_HARD_FAIL=1  (defaults)
#   SECURITY_IGNORE_VULN_IDS=id,…   only ids that also have an entry in security/allowlist.toml
#   ADVISORY_DB=path                the snapshot (default ../shared/advisory-db)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ADVISORY_DB="$(advisory_db_path)"
export ADVISORY_DB
export PREFLIGHT_ROOT="$ROOT"
exec node "$ROOT/scripts/preflight.mjs"

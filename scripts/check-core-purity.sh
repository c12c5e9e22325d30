#!/usr/bin/env bash
# src/core and src/venues hold pure logic: no `worker` import, no clock, no randomness.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -rnE '(^|[^_a-z])(use +worker|worker::|js_sys|web_sys|SystemTime::now|Utc::now|Local::now|getrandom)' src/core src/venues 2>/dev/null || true)
if [ -n "$bad" ]; then
  echo "impure code in src/core or src/venues:"; echo "$bad"; exit 1
fi
echo "src/core and src/venues are pure"

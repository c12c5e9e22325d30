#!/usr/bin/env bash
# Runs every test: formatting, the secrets checks (secret scan, least authority), the security
# preflight and its own tests, clippy (host and wasm32), host unit tests, wasm-bindgen tests
# under Node, the release wasm build, `deploy.sh --dry-run`, and the end-to-end suite against
# wrangler dev + the venue simulator on fresh local state. Ends with one summary line; exits
# non-zero if anything failed.
#   --long   also runs the long campaigns: every cargo-fuzz target for FUZZ_SECONDS (default 60)
#            each (./scripts/fuzz.sh), and Schemathesis over docs/openapi.yaml against a fresh
#            local stack (./scripts/api-fuzz.sh, API_FUZZ_MAX_SECONDS, default 300)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOG_DIR=${TEST_LOG_DIR:-$ROOT/target/test-logs}
mkdir -p "$LOG_DIR"
failed_stages=()
passed_tests=0
failed_tests=0

count_tests() {
  # Sums libtest's "test result: ok. N passed; M failed; …" lines of a log into the totals.
  local p f
  read -r p f < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p+0, f+0 }' "$1")
  passed_tests=$((passed_tests + p))
  failed_tests=$((failed_tests + f))
}

stage() {
  local name=$1; shift
  local log="$LOG_DIR/$name.log" start=$SECONDS
  say "── $name"
  if "$@" >"$log" 2>&1; then
    say "   ok ($((SECONDS - start)) s)"
  else
    say "   FAILED ($((SECONDS - start)) s) — last lines of $log:"
    tail -n 40 "$log" >&2
    failed_stages+=("$name")
  fi
  count_tests "$log"
}

stage setup ./scripts/setup.sh || true
if [ ${#failed_stages[@]} -gt 0 ]; then
  echo "summary: setup failed; nothing else can run"
  exit 1
fi

stage fmt cargo fmt --all -- --check
stage core-purity ./scripts/check-core-purity.sh
stage secrets ./scripts/test-secrets.sh
stage preflight ./scripts/preflight.sh
stage preflight-tests ./scripts/test-preflight.sh
stage clippy-host cargo clippy --workspace --all-targets --locked -- -D warnings
stage clippy-wasm cargo clippy --lib --target wasm32-unknown-unknown --locked -- -D warnings
stage unit cargo test --workspace --exclude paul-p-e2e --locked
stage wasm-tests env CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --lib --target wasm32-unknown-unknown --locked
stage build ./scripts/build-worker.sh
if [[ " ${failed_stages[*]} " == *" build "* ]]; then
  say "skipping end-to-end: the Worker did not build"
  failed_stages+=("e2e(skipped)")
else
  # Everything deploy.sh does before touching Cloudflare (offline): preflight, build, bundle size.
  stage deploy-dry-run ./scripts/deploy.sh --dry-run
  # The e2e harness starts its own simulator and wrangler dev instances on free loopback ports
  # with fresh state; running it in its own session lets us reap anything left behind.
  e2e() {
    # Fresh stack directories, so the secret sweep below covers exactly this run.
    rm -rf target/e2e
    cargo build -q -p paul-p-sim --locked &&
    setsid cargo test -p paul-p-e2e --locked -- --test-threads="${E2E_THREADS:-4}" &
    local pid=$!
    wait $pid; local rc=$?
    kill -TERM -- "-$pid" 2>/dev/null || true
    return $rc
  }
  stage e2e e2e
  # No configured secret value in any wrangler log, local D1/DO/R2 state or reports/ of the run.
  stage secret-sweep cargo run -q -p paul-p-e2e --bin secret-sweep --locked
fi

if [ "${1:-}" = "--long" ]; then
  stage fuzz ./scripts/fuzz.sh
  stage api-fuzz ./scripts/api-fuzz.sh
fi

echo
if [ ${#failed_stages[@]} -eq 0 ]; then
  say "all stages passed (logs in $LOG_DIR)"
else
  say "failed stages: ${failed_stages[*]} (logs in $LOG_DIR)"
fi
echo "summary: $passed_tests passed, $failed_tests failed"
[ ${#failed_stages[@]} -eq 0 ]

#!/usr/bin/env bash
# Bounded cargo-fuzz campaign over every parser of outside input (fuzz/fuzz_targets/*.rs):
# Kalshi and Polymarket responses, Anthropic responses, admin request bodies (limits, order
# intents, operator SQL), Access JWTs/JWKS/bearer headers, signed checkpoints, canonical JSON.
#   ./scripts/fuzz.sh [TARGET…]        every target (or those named), FUZZ_SECONDS each (default 60)
# Seeds: ../shared/fixtures (per target, below) and fuzz/seeds/<target>; the growing corpus is
# kept in target/fuzz-corpus/<target>. A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/ (git-ignored): turn it into a regression unit test next to the parser.
# Part of ./scripts/test.sh --long, not of the default run. cargo-fuzz needs nightly features;
# the stable toolchain provides them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SECONDS_EACH=${FUZZ_SECONDS:-60}
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
export RUSTC_BOOTSTRAP=1

FIX="$ROOT/../shared/fixtures"
if [ ! -d "$FIX" ] && common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
  FIX="$(dirname "$common")/../shared/fixtures"
fi
[ -d "$FIX" ] || say "warning: no ../shared/fixtures; seeding from fuzz/seeds only"
# target -> seed files (globs under the shared fixtures, plus fuzz/seeds/<target>)
declare -A SEEDS=(
  [kalshi]="$FIX/kalshi/*/*.json"
  [polymarket]="$FIX/polymarket/*/*.json $FIX/polymarket/*/*/*.json"
  [anthropic]="$FIX/anthropic/bodies_derived/*"
  [admin_bodies]=""
  [jwt]="$ROOT/src/core/auth/testdata/*.json"
  [checkpoint]=""
  [canonical_json]="$FIX/kalshi/*/*.json $FIX/anthropic/bodies_derived/*.json"
)

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kalshi polymarket anthropic admin_bodies jwt checkpoint canonical_json)

failed=()
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { say "no such target: $t"; exit 2; }
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  # shellcheck disable=SC2086 # globs on purpose
  for f in ${SEEDS[$t]} fuzz/seeds/$t/*; do
    [ -f "$f" ] || continue
    cp -n "$f" "$corpus/seed-$(sha256sum "$f" | cut -c1-16)" 2>/dev/null || true
  done
  say "── $t: $(ls "$corpus" | wc -l) corpus inputs, ${SECONDS_EACH} s"
  if cargo fuzz run --fuzz-dir fuzz "$t" "$corpus" -- \
      -max_total_time="$SECONDS_EACH" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1; then
    say "   $t: no crash"
  else
    say "   $t: FAILED — inputs in fuzz/artifacts/$t/"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  say "crashing targets: ${failed[*]}"
  exit 1
fi
say "all ${#targets[@]} targets ran ${SECONDS_EACH} s without a crash"

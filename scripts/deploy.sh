#!/usr/bin/env bash
# Deploys the Worker, in this order, stopping at the first failure:
#   1. ./scripts/preflight.sh          (a FAIL stops the deploy unless SECURITY_HARD_FAIL=0)
#   2. build, and the bundle size from `wrangler deploy --dry-run --outdir`
#   3. upload the preflight report to R2_AUDIT  (security/preflight/<report file name>, and
#      security/preflight/latest.json, which GET /admin/preflight reads)
#   4. wrangler d1 migrations apply --remote, for DB and then DB_ANCHOR
#   5. wrangler deploy
#   --dry-run   runs 1–2 only: nothing remote is touched, no Cloudflare credentials are needed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

dry_run=0
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=1 ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

# The bucket bound as $1 in wrangler.toml.
bucket_of() {
  awk -v b="$1" '/^\[\[r2_buckets\]\]/ { mine = 0 } $0 ~ "^binding = \"" b "\"" { mine = 1 }
                 mine && /^bucket_name/ { gsub(/.*= *"|"/, ""); print; exit }' wrangler.toml
}

./scripts/setup.sh

say "1/5 security preflight"
out=$(./scripts/preflight.sh)
report=$(sed -n 's/^report: //p' <<<"$out")
[ -f "$report" ] || { say "the preflight wrote no report"; exit 1; }
say "preflight report: $report"

say "2/5 build and bundle size"
outdir="$ROOT/target/deploy-dry-run"
rm -rf "$outdir"
dry=$(CI=true wrangler deploy --dry-run --outdir "$outdir" </dev/null 2>&1) || {
  echo "$dry" >&2
  say "wrangler deploy --dry-run failed"
  exit 1
}
size=$(grep -m1 'Total Upload:' <<<"$dry" || true)
[ -n "$size" ] || { echo "$dry" >&2; say "wrangler printed no bundle size"; exit 1; }
say "bundle: ${size#*Total Upload: } (Workers limit after gzip: 3 MB free, 10 MB paid)"

if [ "$dry_run" = 1 ]; then
  say "dry run: stopping before anything remote"
  exit 0
fi

# The placeholder ids of wrangler.toml would deploy against databases that do not exist.
if grep -qE '^database_id = "00000000-0000-4000-8000-' wrangler.toml; then
  say "wrangler.toml still has placeholder D1 database ids; put the ids printed by 'wrangler d1 create' there (README \"Deploying\")"
  exit 1
fi

audit_bucket=$(bucket_of R2_AUDIT)
say "3/5 uploading the preflight report to R2 bucket $audit_bucket"
./scripts/upload-preflight-report.sh --remote "$report"

say "4/5 D1 migrations (remote)"
for db in DB DB_ANCHOR; do
  CI=true wrangler d1 migrations apply "$db" --remote </dev/null
done

say "5/5 wrangler deploy"
CI=true wrangler deploy </dev/null
say "deployed"

#!/usr/bin/env bash
# Uploads a security preflight report to R2_AUDIT twice: under its own name
# (security/preflight/<file name>, the history) and as security/preflight/latest.json, the key
# the go-live checklist (GET /admin/preflight, item security_preflight) reads.
#   ./scripts/upload-preflight-report.sh --remote [REPORT]          the deployed bucket (deploy.sh)
#   ./scripts/upload-preflight-report.sh --local [--persist-to DIR] [REPORT]
#                                      the local bucket of wrangler dev (default DIR .wrangler/state,
#                                      the one ./scripts/dev.sh uses)
# REPORT defaults to the newest reports/security_preflight_*.json (run ./scripts/preflight.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

usage() { echo "usage: $0 --remote|--local [--persist-to DIR] [REPORT]" >&2; exit 2; }

where=""
persist="${DEV_STATE_DIR:-.wrangler/state}"
report=""
while [ $# -gt 0 ]; do
  case "$1" in
    --remote) where=remote ;;
    --local) where=local ;;
    --persist-to) [ $# -ge 2 ] || usage; persist=$2; shift ;;
    -*) usage ;;
    *) report=$1 ;;
  esac
  shift
done
[ -n "$where" ] || usage
if [ -z "$report" ]; then
  report=$(ls -1 reports/security_preflight_*.json 2>/dev/null | sort | tail -n 1 || true)
  [ -n "$report" ] || { say "no report in reports/: run ./scripts/preflight.sh first"; exit 1; }
fi
[ -f "$report" ] || { say "no such report: $report"; exit 1; }

bucket=$(awk '/^\[\[r2_buckets\]\]/ { mine = 0 } /^binding = "R2_AUDIT"/ { mine = 1 }
              mine && /^bucket_name/ { gsub(/.*= *"|"/, ""); print; exit }' wrangler.toml)
[ -n "$bucket" ] || { say "no R2_AUDIT bucket in wrangler.toml"; exit 1; }

flags=(--"$where")
[ "$where" = local ] && flags+=(--persist-to "$persist")
for key in "security/preflight/$(basename "$report")" "security/preflight/latest.json"; do
  CI=true wrangler r2 object put "$bucket/$key" --file "$report" \
    --content-type application/json "${flags[@]}" </dev/null >&2
done
verdict=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).verdict)' "$report")
say "uploaded $report (verdict $verdict) to $where bucket $bucket as security/preflight/latest.json"

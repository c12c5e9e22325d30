#!/usr/bin/env bash
# Starts the whole system locally, in the foreground until Ctrl-C:
#   - the venue simulator on 127.0.0.1:${SIM_PORT:-8788} (skip with NO_SIM=1)
#   - wrangler dev --test-scheduled on 127.0.0.1:${PORT:-8787}, local D1/R2/Durable Objects
#     persisted in ${DEV_STATE_DIR:-.wrangler/state}, migrations of both D1 databases applied
# Writes .dev.vars with fresh tokens when it is missing (an existing one is used as it is).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PORT=${PORT:-8787}
SIM_PORT=${SIM_PORT:-8788}
DEV_STATE_DIR=${DEV_STATE_DIR:-.wrangler/state}
BASE="http://127.0.0.1:$PORT"
# The local simulator's Kalshi key pair (generated with .dev.vars; see below).
DEV_KALSHI_DIR=.wrangler/dev-kalshi
DEV_KALSHI_KEY_ID=local-simulator-key

./scripts/setup.sh

if [ ! -f .dev.vars ]; then
  token() { head -c 32 /dev/urandom | base64 | tr -d '/+=' | head -c 43; }
  admin=$(token) alice=$(token) bob=$(token)
  # A fresh Ed25519 seed for the hourly audit anchors (32 random bytes, base64).
  audit_key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
  sim="http://127.0.0.1:$SIM_PORT"
  # A throwaway Kalshi key pair for the simulator (never a real key; .wrangler is git-ignored):
  # the private key goes into .dev.vars with escaped line breaks, the public key to the simulator.
  mkdir -p "$DEV_KALSHI_DIR"
  openssl genrsa -traditional -out "$DEV_KALSHI_DIR/key.pem" 2048 2>/dev/null
  openssl pkey -in "$DEV_KALSHI_DIR/key.pem" -pubout -out "$DEV_KALSHI_DIR/pub.pem"
  chmod 600 "$DEV_KALSHI_DIR/key.pem"
  kalshi_key=$(awk '{printf "%s\\n", $0}' "$DEV_KALSHI_DIR/key.pem")
  sed -e "s|^ADMIN_TOKENS=.*|ADMIN_TOKENS='{\"alice\":\"$alice\",\"bob\":\"$bob\"}'|" \
      -e "s|^ADMIN_TOKEN=.*|ADMIN_TOKEN=$admin|" \
      -e "s|^AUDIT_SIGNING_KEY=.*|AUDIT_SIGNING_KEY=$audit_key|" \
      -e "s|^KALSHI_API_KEY_ID=.*|KALSHI_API_KEY_ID=$DEV_KALSHI_KEY_ID|" \
      -e "/^KALSHI_PRIVATE_KEY=/d" \
      -e "s|http://127.0.0.1:8788|$sim|g" \
      .dev.vars.example > .dev.vars
  printf "KALSHI_PRIVATE_KEY='%s'\n" "$kalshi_key" >> .dev.vars
  chmod 600 .dev.vars
  say "wrote .dev.vars with fresh operator tokens (shown once; they stay in .dev.vars):"
  printf '  admin: %s\n  alice: %s\n  bob:   %s\n' "$admin" "$alice" "$bob" >&2
elif ! grep -qE '^AUDIT_SIGNING_KEY=.+' .dev.vars; then
  say "warning: .dev.vars has no AUDIT_SIGNING_KEY; hourly audit anchoring will fail until you add"
  say "  one: echo \"AUDIT_SIGNING_KEY=\$(head -c 32 /dev/urandom | base64)\" >> .dev.vars"
fi

./scripts/build-worker.sh
for db in DB DB_ANCHOR; do
  CI=true wrangler d1 migrations apply "$db" --local --persist-to "$DEV_STATE_DIR" </dev/null >&2
done

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "${NO_SIM:-0}" != 1 ]; then
  cargo build -q -p paul-p-sim
  sim_args=(--port "$SIM_PORT")
  if [ -f "$DEV_KALSHI_DIR/pub.pem" ]; then
    sim_args+=(--kalshi-public-key "$DEV_KALSHI_DIR/pub.pem" --kalshi-key-id "$DEV_KALSHI_KEY_ID")
  fi
  setsid "$ROOT/target/debug/venue-sim" "${sim_args[@]}" &
  pids+=($!)
  wait_http "http://127.0.0.1:$SIM_PORT/__sim/health" 30 || { say "venue simulator did not start"; exit 1; }
fi

setsid wrangler dev --ip 127.0.0.1 --port "$PORT" --persist-to "$DEV_STATE_DIR" \
  --test-scheduled --show-interactive-dev-session=false &
pids+=($!)
wait_http "$BASE/health" 120 || { say "wrangler dev did not start"; exit 1; }

# Compliance: every source starts under review and is never contacted until an operator approves
# it. Approve the sources the simulator serves through the operator route, as operator "admin",
# so the approval is recorded (and audited) like any other. Skipped with NO_SIM=1 (real hosts
# need a real review) and for sources already approved.
if [ "${NO_SIM:-0}" != 1 ]; then
  admin_token=$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars | tr -d "'\"")
  review=$(date -u -d '+30 days' +%F)
  if [ -z "$admin_token" ]; then
    say "no ADMIN_TOKEN in .dev.vars: approve sources yourself (see README, Compliance)"
  else
    approved=$(curl -fsS -H "Authorization: Bearer $admin_token" "$BASE/admin/compliance/sources" |
      python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["sources"] if s["admitted"]))' || true)
    for source in kalshi polymarket_gamma polymarket_clob; do
      case " $approved " in *" $source "*) continue ;; esac
      if curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $admin_token" \
          -H 'content-type: application/json' "$BASE/admin/compliance/sources/$source" \
          -d "{\"status\":\"approved\",\"tos_version\":\"local-simulator\",\"next_review_at\":\"$review\",\"note\":\"approved by scripts/dev.sh for the local simulator\"}"; then
        say "approved $source for the local simulator (next review $review)"
      else
        say "could not approve $source (is the audit log up?); ingestion will skip it"
      fi
    done
  fi
fi

cat >&2 <<MSG

Paul P is up at $BASE  (simulator: http://127.0.0.1:$SIM_PORT; state: $DEV_STATE_DIR)
Try:
  export ADMIN_TOKEN="\$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)"
  curl -s $BASE/health
  curl -s -H "Authorization: Bearer \$ADMIN_TOKEN" $BASE/admin/whoami
  curl -s -H "Authorization: Bearer \$ADMIN_TOKEN" $BASE/admin/status
  curl -s -H "Authorization: Bearer \$ADMIN_TOKEN" $BASE/admin/compliance/sources
  curl -s -H "Authorization: Bearer \$ADMIN_TOKEN" $BASE/admin/venues/kalshi/account
  curl -s -X POST -H "Authorization: Bearer \$ADMIN_TOKEN" $BASE/admin/ingest/run
  curl -s "$BASE/__scheduled?cron=*/5+*+*+*+*"
  curl -s "$BASE/__scheduled?cron=0+*+*+*+*" && curl -s $BASE/audit/checkpoint
  curl -s -H "Authorization: Bearer \$ADMIN_TOKEN" $BASE/admin/audit/status
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"

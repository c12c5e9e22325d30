#!/usr/bin/env bash
# Tests of the secrets discipline:
# - scripts/secret-scan.sh passes on the repository and fails on each kind of planted credential,
#   generated fresh by this test in a scratch directory under target/ (never committed);
# - scripts/check-least-authority.sh passes on the repository and fails, in a scratch copy of
#   src/, when a module names another module's secret, reads secrets, or opens D1 directly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

dir="$ROOT/target/secrets-test"
rm -rf "$dir"
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
rand_alnum() { openssl rand -base64 96 | tr -dc 'A-Za-z0-9' | head -c "$1"; }

# expect_caught NAME RULE CONTENT: a file holding CONTENT makes the scan fail, naming RULE.
expect_caught() {
  local file="$dir/$1" out
  printf '%s\n' "$3" > "$file"
  if out=$(./scripts/secret-scan.sh "$file"); then
    bad "$1: not caught"
  elif grep -q "rule $2" <<<"$out"; then
    ok "$1 caught by $2"
  else
    bad "$1: failed without naming rule $2: $out"
  fi
}

# expect_clean NAME CONTENT: a file holding CONTENT passes.
expect_clean() {
  local file="$dir/$1" out
  printf '%s\n' "$2" > "$file"
  if out=$(./scripts/secret-scan.sh "$file"); then ok "$1 is clean"; else bad "$1 flagged: $out"; fi
}

if out=$(./scripts/secret-scan.sh); then ok "repository is clean ($out)"; else bad "repository: $out"; fi

expect_caught pkcs8.pem pem-private-key "$(openssl genpkey -algorithm ed25519 2>/dev/null)"
expect_caught pkcs1.pem pem-private-key \
  "$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl rsa -traditional 2>/dev/null)"
expect_caught kalshi.vars pem-private-key \
  "KALSHI_PRIVATE_KEY=\"$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | tr '\n' ' ')\""
expect_caught anthropic.vars anthropic-key "ANTHROPIC_API_KEY=sk-ant-api03-$(rand_alnum 48)"
expect_caught aws.toml aws-access-key "aws_access_key_id = \"AKIA$(rand_alnum 64 | tr 'a-z' 'A-Z' | tr -dc 'A-Z0-9' | head -c 16)\""
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
claims=$(printf '{"sub":"%s","exp":4102444800}' "$(rand_alnum 12)" | b64url)
expect_caught token.txt jwt "Authorization: Bearer $header.$claims.$(openssl rand 32 | b64url)"
expect_caught seed.toml base64-seed "AUDIT_SIGNING_KEY = \"$(openssl rand -base64 32)\""
expect_caught tokens.json assigned-token "{\"admin_token\": \"$(openssl rand -hex 24)\"}"
expect_caught wrangler.toml assigned-token "ADMIN_TOKENS = '{\"alice\":\"x\"}'
CLIENT_SECRET = \"$(rand_alnum 40)\""

expect_clean placeholders.vars 'ADMIN_TOKEN=<32+ random chars>
ADMIN_TOKENS={"alice":"<32+ random chars>","bob":"<32+ random chars>"}
API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
KALSHI_PRIVATE_KEY='
expect_clean lockfile.toml "checksum = \"$(openssl rand -hex 32)\""
expect_clean public.pem "$(openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout 2>/dev/null)"

# expect_violation NAME FILE CONTENT: CONTENT written to FILE in a copy of src/ is refused.
expect_violation() {
  local copy="$dir/authority-$1" out
  rm -rf "$copy"
  mkdir -p "$copy"
  cp -a src "$copy/"
  mkdir -p "$(dirname "$copy/$2")"
  printf '%s\n' "$3" >> "$copy/$2"
  if out=$(./scripts/check-least-authority.sh "$copy"); then
    bad "least-authority $1: not refused"
  elif grep -q "^least-authority: $2:" <<<"$out"; then
    ok "least-authority refuses $1"
  else
    bad "least-authority $1: refused for another reason: $out"
  fi
}

if out=$(./scripts/check-least-authority.sh); then ok "least-authority holds ($out)"; else bad "least-authority: $out"; fi
expect_violation kalshi-key-in-auth src/http/auth.rs 'const K: &str = "KALSHI_PRIVATE_KEY";'
expect_violation admin-token-in-routes src/http/routes/status.rs 'const T: &str = "ADMIN_TOKENS";'
expect_violation secret-read-in-route src/http/routes/health.rs 'fn f(e: &worker::Env, n: &str) { let _ = e.secret(n); }'
expect_violation raw-d1 src/jobs/ingest.rs 'fn f(e: &worker::Env) { let _ = e.d1("DB"); }'

echo "test result: secrets $pass passed; $fail failed"
[ "$fail" -eq 0 ]

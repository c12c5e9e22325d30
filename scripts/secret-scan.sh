#!/usr/bin/env bash
# Fails if anything that looks like a credential is in the repository: every tracked file, plus
# wrangler.toml and .dev.vars.example whether tracked or not (README "Secrets").
#   ./scripts/secret-scan.sh            scan the repository
#   ./scripts/secret-scan.sh FILE…      scan these files instead (used by the scan's own test)
# Rules: PEM private-key blocks, AWS access keys, Anthropic/OpenAI/GitHub/Slack-style tokens,
# JWTs, base64 32-byte seeds (Ed25519) assigned in config, and long high-entropy values assigned
# to a name that says token/secret/key/password. Real secrets live in `wrangler secret put` and
# the git-ignored .dev.vars, never in a file this scan sees.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Explicit exclusions: "path rule — why". A rule name excludes only that rule for that file, so
# a private key added to an excluded file is still caught.
EXCLUDE=(
  # A PUBLIC JWKS (n, e only) and test JWTs signed by a throwaway key that
  # gen_access_rs256.py discards, for the fictitious team paulp.cloudflareaccess.com; the tokens
  # expired on 2026-01-02. No private key is in the file (the pem rule still applies to it).
  "src/core/auth/testdata/access_rs256.json jwt"
)

# Shannon entropy (bits per character) above which an assigned value counts as random.
MIN_ENTROPY=${SECRET_SCAN_MIN_ENTROPY:-3.5}

# Each rule: name, then an extended regex (grep -E). Written so no rule matches its own text.
RULES=(
  "pem-private-key|-{5}BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-{5}"
  "aws-access-key|(^|[^A-Z0-9])(AKIA|ASIA)[0-9A-Z]{16}([^A-Z0-9]|$)"
  "anthropic-key|sk-ant-[A-Za-z0-9_-]{20,}"
  "openai-key|sk-(proj-)?[A-Za-z0-9]{32,}"
  "github-token|(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,}"
  "slack-token|xox[abprs]-[A-Za-z0-9-]{10,}"
  "jwt|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
  "base64-seed|(KEY|SEED|SECRET)[A-Z_]*[\"']?[[:space:]]*[:=][[:space:]]*[\"']?[A-Za-z0-9+/]{43}="
)

# A value of 32+ token characters assigned to a credential-like name.
ASSIGNED='(token|secret|passw(or)?d|api[_-]?key|private[_-]?key|access[_-]?key|signing[_-]?key|client[_-]?secret|auth)[A-Za-z0-9_-]*["'"'"']?[[:space:]]*[:=][[:space:]]*["'"'"']?[A-Za-z0-9+/=_.-]{32,}'

excluded() { # path rule
  local e
  for e in "${EXCLUDE[@]}"; do
    [ "$e" = "$1 $2" ] && return 0
  done
  return 1
}

# Prints the entropy of $1 in bits per character.
entropy() {
  printf '%s' "$1" | awk '{
    n = length($0)
    for (i = 1; i <= n; i++) count[substr($0, i, 1)]++
    for (c in count) { p = count[c] / n; h -= p * log(p) / log(2) }
    printf "%.2f\n", h
  }'
}

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -d '' files < <(git ls-files -z)
  for f in wrangler.toml .dev.vars.example; do
    [ -f "$f" ] && files+=("$f")
  done
fi

hits=0
report() { # path line rule
  echo "secret-scan: $1:$2: looks like a credential (rule $3)"
  hits=$((hits + 1))
}

# Existing regular files, each once.
declare -A seen=()
scan=()
for f in "${files[@]}"; do
  if [ -f "$f" ] && [ -z "${seen[$f]:-}" ]; then
    seen[$f]=1
    scan+=("$f")
  fi
done

# One grep per rule over every file (-I: binary files hold no text credential to recognise).
for rule in "${RULES[@]}"; do
  name=${rule%%|*} re=${rule#*|}
  while IFS=: read -r f line _; do
    excluded "$f" "$name" || report "$f" "$line" "$name"
  done < <(grep -InHE -- "$re" "${scan[@]}" || true)
done
while IFS= read -r hit; do
  f=${hit%%:*} rest=${hit#*:}
  line=${rest%%:*} match=${rest#*:}
  excluded "$f" assigned-token && continue
  value=$(printf '%s' "$match" | sed -E 's/^[^:=]*[:=][[:space:]"'"'"']*//')
  # All-decimal values are identifiers (Polymarket CLOB token ids are 77-digit integers), not
  # credentials: no issuer hands out a secret made only of digits.
  [[ "$value" =~ ^[0-9]+$ ]] && continue
  # Placeholders ("<32+ random chars>", "xxxx…") have low entropy and never reach the threshold.
  if awk -v h="$(entropy "$value")" -v min="$MIN_ENTROPY" 'BEGIN { exit !(h >= min) }'; then
    report "$f" "$line" assigned-token
  fi
done < <(grep -InHoiE -- "$ASSIGNED" "${scan[@]}" || true)

if [ "$hits" -gt 0 ]; then
  echo "secret-scan: $hits possible credential(s) found; remove them (secrets go in wrangler secret put / .dev.vars)"
  exit 1
fi
echo "secret-scan: ${#scan[@]} files clean"

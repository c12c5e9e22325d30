#!/usr/bin/env bash
# Least authority, checked by grep (ARCHITECTURE invariant 7): each credential is named only by
# the module that uses it, only those modules read secrets at all, and only the D1 gate opens a
# D1 binding. Edit the tables when a module is added; the pattern is a path glob under src/.
#   ./scripts/check-least-authority.sh [DIR]   check DIR/src (default: this repository)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# Secret name -> files that may contain the literal "NAME". src/lib.rs holds SECRET_NAMES, which
# only the log redactor reads, to scrub the values.
declare -A SECRET_READERS=(
  [ADMIN_TOKEN]="src/http/auth.rs src/lib.rs"
  [ADMIN_TOKENS]="src/http/auth.rs src/lib.rs"
  [KALSHI_API_KEY_ID]="src/lib.rs src/kalshi_client.rs"
  [KALSHI_PRIVATE_KEY]="src/lib.rs src/kalshi_client.rs"
  [ANTHROPIC_API_KEY]="src/lib.rs src/anthropic_client.rs"
  [AUDIT_SIGNING_KEY]="src/lib.rs src/jobs/anchor*"
  [AUDIT_SIGNING_KEY_PREVIOUS]="src/lib.rs src/jobs/anchor*"
)
# Files that may call `.secret(` at all (a secret read with a computed name must happen here).
SECRET_CALLERS="src/http/auth.rs src/lib.rs src/kalshi_client.rs src/anthropic_client.rs src/jobs/anchor*"
# Files that may open a D1 binding (`.d1(`): the gate, so every statement is checked.
D1_OPENERS="src/store/d1.rs"

allowed() { # file "globs…"
  local glob
  for glob in $2; do
    # shellcheck disable=SC2053 # the right-hand side is a glob on purpose
    [[ $1 == $glob ]] && return 0
  done
  return 1
}

bad=0
violation() {
  echo "least-authority: $1"
  bad=$((bad + 1))
}

for name in "${!SECRET_READERS[@]}"; do
  while IFS=: read -r file line _; do
    allowed "$file" "${SECRET_READERS[$name]}" ||
      violation "$file:$line names the secret $name (allowed only in: ${SECRET_READERS[$name]})"
  done < <(grep -rnF --include='*.rs' "\"$name\"" src || true)
done

while IFS=: read -r file line _; do
  allowed "$file" "$SECRET_CALLERS" ||
    violation "$file:$line reads a secret (allowed only in: $SECRET_CALLERS)"
done < <(grep -rnE --include='*.rs' '\.secret\(' src || true)

while IFS=: read -r file line _; do
  allowed "$file" "$D1_OPENERS" ||
    violation "$file:$line opens a D1 binding directly (use store::d1::Db)"
done < <(grep -rnE --include='*.rs' '\.d1\(' src || true)

if [ "$bad" -gt 0 ]; then
  echo "least-authority: $bad violation(s)"
  exit 1
fi
echo "least-authority: each secret is named only by its module; D1 is opened only by the gate"

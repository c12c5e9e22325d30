#!/usr/bin/env bash
# Tests of the security preflight itself. It passes on the project as it stands; in scratch
# projects under target/preflight-test (a minimal crate with the preflight's files copied in) it
# fails on a dependency with a known advisory, naming the advisory in the report, and on every
# allowlist, setting and lock-file breakage; an allowlisted advisory passes with its
# justification in the report.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ADVISORY_DB="$(advisory_db_path)"
export ADVISORY_DB
# Scratch projects share the repository's cargo-deny database cache.
export ADVISORY_DB_CACHE="$ROOT/target/advisory-db-git"
# The advisory the vulnerable scratch crate pins (smallvec 1.6.0: insert_many buffer overflow).
VULN_ID=RUSTSEC-2021-0003
base="$ROOT/target/preflight-test"
rm -rf "$base"
mkdir -p "$base"

pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# make_scratch NAME [DEPENDENCY-LINE]: a minimal crate with the preflight's files.
make_scratch() {
  local dir="$base/$1"
  mkdir -p "$dir/src" "$dir/scripts" "$dir/security"
  cp scripts/preflight.sh scripts/preflight.mjs scripts/lib.sh "$dir/scripts/"
  cp deny.toml package.json package-lock.json "$dir/"
  cp security/allowlist.toml "$dir/security/"
  printf '[package]\nname = "scratch"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n%s\n\n[workspace]\n' \
    "${2:-}" > "$dir/Cargo.toml"
  echo "" > "$dir/src/lib.rs"
  (cd "$dir" && { cargo generate-lockfile --offline -q 2>/dev/null || cargo generate-lockfile -q; })
}

# preflight DIR [ENV=VALUE…]: runs the preflight of DIR; sets $rc and $report (the JSON file).
preflight() {
  local dir=$1 out
  shift
  out=$(cd "$dir" && env "$@" ./scripts/preflight.sh 2>"$base/last.log") && rc=0 || rc=$?
  report="$dir/$(sed -n 's/^report: //p' <<<"$out")"
  [ -f "$report" ] || { echo "no report from $dir (rc=$rc):"; tail -n 20 "$base/last.log"; }
}

# field EXPR: evaluates a JavaScript expression over the report `r`.
field() {
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           console.log(String(eval(process.argv[2])))' "$report" "$1"
}

# expect NAME RC VERDICT [JS-CONDITION]
expect() {
  local name=$1 want_rc=$2 want_verdict=$3 cond=${4:-true} verdict
  verdict=$(field 'r.verdict' 2>/dev/null || echo none)
  if [ "$rc" != "$want_rc" ] || [ "$verdict" != "$want_verdict" ]; then
    bad "$name: exit $rc verdict $verdict (wanted exit $want_rc verdict $want_verdict)"
    tail -n 15 "$base/last.log"
  elif [ "$(field "$cond")" != "true" ]; then
    bad "$name: report does not satisfy $cond"
  else
    ok "$name"
  fi
}

write_allowlist() { # DIR CONTENT
  printf '%s\n' "$2" > "$1/security/allowlist.toml"
}

days_from_now() { date -u -d "$1 days" +%Y-%m-%d; }

# --- The project as it stands ----------------------------------------------------------------
preflight "$ROOT"
expect "the project passes" 0 PASS \
  'r.findings.length === 0 && r.checks.every(c => c.status === "pass") && Boolean(r.advisory_db.date && r.tools.audit.version && r.tools.deny.version)'

# --- A clean scratch crate: settings, allowlist and lock files --------------------------------
make_scratch clean
clean="$base/clean"
preflight "$clean"
expect "a clean crate passes" 0 PASS

write_allowlist "$clean" "[[allow]]
id = \"$VULN_ID\"
justification = \"insert_many is never called by this crate at all\"
tracking = \"issue 8\""
preflight "$clean"
expect "an allowlist entry without expiry fails" 1 FAIL \
  'r.checks.some(c => c.name === "allowlist" && c.status === "fail" && /missing expires/.test(c.reason))'

write_allowlist "$clean" "[[allow]]
id = \"$VULN_ID\"
justification = \"insert_many is never called by this crate at all\"
expires = \"$(days_from_now -1)\"
tracking = \"issue 8\""
preflight "$clean"
expect "an expired allowlist entry fails" 1 FAIL \
  'r.checks.some(c => c.name === "allowlist" && c.status === "fail" && /expired on/.test(c.reason))'

write_allowlist "$clean" "[[allow]]
id = \"$VULN_ID\"
justification = \"insert_many is never called by this crate at all\"
expires = \"$(days_from_now 200)\"
tracking = \"issue 8\""
preflight "$clean"
expect "an allowlist entry more than 90 days out fails" 1 FAIL \
  'r.checks.some(c => c.name === "allowlist" && /more than 90 days/.test(c.reason))'

write_allowlist "$clean" "[[allow]]
id = \"$VULN_ID\"
justification = \"insert_many is never called by this crate at all\"
expires = \"$(days_from_now 30)\"
tracking = \"issue 8\"
severity = \"low\""
preflight "$clean"
expect "an unknown allowlist field fails" 1 FAIL \
  'r.checks.some(c => c.name === "allowlist" && /unknown field severity/.test(c.reason))'

cp security/allowlist.toml "$clean/security/allowlist.toml"
preflight "$clean" SECURITY_IGNORE_VULN_IDS="$VULN_ID"
expect "SECURITY_IGNORE_VULN_IDS naming an id not in the file fails" 1 FAIL \
  'r.checks.some(c => c.name === "allowlist" && /SECURITY_IGNORE_VULN_IDS/.test(c.reason))'

preflight "$clean" SECURITY_HARD_FAIL=no
expect "an unreadable setting fails (and keeps hard-fail on)" 1 FAIL \
  'r.checks.some(c => c.name === "settings" && c.status === "fail")'

preflight "$clean" ENABLE_SECURITY_CHECKS=0
expect "ENABLE_SECURITY_CHECKS=0 skips, loudly and on record" 0 SKIPPED \
  'r.warnings.some(w => /ENABLE_SECURITY_CHECKS=0/.test(w)) && r.overrides.ENABLE_SECURITY_CHECKS === "0"'

preflight "$clean" ADVISORY_DB="$base/nowhere"
expect "a missing advisory database fails" 1 FAIL \
  'r.checks.some(c => c.name === "advisory-db" && c.status === "fail")'

cp -a "$clean" "$base/stale-lock"
cat > "$base/stale-lock/Cargo.toml" <<'EOF'
[package]
name = "scratch"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
smallvec = "1"

[workspace]
EOF
preflight "$base/stale-lock"
expect "a Cargo.lock that does not match Cargo.toml fails" 1 FAIL \
  'r.checks.some(c => c.name === "cargo-lock" && c.status === "fail")'

cp -a "$clean" "$base/stale-npm"
sed -i 's/"esbuild": "[^"]*"/"esbuild": "0.0.1"/' "$base/stale-npm/package.json"
preflight "$base/stale-npm"
expect "a package-lock.json that does not match package.json fails" 1 FAIL \
  'r.checks.some(c => c.name === "npm-lock" && c.status === "fail")'

make_scratch wildcard 'smallvec = "*"'
preflight "$base/wildcard"
expect "a wildcard dependency version fails (cargo-deny bans)" 1 FAIL \
  'r.findings.some(f => f.kind === "wildcard" && /wildcard dependency/.test(f.message))'

# --- A crate with a known advisory --------------------------------------------------------
make_scratch vulnerable 'smallvec = "=1.6.0"'
vuln="$base/vulnerable"
preflight "$vuln"
expect "a dependency with a known advisory fails, naming it" 1 FAIL \
  "r.findings.some(f => f.id === '$VULN_ID' && f.crate === 'smallvec' && f.version === '1.6.0' && f.tools.includes('cargo-audit') && f.tools.includes('cargo-deny'))"

preflight "$vuln" SECURITY_HARD_FAIL=0
expect "SECURITY_HARD_FAIL=0 continues, says so, and records it" 0 FAIL \
  "r.continued_despite_failure === true && r.overrides.SECURITY_HARD_FAIL === '0' && r.findings.some(f => f.id === '$VULN_ID') && r.warnings.some(w => /SECURITY_HARD_FAIL=0/.test(w))"

write_allowlist "$vuln" "[[allow]]
id = \"$VULN_ID\"
justification = \"scratch crate for the preflight's own test; insert_many is never called\"
expires = \"$(days_from_now 30)\"
tracking = \"issue 8\""
preflight "$vuln" SECURITY_IGNORE_VULN_IDS="$VULN_ID"
expect "an allowlisted advisory passes with its justification in the report" 0 PASS \
  "r.findings.length === 0 && r.allowlisted.some(a => a.id === '$VULN_ID' && /never called/.test(a.justification) && a.tracking === 'issue 8')"

echo "test result: preflight $pass passed; $fail failed"
[ "$fail" -eq 0 ]

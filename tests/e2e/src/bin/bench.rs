//! `scripts/bench.sh` runs this: it starts a fresh stack (simulator + wrangler dev) and measures
//! loopback latency of selected routes. Prints one JSON object on stdout; bench.sh renders it.
//!
//! Load is bounded: `BENCH_REQUESTS` requests per route and round (default 400) over
//! `BENCH_CONCURRENCY` threads (default 4), `BENCH_ROUNDS` rounds (default 3); only 127.0.0.1.

use paul_p_e2e::{send, Stack, StackConfig, SIMULATED_SOURCES};
use serde_json::{json, Value};
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// One round: `n` GETs over `c` threads; returns (p50 ms, p99 ms, requests/s).
fn round(url: &str, auth: Option<&str>, n: usize, c: usize) -> (f64, f64, f64) {
    let started = Instant::now();
    let per_thread = n / c;
    let mut handles = Vec::new();
    for _ in 0..c {
        let url = url.to_string();
        let auth = auth.map(|a| format!("Bearer {a}"));
        handles.push(std::thread::spawn(move || {
            let mut lat = Vec::with_capacity(per_thread);
            for _ in 0..per_thread {
                let t = Instant::now();
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("authorization", a.as_str())).collect();
                let r = send("GET", &url, &headers, None);
                assert_eq!(r.status, 200, "{url}: {}", r.text());
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("bench thread"))
        .collect();
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.len() as f64 / secs,
    )
}

fn measure(stack: &Stack, path: &str, auth: Option<&str>) -> Value {
    let n = env_usize("BENCH_REQUESTS", 400);
    let c = env_usize("BENCH_CONCURRENCY", 4).max(1);
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);
    let url = stack.url(path);
    // Warm-up: first requests pay isolate start-up and JIT.
    round(&url, auth, 40.min(n), 1);
    let (mut p50s, mut p99s, mut rps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (a, b, r) = round(&url, auth, n, c);
        p50s.push(a);
        p99s.push(b);
        rps.push(r);
    }
    json!({
        "route": format!("GET {path}"),
        "requests_per_round": n,
        "concurrency": c,
        "rounds": rounds,
        "p50_ms_median": median(p50s),
        "p99_ms_median": median(p99s),
        "throughput_rps_median": median(rps),
    })
}

/// Markets ingested per second end to end: `POST /admin/ingest/run` against a fresh stack
/// (simulator: 10,000 Kalshi + 2,000 Gamma markets), timed at the client, so every market,
/// event, evidence blob and index row is new ("cold"); then re-runs on the same state, where
/// the simulator sends the same bytes and nothing changes ("unchanged": fetch, hash, evidence
/// look-ups, parse and compare only). Production lies between: prices move, so most rows are
/// rewritten, but pages already stored are not. `BENCH_INGEST_ROUNDS` cold stacks (default 2),
/// each followed by the same number of re-runs; medians reported.
fn ingest_throughput() -> Value {
    let rounds = env_usize("BENCH_INGEST_ROUNDS", 2).max(1);
    let run = |stack: &Stack| -> (f64, f64, Value) {
        let t = Instant::now();
        let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.admin, &json!({}));
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.status, 200, "ingest run: {}", r.text());
        let v = r.json();
        assert_eq!(v["status"], "SUCCESS", "{v}");
        let markets: f64 = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["step"] == "kalshi_markets" || s["step"] == "polymarket_markets")
            .map(|s| s["counts"]["records"].as_f64().unwrap_or(0.0))
            .sum();
        let steps: Value = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step"].as_str().unwrap().to_string(),
                    s["duration_ms"].clone(),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        (markets, secs, steps)
    };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let (mut markets_seen, mut cold_steps) = (0.0, Value::Null);
    for _ in 0..rounds {
        let stack = Stack::start(StackConfig::default());
        stack.approve_sources(SIMULATED_SOURCES);
        let (markets, secs, steps) = run(&stack);
        markets_seen = markets;
        cold_steps = steps;
        cold.push(markets / secs);
        for _ in 0..rounds {
            let (markets, secs, _) = run(&stack);
            warm.push(markets / secs);
        }
    }
    json!({
        "markets_per_run": markets_seen,
        "rounds": rounds,
        "cold_markets_per_s_median": median(cold),
        "unchanged_markets_per_s_median": median(warm),
        "cold_step_ms_last": cold_steps,
    })
}

/// p50/p99 of `POST /admin/risk/check` (an operator dry run through the RiskGovernor Durable
/// Object: load state, check and reserve, audit append, persist) on a market that ingestion
/// marked, sequentially (the object serialises checks anyway). Unique client order ids; the
/// verdicts mix approvals and limit refusals as reservations accumulate, as in production.
fn dry_run_latency(stack: &Stack) -> Value {
    let admin = &stack.tokens.admin;
    let ticker = stack.mark_priced_market();
    // Time the full path, approvals included: the default bucket (10 orders a minute) would
    // refuse all but the first few, and one-hundredth of a contract keeps 600 reservations far
    // inside every exposure limit.
    stack.loosen_limits(
        json!({"order_rate": {"capacity": 10_000, "refill_per_minute": 60_000}}),
        "benchmark: time approvals, not the order-rate refusal",
    );
    let n = env_usize("BENCH_CHECKS", 200);
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);
    let (mut p50s, mut p99s, mut approved) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        let mut lat = Vec::with_capacity(n);
        for i in 0..n {
            let body = json!({"client_order_id": format!("bench-{round}-{i}"), "market": ticker,
                "side": "yes", "action": "buy", "qty": 1, "limit_price": 5000, "kind": "new"});
            let t = Instant::now();
            let r = stack.json("POST", "/admin/risk/check", admin, &body);
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.status, 200, "{}", r.text());
            approved += usize::from(r.json()["verdict"]["approved"] == true);
        }
        // Checks that were all refused for missing data would time only the refusal path.
        assert!(approved > 0, "no dry run approved in round {round}");
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        p50s.push(percentile(&lat, 50.0));
        p99s.push(percentile(&lat, 99.0));
    }
    json!({"route": "POST /admin/risk/check", "checks_per_round": n, "rounds": rounds,
           "approved": approved, "p50_ms_median": median(p50s), "p99_ms_median": median(p99s)})
}

/// `BENCH_RESTARTS` restarts (default 3) of `wrangler dev` on the same state: the time until it
/// answers again (mostly the tooling: bundling, workerd start), and the first `GET
/// /admin/status` after it, which wakes the Durable Objects and opens D1 and R2 in the fresh
/// process. Medians over the restarts.
fn cold_restarts(stack: &mut Stack) -> Value {
    let n = env_usize("BENCH_RESTARTS", 3).max(1);
    let (mut ready, mut first) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        stack.restart();
        ready.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let r = stack.get("/admin/status", Some(&stack.tokens.admin));
        assert_eq!(r.status, 200, "{}", r.text());
        first.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    json!({"restarts": n, "ready_ms_median": median(ready),
           "first_status_ms_median": median(first)})
}

fn main() {
    let mut stack = Stack::start(StackConfig::default());
    let admin = stack.tokens.admin.clone();
    let cold_start = {
        // Time from a fresh wrangler dev start to the first answered request is dominated by
        // the tooling; instead report the first request after start (isolate + wasm init).
        let t = Instant::now();
        let r = stack.get("/health", None);
        assert_eq!(r.status, 200);
        t.elapsed().as_secs_f64() * 1000.0
    };
    let results = vec![
        measure(&stack, "/health", None),
        measure(&stack, "/admin/status", Some(&admin)),
    ];
    let dry_run = dry_run_latency(&stack);
    let restarts = cold_restarts(&mut stack);
    drop(stack);
    // BENCH_INGEST=0 leaves the ingestion figures out (they take a couple of minutes).
    let ingest = if std::env::var("BENCH_INGEST").as_deref() == Ok("0") {
        Value::Null
    } else {
        ingest_throughput()
    };
    println!(
        "{}",
        json!({"latency": results, "first_request_ms": cold_start, "ingest": ingest,
               "dry_run": dry_run, "restarts": restarts})
    );
}

//! `scripts/bench.sh` runs this: it starts a fresh stack (simulator + wrangler dev) and measures
//! loopback latency of selected routes. Prints one JSON object on stdout; bench.sh renders it.
//!
//! Load is bounded: `BENCH_REQUESTS` requests per route and round (default 400) over
//! `BENCH_CONCURRENCY` threads (default 4), `BENCH_ROUNDS` rounds (default 3); only 127.0.0.1.

use paul_p_e2e::{send, Stack, StackConfig};
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

fn main() {
    let stack = Stack::start(StackConfig::default());
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
    println!(
        "{}",
        json!({"latency": results, "first_request_ms": cold_start})
    );
}

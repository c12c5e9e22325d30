//! Appends per second through the `AuditLog` Durable Object, unbatched (one event per
//! append) and batched (100 per append), on a fresh local stack; plus proof latency through
//! the object. Prints one JSON object on stdout for `scripts/bench.sh`.
//!
//! Every append is a real `POST /admin/audit/notes` (auth, Worker, object transaction, sync).
//! Bounded: `AUDIT_BENCH_SINGLE` single appends (default 600) and `AUDIT_BENCH_BATCHES`
//! batches of 100 (default 40), over `AUDIT_BENCH_CONCURRENCY` clients (default 8); loopback
//! only.

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
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `requests` POSTs of `body(i)` over `clients` threads: (events appended/s, p50 ms, p99 ms).
fn run(
    stack: &Stack,
    path: &str,
    requests: usize,
    clients: usize,
    per_request: usize,
    body: fn(usize) -> Value,
) -> (f64, f64, f64) {
    let url = stack.url(path);
    let auth = format!("Bearer {}", stack.tokens.admin);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (url, auth) = (url.clone(), auth.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                for i in (c..requests).step_by(clients) {
                    let t = Instant::now();
                    let r = send(
                        "POST",
                        &url,
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        Some(body(i).to_string().as_bytes()),
                    );
                    assert_eq!(r.status, 201, "{}", r.text());
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("bench client"))
        .collect();
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        (requests * per_request) as f64 / secs,
        percentile(&all, 50.0),
        percentile(&all, 99.0),
    )
}

fn single(i: usize) -> Value {
    json!({ "text": format!("bench note {i}") })
}

fn batch(i: usize) -> Value {
    let notes: Vec<String> = (0..100)
        .map(|k| format!("bench batch {i} note {k}"))
        .collect();
    json!({ "notes": notes })
}

fn main() {
    let stack = Stack::start(StackConfig::default());
    let single_n = env_usize("AUDIT_BENCH_SINGLE", 600);
    let batches = env_usize("AUDIT_BENCH_BATCHES", 40);
    let clients = env_usize("AUDIT_BENCH_CONCURRENCY", 8).max(1);
    // Warm-up: isolate start, object start, table creation.
    run(&stack, "/admin/audit/notes", 20, 1, 1, single);
    let (single_rate, single_p50, single_p99) =
        run(&stack, "/admin/audit/notes", single_n, clients, 1, single);
    let (batch_rate, batch_p50, batch_p99) = run(
        &stack,
        "/admin/audit/notes",
        batches,
        clients.min(4),
        100,
        batch,
    );

    let size = {
        let r = stack.get("/admin/audit/status", Some(&stack.tokens.admin));
        r.json()["size"].as_u64().expect("size")
    };
    let mut proof_ms: Vec<f64> = (0..200u64)
        .map(|k| {
            let seq = 1 + (k * 7_919) % size;
            let t = Instant::now();
            let r = stack.get(
                &format!("/admin/audit/proof/{seq}"),
                Some(&stack.tokens.admin),
            );
            assert_eq!(r.status, 200, "{}", r.text());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    proof_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{}",
        json!({
            "appends_unbatched": {
                "requests": single_n, "events_per_request": 1, "clients": clients,
                "events_per_s": single_rate, "p50_ms": single_p50, "p99_ms": single_p99,
            },
            "appends_batched": {
                "requests": batches, "events_per_request": 100, "clients": clients.min(4),
                "events_per_s": batch_rate, "p50_ms": batch_p50, "p99_ms": batch_p99,
            },
            "proof_through_object": {
                "log_size": size, "proofs": 200,
                "p50_ms": percentile(&proof_ms, 50.0), "p99_ms": percentile(&proof_ms, 99.0),
            },
        })
    );
}

//! Bounded loopback load test (`scripts/bench.sh`, section "Load"): a fresh stack, then for each
//! scenario rounds of closed-loop load from `LOAD_CONCURRENCY` client
//! threads (default 8), only to 127.0.0.1:
//!
//! Each scenario runs `LOAD_ROUNDS` rounds (default 3) of `LOAD_SECONDS` (default 10); the
//! report gives the medians over rounds.
//!
//! - `reads`: `GET /admin/circuit-breaker`, `/admin/risk`, `/admin/audit/status`, `/admin/runs`
//!   in turn;
//! - `risk_dry_runs`: `POST /admin/risk/check` with unique client order ids on a marked market
//!   (every check goes through the RiskGovernor object and appends its decision);
//! - `audit_appends`: `POST /admin/audit/notes`, one note per request.
//!
//! Prints one JSON object: per scenario the requests answered, the non-2xx count, throughput and
//! p50/p99 latency of the answered requests, and the transport errors (no answer within
//! `LOAD_TIMEOUT_SECONDS`, default 30, or a dropped connection). Any 5xx or transport error fails
//! the run (exit 1) after printing.

use paul_p_e2e::{Stack, StackConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// One request of a scenario: (method, path, body) for the `i`-th request of thread `t`.
type Make = Arc<dyn Fn(usize, usize) -> (&'static str, String, Option<Value>) + Send + Sync>;

/// One round of a scenario: `LOAD_SECONDS` of closed-loop load; request numbers start at
/// `first` (so ids stay unique across rounds).
fn round(stack: &Stack, make: &Make, first: usize) -> Value {
    let seconds = env_usize("LOAD_SECONDS", 10) as u64;
    let threads = env_usize("LOAD_CONCURRENCY", 8).max(1);
    let token = stack.tokens.admin.clone();
    let base = stack.base.clone();
    let non_2xx = Arc::new(AtomicUsize::new(0));
    let server_errors = Arc::new(AtomicUsize::new(0));
    let transport_errors = Arc::new(AtomicUsize::new(0));
    let timeout = Duration::from_secs(env_usize("LOAD_TIMEOUT_SECONDS", 30) as u64);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (make, token, base) = (Arc::clone(make), token.clone(), base.clone());
            let (non_2xx, server_errors) = (non_2xx.clone(), server_errors.clone());
            let transport_errors = transport_errors.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(timeout).build();
                let auth = format!("Bearer {token}");
                let mut lat = Vec::new();
                let mut i = first;
                while Instant::now() < deadline {
                    let (method, path, body) = make(t, i);
                    i += 1;
                    let bytes = body.map(|b| b.to_string().into_bytes());
                    let t0 = Instant::now();
                    let req = agent
                        .request(method, &format!("{base}{path}"))
                        .set("authorization", &auth)
                        .set("content-type", "application/json");
                    let result = match &bytes {
                        Some(b) => req.send_bytes(b),
                        None => req.call(),
                    };
                    let status = match result {
                        Ok(r) => read_status(r),
                        Err(ureq::Error::Status(_, r)) => read_status(r),
                        Err(e) => {
                            // A timeout or a dropped connection: counted, never retried.
                            transport_errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("load {method} {path}: {e}");
                            continue;
                        }
                    };
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    if !(200..300).contains(&status.0) {
                        non_2xx.fetch_add(1, Ordering::Relaxed);
                    }
                    if status.0 >= 500 {
                        server_errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("load {method} {path}: {} {}", status.0, status.1);
                    }
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("load thread"))
        .collect();
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({
        "seconds": seconds,
        "concurrency": threads,
        "requests": all.len(),
        "non_2xx": non_2xx.load(Ordering::Relaxed),
        "server_errors": server_errors.load(Ordering::Relaxed),
        "transport_errors": transport_errors.load(Ordering::Relaxed),
        "throughput_rps": all.len() as f64 / secs,
        "p50_ms": percentile(&all, 50.0),
        "p99_ms": percentile(&all, 99.0),
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// `LOAD_ROUNDS` rounds (default 3) of a scenario: counts summed, throughput and p50/p99 the
/// median over the rounds.
fn scenario(stack: &Stack, name: &str, make: Make) -> Value {
    let rounds: Vec<Value> = (0..env_usize("LOAD_ROUNDS", 3).max(1))
        .map(|r| round(stack, &make, r * 1_000_000_000))
        .collect();
    let sum = |k: &str| {
        rounds
            .iter()
            .map(|r| r[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let med = |k: &str| {
        median(
            rounds
                .iter()
                .map(|r| r[k].as_f64().unwrap_or(f64::NAN))
                .collect(),
        )
    };
    json!({
        "scenario": name,
        "rounds": rounds.len(),
        "seconds": rounds[0]["seconds"],
        "concurrency": rounds[0]["concurrency"],
        "requests": sum("requests"),
        "non_2xx": sum("non_2xx"),
        "server_errors": sum("server_errors"),
        "transport_errors": sum("transport_errors"),
        "throughput_rps": med("throughput_rps"),
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "per_round": rounds,
    })
}

/// The status and (for reporting a 5xx) the body of an answer, read to the end.
fn read_status(r: ureq::Response) -> (u16, String) {
    let status = r.status();
    (status, r.into_string().unwrap_or_default())
}

fn main() {
    let stack = Stack::start(StackConfig::default());
    // A marked market, so dry-run checks are evaluated in full.
    let ticker = stack.mark_priced_market();
    // Dry runs evaluated in full and mostly approved: a bucket that does not refuse, and
    // one-hundredth of a contract per check.
    stack.loosen_limits(
        json!({"order_rate": {"capacity": 10_000, "refill_per_minute": 60_000}}),
        "load test: time approvals, not the order-rate refusal",
    );

    const READS: [&str; 4] = [
        "/admin/circuit-breaker",
        "/admin/risk",
        "/admin/audit/status",
        "/admin/runs",
    ];
    let reads: Make = Arc::new(|t, i| ("GET", READS[(t + i) % READS.len()].to_string(), None));
    let checks: Make = Arc::new(move |t, i| {
        (
            "POST",
            "/admin/risk/check".to_string(),
            Some(
                json!({"client_order_id": format!("load-{t}-{i}"), "market": ticker,
                "side": "yes", "action": "buy", "qty": 1, "limit_price": 5000, "kind": "new"}),
            ),
        )
    });
    let notes: Make = Arc::new(|t, i| {
        (
            "POST",
            "/admin/audit/notes".to_string(),
            Some(json!({"text": format!("load test note {t}-{i}")})),
        )
    });
    let results = vec![
        scenario(&stack, "reads", reads),
        scenario(&stack, "risk_dry_runs", checks),
        scenario(&stack, "audit_appends", notes),
    ];
    let failed = results.iter().any(|r| {
        r["server_errors"].as_u64().unwrap_or(1) > 0
            || r["transport_errors"].as_u64().unwrap_or(1) > 0
    });
    println!("{}", json!({ "load": results }));
    if failed {
        std::process::exit(1);
    }
}

//! A simulated day of five-minute cycles (cron deliveries, scheduled times stepping five
//! minutes: the whole day of 288 of them, in the default suite; `FAULT_DAY_DELIVERIES` sets
//! another number for a quicker local look) trading live against a
//! simulator that fails at random on a seeded schedule (`PUT /__sim/chaos`: 5xx, 429, garbage
//! bodies, slow answers, dropped connections on Kalshi and Polymarket), light all day with a
//! storm of heavy faults in between; after the storm an operator brings a halted breaker back.
//!
//! - The breaker is predicted, not hard-coded: every outcome the day's runs recorded (each
//!   ingestion's breaker reports, each live order's execution outcome, each reconciliation's
//!   outcome) is replayed in order through the pure governor (`core::risk::apply`), and the
//!   Worker's breaker must be in the predicted state after every delivery. The recorded
//!   outcomes are tied to the schedule: an ingestion whose requests the schedule left alone
//!   reports success, and a reported source failure had a scheduled failure on that source.
//! - No order reaches the venue while the breaker is in HALT (the simulator's request log
//!   against the breaker's transition history).
//! - Once the faults stop, reconciliation is clean: our orders and fills are the venue's.

use paul_p::core::breaker::{BreakerConfig, BreakerState, FailureSource, TransitionRequest};
use paul_p::core::risk::{
    apply, DriftSeverity, Effect, Event, GovernorState, ReconciliationOutcome, RiskLimits,
};
use paul_p::core::run_audit::cron_run_id;
use paul_p::core::time::{format_utc, from_millis};
use paul_p_e2e::{find_step, next_boundary_ms, now_ms, start_live_trading, Stack, SMALL_UNIVERSE};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const CRON: &str = "*/5 * * * *";
/// A whole day of five-minute deliveries is 288 (about 0.7 s each here, so 3–4 minutes); the
/// default suite runs all of them. `FAULT_DAY_DELIVERIES` sets another number (e.g. 96, eight
/// hours, while iterating on this test).
const DEFAULT_DELIVERIES: i64 = 288;
/// A storm of faults between these deliveries (a quarter to a third of the way in): enough
/// consecutive failures to escalate the breaker.
fn storm(deliveries: i64) -> std::ops::Range<i64> {
    deliveries / 4..deliveries / 3
}
const STEP_MS: i64 = 300_000;
const SEED: u64 = 20_261_122;
/// The breaker thresholds this stack runs with (the replay uses the same).
const CAUTION_AFTER: u32 = 3;
const HALT_AFTER: u32 = 6;
/// Ingestion gives up on a request after this long; the schedule's slow answers take longer.
const FETCH_TIMEOUT_MS: u64 = 1_000;
const SLOW_MS: u64 = 1_500;

fn vars() -> Vec<(String, String)> {
    [
        ("CAUTION_AFTER_FAILURES", CAUTION_AFTER.to_string()),
        ("HALT_AFTER_FAILURES", HALT_AFTER.to_string()),
        ("INGEST_FETCH_TIMEOUT_MS", FETCH_TIMEOUT_MS.to_string()),
        // Quick retries: the day is simulated, the test's wall clock is not.
        ("INGEST_RETRY_BASE_MS", "10".to_string()),
        ("INGEST_RETRY_MAX_DELAY_MS", "50".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn run(stack: &Stack, job: &str, at_ms: i64) -> Option<Value> {
    let id = cron_run_id(job, CRON, from_millis(at_ms).unwrap());
    let r = stack.get(&format!("/admin/runs/{id}"), Some(&stack.tokens.admin));
    match r.status {
        200 => Some(r.json()),
        404 => None,
        s => panic!("run {id}: {s} {}", r.text()),
    }
}

/// One delivery as the test saw it.
struct Delivery {
    at_ms: i64,
    /// Real-clock window of the delivery.
    from_ms: i64,
    to_ms: i64,
    /// The breaker's state when it was over.
    state: String,
}

/// The governor events a delivery's records say were reported, in the order the Worker
/// sends them: ingestion's breaker reports, then the cycle's live execution outcome, the
/// paper reconciliation (unless it was clean: the stack trades live), the live reconciliation.
fn reported_events(ingest: Option<&Value>, cycle: Option<&Value>) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(report) = ingest.and_then(|r| find_step(r, "breaker_report")) {
        for detail in report["counts"]["reports"].as_array().into_iter().flatten() {
            let detail = detail.as_str().unwrap();
            let source = FailureSource::VenueApi;
            events.push(if detail.starts_with("INGEST_SOURCE_OK") {
                Event::SuccessReported { source }
            } else {
                assert!(detail.starts_with("INGEST_SOURCE_FAILED"), "{detail}");
                Event::FailureReported {
                    source,
                    detail: detail.to_string(),
                }
            });
        }
    }
    let Some(cycle) = cycle else {
        return events;
    };
    if let Some(signals) = find_step(cycle, "signals") {
        let c = &signals["counts"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        assert!(
            n("live_placed") + n("live_unknown") <= 1,
            "one pair, one order per cycle: {c}"
        );
        for _ in 0..n("live_placed") {
            events.push(Event::SuccessReported {
                source: FailureSource::Execution,
            });
        }
        for _ in 0..n("live_unknown") {
            events.push(Event::FailureReported {
                source: FailureSource::Execution,
                detail: "unknown".into(),
            });
        }
    }
    for name in ["reconcile", "reconcile_live"] {
        let Some(s) = find_step(cycle, name) else {
            continue;
        };
        let c = &s["counts"];
        // A clean paper reconciliation while trading live is recorded but not reported (the
        // live one speaks for the breaker); the Worker says so in the summary.
        if c["breaker_counted"] == false {
            assert_eq!(
                (name, c["outcome"].as_str()),
                ("reconcile", Some("clean")),
                "{s}"
            );
            continue;
        }
        let outcome = match c["outcome"].as_str() {
            Some("clean") => ReconciliationOutcome::Clean,
            Some("failed") => ReconciliationOutcome::Failed {
                detail: c["failure"].to_string(),
            },
            Some("drift") => ReconciliationOutcome::Drift {
                severity: match c["severity"].as_str() {
                    Some("HALT") => DriftSeverity::Halt,
                    Some("CAUTION") => DriftSeverity::Caution,
                    other => panic!("drift severity {other:?}: {s}"),
                },
                detail: c["findings"].to_string(),
            },
            // The step failed before the governor was told (nothing reported).
            _ => {
                assert_eq!(s["status"], "FAIL", "{s}");
                continue;
            }
        };
        events.push(Event::Reconciliation { outcome });
    }
    events
}

/// Which source a simulator request belongs to, for the schedule cross-check.
fn source_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/trade-api/v2/portfolio") {
        None
    } else if path.starts_with("/trade-api/v2") {
        Some("kalshi")
    } else if path.starts_with("/gamma") {
        Some("polymarket_gamma")
    } else {
        None
    }
}

#[test]
fn a_seeded_fault_day_ends_in_the_predicted_breaker_state_with_no_order_sent_in_halt() {
    let started = std::time::Instant::now();
    let stack = start_live_trading(vars(), SMALL_UNIVERSE);
    // First, deterministically: the venue fills an order but the read of its fills is lost.
    // The order stays `submitted` and the same cycle's reconciliation resolves it from the
    // venue's order list and records its fills (it used to be recorded `filled` without them:
    // an unrecorded venue fill, drift and HALT for good).
    let t_pre = next_boundary_ms();
    let lost = stack.sim_fault(
        &json!({"method": "GET", "path": "/trade-api/v2/portfolio/fills",
        "match": "exact", "kind": "drop", "times": 1}),
    );
    let from_ms = now_ms();
    let r = stack.scheduled(CRON, t_pre);
    assert_eq!(r.status, 200, "{}", r.text());
    let pre = Delivery {
        at_ms: t_pre,
        from_ms,
        to_ms: now_ms(),
        state: stack.breaker_state(),
    };
    let faults = stack.sim("GET", "/__sim/faults", None).json();
    assert_eq!(faults["faults"][0]["id"], lost);
    assert_eq!(faults["faults"][0]["applied"], 1, "{faults}");
    let cycle = run(&stack, "cycle", t_pre).unwrap();
    assert_eq!(
        find_step(&cycle, "signals").unwrap()["counts"]["live_placed"],
        1,
        "{cycle}"
    );
    let rec = find_step(&cycle, "reconcile_live").unwrap();
    assert_eq!(rec["counts"]["outcome"], "clean", "{cycle}");
    assert_eq!(rec["counts"]["unknown_orders_resolved"], 1, "{cycle}");
    let portfolio = stack.sim("GET", "/__sim/kalshi/portfolio", None).json();
    let fills = stack.d1_retry("SELECT COUNT(*) AS n FROM fills WHERE mode = 'live'");
    assert_eq!(fills[0]["n"], portfolio["fills"], "{portfolio}");
    assert_eq!(pre.state, "NORMAL");
    let r = stack.sim("DELETE", "/__sim/faults", None);
    assert_eq!(r.status, 200);

    let deliveries_n: i64 = std::env::var("FAULT_DAY_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_DELIVERIES);
    let storm = storm(deliveries_n);
    // The schedule: light faults all day, heavy during the storm (the same seed both times,
    // so the whole day is one seeded schedule).
    let chaos = |heavy: bool| {
        let p = if heavy {
            json!({"status": 0.25, "rate_limit": 0.1, "garbage": 0.1, "slow": 0.05, "drop": 0.1})
        } else {
            json!({"status": 0.02, "rate_limit": 0.02, "garbage": 0.01, "slow": 0.02, "drop": 0.01})
        };
        let r = stack.sim(
            "PUT",
            "/__sim/chaos",
            Some(
                &json!({"seed": SEED, "paths": ["/trade-api/v2", "/gamma", "/clob"],
                         "probabilities": p, "status": 503, "slow_ms": SLOW_MS}),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    chaos(false);
    let mut chosen: BTreeMap<String, u64> = BTreeMap::new();
    let mut tally = |described: Value| {
        for (k, v) in described["chosen"].as_object().into_iter().flatten() {
            *chosen.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
        }
    };
    // Operator transitions the Worker accepted, by delivery index (they follow it).
    let mut operator: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let day_start = started.elapsed();

    let t0 = t_pre + STEP_MS;
    let mut deliveries = vec![pre];
    for i in 0..deliveries_n {
        if i == storm.start || i == storm.end {
            tally(stack.sim("GET", "/__sim/chaos", None).json());
            chaos(i == storm.start);
        }
        let at_ms = t0 + i * STEP_MS;
        let from_ms = now_ms();
        let r = stack.scheduled(CRON, at_ms);
        assert_eq!(r.status, 200, "delivery {i}: {}", r.text());
        let to_ms = now_ms();
        let mut state = stack.breaker_state();
        // After the storm an operator brings a halted breaker back (HALT -> RECOVERY needs a
        // clean reconciliation since the halt; refused until there is one).
        if i >= storm.end && state == "HALT" {
            let index = deliveries.len();
            for target in ["RECOVERY", "NORMAL"] {
                let r = stack.json(
                    "POST",
                    "/admin/circuit-breaker/transition",
                    &stack.tokens.alice,
                    &json!({"targetState": target, "reason": "storm over"}),
                );
                if r.status != 200 {
                    assert_eq!(r.status, 409, "{}", r.text());
                    break;
                }
                operator.entry(index).or_default().push(target);
                state = target.to_string();
            }
        }
        deliveries.push(Delivery {
            at_ms,
            from_ms,
            to_ms,
            state,
        });
    }
    tally(stack.sim("GET", "/__sim/chaos", None).json());
    let day_secs = (started.elapsed() - day_start).as_secs_f64();
    // Faults stop; one more delivery reconciles on a healthy venue.
    let r = stack.sim("DELETE", "/__sim/chaos", None);
    assert_eq!(r.status, 200);
    std::thread::sleep(std::time::Duration::from_millis(SLOW_MS + 500));
    let last = t0 + deliveries_n * STEP_MS;
    let r = stack.scheduled(CRON, last);
    assert_eq!(r.status, 200, "{}", r.text());

    // --- The breaker after every delivery is the replay's ---
    let config = BreakerConfig {
        caution_after: CAUTION_AFTER,
        halt_after: HALT_AFTER,
        ..BreakerConfig::default()
    };
    let now = from_millis(t_pre).unwrap();
    let mut predicted = GovernorState::new(config, RiskLimits::default(), now).unwrap();
    let requests = stack.sim_requests("/");
    let mut reported_failures: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, d) in deliveries.iter().enumerate() {
        let ingest = run(&stack, "ingest", d.at_ms);
        let cycle = run(&stack, "cycle", d.at_ms);
        for event in reported_events(ingest.as_ref(), cycle.as_ref()) {
            let (next, _) = apply(predicted, event, now);
            predicted = next;
        }
        for target in operator.get(&i).into_iter().flatten() {
            let request = TransitionRequest {
                target: match *target {
                    "RECOVERY" => BreakerState::Recovery,
                    _ => BreakerState::Normal,
                },
                reason: "storm over".into(),
                actor: "alice".into(),
            };
            let (next, fx) = apply(predicted, Event::ManualTransition(request), now);
            assert!(
                fx.iter().all(|e| !matches!(e, Effect::Rejected(_))),
                "the rules refuse what the Worker accepted: {fx:?}"
            );
            predicted = next;
        }
        assert_eq!(
            predicted.breaker().state().as_str(),
            d.state,
            "delivery {i} at {}: the breaker is not in the state the rules predict ({:?})",
            format_utc(from_millis(d.at_ms).unwrap()),
            predicted.breaker().streaks()
        );
        // The recorded ingestion outcome is the schedule's: sources it left alone succeeded,
        // and a failed source met a scheduled failure in this delivery.
        let window: Vec<&Value> = requests
            .iter()
            .filter(|r| {
                let arrived = r["ts_ms"].as_i64().unwrap() - r["duration_ms"].as_i64().unwrap();
                arrived >= d.from_ms && arrived <= d.to_ms
            })
            .collect();
        if let Some(report) = ingest.as_ref().and_then(|r| find_step(r, "breaker_report")) {
            for detail in report["counts"]["reports"].as_array().into_iter().flatten() {
                let detail = detail.as_str().unwrap();
                let source = if detail.contains("source=kalshi") {
                    "kalshi"
                } else {
                    "polymarket_gamma"
                };
                // A scheduled failure, or an answer slower than ingestion waits (a busy
                // machine is a slow venue too).
                let hit = window.iter().any(|r| {
                    source_of(r["path"].as_str().unwrap()) == Some(source)
                        && (!r["chaos"].is_null()
                            || r["duration_ms"].as_u64().unwrap_or(0) >= FETCH_TIMEOUT_MS)
                });
                if detail.starts_with("INGEST_SOURCE_FAILED") {
                    *reported_failures.entry(source).or_default() += 1;
                    assert!(hit, "delivery {i}: {detail} without a scheduled failure");
                }
            }
            let any_hit = window.iter().any(|r| {
                source_of(r["path"].as_str().unwrap()).is_some()
                    && (!r["chaos"].is_null()
                        || r["duration_ms"].as_u64().unwrap_or(0) >= FETCH_TIMEOUT_MS)
            });
            if !any_hit {
                let reports = report["counts"]["reports"].to_string();
                assert!(
                    !reports.contains("INGEST_SOURCE_FAILED"),
                    "delivery {i}: no scheduled failure, yet {reports}"
                );
            }
        }
    }
    let state = stack
        .get("/admin/circuit-breaker", Some(&stack.tokens.admin))
        .json();
    assert_eq!(
        state["state"],
        predicted.breaker().state().as_str(),
        "{state}"
    );

    // --- No order reached the venue while the breaker was in HALT ---
    // HALT lasts from a transition into it to the next transition out of it (escalation never
    // leaves HALT; only the operator above did). Every transition is one the replay models.
    let history = state["transitions"]
        .as_array()
        .cloned()
        .expect("the breaker's transitions");
    let mut halted: Vec<(i64, i64)> = Vec::new();
    for t in &history {
        let kind = t["cause"]["kind"].as_str().unwrap_or("");
        assert!(
            matches!(kind, "failure_streak" | "reconciliation_drift" | "manual"),
            "a transition the replay does not model: {t}"
        );
        let at = t["at"].as_i64().unwrap();
        if t["to"] == "HALT" && t["from"] != "HALT" {
            halted.push((at, i64::MAX));
        } else if t["from"] == "HALT" && t["to"] != "HALT" {
            halted.last_mut().expect("left a HALT it entered").1 = at;
        }
    }
    assert!(
        operator.is_empty() || !halted.is_empty(),
        "the operator recovered from a HALT the history does not show: {state}"
    );
    let posts: Vec<&Value> = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/trade-api/v2/portfolio/orders")
        .collect();
    for p in &posts {
        let arrived = p["ts_ms"].as_i64().unwrap() - p["duration_ms"].as_i64().unwrap();
        assert!(
            !halted
                .iter()
                .any(|(from, to)| arrived >= *from && arrived < *to),
            "an order reached the venue in HALT {halted:?}: {p}"
        );
    }
    for (i, d) in deliveries.iter().enumerate().skip(1) {
        if deliveries[i - 1].state == "HALT" {
            let sent = posts.iter().any(|p| {
                let arrived = p["ts_ms"].as_i64().unwrap();
                arrived >= d.from_ms && arrived <= d.to_ms
            });
            assert!(!sent, "delivery {i} sent an order in HALT");
        }
    }

    // --- Reconciliation ends clean: our orders and fills are the venue's ---
    let end = run(&stack, "cycle", last).expect("the last cycle ran");
    let rec = find_step(&end, "reconcile_live").expect("live reconciliation ran");
    assert_eq!(rec["counts"]["outcome"], "clean", "{end}");
    assert_eq!(
        find_step(&end, "reconcile").unwrap()["counts"]["outcome"],
        "clean"
    );
    let open = stack.d1_retry(
        "SELECT COUNT(*) AS n FROM orders WHERE mode = 'live' AND state IN ('submitted', 'unknown')",
    );
    assert_eq!(open[0]["n"], 0, "orders left unresolved");
    let portfolio = stack.sim("GET", "/__sim/kalshi/portfolio", None).json();
    let ours = stack.d1_retry(
        "SELECT (SELECT COUNT(*) FROM orders WHERE mode = 'live' AND venue_order_id IS NOT NULL) AS orders, \
                (SELECT COUNT(*) FROM fills WHERE mode = 'live') AS fills",
    );
    assert_eq!(
        ours[0]["orders"], portfolio["orders"],
        "{ours:?} vs {portfolio}"
    );
    assert_eq!(
        ours[0]["fills"], portfolio["fills"],
        "{ours:?} vs {portfolio}"
    );
    stack.assert_audit_verifies();

    eprintln!(
        "fault day: {deliveries_n} deliveries in {day_secs:.0} s ({:.2} s each), whole test {:.0} s; \
         storm {storm:?}; scheduled failures {chosen:?}; operator {operator:?}; orders sent {}; \
         reported source failures {reported_failures:?}; \
         breaker history {}; final {}",
        day_secs / deliveries_n as f64,
        started.elapsed().as_secs_f64(),
        posts.len(),
        history
            .iter()
            .map(|t| format!("{}->{}", t["from"].as_str().unwrap_or("?"), t["to"].as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(","),
        state["state"]
    );
}

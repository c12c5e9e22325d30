//! Operator actions racing live trading cycles, on threads: an operator walking the breaker
//! (CAUTION, NORMAL, HALT, reconcile, RECOVERY, NORMAL, over and over), another tightening the
//! per-order notional limit a cent at a time, and two-person loosenings of another limit,
//! each approved by two operators at once — while cron deliveries run the cycle back to back.
//!
//! Afterwards every invariant must hold, checked from the audit log (one total order: the
//! governor appends every decision before it persists it) and the simulator's records:
//! - no order approved in HALT, and each approval saw the breaker state the log says it was in;
//! - every approved order within the per-order limit in force then (halved in CAUTION and
//!   RECOVERY);
//! - each approval executed at most once (exactly one of two racing approvers wins), and a
//!   two-person change never undoes a tightening made meanwhile, nor a tightening (merged onto
//!   the limits it read) a loosening approved meanwhile: the later one is refused
//!   `LIMITS_CHANGED_SINCE_REQUEST` and the operator reads again and retries;
//! - no order sent twice, no submission audited twice, our orders and fills the venue's;
//! - no 5xx anywhere; the audit log verifies.

use paul_p_e2e::{next_boundary_ms, start_live_trading, Stack, SMALL_UNIVERSE};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const CRON: &str = "*/5 * * * *";
const CYCLES: i64 = 8;
const STEP_MS: i64 = 300_000;
const LOOSENED: &str = "max_category_exposure_bps";

fn limits(stack: &Stack) -> Value {
    let r = stack.get("/admin/risk", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["limits"].clone()
}

fn no_5xx(what: &str, r: &paul_p_e2e::Resp) {
    assert!(r.status < 500, "{what}: {} {}", r.status, r.text());
    if r.status >= 400 {
        r.error_code(); // an error envelope
    }
}

fn as_i64(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[test]
fn operator_actions_racing_live_cycles_keep_every_invariant() {
    let started = std::time::Instant::now();
    let stack = start_live_trading(vec![], SMALL_UNIVERSE);
    let before = limits(&stack);
    let t0 = next_boundary_ms();
    let done = AtomicBool::new(false);
    let tightened: Mutex<Vec<i64>> = Mutex::new(Vec::new());
    let tightening_retries = Mutex::new(0u32);
    let approvals: Mutex<Vec<(String, u16, u16, i64)>> = Mutex::new(Vec::new());
    let transitions = Mutex::new(0u32);

    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 0..CYCLES {
                let r = stack.scheduled(CRON, t0 + k * STEP_MS);
                assert_eq!(r.status, 200, "delivery {k}: {}", r.text());
            }
            done.store(true, Ordering::SeqCst);
        });
        s.spawn(|| {
            let walk = [
                "CAUTION",
                "NORMAL",
                "HALT",
                "reconcile",
                "RECOVERY",
                "NORMAL",
            ];
            while !done.load(Ordering::SeqCst) {
                for target in walk {
                    let r = if target == "reconcile" {
                        // Trading live: the live reconciliation backs HALT -> RECOVERY.
                        stack.json(
                            "POST",
                            "/admin/reconcile",
                            &stack.tokens.alice,
                            &json!({"mode": "live"}),
                        )
                    } else {
                        stack.json(
                            "POST",
                            "/admin/circuit-breaker/transition",
                            &stack.tokens.alice,
                            &json!({"targetState": target, "reason": "race drill"}),
                        )
                    };
                    no_5xx(target, &r);
                    if r.status == 200 && target != "reconcile" {
                        *transitions.lock().unwrap() += 1;
                    }
                    // NORMAL lasts longest, so orders are approved between the walks.
                    let pause = if target == "NORMAL" { 1_500 } else { 200 };
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                }
            }
        });
        s.spawn(|| {
            let mut notional = as_i64(&before["max_order_notional"]);
            // A cent at a time: the pair's order (213 contracts at $0.45, $95.85) stays within
            // the limit in NORMAL while it shrinks.
            while !done.load(Ordering::SeqCst) && notional > 1_000_000 {
                notional -= 10_000;
                // Refused only when a loosening landed between the read and the write; the
                // operator retries, and a tightening always lands in the end.
                let body =
                    json!({"limits": {"max_order_notional": notional}, "reason": "race: tighten"});
                let mut tries = 0;
                loop {
                    let r = stack.json("PUT", "/admin/risk/limits", &stack.tokens.bob, &body);
                    no_5xx("tighten", &r);
                    if r.status == 200 {
                        break;
                    }
                    assert_eq!(
                        (r.status, r.error_code().as_str()),
                        (409, "LIMITS_CHANGED_SINCE_REQUEST"),
                        "a tightening is refused only for a concurrent change: {}",
                        r.text()
                    );
                    tries += 1;
                    assert!(tries < 20, "a tightening never landed");
                    *tightening_retries.lock().unwrap() += 1;
                }
                tightened.lock().unwrap().push(notional);
                std::thread::sleep(std::time::Duration::from_millis(150));
            }
        });
        s.spawn(|| {
            let mut value = as_i64(&before[LOOSENED]);
            while !done.load(Ordering::SeqCst) {
                value += 1;
                let r = stack.json(
                    "POST",
                    "/admin/approvals",
                    &stack.tokens.alice,
                    &json!({"action": "risk.loosen_limits",
                            "params": {"limits": {LOOSENED: value}, "reason": "race: loosen"},
                            "reason": "race"}),
                );
                no_5xx("request", &r);
                assert_eq!(r.status, 201, "{}", r.text());
                let id = r.json()["approval"]["id"].as_str().unwrap().to_string();
                let path = format!("/admin/approvals/{id}/approve");
                let (a, b) = std::thread::scope(|inner| {
                    let a =
                        inner.spawn(|| stack.json("POST", &path, &stack.tokens.bob, &json!({})));
                    let b =
                        inner.spawn(|| stack.json("POST", &path, &stack.tokens.admin, &json!({})));
                    (a.join().unwrap(), b.join().unwrap())
                });
                no_5xx("approve", &a);
                no_5xx("approve", &b);
                approvals
                    .lock()
                    .unwrap()
                    .push((id, a.status, b.status, value));
            }
        });
    });
    let race_secs = started.elapsed().as_secs_f64();

    // --- Approvals: one winner each, executed at most once ---
    let approvals = approvals.into_inner().unwrap();
    assert!(!approvals.is_empty());
    let events = stack.audit_events();
    let kind_count = |kind: &str, id: &str| {
        events
            .iter()
            .filter(|e| e["kind"] == kind && e["payload"]["approval"]["approval_id"] == id)
            .count()
    };
    let mut last_loosening = as_i64(&before[LOOSENED]);
    for (id, a, b, value) in &approvals {
        let mut statuses = [*a, *b];
        statuses.sort();
        // The winner answers 200 (executed) or 409 APPROVAL_ACTION_FAILED (refused when it
        // ran); the loser 409 APPROVAL_ALREADY_DECIDED.
        assert!(
            statuses == [200, 409] || statuses == [409, 409],
            "approval {id}: {a} and {b}"
        );
        assert_eq!(kind_count("APPROVAL_APPROVED", id), 1, "approval {id}");
        let executed = kind_count("APPROVAL_EXECUTED", id);
        let failed = kind_count("APPROVAL_FAILED", id);
        assert_eq!(executed + failed, 1, "approval {id} ran once");
        assert_eq!(executed == 1, statuses == [200, 409], "approval {id}");
        if executed == 1 {
            last_loosening = *value;
        }
    }

    // --- The audit log in order: breaker, limits and every order decision ---
    let mut breaker = "NORMAL".to_string();
    let mut current: Value = before.clone();
    let mut approved_buys = 0;
    let mut approved_in_caution = 0;
    let mut submitted: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        let p = &e["payload"];
        match (e["kind"].as_str().unwrap(), p["type"].as_str()) {
            (_, Some("breaker_transition" | "breaker_escalation")) => {
                assert_eq!(p["from"], breaker.as_str(), "{e}");
                breaker = p["to"].as_str().unwrap().to_string();
            }
            (_, Some("limits_changed")) => {
                assert_eq!(
                    p["before"], current,
                    "limits changed from what was in force: {e}"
                );
                if p["two_person_approved"] == true {
                    // A two-person change moves only what it loosens.
                    let changed: Vec<&str> = p["changed"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap())
                        .collect();
                    assert_eq!(
                        changed,
                        vec![LOOSENED],
                        "an approval undid another change: {e}"
                    );
                }
                current = p["after"].clone();
            }
            (_, Some("order_approved")) => {
                assert_eq!(p["breaker"], breaker.as_str(), "{e}");
                let intent = &p["intent"];
                if p["effect"].is_null() {
                    continue; // a cancel
                }
                if intent["action"] == "buy" {
                    approved_buys += 1;
                    assert_ne!(breaker, "HALT", "an order approved in HALT: {e}");
                    let divisor = if breaker == "NORMAL" { 1 } else { 2 };
                    if divisor == 2 {
                        approved_in_caution += 1;
                    }
                    let notional = as_i64(&intent["limit_price"]) * as_i64(&intent["qty"]);
                    assert!(
                        notional * divisor <= as_i64(&current["max_order_notional"]),
                        "over the per-order limit in force ({current}): {e}"
                    );
                }
            }
            ("ORDER_SUBMITTED", _) => {
                let id = p["order"]["client_order_id"].as_str().unwrap().to_string();
                *submitted.entry(id).or_default() += 1;
            }
            _ => {}
        }
    }
    assert!(approved_buys > 0, "no order was approved during the race");
    let now = limits(&stack);
    assert_eq!(
        now, current,
        "the governor's limits are the last audited change"
    );
    let last_tightening = *tightened.lock().unwrap().last().expect("some tightening");
    assert_eq!(
        as_i64(&now["max_order_notional"]),
        last_tightening,
        "no tightening was undone"
    );
    assert_eq!(
        as_i64(&now[LOOSENED]),
        last_loosening,
        "no loosening was undone"
    );
    assert!(submitted.values().all(|n| *n == 1), "{submitted:?}");

    // --- Orders at the venue: each once, each approved, ours and the venue's agree ---
    let posts: Vec<Value> = stack
        .sim_requests("/trade-api/v2/portfolio/orders")
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .collect();
    assert!(posts.iter().all(|p| p["status"] != 409), "{posts:?}");
    assert!(
        posts.len() <= approved_buys,
        "{} posts, {approved_buys} approvals",
        posts.len()
    );
    let portfolio = stack.sim("GET", "/__sim/kalshi/portfolio", None).json();
    let ours = stack.d1_retry(
        "SELECT (SELECT COUNT(*) FROM orders WHERE mode = 'live' AND venue_order_id IS NOT NULL) AS orders, \
                (SELECT COUNT(*) FROM orders WHERE mode = 'live' AND state IN ('submitted', 'unknown')) AS open, \
                (SELECT COUNT(*) FROM fills WHERE mode = 'live') AS fills",
    );
    assert_eq!(
        ours[0]["orders"], portfolio["orders"],
        "{ours:?} {portfolio}"
    );
    assert_eq!(ours[0]["fills"], portfolio["fills"], "{ours:?} {portfolio}");
    assert_eq!(ours[0]["open"], 0, "{ours:?}");
    stack.assert_audit_verifies();
    eprintln!(
        "races: {CYCLES} deliveries raced in {race_secs:.0} s, whole test {:.0} s; {} approvals, \
         {} tightenings ({} retried), {} manual transitions, {approved_buys} orders approved \
         ({approved_in_caution} at half size), {} sent",
        started.elapsed().as_secs_f64(),
        approvals.len(),
        tightened.lock().unwrap().len(),
        tightening_retries.lock().unwrap(),
        transitions.lock().unwrap(),
        posts.len()
    );
}

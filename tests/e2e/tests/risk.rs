//! The risk governor end to end: breaker transitions through HTTP, limits that only tighten
//! without two operators, state that survives a restart of wrangler dev.

use paul_p_e2e::{shared, Stack, StackConfig};
use serde_json::{json, Value};

fn transition(stack: &Stack, token: &str, target: &str, reason: &str) -> paul_p_e2e::Resp {
    stack.json(
        "POST",
        "/admin/circuit-breaker/transition",
        token,
        &json!({"targetState": target, "reason": reason}),
    )
}

fn breaker(stack: &Stack) -> Value {
    let r = stack.get("/admin/circuit-breaker", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn manual_transitions_follow_the_table_and_record_the_operator() {
    let stack = Stack::start(StackConfig::default());
    let alice = stack.tokens.alice.clone();
    assert_eq!(breaker(&stack)["state"], "NORMAL");

    // NORMAL -> RECOVERY is not a transition.
    let r = transition(&stack, &alice, "RECOVERY", "skip ahead");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "INVALID_TRANSITION");

    let r = transition(&stack, &alice, "CAUTION", "venue looks slow");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "CAUTION");
    assert_eq!(r.json()["actor"], "alice");

    // Same state: a recorded no-op.
    let before = breaker(&stack)["transitions"].as_array().unwrap().len();
    let r = transition(&stack, &alice, "CAUTION", "still slow");
    assert_eq!(r.status, 200, "{}", r.text());
    let after = breaker(&stack)["transitions"].as_array().unwrap().len();
    assert_eq!(
        after,
        before + 1,
        "a same-state transition is still recorded"
    );

    let r = transition(&stack, &alice, "HALT", "Emergency halt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "HALT");

    // HALT -> NORMAL skips the manual recovery step.
    let r = transition(&stack, &alice, "NORMAL", "all good");
    assert_eq!(r.error_code(), "INVALID_TRANSITION");

    // HALT -> RECOVERY needs a recent clean reconciliation; there has been none.
    let r = transition(&stack, &alice, "RECOVERY", "looks fine now");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "RECOVERY_REQUIRES_CLEAN_RECONCILIATION");
    assert_eq!(breaker(&stack)["state"], "HALT");

    // A reason is required and bounded.
    let r = transition(&stack, &alice, "HALT", "");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = transition(&stack, &alice, "HALT", &"x".repeat(501));
    assert_eq!(r.status, 400, "{}", r.text());

    let history = breaker(&stack)["transitions"].as_array().unwrap().clone();
    let last = history.last().unwrap();
    assert_eq!(last["to"], "HALT");
    assert_eq!(last["actor"], "alice");
}

#[test]
fn limits_tighten_at_once_and_loosening_needs_two_operators() {
    let stack = shared();
    let admin = stack.tokens.admin.clone();
    let risk = stack.get("/admin/risk", Some(&admin)).json();
    let current = risk["limits"]["max_position_size_bps"].as_i64().unwrap();
    assert_eq!(current, 500, "the guide's 5% default");
    assert!(risk["utilisation"].as_array().unwrap().len() >= 6, "{risk}");

    let tighter =
        json!({"limits": {"max_position_size_bps": 400}, "reason": "tighten for the test"});
    let r = stack.json("PUT", "/admin/risk/limits", &admin, &tighter);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["limits"]["max_position_size_bps"], 400);

    let looser = json!({"limits": {"max_position_size_bps": 600}, "reason": "loosen"});
    let r = stack.json("PUT", "/admin/risk/limits", &admin, &looser);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "REQUIRES_TWO_PERSON_APPROVAL");

    for bad in [
        json!({"limits": {"max_position_size_bps": -1}, "reason": "x"}),
        json!({"limits": {"max_position_size_bps": 10001}, "reason": "x"}),
        json!({"limits": {"max_position_size_bps": "NaN"}, "reason": "x"}),
        json!({"limits": {"no_such_limit": 1}, "reason": "x"}),
        json!({"limits": {"max_position_size_bps": 1.5}, "reason": "x"}),
    ] {
        let r = stack.json("PUT", "/admin/risk/limits", &admin, &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let after = stack.get("/admin/risk", Some(&admin)).json();
    assert_eq!(
        after["limits"]["max_position_size_bps"], 400,
        "refused changes changed nothing"
    );
}

#[test]
fn dry_run_without_market_data_is_refused_with_a_code() {
    let stack = shared();
    let intent = json!({
        "client_order_id": "dry-unknown-1",
        "market": "KXNOPE-26-X",
        "side": "yes",
        "action": "buy",
        "qty": 100,
        "limit_price": 5000,
        "kind": "new"
    });
    let r = stack.json("POST", "/admin/risk/check", &stack.tokens.admin, &intent);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["verdict"]["approved"], false, "{v}");
    let codes: Vec<String> = v["verdict"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(
        codes.contains(&"RISK_DATA_MISSING".to_string()),
        "{codes:?}"
    );
    let d = stack
        .get("/admin/risk/decisions?limit=5", Some(&stack.tokens.admin))
        .json();
    assert!(d["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["client_order_id"] == "dry-unknown-1" && x["approved"] == false));
}

#[test]
fn breaker_state_and_limits_survive_a_wrangler_dev_restart() {
    let mut stack = Stack::start(StackConfig::default());
    let admin = stack.tokens.admin.clone();
    let r = transition(&stack, &admin, "CAUTION", "before restart");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = stack.json(
        "PUT",
        "/admin/risk/limits",
        &admin,
        &json!({"limits": {"max_concentration_bps": 900}, "reason": "before restart"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    stack.restart();

    let b = breaker(&stack);
    assert_eq!(b["state"], "CAUTION");
    assert_eq!(b["reason"], "before restart");
    let risk = stack.get("/admin/risk", Some(&admin)).json();
    assert_eq!(risk["limits"]["max_concentration_bps"], 900);
}

/// An open Kalshi market the simulator serves that settles well after the minimum time to
/// settlement, with a two-sided quote.
fn a_far_open_market(stack: &Stack) -> String {
    let r = stack.sim("GET", "/trade-api/v2/markets?status=open&limit=1000", None);
    assert_eq!(r.status, 200);
    let horizon = chrono_like_now_plus_days(2);
    for m in r.json()["markets"].as_array().unwrap() {
        let close = m["close_time"].as_str().unwrap_or("");
        let quoted = m["yes_ask_dollars"]
            .as_str()
            .map(|p| p != "0.0000" && p != "1.0000");
        if close > horizon.as_str()
            && quoted == Some(true)
            && !m["ticker"].as_str().unwrap().starts_with("KXMVE")
        {
            return m["ticker"].as_str().unwrap().to_string();
        }
    }
    panic!("no open market settling after {horizon}");
}

/// `YYYY-MM-DDT00:00:00Z` of `days` from today (string comparison works on RFC 3339 UTC).
fn chrono_like_now_plus_days(days: i64) -> String {
    format!("{}T00:00:00Z", paul_p_e2e::utc_day(days))
}

#[test]
fn concurrent_dry_runs_never_jointly_exceed_a_limit() {
    let stack = Stack::start(StackConfig::default());
    let admin = stack.tokens.admin.clone();
    stack.approve_sources(&["kalshi"]);
    let ticker = a_far_open_market(&stack);
    let r = stack.json(
        "POST",
        "/admin/ingest/run",
        &admin,
        &json!({"mark": [ticker]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Tighten the position-size limit so that only a few $50 orders fit (2% of $10,000 =
    // $200), fewer than the order-rate bucket would let through.
    let r = stack.json(
        "PUT",
        "/admin/risk/limits",
        &admin,
        &json!({"limits": {"max_position_size_bps": 200}, "reason": "concurrency test"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // 50 concurrent dry runs of 100 contracts at $0.50, each a different client order id.
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let url = stack.url("/admin/risk/check");
            let auth = format!("Bearer {admin}");
            let body = json!({
                "client_order_id": format!("conc-{i}"),
                "market": ticker,
                "side": "yes",
                "action": "buy",
                "qty": 10000,
                "limit_price": 5000,
                "kind": "new"
            })
            .to_string();
            std::thread::spawn(move || {
                paul_p_e2e::send(
                    "POST",
                    &url,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                    ],
                    Some(body.as_bytes()),
                )
            })
        })
        .collect();
    let verdicts: Vec<Value> = handles
        .into_iter()
        .map(|h| {
            let r = h.join().unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["verdict"].clone()
        })
        .collect();
    let approved: Vec<&Value> = verdicts.iter().filter(|v| v["approved"] == true).collect();
    assert!(
        !approved.is_empty(),
        "some must fit: {:?}",
        verdicts.first()
    );
    let per_order = approved[0]["reserved_usd_micros"].as_i64().unwrap();
    assert!(per_order > 0);
    let allowed: i64 = 10_000 * 1_000_000 * 200 / 10_000; // $200 in micro-dollars
    let admissible = allowed / per_order;
    assert_eq!(
        approved.len() as i64,
        admissible,
        "exactly the admissible number ({admissible} × {per_order} µ$ ≤ {allowed} µ$) is approved"
    );
    for v in verdicts.iter().filter(|v| v["approved"] == false) {
        let codes: Vec<&str> = v["codes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert!(codes.contains(&"RISK_LIMIT_POSITION_SIZE"), "{v}");
    }
    // The governor's own book agrees: what is reserved is within the limit.
    let risk = stack.get("/admin/risk", Some(&admin)).json();
    assert_eq!(risk["book"]["open_reservations"], admissible, "{risk}");
}

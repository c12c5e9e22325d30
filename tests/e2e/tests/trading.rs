//! The trading cycle end to end, against wrangler dev and the venue simulator: market pairs
//! proposed over HTTP, graded by the simulator's Anthropic endpoint (grades chosen here),
//! reviewed by an operator. D1 is read with `wrangler d1 execute`, not through the Worker.

use paul_p_e2e::{Stack, StackConfig, SIMULATED_SOURCES};
use serde_json::{json, Value};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// A recorded Kalshi market the simulator always serves.
const TICKER: &str = "KXNFLGAME-26OCT08TBDAL-DAL";

/// One stack for this file: sources approved (the LLM host too) and one ingestion run done.
fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let stack = Stack::start(StackConfig::default());
        let mut sources = SIMULATED_SOURCES.to_vec();
        sources.push("anthropic");
        stack.approve_sources(&sources);
        let r = stack.json(
            "POST",
            "/admin/ingest/run",
            &stack.tokens.alice,
            &json!({"orderbooks": [TICKER], "mark": [TICKER]}),
        );
        assert_eq!(r.status, 200, "ingest: {}", r.text());
        stack
    })
}

/// The simulator's grade rules are one global table (`PUT` replaces it): tests that grade run
/// one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `n`-th ingested Polymarket condition id (a distinct pair per test).
fn condition_id(stack: &Stack, n: usize) -> String {
    stack.d1(&format!(
        "SELECT market_id AS id FROM markets WHERE venue = 'polymarket' ORDER BY market_id LIMIT 1 OFFSET {n}"
    ))[0]["id"]
        .as_str()
        .expect("an ingested Polymarket market")
        .to_string()
}

fn grade(stack: &Stack, condition: &str, rule: Value) {
    let r = stack.sim(
        "PUT",
        "/__sim/anthropic/grades",
        Some(&json!({ format!("{TICKER}|{condition}"): rule })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

fn propose(stack: &Stack, condition: &str) -> Value {
    let r = stack.json(
        "POST",
        "/admin/pairs",
        &stack.tokens.alice,
        &json!({"kalshi_ticker": TICKER, "polymarket_condition_id": condition}),
    );
    assert_eq!(r.status, 201, "propose: {}", r.text());
    r.json()["pair"].clone()
}

fn review(stack: &Stack, token: &str, id: &str, action: &str, notes: &str) -> paul_p_e2e::Resp {
    stack.json(
        "POST",
        &format!("/admin/pairs/{id}/{action}"),
        token,
        &json!({ "notes": notes }),
    )
}

#[test]
fn a_pair_graded_identical_is_approved_by_the_reviewing_operator_with_llm_evidence() {
    let stack = stack();
    let _serial = serial();
    let condition = condition_id(stack, 0);
    grade(stack, &condition, json!("identical"));
    let pair = propose(stack, &condition);
    let id = pair["id"].as_str().unwrap().to_string();
    assert_eq!(pair["status"], "assessed", "{pair}");
    let assessment = &pair["assessment"];
    assert_eq!(assessment["outcome"]["result"], "graded");
    assert_eq!(assessment["outcome"]["grade"], "identical");
    assert_eq!(assessment["prompt_version"], "pair_equivalence_v1");
    // Request and response are evidence, indexed under the LLM source.
    for side in ["request_evidence", "response_evidence"] {
        let hash = assessment[side].as_str().expect(side);
        let n = stack.d1_count(&format!(
            "SELECT COUNT(*) AS n FROM evidence WHERE hash = '{hash}' AND source = 'anthropic'"
        ));
        assert_eq!(n, 1, "{side} {hash} indexed");
    }
    // Proposing again is idempotent.
    let again = stack.json(
        "POST",
        "/admin/pairs",
        &stack.tokens.bob,
        &json!({"kalshi_ticker": TICKER, "polymarket_condition_id": condition}),
    );
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["created"], false);

    let r = review(
        stack,
        &stack.tokens.bob,
        &id,
        "approve",
        "same game, same rules",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let approved = r.json()["pair"].clone();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["approval"]["actor"], "bob");
    assert_eq!(approved["approval"]["notes"], "same game, same rules");
    assert!(approved["approval_expires_at_ms"].as_i64().is_some());

    let listed = stack.get("/admin/pairs?status=approved", Some(&stack.tokens.admin));
    assert_eq!(listed.status, 200);
    assert!(listed.json()["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == id.as_str()));
    let stored = stack.d1(&format!(
        "SELECT status FROM market_pairs WHERE id = '{id}'"
    ));
    assert_eq!(stored[0]["status"], "approved");

    // A rejection afterwards is final and recorded with its actor.
    let r = review(stack, &stack.tokens.alice, &id, "reject", "changed my mind");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["pair"]["status"], "rejected");
    assert_eq!(r.json()["pair"]["rejection"]["actor"], "alice");
    let r = review(stack, &stack.tokens.alice, &id, "approve", "");
    assert_eq!(r.status, 409, "{}", r.text());
}

#[test]
fn an_llm_error_or_garbage_answer_never_approves_a_pair() {
    let stack = stack();
    let _serial = serial();
    let condition = condition_id(stack, 1);
    grade(
        stack,
        &condition,
        json!({"error": {"status": 529, "type": "overloaded_error", "message": "busy"}}),
    );
    let pair = propose(stack, &condition);
    let id = pair["id"].as_str().unwrap().to_string();
    assert_eq!(pair["status"], "not_assessed", "{pair}");
    assert_eq!(pair["assessment"]["outcome"]["result"], "failed");
    let r = review(stack, &stack.tokens.bob, &id, "approve", "looks fine");
    assert_eq!(r.status, 409, "{}", r.text());

    // A truncated, unparseable answer: still not assessed, still not approvable.
    grade(
        stack,
        &condition,
        json!({"text": "{\"grade\": \"identi", "stop_reason": "max_tokens"}),
    );
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{id}/assess"),
        &stack.tokens.alice,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["pair"]["status"], "not_assessed");
    let r = review(stack, &stack.tokens.bob, &id, "approve", "");
    assert_eq!(r.status, 409, "{}", r.text());

    // A clean answer that is not equivalent: graded, but never approvable.
    grade(stack, &condition, json!("similar_but_divergent"));
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{id}/assess"),
        &stack.tokens.alice,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["pair"]["status"], "assessed");
    let r = review(stack, &stack.tokens.bob, &id, "approve", "");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "PAIR_GRADE_NOT_APPROVABLE");
    let stored = stack.d1(&format!(
        "SELECT status FROM market_pairs WHERE id = '{id}'"
    ));
    assert_eq!(stored[0]["status"], "assessed");
}

#[test]
fn pair_routes_refuse_bad_input_with_the_error_envelope() {
    let stack = stack();
    let t = &stack.tokens.admin;
    let r = stack.get("/admin/pairs?status=bogus", Some(t));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = stack.json("POST", "/admin/pairs", t, &json!({"kalshi_ticker": ""}));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = stack.json(
        "POST",
        "/admin/pairs",
        t,
        &json!({"kalshi_ticker": "NOPE-1", "polymarket_condition_id": "0xnope"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "PAIR_MARKET_UNAVAILABLE");
    let r = stack.json("POST", "/admin/pairs/pair-0000/approve", t, &json!({}));
    assert_eq!(r.status, 404, "{}", r.text());
}

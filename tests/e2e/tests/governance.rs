//! Governance end to end: two-person approvals through HTTP with distinct operators (alice, bob,
//! admin), loosening risk limits through an approval. (The same token configured under two
//! names closes every admin route, approvals included: `auth.rs`,
//! `two_operators_sharing_a_token_close_every_admin_route`, which walks the whole route table.)

use paul_p_e2e::{shared, Resp, Stack};
use serde_json::{json, Value};

fn create(stack: &Stack, token: &str, body: &Value) -> Resp {
    stack.json("POST", "/admin/approvals", token, body)
}

fn decide(stack: &Stack, token: &str, id: &str, verb: &str) -> Resp {
    stack.json(
        "POST",
        &format!("/admin/approvals/{id}/{verb}"),
        token,
        &json!({}),
    )
}

fn loosen(field: &str, value: i64, ttl: Option<i64>) -> Value {
    let mut body = json!({
        "action": "risk.loosen_limits",
        "params": {"limits": {field: value}, "reason": "more room for the election"},
        "reason": "e2e",
    });
    if let Some(t) = ttl {
        body["expiresInSecs"] = json!(t);
    }
    body
}

fn limit(stack: &Stack, field: &str) -> i64 {
    let r = stack.get("/admin/risk", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["limits"][field].as_i64().unwrap()
}

/// Every audit event of `kind` (whole log, oldest first).
fn audit_events(stack: &Stack, kind: &str) -> Vec<Value> {
    stack
        .audit_events()
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[test]
fn loosening_needs_a_second_operator_and_executes_once_with_both_identities() {
    let stack = shared();
    let (alice, bob, admin) = (
        stack.tokens.alice.clone(),
        stack.tokens.bob.clone(),
        stack.tokens.admin.clone(),
    );
    let field = "max_category_exposure_bps";
    let before = limit(stack, field);

    // The single-operator route refuses and names the approval action.
    let r = stack.json(
        "PUT",
        "/admin/risk/limits",
        &alice,
        &json!({"limits": {field: before + 5}, "reason": "loosen"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "REQUIRES_TWO_PERSON_APPROVAL");
    assert_eq!(
        r.json()["error"]["details"]["approval_action"],
        "risk.loosen_limits"
    );

    let r = create(stack, &alice, &loosen(field, before + 5, None));
    assert_eq!(r.status, 201, "{}", r.text());
    let a = r.json()["approval"].clone();
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["status"], "pending");
    assert_eq!(a["requested_by"], "alice");
    assert_eq!(a["params"]["limits"][field], before + 5);
    assert_eq!(a["params"]["base"][field], before);
    assert_eq!(a["params"]["loosened"], json!([field]));
    assert_eq!(a["params_hash"].as_str().unwrap().len(), 64);
    let ttl = a["expires_at_ms"].as_i64().unwrap() - a["requested_at_ms"].as_i64().unwrap();
    assert_eq!(ttl, 24 * 3600 * 1000, "default expiry is 24 h");
    assert_eq!(limit(stack, field), before, "nothing changes on request");

    // The requester cannot approve.
    let r = decide(stack, &alice, &id, "approve");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code(), "SELF_APPROVAL");
    assert_eq!(limit(stack, field), before);

    // Listed as pending.
    let r = stack.get("/admin/approvals?status=pending", Some(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == id.as_str()));

    // A second operator approves: executed at once.
    let r = decide(stack, &bob, &id, "approve");
    assert_eq!(r.status, 200, "{}", r.text());
    let done = r.json()["approval"].clone();
    assert_eq!(done["status"], "executed");
    assert_eq!(done["decided_by"], "bob");
    assert_eq!(done["result"]["limits"][field], before + 5);
    assert_eq!(limit(stack, field), before + 5);

    // Approving again, by anyone, is refused and changes nothing.
    for token in [&bob, &admin] {
        let r = decide(stack, token, &id, "approve");
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(r.error_code(), "APPROVAL_ALREADY_DECIDED");
    }
    let r = decide(stack, &admin, &id, "reject");
    assert_eq!(r.status, 409, "{}", r.text());
    let r = stack.get(&format!("/admin/approvals/{id}"), Some(&admin));
    assert_eq!(r.json()["approval"]["status"], "executed");

    // Both identities are in the audit log: the approval, its execution, and the governor's
    // own record of a two-person limits change by the approver.
    for kind in ["APPROVAL_APPROVED", "APPROVAL_EXECUTED"] {
        let events: Vec<Value> = audit_events(stack, kind)
            .into_iter()
            .filter(|e| e["payload"]["approval"]["approval_id"] == id.as_str())
            .collect();
        assert_eq!(events.len(), 1, "{kind} exactly once: {events:?}");
        let p = &events[0]["payload"]["approval"];
        assert_eq!(
            (p["requested_by"].as_str(), p["approved_by"].as_str()),
            (Some("alice"), Some("bob"))
        );
        assert_eq!(events[0]["actor"], "bob");
    }
    let changed: Vec<Value> = audit_events(stack, "risk.limits_changed")
        .into_iter()
        .filter(|e| e["payload"]["reason"].as_str().unwrap_or("").contains(&id))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["payload"]["two_person_approved"], true);
    assert_eq!(changed[0]["actor"], "bob");
}

#[test]
fn expired_rejected_and_invalid_requests_are_refused_and_change_nothing() {
    let stack = shared();
    let (alice, bob) = (stack.tokens.alice.clone(), stack.tokens.bob.clone());
    let field = "max_position_size_bps";
    let before = limit(stack, field);

    // Expired: a one-second request approved after it ran out.
    let r = create(stack, &alice, &loosen(field, before + 1, Some(1)));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["approval"]["id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let r = decide(stack, &bob, &id, "approve");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "APPROVAL_EXPIRED");
    let r = stack.get("/admin/approvals?status=expired", Some(&bob));
    assert!(r.json()["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == id.as_str() && x["status"] == "expired"));
    assert_eq!(limit(stack, field), before);

    // Rejected by the requester: final.
    let r = create(stack, &alice, &loosen(field, before + 2, None));
    let id = r.json()["approval"]["id"].as_str().unwrap().to_string();
    let r = decide(stack, &alice, &id, "reject");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["approval"]["status"], "rejected");
    let r = decide(stack, &bob, &id, "approve");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "APPROVAL_ALREADY_DECIDED");
    assert_eq!(limit(stack, field), before);

    // Bad requests: 400 with the envelope, nothing stored.
    let count = stack.d1_count("SELECT COUNT(*) AS n FROM approvals");
    for bad in [
        json!({"action": "risk.make_money", "params": {}}),
        json!({"action": "risk.loosen_limits", "params": {"limits": {field: before - 1}, "reason": "tighter"}}),
        json!({"action": "risk.loosen_limits", "params": {"limits": {field: -5}, "reason": "x"}}),
        json!({"action": "risk.loosen_limits", "params": {"limits": {field: 1.5}, "reason": "x"}}),
        json!({"action": "risk.loosen_limits", "params": {"limits": {}, "reason": "x"}, "extra": 1}),
        json!({"action": "risk.loosen_limits", "params": {"limits": {field: before + 1}, "reason": "x"}, "expiresInSecs": 0}),
        json!({"action": "risk.loosen_limits", "params": "nope"}),
    ] {
        let r = create(stack, &alice, &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"]["code"].is_string());
    }
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM approvals"), count);

    let r = decide(stack, &bob, "no-such-id", "approve");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code(), "APPROVAL_NOT_FOUND");
    let r = stack.get("/admin/approvals?status=bogus", Some(&bob));
    assert_eq!(r.status, 400, "{}", r.text());
    // Unauthenticated: 401 before anything else.
    let r = stack.get("/admin/approvals", None);
    assert_eq!(r.status, 401);
}

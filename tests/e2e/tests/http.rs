//! HTTP basics end to end: the envelope on every error, JSON 404/405, body limits, content
//! types, unknown fields, request ids, and a public health route that says only that it is up.

use paul_p_e2e::{send, shared};
use serde_json::json;

#[test]
fn health_says_only_that_it_is_up() {
    let r = shared().get("/health", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[test]
fn every_response_carries_a_request_id() {
    let stack = shared();
    let mut seen = std::collections::HashSet::new();
    for (path, token) in [
        ("/health", None),
        ("/nope", None),
        ("/admin/status", None),
        ("/admin/status", Some(stack.tokens.admin.as_str())),
    ] {
        let r = stack.get(path, token);
        let id = r.header("x-request-id").expect("x-request-id").to_string();
        assert_eq!(id.len(), 32, "{path}: {id}");
        assert!(seen.insert(id), "request ids are unique");
    }
}

#[test]
fn unknown_public_paths_are_json_404() {
    let r = shared().get("/definitely/not/here", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NOT_FOUND");
}

#[test]
fn wrong_method_is_json_405_with_allow() {
    let stack = shared();
    let r = send("DELETE", &stack.url("/health"), &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET"));
    let auth = format!("Bearer {}", stack.tokens.admin);
    let r = send(
        "DELETE",
        &stack.url("/admin/circuit-breaker"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
    let r = send(
        "GET",
        &stack.url("/admin/unknown"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NOT_FOUND");
}

#[test]
fn unknown_methods_are_json_405_not_served_as_get() {
    // workers-rs reads any method it does not know as GET; the Worker matches the raw name.
    let stack = shared();
    let auth = format!("Bearer {}", stack.tokens.admin);
    for (path, allow) in [
        ("/health", "GET"),
        ("/admin/circuit-breaker", "GET"),
        ("/admin/reconcile", "POST"),
    ] {
        let r = send("QUERY", &stack.url(path), &[("authorization", &auth)], None);
        assert_eq!(r.status, 405, "{path}: {}", r.text());
        assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some(allow), "{path}");
    }
}

#[test]
fn bodies_that_are_not_json_objects_are_400_invalid_request() {
    let stack = shared();
    let auth = format!("Bearer {}", stack.tokens.admin);
    let before = stack
        .get("/admin/reconcile/latest", Some(&stack.tokens.admin))
        .text();
    // An optional body given as `null` is not "no body"; an array is not a struct.
    for (path, body) in [
        ("/admin/reconcile", &b"null"[..]),
        ("/admin/ingest/run", b"[]"),
        ("/admin/circuit-breaker/transition", b"[\"HALT\", \"x\"]"),
        ("/admin/audit/notes", b"\"note\""),
    ] {
        let r = send(
            "POST",
            &stack.url(path),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(body),
        );
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.error_code(), "INVALID_REQUEST", "{path}");
    }
    // Nothing ran: the latest reconciliation is the one there was before.
    let after = stack
        .get("/admin/reconcile/latest", Some(&stack.tokens.admin))
        .text();
    assert_eq!(before, after);
}

#[test]
fn list_limits_above_the_maximum_are_refused_not_capped() {
    let stack = shared();
    for path in [
        "/admin/orders?limit=501",
        "/admin/pairs?limit=501",
        "/admin/approvals?limit=501",
        "/admin/gates/production?limit=101",
    ] {
        let r = stack.get(path, Some(&stack.tokens.admin));
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.error_code(), "INVALID_PARAMETER", "{path}");
        assert_eq!(r.json()["error"]["details"]["name"], "limit");
    }
    let r = stack.get("/admin/orders?limit=500", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn post_transition(body: &[u8], content_type: Option<&str>) -> paul_p_e2e::Resp {
    let stack = shared();
    let auth = format!("Bearer {}", stack.tokens.admin);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(ct) = content_type {
        headers.push(("content-type", ct));
    }
    send(
        "POST",
        &stack.url("/admin/circuit-breaker/transition"),
        &headers,
        Some(body),
    )
}

#[test]
fn bodies_over_64_kib_are_413() {
    let big = format!(
        "{{\"targetState\":\"CAUTION\",\"reason\":\"{}\"}}",
        "x".repeat(64 * 1024)
    );
    let r = post_transition(big.as_bytes(), Some("application/json"));
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
}

#[test]
fn malformed_json_is_400_invalid_json() {
    for body in [
        &b"{"[..],
        b"{\"targetState\": HALT}",
        b"not json",
        b"{\"a\":1}}",
    ] {
        let r = post_transition(body, Some("application/json"));
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.error_code(), "INVALID_JSON");
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_400_invalid_request() {
    for body in [
        json!({"targetState": "HALT", "reason": "x", "force": true}),
        json!({"targetState": "SIDEWAYS", "reason": "x"}),
        json!({"targetState": "HALT"}),
        json!({"targetState": "HALT", "reason": 5}),
    ] {
        let r = post_transition(body.to_string().as_bytes(), Some("application/json"));
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.error_code(), "INVALID_REQUEST", "{body}");
    }
}

#[test]
fn wrong_or_missing_content_type_is_415() {
    let body = json!({"targetState": "CAUTION", "reason": "x"}).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let r = post_transition(body.as_bytes(), ct);
        assert_eq!(r.status, 415, "{ct:?}: {}", r.text());
        assert_eq!(r.error_code(), "UNSUPPORTED_MEDIA_TYPE");
    }
    // A charset parameter is fine.
    let r = post_transition(
        json!({"targetState": "NOWHERE", "reason": "x"})
            .to_string()
            .as_bytes(),
        Some("application/json; charset=utf-8"),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn status_reports_version_and_reachable_bindings() {
    let stack = shared();
    let r = stack.get("/admin/status", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    for b in ["DB", "DB_ANCHOR", "R2_EVIDENCE", "R2_AUDIT"] {
        assert_eq!(v["bindings"][b]["reachable"], true, "{b}: {v}");
    }
    assert_eq!(v["version"]["crate"], paul_p::build_info::CRATE_VERSION);
    assert!(v["version"]["git_commit"].as_str().unwrap().len() >= 7);
}

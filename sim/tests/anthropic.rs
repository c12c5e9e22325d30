//! The Anthropic Messages endpoint: grades chosen per pair by the test, error injection.

mod common;

use common::{get, request, send, start};
use serde_json::{json, Value};

const PATH: &str = "/anthropic/v1/messages";

fn ask(addr: std::net::SocketAddr, prompt: &str) -> (u16, Value, Vec<(String, String)>) {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "temperature": 0,
        "messages": [{"role": "user", "content": prompt}],
    });
    let resp = request(
        addr,
        "POST",
        PATH,
        &[
            ("x-api-key", "sk-test"),
            ("anthropic-version", "2023-06-01"),
        ],
        Some(body.to_string().as_bytes()),
    )
    .unwrap();
    let v = resp.json();
    (resp.status, v, resp.headers)
}

fn answer(v: &Value) -> Value {
    serde_json::from_str(v["content"][0]["text"].as_str().unwrap()).unwrap()
}

#[test]
fn grades_are_chosen_per_pair_key_in_the_recorded_message_shape() {
    let sim = start(20, 10);
    let addr = sim.addr();
    let put = send(
        addr,
        "PUT",
        "/__sim/anthropic/grades",
        &json!({
            "KXA-1|0xaaa": "identical",
            "KXB-1|0xbbb": {"grade": "similar_but_divergent", "rationale": "Different deadlines."},
        }),
    );
    assert_eq!(put.status, 200);
    assert_eq!(put.json()["grades"], 2);

    let (status, v, _) = ask(addr, "intro\nPair key: KXA-1|0xaaa\nrules…");
    assert_eq!(status, 200);
    // The recorded shape: the keys of a real 200 body.
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "content",
            "id",
            "model",
            "role",
            "stop_reason",
            "stop_sequence",
            "type",
            "usage"
        ]
    );
    assert_eq!(v["type"], "message");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(answer(&v)["grade"], "identical");

    let (_, v, _) = ask(addr, "Pair key: KXB-1|0xbbb");
    assert_eq!(
        answer(&v),
        json!({"grade": "similar_but_divergent", "rationale": "Different deadlines."})
    );

    // An unconfigured pair is never let through.
    let (_, v, _) = ask(addr, "Pair key: KXC-1|0xccc");
    assert_eq!(answer(&v)["grade"], "not_equivalent");
    assert_eq!(
        get(addr, "/__sim/anthropic/grades").json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn longer_keys_win_and_raw_text_or_errors_can_be_injected() {
    let sim = start(20, 10);
    let addr = sim.addr();
    let put = send(
        addr,
        "PUT",
        "/__sim/anthropic/grades",
        &json!({
            "KXA": "near_equivalent",
            "KXA-1|0xaaa": {"error": {"status": 529, "type": "overloaded_error", "message": "Overloaded"}},
            "KXT": {"text": "{\"grade\":\"identical\"", "stop_reason": "max_tokens"},
            "KXR": {"error": {"status": 429}},
        }),
    );
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let (status, v, _) = ask(addr, "Pair key: KXA-1|0xaaa");
    assert_eq!(status, 529);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(v["error"]["message"], "Overloaded");
    let (_, v, _) = ask(addr, "Pair key: KXA-2|0xabc");
    assert_eq!(answer(&v)["grade"], "near_equivalent");
    let (_, v, _) = ask(addr, "Pair key: KXT-1|0x1");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"][0]["text"], "{\"grade\":\"identical\"");
    let (status, v, headers) = ask(addr, "Pair key: KXR-1|0x1");
    assert_eq!(status, 429);
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("retry-after") && v == "1"));

    for bad in [
        json!({"k": "great"}),
        json!({"": "identical"}),
        json!(["identical"]),
    ] {
        assert_eq!(
            send(addr, "PUT", "/__sim/anthropic/grades", &bad).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        send(addr, "DELETE", "/__sim/anthropic/grades", &json!({})).json()["cleared"],
        4
    );
}

#[test]
fn requests_need_a_key_a_version_and_a_well_formed_body_and_faults_use_the_error_layout() {
    let sim = start(20, 10);
    let addr = sim.addr();
    let body =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let bytes = body.to_string();
    let no_key = request(
        addr,
        "POST",
        PATH,
        &[("anthropic-version", "2023-06-01")],
        Some(bytes.as_bytes()),
    )
    .unwrap();
    assert_eq!(no_key.status, 401);
    assert_eq!(no_key.json()["error"]["type"], "authentication_error");
    let no_version = request(
        addr,
        "POST",
        PATH,
        &[("x-api-key", "k")],
        Some(bytes.as_bytes()),
    )
    .unwrap();
    assert_eq!(no_version.status, 400);
    let headers = [("x-api-key", "k"), ("anthropic-version", "2023-06-01")];
    let no_messages = request(
        addr,
        "POST",
        PATH,
        &headers,
        Some(br#"{"model":"m","max_tokens":1,"messages":[]}"#),
    )
    .unwrap();
    assert_eq!(no_messages.status, 400);
    assert_eq!(no_messages.json()["error"]["type"], "invalid_request_error");

    let fault = send(
        addr,
        "POST",
        "/__sim/faults",
        &json!({"path": "/anthropic", "status": 500, "times": 1}),
    );
    assert_eq!(fault.status, 201);
    let failed = request(addr, "POST", PATH, &headers, Some(bytes.as_bytes())).unwrap();
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["type"], "error");
    assert_eq!(failed.json()["error"]["type"], "api_error");
    let ok = request(addr, "POST", PATH, &headers, Some(bytes.as_bytes())).unwrap();
    assert_eq!(ok.status, 200);
    // The request log keeps the version header and never the key.
    let log = get(addr, "/__sim/requests?path_prefix=/anthropic").json();
    let last = log["requests"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(last["auth_headers_present"], json!(["x-api-key"]));
    // Reset clears the grades.
    send(
        addr,
        "PUT",
        "/__sim/anthropic/grades",
        &json!({"x": "identical"}),
    );
    assert_eq!(
        send(addr, "POST", "/__sim/reset", &json!({})).json()["grades_cleared"],
        1
    );
}

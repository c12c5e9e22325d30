//! The control API: fault injection, the request log, the Access JWKS, health, 404s.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{delete, get, request, send, start};
use serde_json::{json, Value};

const MARKETS: &str = "/trade-api/v2/markets?limit=3";

fn add_fault(addr: std::net::SocketAddr, spec: Value) -> u64 {
    let resp = send(addr, "POST", "/__sim/faults", &spec);
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()["id"].as_u64().unwrap()
}

#[test]
fn status_fault_uses_the_venue_layout_or_the_given_body() {
    let sim = start(50, 10);
    let addr = sim.addr();
    add_fault(
        addr,
        json!({"path": "/trade-api/v2/markets", "status": 503, "times": 1}),
    );
    let resp = get(addr, MARKETS);
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()["error"]["code"], "injected_fault");
    assert_eq!(get(addr, MARKETS).status, 200, "times=1 is spent");

    add_fault(
        addr,
        json!({"path": "/gamma", "kind": "status", "status": 500, "body": "{\"oops\":1}"}),
    );
    let resp = get(addr, "/gamma/markets");
    assert_eq!(resp.status, 500);
    assert_eq!(resp.body, b"{\"oops\":1}");
}

#[test]
fn garbage_fault_serves_non_json_with_200() {
    let sim = start(50, 10);
    add_fault(
        sim.addr(),
        json!({"path": "/trade-api/v2/markets", "kind": "garbage"}),
    );
    let resp = get(sim.addr(), MARKETS);
    assert_eq!(resp.status, 200);
    assert!(serde_json::from_slice::<Value>(&resp.body).is_err());
    assert!(!resp.body.is_empty());
}

#[test]
fn truncated_fault_serves_the_first_half_of_the_real_body() {
    let sim = start(50, 10);
    let full = get(sim.addr(), MARKETS).body;
    add_fault(
        sim.addr(),
        json!({"path": "/trade-api/v2/markets", "kind": "truncated"}),
    );
    let resp = get(sim.addr(), MARKETS);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), full.len() / 2);
    assert_eq!(resp.body[..], full[..full.len() / 2]);
    assert!(serde_json::from_slice::<Value>(&resp.body).is_err());
}

#[test]
fn rate_limit_fault_is_a_429_without_retry_after() {
    let sim = start(50, 10);
    add_fault(
        sim.addr(),
        json!({"path": "/trade-api/v2/", "kind": "rate_limit"}),
    );
    let resp = get(sim.addr(), MARKETS);
    assert_eq!(resp.status, 429);
    assert!(resp.header("retry-after").is_none());
    assert_eq!(resp.json()["error"]["code"], "too_many_requests");
}

#[test]
fn drop_fault_closes_the_connection_without_an_answer() {
    let sim = start(50, 10);
    add_fault(
        sim.addr(),
        json!({"path": "/trade-api/v2/markets", "kind": "drop", "times": 1}),
    );
    assert!(request(sim.addr(), "GET", MARKETS, &[], None).is_err());
    assert_eq!(get(sim.addr(), MARKETS).status, 200);
    let log = get(sim.addr(), "/__sim/requests").json();
    let first = &log["requests"][0];
    assert_eq!(first["dropped"], true);
    assert_eq!(first["status"], Value::Null);
}

#[test]
fn delay_fault_delays_only_its_request() {
    let sim = start(50, 10);
    let addr = sim.addr();
    add_fault(
        addr,
        json!({"path": "/trade-api/v2/markets", "kind": "delay", "delay_ms": 1500}),
    );
    let normal = get(addr, "/gamma/markets?limit=1").body;
    let slow = thread::spawn(move || {
        let t = Instant::now();
        let resp = get(addr, MARKETS);
        (resp.status, t.elapsed())
    });
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(get(addr, "/gamma/markets?limit=1").body, normal);
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "other requests are not blocked"
    );
    let (status, elapsed) = slow.join().unwrap();
    assert_eq!(status, 200, "a delay serves normally afterwards");
    assert!(elapsed >= Duration::from_millis(1500));
}

#[test]
fn after_skips_matches_and_times_bounds_applications() {
    let sim = start(50, 10);
    let addr = sim.addr();
    let id = add_fault(
        addr,
        json!({"method": "GET", "path": "/trade-api/v2/markets", "match": "exact", "status": 500, "after": 2, "times": 2}),
    );
    // An exact rule ignores sub-paths; they do not count as matches.
    assert_eq!(get(addr, "/trade-api/v2/markets/NOPE-1").status, 404);
    let statuses: Vec<u16> = (0..5).map(|_| get(addr, MARKETS).status).collect();
    assert_eq!(statuses, [200, 200, 500, 500, 200]);
    let listed = get(addr, "/__sim/faults").json();
    let fault = &listed["faults"][0];
    assert_eq!(fault["id"], id);
    assert_eq!(fault["applied"], 2);
    assert_eq!(fault["remaining"], 0);
    let log = get(addr, "/__sim/requests?path_prefix=/trade-api/v2/markets").json();
    let faulted: Vec<&Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fault_id"] == id)
        .collect();
    assert_eq!(faulted.len(), 2);
    assert!(faulted.iter().all(|r| r["status"] == 500));
}

#[test]
fn faults_are_listed_deleted_one_by_one_and_cleared() {
    let sim = start(50, 10);
    let addr = sim.addr();
    let a = add_fault(addr, json!({"path": "/gamma", "status": 500}));
    let b = add_fault(addr, json!({"path": "/clob", "kind": "drop"}));
    assert_ne!(a, b);
    assert_eq!(
        get(addr, "/__sim/faults").json()["faults"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        delete(addr, &format!("/__sim/faults/{a}")).json()["deleted"],
        a
    );
    assert_eq!(delete(addr, &format!("/__sim/faults/{a}")).status, 404);
    assert_eq!(get(addr, "/gamma/markets?limit=1").status, 200);
    assert_eq!(delete(addr, "/__sim/faults").json()["cleared"], 1);
    assert_eq!(get(addr, "/__sim/faults").json()["faults"], json!([]));
}

#[test]
fn bad_fault_specs_are_rejected() {
    let sim = start(50, 10);
    for bad in [
        json!({"path": "/x", "kind": "explode"}),
        json!({"path": "/x", "status": 500, "surprise": true}),
        json!({"path": "/x"}),
        json!({"status": 500}),
        json!({"path": "/x", "kind": "delay"}),
    ] {
        let resp = send(sim.addr(), "POST", "/__sim/faults", &bad);
        assert_eq!(resp.status, 400, "{bad}");
        assert_eq!(resp.json()["error"]["code"], "SIM_BAD_REQUEST");
    }
    let resp = request(sim.addr(), "POST", "/__sim/faults", &[], Some(b"{not json")).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["code"], "SIM_INVALID_JSON");
}

#[test]
fn request_log_records_requests_without_credential_values() {
    let sim = start(50, 10);
    let addr = sim.addr();
    request(
        addr,
        "GET",
        "/trade-api/v2/markets?limit=2&status=open",
        &[
            ("KALSHI-ACCESS-KEY", "key-id-secretish"),
            ("KALSHI-ACCESS-SIGNATURE", "c2lnbmF0dXJl"),
            ("Authorization", "Bearer very-secret"),
        ],
        None,
    )
    .unwrap();
    get(addr, "/gamma/markets?limit=1");
    get(addr, "/__sim/health");
    let log = get(addr, "/__sim/requests");
    let text = String::from_utf8(log.body.clone()).unwrap();
    for secret in ["key-id-secretish", "c2lnbmF0dXJl", "very-secret"] {
        assert!(!text.contains(secret));
    }
    let entries = log.json()["requests"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "control requests are not recorded");
    let k = &entries[0];
    assert_eq!(k["method"], "GET");
    assert_eq!(k["path"], "/trade-api/v2/markets");
    assert_eq!(k["query"], "limit=2&status=open");
    assert_eq!(k["status"], 200);
    assert_eq!(k["fault_id"], Value::Null);
    assert_eq!(k["headers"]["user-agent"], "sim-tests/1");
    assert_eq!(
        k["auth_headers_present"],
        json!([
            "authorization",
            "kalshi-access-key",
            "kalshi-access-signature"
        ])
    );
    assert!(entries[1]["seq"].as_u64() > k["seq"].as_u64());

    let only_gamma = get(addr, "/__sim/requests?path_prefix=/gamma").json();
    assert_eq!(only_gamma["requests"].as_array().unwrap().len(), 1);
    let untouched = get(addr, "/__sim/requests?path_prefix=/clob").json();
    assert_eq!(
        untouched["requests"],
        json!([]),
        "a source never contacted has no entries"
    );

    assert_eq!(delete(addr, "/__sim/requests").json()["cleared"], 2);
    assert_eq!(get(addr, "/__sim/requests").json()["requests"], json!([]));
}

#[test]
fn jwks_is_empty_until_installed_and_then_served_verbatim() {
    let sim = start(50, 10);
    let addr = sim.addr();
    let resp = get(addr, "/cdn-cgi/access/certs");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"keys": []}));
    let doc = br#"{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"sXch","e":"AQAB"}],"public_cert":{"kid":"k1","cert":"-----BEGIN CERTIFICATE-----"}}"#;
    let resp = request(addr, "PUT", "/__sim/jwks", &[], Some(doc)).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["keys"], 1);
    assert_eq!(get(addr, "/cdn-cgi/access/certs").body, doc.to_vec());
    let bad = request(addr, "PUT", "/__sim/jwks", &[], Some(b"{\"nokeys\":1}")).unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(get(addr, "/cdn-cgi/access/certs").body, doc.to_vec());
    assert_eq!(send(addr, "POST", "/__sim/reset", &json!({})).status, 200);
    assert_eq!(
        get(addr, "/cdn-cgi/access/certs").json(),
        json!({"keys": []})
    );
}

#[test]
fn unknown_routes_are_json_404s() {
    let sim = start(50, 10);
    for target in [
        "/",
        "/nope",
        "/gamma/events",
        "/clob/markets",
        "/cdn-cgi/other",
        "/__sim/nope",
    ] {
        let resp = get(sim.addr(), target);
        assert_eq!(resp.status, 404, "{target}");
        assert_eq!(
            resp.json()["error"]["code"],
            "SIM_ROUTE_NOT_FOUND",
            "{target}"
        );
    }
    let resp = delete(sim.addr(), "/__sim/health");
    assert_eq!(resp.status, 405);
    resp.json();
}

#[test]
fn health_reports_the_universe() {
    let sim = start(50, 10);
    let health = get(sim.addr(), "/__sim/health");
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["kalshi"]["open_markets"], 50);
    assert_eq!(body["polymarket"]["open_markets"], 10);
}

/// What the seeded schedule did to `n` identical listings, by kind (`None` = served).
fn chaos_run(addr: std::net::SocketAddr, seed: u64, n: usize) -> Vec<Option<String>> {
    let resp = send(
        addr,
        "PUT",
        "/__sim/chaos",
        &json!({"seed": seed, "paths": ["/trade-api/v2/markets"],
               "probabilities": {"status": 0.2, "rate_limit": 0.2, "garbage": 0.1, "drop": 0.1},
               "status": 502}),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["enabled"], true);
    delete(addr, "/__sim/requests");
    for _ in 0..n {
        // A dropped connection is an error here; the log says what happened.
        let _ = request(addr, "GET", MARKETS, &[], None);
    }
    let log = get(addr, "/__sim/requests?path_prefix=/trade-api").json();
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let chaos = r["chaos"].as_str().map(str::to_string);
            match chaos.as_deref() {
                Some("status") => assert_eq!(r["status"], 502, "{r}"),
                Some("rate_limit") => assert_eq!(r["status"], 429, "{r}"),
                Some("drop") => assert_eq!(r["dropped"], true, "{r}"),
                Some("garbage") => assert_eq!(r["status"], 200, "{r}"),
                None => assert_eq!(r["status"], 200, "{r}"),
                Some(other) => panic!("unexpected kind {other}"),
            }
            chaos
        })
        .collect()
}

#[test]
fn a_seeded_schedule_repeats_with_its_seed_and_is_logged_per_request() {
    let sim = start(50, 10);
    let addr = sim.addr();
    let first = chaos_run(addr, 5, 40);
    assert_eq!(first.len(), 40);
    assert!(first.iter().any(Option::is_some) && first.iter().any(Option::is_none));
    // Installing the same seed again restarts the same schedule; another seed differs.
    assert_eq!(chaos_run(addr, 5, 40), first);
    assert_ne!(chaos_run(addr, 6, 40), first);
    let described = get(addr, "/__sim/chaos").json();
    assert_eq!(described["requests"], 40);
    assert_eq!(described["schedule"]["seed"], 6);
    // Paths outside the schedule and the control API are never touched.
    assert_eq!(get(addr, "/gamma/markets").status, 200);
    let resp = delete(addr, "/__sim/chaos");
    assert_eq!(resp.json()["cleared"], true);
    assert_eq!(get(addr, "/__sim/chaos").json(), json!({"enabled": false}));
    let bad = send(
        addr,
        "PUT",
        "/__sim/chaos",
        &json!({"seed": 1, "paths": ["/gamma"], "probabilities": {"drop": 2}}),
    );
    assert_eq!(bad.status, 400);
}

//! Live Kalshi execution end to end, against wrangler dev and the venue simulator: the
//! Worker signs every portfolio request through WebCrypto with a key pair generated here by
//! `openssl` (never committed), and the simulator verifies each signature with the public key
//! registered through `PUT /__sim/kalshi/key`, answering its recorded 401 bodies otherwise.

use paul_p_e2e::{step, Stack, StackConfig};
use serde_json::{json, Value};
use std::sync::OnceLock;

const KEY_ID: &str = paul_p_e2e::KALSHI_KEY_ID;

struct Live {
    stack: Stack,
    public_pem: String,
    private_pem: String,
}

/// One stack for this file, holding a PKCS#1 key (the form Kalshi's dashboard downloads). The
/// PEM's line breaks are written as literal `\n` escapes, as secret stores often hand them.
fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let (private_pem, public_pem) = paul_p_e2e::rsa_key_pair("pkcs1");
        let stack = Stack::start(StackConfig {
            vars: vec![
                ("KALSHI_API_KEY_ID".into(), KEY_ID.into()),
                (
                    "KALSHI_PRIVATE_KEY".into(),
                    private_pem.trim().replace('\n', "\\n"),
                ),
            ],
            unset: vec![],
        });
        let live = Live {
            stack,
            public_pem,
            private_pem,
        };
        register(&live, &live.public_pem, Some(KEY_ID));
        live
    })
}

fn register(live: &Live, public_pem: &str, key_id: Option<&str>) {
    let mut body = json!({"public_key_pem": public_pem});
    if let Some(id) = key_id {
        body["key_id"] = json!(id);
    }
    let r = live.stack.sim("PUT", "/__sim/kalshi/key", Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn portfolio_requests(stack: &Stack) -> Vec<Value> {
    let r = stack.sim(
        "GET",
        "/__sim/requests?path_prefix=/trade-api/v2/portfolio",
        None,
    );
    r.json()["requests"].as_array().cloned().unwrap_or_default()
}

fn account(stack: &Stack) -> paul_p_e2e::Resp {
    stack.get("/admin/venues/kalshi/account", Some(&stack.tokens.alice))
}

/// Tests that change the simulator's key run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_account_check_signs_a_balance_read_that_the_simulator_verifies() {
    let _g = serial();
    let live = live();
    let stack = &live.stack;
    stack.sim("DELETE", "/__sim/requests", None);
    let r = account(stack);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["configured"], true);
    assert_eq!(v["verified"], true);
    assert_eq!(v["key_form"], "pkcs1");
    assert_eq!(v["balance_dollars"], "10000.000000");
    // Exactly one signed request reached the venue, and it carried all three headers.
    let reqs = portfolio_requests(stack);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["path"], "/trade-api/v2/portfolio/balance");
    assert_eq!(reqs[0]["status"], 200);
    let present: Vec<&str> = reqs[0]["auth_headers_present"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for h in [
        "kalshi-access-key",
        "kalshi-access-signature",
        "kalshi-access-timestamp",
    ] {
        assert!(present.contains(&h), "{h} missing: {present:?}");
    }
    // A changed balance is read, not cached.
    let r = stack.sim(
        "PUT",
        "/__sim/kalshi/balance",
        Some(&json!({"balance_dollars": "250.00"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(account(stack).json()["balance_dollars"], "250.000000");
    stack.sim(
        "PUT",
        "/__sim/kalshi/balance",
        Some(&json!({"balance_dollars": "10000.00"})),
    );
}

#[test]
fn a_key_the_venue_does_not_know_is_refused_with_its_recorded_401_and_nothing_leaks() {
    let _g = serial();
    let live = live();
    let stack = &live.stack;
    // The venue holds another public key: our signatures no longer verify.
    let (_, other_public) = paul_p_e2e::rsa_key_pair("pkcs8");
    register(live, &other_public, Some(KEY_ID));
    let r = account(stack);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.error_code(), "KALSHI_CREDENTIALS_REFUSED");
    let detail = r.json()["error"]["details"]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    // The recorded bad-signature body's code reached the operator.
    assert!(detail.contains("authentication_error"), "{detail}");
    assert_eq!(r.json()["error"]["details"]["configured"], true);

    // Another key id: the recorded unknown-key 401.
    register(live, &live.public_pem, Some("someone-else"));
    let r = account(stack);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.error_code(), "KALSHI_CREDENTIALS_REFUSED");

    // No key at the venue at all.
    assert_eq!(stack.sim("DELETE", "/__sim/kalshi/key", None).status, 200);
    let r = account(stack);
    assert_eq!(r.error_code(), "KALSHI_CREDENTIALS_REFUSED");

    // Key material is never echoed, in answers or logs.
    let body_line = live
        .private_pem
        .lines()
        .nth(3)
        .expect("a PEM body line")
        .to_string();
    assert!(body_line.len() >= 60);
    assert!(!r.text().contains(&body_line));
    assert!(!stack.worker_logs().contains(&body_line));

    register(live, &live.public_pem, Some(KEY_ID));
    assert_eq!(account(stack).status, 200);
}

#[test]
fn without_credentials_the_account_check_says_so_without_calling_the_venue() {
    let stack = paul_p_e2e::shared();
    stack.sim("DELETE", "/__sim/requests", None);
    let r = account(stack);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (
            &v["configured"],
            &v["key_id_set"],
            &v["private_key_set"],
            &v["verified"]
        ),
        (&json!(false), &json!(false), &json!(false), &json!(false))
    );
    assert_eq!(v["code"], "KALSHI_CREDENTIALS_MISSING");
    assert!(portfolio_requests(stack).is_empty());
    // Operators only.
    assert_eq!(stack.get("/admin/venues/kalshi/account", None).status, 401);
}

// ---------------------------------------------------------------------------------------------
// The live trading cycle. Numbers as in tests/cycle.rs: the synthetic copy below has a best YES
// ask of 0.45 for 5,281 contracts and the Polymarket pair says 0.545, so the seeded strategy
// buys 213 YES at 0.45 (immediate-or-cancel), which the simulator fills at once.

const CRON: &str = "*/5 * * * *";
const TICKER: &str = "KXNFLGAME-26OCT08TBDALSIM0-DAL";
const CONDITION: &str = "0x57372d9b27dfcc4c92a24c0b7eebfdfde3da9355718fdd045e800e60b156289f";

/// A stack with a registered key, sources approved, one ingestion done, the pair approved and
/// the seeded strategy in mode `live`. Going live is issue 7's two-person path; this test sets
/// the mode with a direct D1 update in its set-up instead.
fn live_trading_stack() -> Stack {
    let (private_pem, public_pem) = paul_p_e2e::rsa_key_pair("pkcs8");
    let stack = Stack::start(StackConfig {
        vars: vec![
            ("KALSHI_API_KEY_ID".into(), KEY_ID.into()),
            ("KALSHI_PRIVATE_KEY".into(), private_pem),
        ],
        unset: vec![],
    });
    let r = stack.sim(
        "PUT",
        "/__sim/kalshi/key",
        Some(&json!({"public_key_pem": public_pem, "key_id": KEY_ID})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    std::fs::write(stack.state_dir.join("kalshi_pub.pem"), &public_pem).unwrap();
    let mut sources = paul_p_e2e::SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());
    let r = stack.sim(
        "PUT",
        "/__sim/anthropic/grades",
        Some(&json!({ format!("{TICKER}|{CONDITION}"): "identical" })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = stack.json(
        "POST",
        "/admin/pairs",
        &stack.tokens.alice,
        &json!({"kalshi_ticker": TICKER, "polymarket_condition_id": CONDITION}),
    );
    assert_eq!(r.status, 201, "propose: {}", r.text());
    let id = r.json()["pair"]["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{id}/approve"),
        &stack.tokens.bob,
        &json!({"notes": "same game"}),
    );
    assert_eq!(r.status, 200, "approve: {}", r.text());
    // Test set-up only: live mode without issue 7's two-person approval.
    d1(
        &stack,
        "UPDATE strategies SET mode = 'live' WHERE id = 'fair_value'",
    );
    assert_eq!(
        d1(
            &stack,
            "SELECT mode FROM strategies WHERE id = 'fair_value'"
        )[0]["mode"],
        "live"
    );
    stack
}

/// `stack.d1`, retried: `wrangler d1 execute` can meet the running Worker's lock
/// (SQLITE_BUSY) on a busy machine.
fn d1(stack: &Stack, sql: &str) -> Vec<Value> {
    for _ in 0..4 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stack.d1(sql)));
        if let Ok(rows) = r {
            return rows;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    stack.d1(sql)
}

fn next_boundary_ms() -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now_ms / 300_000 + 1) * 300_000
}

/// Fires the ingestion cron (and the cycle) at `at_ms`; returns the cycle's run.
fn cycle(stack: &Stack, at_ms: i64) -> Value {
    let r = stack.scheduled(CRON, at_ms);
    assert_eq!(r.status, 200, "scheduled: {}", r.text());
    let runs = d1(
        stack,
        "SELECT run_id FROM runs WHERE job = 'cycle' ORDER BY started_at DESC LIMIT 1",
    );
    let id = runs[0]["run_id"].as_str().unwrap();
    let r = stack.get(&format!("/admin/runs/{id}"), Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn breaker(stack: &Stack) -> String {
    let r = stack.get("/admin/circuit-breaker", Some(&stack.tokens.admin));
    r.json()["state"].as_str().unwrap().to_string()
}

fn order_posts(stack: &Stack) -> usize {
    portfolio_requests(stack)
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/trade-api/v2/portfolio/orders")
        .count()
}

/// Every signed request the Worker sent verified: no 401 in the simulator's log.
fn assert_every_signature_verified(stack: &Stack) {
    let reqs = portfolio_requests(stack);
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_ne!(r["status"], 401, "refused signature: {r}");
    }
}

#[test]
fn a_submission_timeout_leaves_the_order_unknown_and_never_sends_a_second_order() {
    let stack = live_trading_stack();
    // The simulator checks the timestamp after the delay below; widen its window so the slow
    // order is booked (as a slow venue would) rather than refused as expired.
    let key = stack.sim("GET", "/__sim/kalshi/key", None).json();
    assert_eq!(key["configured"], true);
    let public = std::fs::read_to_string(stack.state_dir.join("kalshi_pub.pem")).unwrap();
    let r = stack.sim(
        "PUT",
        "/__sim/kalshi/key",
        Some(&json!({"public_key_pem": public, "key_id": KEY_ID, "max_skew_ms": 60_000})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The venue takes 11 s to answer the order (the Worker gives up after 10 s) but books it.
    let r = stack.sim(
        "POST",
        "/__sim/faults",
        Some(
            &json!({"method": "POST", "path": "/trade-api/v2/portfolio/orders",
                     "match": "exact", "kind": "delay", "delay_ms": 11_000, "times": 1}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let t1 = next_boundary_ms();
    let run = cycle(&stack, t1);
    let signals = step(&run, "signals");
    assert_eq!(signals["counts"]["live_unknown"], 1, "{run}");
    assert_eq!(signals["code"], "LIVE_ORDER_OUTCOME_UNKNOWN", "{run}");
    let orders = d1(&stack, "SELECT client_order_id, state, mode FROM orders");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["state"], "unknown", "{orders:?}");
    assert_eq!(orders[0]["mode"], "live");
    let client_order_id = orders[0]["client_order_id"].as_str().unwrap().to_string();
    // The same-cycle reconciliation did not call the order absent (it may be in flight).
    assert_eq!(
        d1(&stack, "SELECT state FROM orders")[0]["state"],
        "unknown"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(order_posts(&stack), 1);

    // Same bucket again: the same signal has the same client order id; nothing is sent.
    let run = cycle(&stack, t1 + 60_000);
    assert_eq!(
        step(&run, "signals")["counts"]["existing_orders"],
        1,
        "{run}"
    );
    assert_eq!(
        order_posts(&stack),
        1,
        "no second order for the same signal"
    );
    // That cycle's reconciliation read the venue's orders and resolved the unknown order:
    // the venue has it, filled.
    let rec = step(&run, "reconcile_live");
    assert_eq!(rec["counts"]["unknown_orders_resolved"], 1, "{run}");
    assert_eq!(rec["status"], "SUCCESS", "{run}");
    let o = d1(&stack, &format!(
        "SELECT state, filled_e2, venue_order_id FROM orders WHERE client_order_id = '{client_order_id}'"
    ));
    assert_eq!(o[0]["state"], "filled", "{o:?}");
    assert_eq!(o[0]["filled_e2"], 21_300);
    assert!(o[0]["venue_order_id"].as_str().is_some());
    let fills = d1(&stack, "SELECT qty_e2, price_e4, mode FROM fills");
    assert_eq!(fills.len(), 1, "{fills:?}");
    assert_eq!(fills[0]["qty_e2"], 21_300);
    assert_eq!(fills[0]["price_e4"], 4_500);
    assert_eq!(fills[0]["mode"], "live");
    let portfolio = stack.sim("GET", "/__sim/kalshi/portfolio", None).json();
    assert_eq!(portfolio["orders"], 1, "{portfolio}");
    assert_eq!(breaker(&stack), "NORMAL");

    // The market resolves YES at the venue: the live position closes with the P&L by hand —
    // 213 contracts bought at $0.45, fee 0.07·213·0.45·0.55 = $3.69… → $3.70, paid $1 each:
    // 213.00 − 95.85 − 3.70 = $113.45 — and the venue's position (now zero) still agrees.
    let r = stack.sim(
        "POST",
        &format!("/__sim/kalshi/markets/{TICKER}/settle"),
        Some(&json!({"result": "yes"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // It closes from the venue's settlement record (every page of /portfolio/settlements):
    // its payout (21,300 cents) is the exit value, linked to the entry fill.
    let run = cycle(&stack, t1 + 300_000);
    assert_eq!(step(&run, "settlement")["counts"]["settled"], 1, "{run}");
    assert_eq!(
        step(&run, "settlement")["counts"]["venue_settlements"],
        1,
        "{run}"
    );
    let trades = d1(
        &stack,
        "SELECT mode, realised_pnl_micros, exit_kind, exit_ref, exit_value_micros, \
         exit_fees_micros, entry_fees_micros, entry_fill_ids FROM closed_trades",
    );
    assert_eq!(trades.len(), 1, "{trades:?}");
    assert_eq!(trades[0]["mode"], "live");
    assert_eq!(trades[0]["exit_kind"], "settlement");
    assert_eq!(trades[0]["exit_ref"], "yes");
    assert_eq!(trades[0]["exit_value_micros"], 213_000_000);
    assert_eq!(trades[0]["exit_fees_micros"], 0);
    assert_eq!(trades[0]["entry_fees_micros"], 3_700_000);
    assert_eq!(trades[0]["realised_pnl_micros"], 113_450_000);
    let fill_id = d1(&stack, "SELECT fill_id FROM fills")[0]["fill_id"].clone();
    assert_eq!(trades[0]["entry_fill_ids"], json!([fill_id]).to_string());
    assert!(
        portfolio_requests(&stack)
            .iter()
            .any(|r| r["path"] == "/trade-api/v2/portfolio/settlements" && r["status"] == 200),
        "the Worker read the venue's settlements"
    );
    // Reconciliation compared the venue's record (payout, fees) with the closed trade.
    let rec = step(&run, "reconcile_live");
    assert_eq!(rec["status"], "SUCCESS", "{run}");
    assert_eq!(rec["counts"]["venue_settlements"], 1, "{run}");
    assert_eq!(rec["counts"]["closed_trades"], 1, "{run}");
    assert_eq!(rec["counts"]["findings"], json!([]), "{run}");
    // Idempotent: the next cycle closes nothing more.
    let run = cycle(&stack, t1 + 600_000);
    assert_eq!(step(&run, "settlement")["counts"]["settled"], 0, "{run}");
    assert_eq!(
        d1(&stack, "SELECT COUNT(*) AS n FROM closed_trades")[0]["n"],
        1
    );
    assert_eq!(step(&run, "reconcile_live")["status"], "SUCCESS", "{run}");
    assert_eq!(order_posts(&stack), 1);
    assert_eq!(breaker(&stack), "NORMAL");
    assert_every_signature_verified(&stack);
}

#[test]
fn a_dropped_fill_is_found_by_live_reconciliation_and_halts_the_breaker() {
    let stack = live_trading_stack();
    // The venue fills the order but its answer shows no fill (IOC: status canceled).
    let r = stack.sim(
        "PUT",
        "/__sim/kalshi/drop_fills",
        Some(&json!({"orders": 1})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let run = cycle(&stack, next_boundary_ms());
    assert_eq!(step(&run, "signals")["counts"]["live_placed"], 1, "{run}");
    let o = d1(&stack, "SELECT state, filled_e2 FROM orders");
    assert_eq!(o[0]["state"], "cancelled", "{o:?}");
    assert_eq!(o[0]["filled_e2"], 0);
    assert_eq!(
        d1(&stack, "SELECT COUNT(*) AS n FROM fills")[0]["n"]
            .as_i64()
            .unwrap(),
        0
    );
    // Reconciliation read every page of positions and fills and found what the answer hid.
    let rec = step(&run, "reconcile_live");
    assert_eq!(rec["code"], "RECONCILE_LIVE_DRIFT", "{run}");
    let findings = rec["counts"]["findings"].to_string();
    assert!(
        findings.contains("RECONCILE_UNRECORDED_VENUE_FILL"),
        "{findings}"
    );
    assert!(
        findings.contains("RECONCILE_ORPHAN_VENUE_POSITION"),
        "{findings}"
    );
    assert_eq!(rec["counts"]["severity"], "HALT", "{run}");
    assert_eq!(breaker(&stack), "HALT");
    let stored = d1(
        &stack,
        "SELECT outcome, severity FROM reconciliations WHERE mode = 'live'",
    );
    assert_eq!(stored[0]["outcome"], "drift");
    assert_eq!(stored[0]["severity"], "HALT");

    // The paper book is clean, but while trading live that does not speak for the breaker:
    // recorded and audited, not counted, so it cannot back HALT -> RECOVERY.
    let paper = step(&run, "reconcile");
    assert_eq!(paper["counts"]["outcome"], "clean", "{run}");
    assert_eq!(paper["counts"]["breaker_counted"], false, "{run}");
    let token = &stack.tokens.alice;
    let r = stack.json("POST", "/admin/reconcile", token, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = &r.json()["reconciliation"];
    assert_eq!(rec["outcome"], "clean", "{rec}");
    assert_eq!(rec["breaker_counted"], false, "{rec}");
    assert_eq!(rec["governor_told"], false, "{rec}");
    let recovery_refused = || {
        let body = json!({"targetState": "RECOVERY", "reason": "the book looks clean"});
        let r = stack.json("POST", "/admin/circuit-breaker/transition", token, &body);
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(breaker(&stack), "HALT");
    };
    recovery_refused();
    // The live reconciliation on demand still finds the venue's hidden fill: still HALT.
    let r = stack.json("POST", "/admin/reconcile", token, &json!({"mode": "live"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = r.json()["reconciliation"].clone();
    assert_eq!(
        (rec["mode"].as_str(), rec["outcome"].as_str()),
        (Some("live"), Some("drift")),
        "{rec}"
    );
    assert_eq!(rec["breaker_counted"], true, "{rec}");
    let latest = stack.get(
        "/admin/reconcile/latest?mode=live",
        Some(&stack.tokens.admin),
    );
    assert_eq!(latest.status, 200, "{}", latest.text());
    assert_eq!(latest.json()["reconciliation"]["id"], rec["id"]);
    recovery_refused();
    assert_every_signature_verified(&stack);
}

fn order_post_log(stack: &Stack) -> Vec<Value> {
    portfolio_requests(stack)
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/trade-api/v2/portfolio/orders")
        .collect()
}

fn add_fault(stack: &Stack, fault: Value) {
    let r = stack.sim("POST", "/__sim/faults", Some(&fault));
    assert_eq!(r.status, 201, "{}", r.text());
}

/// The 409 and 429 order paths through the simulator's fault injection:
/// - 429 on every try: bounded back-off (two retries, 0.5 s then 1 s without `Retry-After`),
///   then the order is rejected and its reservation released; nothing placed;
/// - 429 once: the retry after the back-off is placed;
/// - the create is replayed (the venue books it; the answer the Worker sees is the 409 for
///   its own client order id): the order is read back from the venue, its fills recorded —
///   one order at the venue, no second order sent.
#[test]
fn order_submissions_back_off_on_429_and_resolve_a_409_by_reading_the_order_back() {
    let stack = live_trading_stack();
    let orders_path = "/trade-api/v2/portfolio/orders";
    let risk = |stack: &Stack| stack.get("/admin/risk", Some(&stack.tokens.admin)).json();

    // 1. Rate limited on every try.
    add_fault(
        &stack,
        json!({"method": "POST", "path": orders_path, "match": "exact", "kind": "rate_limit"}),
    );
    let t1 = next_boundary_ms();
    let run = cycle(&stack, t1);
    assert_eq!(step(&run, "signals")["counts"]["live_rejected"], 1, "{run}");
    let posts = order_post_log(&stack);
    assert_eq!(posts.len(), 3, "one try and two retries: {posts:?}");
    assert!(posts.iter().all(|p| p["status"] == 429), "{posts:?}");
    let ts: Vec<i64> = posts.iter().map(|p| p["ts_ms"].as_i64().unwrap()).collect();
    assert!(ts[1] - ts[0] >= 450, "first back-off ~500 ms: {ts:?}");
    assert!(ts[2] - ts[1] >= 950, "second back-off ~1 s: {ts:?}");
    assert!(ts[2] - ts[0] < 10_000, "bounded: {ts:?}");
    let o = d1(&stack, "SELECT state, reason FROM orders");
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["state"], "rejected", "{o:?}");
    assert!(
        o[0]["reason"]
            .as_str()
            .unwrap()
            .contains("RATE_LIMITED_RETRIES_EXHAUSTED"),
        "{o:?}"
    );
    assert_eq!(risk(&stack)["book"]["open_reservations"], 0);
    assert_eq!(
        stack.sim("GET", "/__sim/kalshi/portfolio", None).json()["orders"],
        0
    );
    let r = stack.sim("DELETE", "/__sim/faults", None);
    assert!(r.status < 300, "{}", r.text());

    // 2. Rate limited once: placed by the retry.
    add_fault(
        &stack,
        json!({"method": "POST", "path": orders_path, "match": "exact", "kind": "rate_limit",
               "times": 1}),
    );
    let run = cycle(&stack, t1 + 300_000);
    assert_eq!(step(&run, "signals")["counts"]["live_placed"], 1, "{run}");
    let posts = order_post_log(&stack);
    assert_eq!(posts.len(), 5, "{posts:?}");
    assert_eq!(posts[3]["status"], 429);
    assert_eq!(posts[4]["status"], 201);
    assert!(posts[4]["ts_ms"].as_i64().unwrap() - posts[3]["ts_ms"].as_i64().unwrap() >= 450);
    let placed = d1(
        &stack,
        "SELECT client_order_id, state, filled_e2 FROM orders WHERE state = 'filled'",
    );
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0]["filled_e2"], 21_300);
    assert_eq!(
        stack.sim("GET", "/__sim/kalshi/portfolio", None).json()["orders"],
        1
    );

    // 3. The create is replayed: booked by the venue, answered 409 for our own id.
    add_fault(
        &stack,
        json!({"method": "POST", "path": orders_path, "match": "exact", "kind": "replay",
               "times": 1}),
    );
    let reads_before = portfolio_requests(&stack)
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == orders_path)
        .count();
    let run = cycle(&stack, t1 + 600_000);
    assert_eq!(step(&run, "signals")["counts"]["live_placed"], 1, "{run}");
    let posts = order_post_log(&stack);
    assert_eq!(posts.len(), 6, "no second order: {posts:?}");
    assert_eq!(posts[5]["status"], 409);
    let reads = portfolio_requests(&stack)
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == orders_path)
        .count();
    assert!(reads > reads_before, "the order was read back");
    let portfolio = stack.sim("GET", "/__sim/kalshi/portfolio", None).json();
    assert_eq!(
        portfolio["orders"], 2,
        "one venue order per signal: {portfolio}"
    );
    let o = d1(
        &stack,
        "SELECT state, filled_e2, venue_order_id FROM orders ORDER BY created_at DESC LIMIT 1",
    );
    assert_eq!(o[0]["state"], "filled", "{o:?}");
    assert_eq!(o[0]["filled_e2"], 21_300);
    assert!(o[0]["venue_order_id"].as_str().is_some());
    assert_eq!(
        d1(&stack, "SELECT COUNT(*) AS n FROM fills")[0]["n"],
        2,
        "each placed order's fill, once"
    );
    // The books agree with the venue's, and nothing is held back.
    assert_eq!(step(&run, "reconcile_live")["status"], "SUCCESS", "{run}");
    assert_eq!(risk(&stack)["book"]["open_reservations"], 0);
    assert_eq!(breaker(&stack), "NORMAL");
    assert_every_signature_verified(&stack);
}

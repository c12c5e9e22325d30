//! The paper trading cycle end to end, against wrangler dev and the venue simulator: a market
//! pair is proposed, graded by the simulator's Anthropic endpoint and approved; the ingestion
//! cron (fired with a chosen scheduled time) ingests the pair's book and runs the cycle:
//! signal → risk check → audit → paper fill → governor; the simulator settles the market, the
//! next cron sees the result and closes the trade with the P&L calculated by hand below.
//! Also: a re-run in the same bucket adds nothing, HALT stops orders (not forecasts), a pair
//! whose rules change stops trading until re-approved, reconciliation and violations routes.
//!
//! The numbers come from the simulator's deterministic universe (seed 1):
//! - `KXNFLGAME-26OCT08TBDALSIM0-DAL` (a synthetic copy that closes 30 days after the
//!   simulator starts): NO bids 0.53 × 4,330 and 0.55 × 5,281, so the best YES ask is
//!   1 − 0.55 = 0.45 for 5,281 contracts.
//! - Polymarket `0x57372d9b…`: bestBid 0.54, bestAsk 0.55, so the model says YES at 0.545.

use paul_p_e2e::{step, Stack, StackConfig, SIMULATED_SOURCES};
use serde_json::{json, Value};

const CRON: &str = "*/5 * * * *";
const TICKER: &str = "KXNFLGAME-26OCT08TBDALSIM0-DAL";
const CONDITION: &str = "0x57372d9b27dfcc4c92a24c0b7eebfdfde3da9355718fdd045e800e60b156289f";
/// Second pair: YES ask 0.74, NO ask 1 − 0.73 = 0.27 (NO bid 0.73 × 9,348 … best YES bid 0.26);
/// the model (0.34/0.37) says NO at 0.645.
const TICKER_2: &str = "KXNFLGAME-26OCT08TBDALSIM1-DAL";
const CONDITION_2: &str = "0x9a975b48f0e08bb76ce1d37d93a26d93a3713e99eaf8b49ca88c35264eb6c8e2";

/// Kalshi's taker fee in micro-dollars, computed here independently of the Worker:
/// 0.07 × C × P × (1 − P) dollars rounded up to the cent.
fn fee_micros(contracts: i64, price_cents: i64) -> i64 {
    // In units of 1e-6 cent: 7/100 · C · (p/100) · (1 − p/100) dollars = 7·C·p·(100−p) / 10⁴ cents.
    let num = 7 * contracts * price_cents * (100 - price_cents);
    let cents = (num + 9_999) / 10_000;
    cents * 10_000
}

fn approve_pair(stack: &Stack, ticker: &str, condition: &str) -> String {
    let r = stack.sim(
        "PUT",
        "/__sim/anthropic/grades",
        Some(&json!({ format!("{ticker}|{condition}"): "identical" })),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = stack.json(
        "POST",
        "/admin/pairs",
        &stack.tokens.alice,
        &json!({"kalshi_ticker": ticker, "polymarket_condition_id": condition}),
    );
    assert_eq!(r.status, 201, "propose: {}", r.text());
    let id = r.json()["pair"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["pair"]["status"], "assessed", "{}", r.text());
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{id}/approve"),
        &stack.tokens.bob,
        &json!({"notes": "same game"}),
    );
    assert_eq!(r.status, 200, "approve: {}", r.text());
    id
}

/// Fires the ingestion cron (and so the cycle) as if scheduled at `at_ms`; returns the
/// cycle's run.
fn cycle(stack: &Stack, at_ms: i64) -> Value {
    let r = stack.scheduled(CRON, at_ms);
    assert_eq!(r.status, 200, "scheduled: {}", r.text());
    let runs = stack.d1(&format!(
        "SELECT run_id FROM runs WHERE job = 'cycle' AND scheduled_at = '{}'",
        iso(at_ms)
    ));
    assert_eq!(runs.len(), 1, "one cycle run at {}", iso(at_ms));
    let id = runs[0]["run_id"].as_str().unwrap();
    let r = stack.get(&format!("/admin/runs/{id}"), Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

fn get(stack: &Stack, path: &str) -> Value {
    let r = stack.get(path, Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

fn transition(stack: &Stack, target: &str, reason: &str) {
    let r = stack.json(
        "POST",
        "/admin/circuit-breaker/transition",
        &stack.tokens.alice,
        &json!({"targetState": target, "reason": reason}),
    );
    assert_eq!(r.status, 200, "{target}: {}", r.text());
}

fn breaker_state(stack: &Stack) -> String {
    get(stack, "/admin/circuit-breaker")["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn paper_trading_from_pair_approval_to_a_settled_trade_with_hand_checked_pnl() {
    let stack = Stack::start(StackConfig::default());
    let mut sources = SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());

    // The seeded strategy.
    let s = get(&stack, "/admin/strategies");
    assert_eq!(s["strategies"][0]["id"], "fair_value");
    assert_eq!(s["strategies"][0]["mode"], "paper");
    assert_eq!(s["strategies"][0]["config"]["min_edge_bps"], 200);

    let pair_id = approve_pair(&stack, TICKER, CONDITION);

    // The cycle's clock: the next five-minute boundary from now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t1 = (now_ms / 300_000 + 1) * 300_000;

    // HALT: the forecast is recorded, no order is made.
    transition(&stack, "HALT", "e2e: no orders while halted");
    let run = cycle(&stack, t1);
    assert_eq!(step(&run, "pairs")["counts"]["tradable"], 1, "{run}");
    let signals = step(&run, "signals");
    assert_eq!(signals["counts"]["signals"], 1, "{run}");
    assert_eq!(signals["counts"]["skipped_halt"], 1, "{run}");
    assert_eq!(signals["counts"]["orders"], 0, "{run}");
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM orders"), 0);
    assert_eq!(step(&run, "reconcile")["status"], "SUCCESS", "{run}");
    // That reconciliation was clean and came after the halt: recovery is allowed.
    transition(&stack, "RECOVERY", "e2e: clean reconciliation");
    transition(&stack, "NORMAL", "e2e: resume");

    // The signal: the forecast record with its evidence.
    let sig = get(&stack, &format!("/admin/signals?market={TICKER}"));
    let sig = &sig["signals"][0];
    assert_eq!(sig["pair_id"], pair_id.as_str());
    assert_eq!(sig["side"], "yes");
    assert_eq!(sig["model_prob_ppm"], 545_000);
    assert_eq!(sig["market_prob_ppm"], 450_000);
    assert_eq!(sig["limit_price_e4"], 4_500);
    assert_eq!(sig["synthetic"], 0);
    assert_eq!(sig["evidence"].as_array().unwrap().len(), 3, "{sig}");
    assert_eq!(sig["created_at"], iso(t1));
    // Quarter Kelly of a $10,000 bankroll is capped at $100 per signal: the unit cost is
    // 0.45 + 0.07·0.45·0.55 = $0.467325, so 100 / 0.467325 → 213 whole contracts; 213 at 0.45
    // plus the fee ($3.70) is $99.55.
    assert_eq!(sig["qty_e2"], 21_300);
    assert_eq!(fee_micros(213, 45), 3_700_000);
    assert_eq!(sig["fee_micros"], 3_700_000);
    assert_eq!(sig["cost_micros"], 213 * 450_000 + 3_700_000);
    let client_order_id = sig["client_order_id"].as_str().unwrap().to_string();

    // Same bucket, breaker NORMAL: the order for that signal is made and filled on paper.
    let run = cycle(&stack, t1 + 60_000);
    assert_eq!(step(&run, "signals")["counts"]["orders"], 1, "{run}");
    assert_eq!(step(&run, "signals")["counts"]["filled"], 1, "{run}");
    let orders = get(&stack, "/admin/orders");
    let order = &orders["orders"][0];
    assert_eq!(order["client_order_id"], client_order_id.as_str());
    assert_eq!(order["state"], "filled", "{order}");
    assert_eq!(order["mode"], "paper");
    assert_eq!(order["filled_e2"], 21_300);
    assert_eq!(order["fees_micros"], 3_700_000);
    assert_eq!(order["created_at"], iso(t1 + 60_000));
    // Audited before it was executed.
    let seq = order["audit_seq"].as_i64().expect("audit seq");
    let ev = get(&stack, &format!("/admin/audit/events?from={seq}&limit=1"));
    assert!(
        ev.to_string().contains("ORDER_SUBMITTED") && ev.to_string().contains(&client_order_id),
        "{ev}"
    );
    let fills =
        stack.d1("SELECT fill_id, qty_e2, price_e4, fee_micros, governor_applied FROM fills");
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0]["qty_e2"], 21_300);
    assert_eq!(fills[0]["price_e4"], 4_500);
    assert_eq!(fills[0]["fee_micros"], 3_700_000);
    assert_eq!(fills[0]["governor_applied"], 1);
    let fill_id = fills[0]["fill_id"].as_str().unwrap().to_string();
    let pos = get(&stack, "/admin/positions");
    assert_eq!(pos["positions"][0]["market"], TICKER);
    assert_eq!(pos["positions"][0]["qty_e2"], 21_300);
    assert_eq!(pos["positions"][0]["cost_usd_micros"], 95_850_000);
    // The governor holds it: cash 10,000 − 95.85 − 3.70.
    let risk = get(&stack, "/admin/risk");
    assert_eq!(risk["book"]["cash_usd_micros"], 9_900_450_000_i64, "{risk}");

    // Running again in the same bucket adds nothing; the same delivery again is not re-run.
    let run = cycle(&stack, t1 + 120_000);
    assert_eq!(
        step(&run, "signals")["counts"]["existing_orders"],
        1,
        "{run}"
    );
    assert_eq!(step(&run, "signals")["counts"]["orders"], 0, "{run}");
    let r = stack.scheduled(CRON, t1 + 120_000);
    assert_eq!(r.status, 200);
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM orders"), 1);
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM fills"), 1);
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM signals"), 1);
    assert_eq!(
        stack.d1_count("SELECT COUNT(*) AS n FROM runs WHERE job = 'cycle'"),
        3
    );

    // The market resolves YES at the venue; the next cron's ingestion sees the result.
    let r = stack.sim(
        "POST",
        &format!("/__sim/kalshi/markets/{TICKER}/settle"),
        Some(&json!({"result": "yes"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let t2 = t1 + 300_000;
    let run = cycle(&stack, t2);
    assert_eq!(step(&run, "settlement")["counts"]["settled"], 1, "{run}");
    let trades = get(&stack, "/admin/trades");
    let trade = &trades["trades"][0];
    // By hand: 213 contracts bought at $0.45 with a $3.70 fee pay $1 each:
    // 213.00 − 95.85 − 3.70 = $113.45.
    let hand = 213 * 1_000_000 - 213 * 450_000 - fee_micros(213, 45);
    assert_eq!(hand, 113_450_000);
    assert_eq!(trade["realised_pnl_micros"], hand, "{trade}");
    assert_eq!(trade["exit_kind"], "settlement");
    assert_eq!(trade["exit_ref"], "yes");
    assert_eq!(trade["side"], "yes");
    assert_eq!(trade["qty_e2"], 21_300);
    assert_eq!(trade["entry_fill_ids"], json!([fill_id]));
    assert_eq!(trade["closed_at"], iso(t2));
    assert_eq!(trades["realised_pnl_usd_micros"], hand);
    assert_eq!(get(&stack, "/admin/positions")["positions"], json!([]));
    // The governor was told: cash is back with the payout.
    let risk = get(&stack, "/admin/risk");
    assert_eq!(
        risk["book"]["cash_usd_micros"], 10_113_450_000_i64,
        "{risk}"
    );
    // Settling again (another cron) adds nothing.
    cycle(&stack, t2 + 300_000);
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM closed_trades"), 1);

    // Reconciliation on demand: the book matches the ledger.
    let r = stack.json("POST", "/admin/reconcile", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = r.json()["reconciliation"].clone();
    assert_eq!(rec["outcome"], "clean", "{rec}");
    assert_eq!(rec["drift_bps"], 0);
    // Paper trading only: the clean paper book counts for the breaker.
    assert_eq!(rec["breaker_counted"], true, "{rec}");
    assert_eq!(rec["governor_told"], true, "{rec}");
    let latest = get(&stack, "/admin/reconcile/latest");
    assert_eq!(latest["reconciliation"]["id"], rec["id"]);
    assert_eq!(latest["reconciliation"]["triggered_by"], "operator:alice");
    assert_eq!(
        get(&stack, "/admin/reconcile/latest?mode=paper")["reconciliation"]["id"],
        rec["id"]
    );
    // Nothing trades live: a live reconciliation is refused (it would only report venue-read
    // failures to the breaker), and none is stored.
    let r = stack.json(
        "POST",
        "/admin/reconcile",
        &stack.tokens.alice,
        &json!({"mode": "live"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "LIVE_NOT_ACTIVE");
    let r = stack.get(
        "/admin/reconcile/latest?mode=live",
        Some(&stack.tokens.admin),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code(), "RECONCILIATION_NOT_FOUND");
    for bad in [
        "/admin/reconcile/latest?mode=",
        "/admin/reconcile/latest?mode=LIVE",
    ] {
        let r = stack.get(bad, Some(&stack.tokens.admin));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = stack.json(
        "POST",
        "/admin/reconcile",
        &stack.tokens.alice,
        &json!({"mode": "both"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    assert_eq!(breaker_state(&stack), "NORMAL");
}

#[test]
fn a_pair_whose_rules_change_stops_trading_until_it_is_approved_again() {
    let stack = Stack::start(StackConfig::default());
    let mut sources = SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());
    let pair_id = approve_pair(&stack, TICKER_2, CONDITION_2);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t1 = (now_ms / 300_000 + 1) * 300_000;

    // The venue edits the market's rules before the next ingestion.
    let r = stack.sim(
        "PUT",
        &format!("/__sim/kalshi/markets/{TICKER_2}/rules"),
        Some(&json!({"rules_primary": "If Dallas wins or ties, the market resolves to Yes."})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let run = cycle(&stack, t1);
    assert_eq!(step(&run, "pairs")["counts"]["back_to_review"], 1, "{run}");
    assert_eq!(step(&run, "signals")["status"], "SKIPPED", "{run}");
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM orders"), 0);
    let r = stack.get("/admin/pairs?status=proposed", Some(&stack.tokens.admin));
    let pair = r.json()["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == pair_id.as_str())
        .cloned()
        .expect("the pair is back in review");
    assert_eq!(pair["review_reason"], "RULES_CHANGED: sides=kalshi");
    assert!(pair["approval"].is_null());
    // Still nothing on the next cycle.
    let run = cycle(&stack, t1 + 300_000);
    assert_eq!(step(&run, "pairs")["counts"]["tradable"], 0, "{run}");
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM orders"), 0);
    // Approving without a new assessment is refused; re-assessed and approved, it trades.
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{pair_id}/approve"),
        &stack.tokens.bob,
        &json!({"notes": "still fine?"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{pair_id}/assess"),
        &stack.tokens.alice,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{pair_id}/approve"),
        &stack.tokens.bob,
        &json!({"notes": "new rules read, same game"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let run = cycle(&stack, t1 + 600_000);
    assert_eq!(step(&run, "signals")["counts"]["orders"], 1, "{run}");
    let orders = get(&stack, "/admin/orders");
    assert_eq!(orders["orders"][0]["market"], TICKER_2);
    assert_eq!(orders["orders"][0]["side"], "no");
    assert_eq!(orders["orders"][0]["state"], "filled", "{orders}");
}

#[test]
fn violations_are_found_escalate_the_breaker_and_are_resolved_by_an_operator() {
    let stack = Stack::start(StackConfig::default());
    // An open position nobody can link to a fill, opened long ago: a phantom in the book.
    stack.d1(
        "INSERT INTO positions (mode, market, side, qty_e2, cost_micros, fees_micros, \
         entry_fill_ids, opened_at, updated_at) VALUES ('paper', 'KX-ORPHAN', 'yes', 100, \
         50000, 0, '[]', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
    );
    let r = stack.json("POST", "/admin/reconcile", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = r.json()["reconciliation"].clone();
    assert_eq!(rec["outcome"], "drift", "{rec}");
    assert_eq!(rec["severity"], "HALT", "{rec}");
    assert_eq!(rec["findings"][0]["code"], "RECONCILE_PHANTOM_POSITION");
    assert_eq!(breaker_state(&stack), "HALT");

    let v = get(&stack, "/admin/violations?status=open");
    let list = v["violations"].as_array().unwrap();
    let codes: Vec<&str> = list.iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"INTEGRITY_ORPHAN_POSITION"), "{v}");
    assert!(codes.contains(&"INTEGRITY_INVENTORY_MISMATCH"), "{v}");
    let orphan = list
        .iter()
        .find(|x| x["code"] == "INTEGRITY_ORPHAN_POSITION")
        .unwrap();
    assert_eq!(orphan["subject"], "KX-ORPHAN");
    assert_eq!(orphan["details"]["linkage"], "none");
    let id = orphan["id"].as_str().unwrap().to_string();

    // Bad input: nothing changes.
    let path = format!("/admin/violations/{id}/resolve");
    for body in [
        json!({}),
        json!({"notes": "  "}),
        json!({"notes": "x", "extra": 1}),
    ] {
        let r = stack.json("POST", &path, &stack.tokens.alice, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.json()["error"]["code"].is_string());
    }
    let r = stack.json(
        "POST",
        "/admin/violations/viol-0000000000000000/resolve",
        &stack.tokens.alice,
        &json!({"notes": "n"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code(), "VIOLATION_NOT_FOUND");
    let r = stack.get("/admin/violations?status=bogus", Some(&stack.tokens.admin));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        stack.d1_count("SELECT COUNT(*) AS n FROM violations WHERE status = 'resolved'"),
        0
    );

    let r = stack.json(
        "POST",
        &path,
        &stack.tokens.alice,
        &json!({"notes": "test row inserted by hand; removed"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json()["violation"].clone();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["resolved_by"], "alice");
    assert_eq!(v["notes"], "test row inserted by hand; removed");
    assert!(r.json()["audit_seq"].as_i64().is_some());
    let r = stack.json("POST", &path, &stack.tokens.bob, &json!({"notes": "again"}));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "VIOLATION_NOT_OPEN");

    // Strategy modes: live is the two-person path; bad input is refused; changes are audited.
    let r = stack.json(
        "POST",
        "/admin/strategies/fair_value/mode",
        &stack.tokens.alice,
        &json!({"mode": "live"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "LIVE_REQUIRES_TWO_PERSON_APPROVAL");
    for body in [
        json!({"mode": "fast"}),
        json!({"mode": "paper", "x": 1}),
        json!({}),
    ] {
        let r = stack.json(
            "POST",
            "/admin/strategies/fair_value/mode",
            &stack.tokens.alice,
            &body,
        );
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    let r = stack.json(
        "POST",
        "/admin/strategies/nope/mode",
        &stack.tokens.alice,
        &json!({"mode": "paper"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(
        stack.d1("SELECT mode FROM strategies WHERE id = 'fair_value'")[0]["mode"],
        "paper"
    );
    let r = stack.json(
        "POST",
        "/admin/strategies/fair_value/mode",
        &stack.tokens.alice,
        &json!({"mode": "disabled"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["strategy"]["mode"], "disabled");
    assert_eq!(r.json()["strategy"]["updated_by"], "alice");
    assert!(r.json()["audit_seq"].as_i64().is_some());

    // The hand-made row gone, the book reconciles clean again.
    stack.d1("DELETE FROM positions WHERE market = 'KX-ORPHAN'");
    let r = stack.json("POST", "/admin/reconcile", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["reconciliation"]["outcome"],
        "clean",
        "{}",
        r.text()
    );
    let r = stack.json(
        "POST",
        "/admin/reconcile",
        &stack.tokens.alice,
        &json!({"x": 1}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(stack.get("/admin/reconcile/latest", None).status == 401);
}

/// A cycle that stopped after recording its paper order as `submitted` (audited, reservation
/// held at the governor) and before executing it: the next cycle recovers the order first —
/// cancelled, never executed against a later book, its reservation released — and the signal's
/// bucket does not make a second order.
#[test]
fn an_interrupted_paper_order_is_cancelled_by_the_next_cycle_and_its_reservation_released() {
    let stack = Stack::start(StackConfig::default());
    let mut sources = SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());
    approve_pair(&stack, TICKER, CONDITION);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t1 = (now_ms / 300_000 + 1) * 300_000;
    // Halted, the cycle records the signal and makes no order.
    transition(&stack, "HALT", "e2e: signal only");
    let run = cycle(&stack, t1);
    assert_eq!(
        step(&run, "recover_orders")["counts"]["interrupted"],
        0,
        "{run}"
    );
    assert_eq!(step(&run, "signals")["counts"]["skipped_halt"], 1, "{run}");
    transition(&stack, "RECOVERY", "e2e: clean reconciliation");
    transition(&stack, "NORMAL", "e2e: resume");
    let sig = get(&stack, &format!("/admin/signals?market={TICKER}"))["signals"][0].clone();
    let coid = sig["client_order_id"].as_str().unwrap().to_string();
    let qty = sig["qty_e2"].as_i64().unwrap();
    let limit = sig["limit_price_e4"].as_i64().unwrap();

    // What the stopped cycle left: the governor's reservation for the order (its check) and
    // the order on record as `submitted`.
    let intent = json!({"client_order_id": coid, "market": TICKER, "side": "yes", "action": "buy",
                        "qty": qty, "limit_price": limit, "kind": "new"});
    let r = stack.json("POST", "/admin/risk/check", &stack.tokens.admin, &intent);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["verdict"]["approved"], true, "{}", r.text());
    assert_eq!(get(&stack, "/admin/risk")["book"]["open_reservations"], 1);
    let body = json!({"client_order_id": coid, "venue_order_id": null, "market": TICKER,
                      "side": "yes", "action": "buy", "qty": qty, "limit_price": limit,
                      "filled": 0, "fees": 0, "state": "submitted", "reason": null,
                      "fill_ids": [], "updated_at": t1 + 30_000});
    stack.d1(&format!(
        "INSERT INTO orders (client_order_id, signal_id, strategy_id, mode, market, side, action, \
         qty_e2, limit_price_e4, state, body, run_id, created_at, updated_at) VALUES ('{coid}', \
         '{}', 'fair_value', 'paper', '{TICKER}', 'yes', 'buy', {qty}, {limit}, 'submitted', \
         '{body}', 'cycle:stopped', '{}', '{}')",
        sig["id"].as_str().unwrap(),
        iso(t1 + 30_000),
        iso(t1 + 30_000)
    ));

    // The next cycle, same bucket: recovered first, then the signal finds its order taken.
    let run = cycle(&stack, t1 + 60_000);
    let rec = step(&run, "recover_orders");
    assert_eq!(rec["status"], "SUCCESS", "{run}");
    assert_eq!(rec["counts"]["interrupted"], 1, "{run}");
    assert_eq!(rec["counts"]["cancelled"], 1, "{run}");
    assert_eq!(
        step(&run, "signals")["counts"]["existing_orders"],
        1,
        "{run}"
    );
    assert_eq!(step(&run, "signals")["counts"]["orders"], 0, "{run}");
    let o = stack.d1(&format!(
        "SELECT state, reason, filled_e2 FROM orders WHERE client_order_id = '{coid}'"
    ));
    assert_eq!(o[0]["state"], "cancelled", "{o:?}");
    assert_eq!(o[0]["reason"], "CYCLE_INTERRUPTED");
    assert_eq!(o[0]["filled_e2"], 0);
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM fills"), 0);
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM orders"), 1);
    let risk = get(&stack, "/admin/risk");
    assert_eq!(risk["book"]["open_reservations"], 0, "{risk}");
    assert_eq!(
        risk["book"]["cash_usd_micros"], 10_000_000_000_i64,
        "{risk}"
    );
    let ev = get(&stack, "/admin/audit/events?limit=1000").to_string();
    assert!(ev.contains("ORDER_RECOVERED") && ev.contains(&coid), "{ev}");
    assert_eq!(step(&run, "reconcile")["status"], "SUCCESS", "{run}");

    // Recovery is done once: the next cycle finds nothing left behind.
    let run = cycle(&stack, t1 + 300_000);
    assert_eq!(
        step(&run, "recover_orders")["counts"]["interrupted"],
        0,
        "{run}"
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a stored `close_time`.
fn kalshi_time(stored: &str) -> String {
    format!("{}Z", &stored[..19])
}

/// Discovery in the cycle: two Kalshi markets the venue retitles after two Polymarket
/// questions (same close time) are proposed as candidates — at most four per cycle here, best
/// first — and graded by the LLM; an LLM error leaves its candidate `not_assessed`; nothing is
/// approved, no unrelated market is proposed, and an existing pair is never proposed again.
/// (The simulator's Polymarket universe holds synthetic copies with the recorded questions, so
/// a title matches several markets, equally: discovery keeps three per Kalshi market, the
/// smallest ids first.)
#[test]
fn discovery_proposes_similar_markets_for_review_one_per_cycle_and_never_approves() {
    let stack = Stack::start(StackConfig {
        vars: vec![("DISCOVERY_MAX_PER_CYCLE".into(), "4".into())],
        unset: vec![],
    });
    let mut sources = SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());
    let poly = |condition: &str| {
        let rows = stack.d1(&format!(
            "SELECT title, close_time FROM markets WHERE venue = 'polymarket' AND market_id = '{condition}'"
        ));
        (
            rows[0]["title"].as_str().unwrap().to_string(),
            rows[0]["close_time"].as_str().unwrap().to_string(),
        )
    };
    let same_title = |title: &str, close: &str| -> Vec<String> {
        stack
            .d1(&format!(
                "SELECT market_id FROM markets WHERE venue = 'polymarket' AND status = 'active' \
                 AND title = '{}' AND close_time = '{close}' ORDER BY market_id",
                title.replace('\'', "''")
            ))
            .iter()
            .map(|r| r["market_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (title_1, close_1) = poly(CONDITION);
    let (title_2, close_2) = poly(CONDITION_2);
    assert_ne!(title_1, title_2);
    let best_1 = same_title(&title_1, &close_1)[0].clone();
    let matches_2 = same_title(&title_2, &close_2);
    // Before: nothing similar enough in the simulator's universe.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t1 = (now_ms / 300_000 + 1) * 300_000;
    let run = cycle(&stack, t1);
    let d = step(&run, "discovery");
    assert_eq!(d["status"], "SUCCESS", "{run}");
    assert_eq!(d["counts"]["candidates"], 0, "{run}");
    assert!(d["counts"]["kalshi_markets"].as_i64().unwrap() > 0, "{run}");
    assert!(
        d["counts"]["polymarket_markets"].as_i64().unwrap() > 0,
        "{run}"
    );

    // The venue retitles two markets: one exactly as the first question, one in other words.
    let retitle = |ticker: &str, title: &str, close: &str| {
        let r = stack.sim(
            "PUT",
            &format!("/__sim/kalshi/markets/{ticker}/listing"),
            Some(&json!({"title": title, "close_time": kalshi_time(close)})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    retitle(TICKER, &title_1, &close_1);
    retitle(
        TICKER_2,
        &format!("{} (resolves per the rules)", title_2.trim_end_matches('?')),
        &close_2,
    );
    let mut grades = serde_json::Map::new();
    grades.insert(format!("{TICKER}|{best_1}"), json!("identical"));
    for id in &matches_2 {
        grades.insert(
            format!("{TICKER_2}|{id}"),
            json!({"error": {"status": 529, "type": "overloaded_error", "message": "busy"}}),
        );
    }
    let r = stack.sim(
        "PUT",
        "/__sim/anthropic/grades",
        Some(&Value::Object(grades)),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Best first, at most four: the exact title's three best matches, then the other's best.
    let run = cycle(&stack, t1 + 300_000);
    let d = step(&run, "discovery");
    assert_eq!(d["status"], "SUCCESS", "{run}");
    assert!(d["counts"]["candidates"].as_i64().unwrap() > 4, "{run}");
    assert_eq!(d["counts"]["proposed"], 4, "{run}");
    assert_eq!(d["counts"]["assessed"], 3, "{run}");
    assert_eq!(d["counts"]["not_assessed"], 1, "{run}");
    let proposed = d["counts"]["pairs"].as_array().unwrap().clone();
    assert_eq!(proposed[0]["kalshi_ticker"], TICKER, "{run}");
    assert_eq!(
        proposed[0]["polymarket_condition_id"],
        best_1.as_str(),
        "{run}"
    );
    assert_eq!(proposed[0]["score_bps"], 10_000, "{run}");
    assert_eq!(proposed[3]["kalshi_ticker"], TICKER_2, "{run}");
    let pairs = get(&stack, "/admin/pairs?limit=100")["pairs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(pairs.len(), 4);
    for p in &pairs {
        // Only the retitled markets: nothing unrelated was proposed.
        assert!(
            p["kalshi_ticker"] == TICKER || p["kalshi_ticker"] == TICKER_2,
            "{p}"
        );
        assert_eq!(p["proposer"]["by"], "discovery", "{p}");
        assert!(p["proposer"]["score_bps"].as_i64().unwrap() >= 5_000, "{p}");
        assert_ne!(p["status"], "approved", "{p}");
        assert!(p["approval"].is_null());
    }
    let p1 = pairs
        .iter()
        .find(|p| p["polymarket_condition_id"] == best_1.as_str())
        .unwrap();
    assert_eq!(
        p1["proposer"],
        json!({"by": "discovery", "score_bps": 10_000})
    );
    assert_eq!(p1["assessment"]["outcome"]["grade"], "identical", "{p1}");
    // The LLM error left the second market's candidate not assessed, and not approvable.
    let p2 = pairs
        .iter()
        .find(|p| p["kalshi_ticker"] == TICKER_2)
        .unwrap()
        .clone();
    assert!(matches_2.contains(&p2["polymarket_condition_id"].as_str().unwrap().to_string()));
    assert_eq!(p2["status"], "not_assessed", "{p2}");
    assert_eq!(p2["assessment"]["outcome"]["result"], "failed", "{p2}");
    assert!(
        p2["proposer"]["score_bps"].as_i64().unwrap() < 10_000,
        "{p2}"
    );
    assert_eq!(
        get(&stack, "/admin/pairs?status=approved")["pairs"],
        json!([])
    );
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{}/approve", p2["id"].as_str().unwrap()),
        &stack.tokens.bob,
        &json!({"notes": "no"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // The next cycle proposes only pairs that do not exist yet.
    let run = cycle(&stack, t1 + 600_000);
    let d = step(&run, "discovery");
    assert_eq!(d["status"], "SUCCESS", "{run}");
    let again = d["counts"]["pairs"].as_array().unwrap().clone();
    for n in &again {
        assert!(
            !pairs.iter().any(|p| p["id"] == n["pair_id"]),
            "proposed again: {n}"
        );
    }
    assert_eq!(
        stack.d1_count("SELECT COUNT(*) AS n FROM market_pairs"),
        4 + again.len() as i64
    );
    let ev = get(&stack, "/admin/audit/events?limit=1000").to_string();
    assert!(
        ev.contains("PAIR_PROPOSED") && ev.contains("system:cycle"),
        "{ev}"
    );
}

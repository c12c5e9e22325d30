//! Crashes: `wrangler dev` (and its workerd) killed with SIGKILL in the middle of a trading
//! cycle and in the middle of an ingestion run, then started again on the same local state.
//! Nothing may be lost or done twice: one order at the venue per client order id, each fill
//! recorded once, each order's submission audited once, the interrupted order resolved by the
//! next reconciliation, the next runs complete, reconciliation ends clean and the audit log
//! verifies.
//!
//! "The middle" is made deterministic with simulator delays: the venue holds the live order
//! 8 s (the test waits until the simulator counted the request, then kills), and holds the
//! Polymarket listing (after the Kalshi steps finished) 30 s for the ingestion kill.

use paul_p::core::run_audit::cron_run_id;
use paul_p::core::time::{format_utc, from_millis};
use paul_p_e2e::{
    next_boundary_ms, now_ms, start_live_trading, step, Stack, LIVE_TICKER, SMALL_UNIVERSE,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const CRON: &str = "*/5 * * * *";
/// The ingestion wall budget of this stack: its lease lasts this plus 60 s.
const WALL_BUDGET_MS: i64 = 15_000;

fn run_id(job: &str, at_ms: i64) -> String {
    cron_run_id(job, CRON, from_millis(at_ms).unwrap())
}

fn run(stack: &Stack, id: &str) -> Value {
    let r = stack.get(&format!("/admin/runs/{id}"), Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "run {id}: {}", r.text());
    r.json()
}

/// Fires the cron at `at_ms` and waits for it (ingestion and cycle).
fn deliver(stack: &Stack, at_ms: i64) {
    let r = stack.scheduled(CRON, at_ms);
    assert_eq!(r.status, 200, "scheduled: {}", r.text());
}

fn sim_portfolio(stack: &Stack) -> Value {
    stack.sim("GET", "/__sim/kalshi/portfolio", None).json()
}

fn order_posts(stack: &Stack) -> Vec<Value> {
    stack
        .sim_requests("/trade-api/v2/portfolio/orders")
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .collect()
}

#[test]
fn sigkill_mid_cycle_and_mid_ingestion_loses_nothing_and_duplicates_nothing() {
    let started = std::time::Instant::now();
    let mut stack = start_live_trading(
        vec![(
            "INGEST_WALL_BUDGET_MS".to_string(),
            WALL_BUDGET_MS.to_string(),
        )],
        SMALL_UNIVERSE,
    );
    let t1 = next_boundary_ms();

    // --- 1. SIGKILL in the middle of a cycle: the live order is at the venue, unanswered ---
    let hold = stack.sim_fault(
        &json!({"method": "POST", "path": "/trade-api/v2/portfolio/orders",
        "match": "exact", "kind": "delay", "delay_ms": 8_000, "times": 1}),
    );
    let cron = stack.scheduled_in_background(CRON, t1);
    stack.wait_fault_applied(hold, Duration::from_secs(180));
    stack.kill_worker_hard();
    assert!(
        cron.join().unwrap().is_err(),
        "the killed Worker never answered the cron"
    );
    // The venue books the order once its delay is over (the connection is gone by then).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sim_portfolio(&stack)["orders"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            sim_portfolio(&stack)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // What the dead cycle left on disk: the order on record as submitted (before it left),
    // its run still RUNNING.
    let orders = stack.d1_retry("SELECT client_order_id, state, mode FROM orders");
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["state"], "submitted", "{orders:?}");
    assert_eq!(orders[0]["mode"], "live");
    let first_order = orders[0]["client_order_id"].as_str().unwrap().to_string();
    let cycle_1 = run_id("cycle", t1);
    let rows = stack.d1_retry(&format!(
        "SELECT status FROM runs WHERE run_id = '{cycle_1}'"
    ));
    assert_eq!(rows[0]["status"], "RUNNING", "{rows:?}");
    stack.start_again();

    // --- 2. SIGKILL in the middle of an ingestion run: Kalshi done, Polymarket in flight ---
    let t2 = t1 + 300_000;
    let hold = stack.sim_fault(&json!({"method": "GET", "path": "/gamma/markets",
        "match": "exact", "kind": "delay", "delay_ms": 30_000, "times": 1}));
    let killed_at = now_ms();
    let cron = stack.scheduled_in_background(CRON, t2);
    stack.wait_fault_applied(hold, Duration::from_secs(180));
    stack.kill_worker_hard();
    assert!(cron.join().unwrap().is_err());
    let ingest_2 = run_id("ingest", t2);
    let steps: Vec<String> = stack
        .d1_retry(&format!(
            "SELECT step FROM run_steps WHERE run_id = '{ingest_2}' ORDER BY step_no"
        ))
        .iter()
        .map(|r| r["step"].as_str().unwrap().to_string())
        .collect();
    assert!(
        steps.contains(&"kalshi_markets".to_string())
            && !steps.contains(&"polymarket_markets".to_string()),
        "killed between the Kalshi steps and the Polymarket step: {steps:?}"
    );
    let lease = stack.d1_retry("SELECT run_id, expires_at FROM job_leases WHERE job = 'ingest'");
    assert_eq!(
        lease.len(),
        1,
        "the dead run's lease is still held: {lease:?}"
    );
    assert_eq!(lease[0]["run_id"], ingest_2.as_str());
    // No cycle ran for that delivery.
    assert!(stack
        .d1_retry(&format!(
            "SELECT run_id FROM runs WHERE run_id = '{}'",
            run_id("cycle", t2)
        ))
        .is_empty());
    stack.start_again();

    // --- 3. The next deliveries, once the dead run's lease lapsed (wall budget + 60 s) ---
    let lease_ends = killed_at + WALL_BUDGET_MS + 60_000;
    let wait = lease_ends + 1_000 - now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
    let t3 = t2 + 300_000;
    deliver(&stack, t3);
    let ingest_3 = run(&stack, &run_id("ingest", t3));
    assert_eq!(ingest_3["run"]["status"], "SUCCESS", "{ingest_3}");
    let cycle_3 = run(&stack, &run_id("cycle", t3));
    // The interrupted order blocked its market until this cycle's reconciliation read the
    // venue's orders and resolved it: filled, once.
    let rec = step(&cycle_3, "reconcile_live");
    assert_eq!(rec["status"], "SUCCESS", "{cycle_3}");
    assert_eq!(rec["counts"]["unknown_orders_resolved"], 1, "{cycle_3}");
    let o = stack.d1_retry(&format!(
        "SELECT state, filled_e2, venue_order_id FROM orders WHERE client_order_id = '{first_order}'"
    ));
    assert_eq!(o[0]["state"], "filled", "{o:?}");
    assert!(o[0]["venue_order_id"].as_str().is_some(), "{o:?}");
    // A later delivery trades normally again.
    let t4 = t3 + 300_000;
    deliver(&stack, t4);
    let cycle_4 = run(&stack, &run_id("cycle", t4));
    assert_eq!(cycle_4["run"]["status"], "SUCCESS", "{cycle_4}");
    assert_eq!(
        step(&cycle_4, "reconcile_live")["status"],
        "SUCCESS",
        "{cycle_4}"
    );
    assert_eq!(
        step(&cycle_4, "reconcile")["status"],
        "SUCCESS",
        "{cycle_4}"
    );
    assert_eq!(
        run(&stack, &run_id("ingest", t4))["run"]["status"],
        "SUCCESS"
    );

    // --- Nothing was done twice ---
    // Venue side: every order POST was a distinct order (a repeated client order id would be
    // answered 409), and the venue holds exactly the orders we hold with a venue order id.
    let posts = order_posts(&stack);
    assert!(
        posts.iter().all(|p| p["status"] != 409),
        "a client order id was sent twice: {posts:?}"
    );
    let portfolio = sim_portfolio(&stack);
    assert_eq!(portfolio["orders"], posts.len(), "{portfolio}");
    let ours = stack.d1_retry(
        "SELECT client_order_id, state FROM orders WHERE mode = 'live' AND venue_order_id IS NOT NULL",
    );
    assert_eq!(ours.len(), posts.len(), "{ours:?} vs {posts:?}");
    // Fills: ours are the venue's, each once.
    let fills = stack.d1_retry(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT fill_id) AS d, SUM(qty_e2) AS q FROM fills WHERE mode = 'live'",
    );
    assert_eq!(fills[0]["n"], fills[0]["d"]);
    assert_eq!(
        fills[0]["n"], portfolio["fills"],
        "{fills:?} vs {portfolio}"
    );
    // Audit: each order's submission on record exactly once, every order that reached the
    // venue among them; no audit event appended twice.
    let events = stack.audit_events();
    let mut submitted: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        if e["kind"] == "ORDER_SUBMITTED" {
            let id = e["payload"]["order"]["client_order_id"]
                .as_str()
                .unwrap_or_else(|| panic!("ORDER_SUBMITTED without an order id: {e}"))
                .to_string();
            *submitted.entry(id).or_default() += 1;
        }
    }
    assert!(
        submitted.values().all(|n| *n == 1),
        "a submission audited twice: {submitted:?}"
    );
    for o in &ours {
        let id = o["client_order_id"].as_str().unwrap();
        assert!(
            submitted.contains_key(id),
            "order {id} reached the venue unaudited"
        );
    }
    assert!(submitted.contains_key(&first_order));
    let mut seen = BTreeSet::new();
    for e in &events {
        let key = (e["kind"].to_string(), e["payload"].to_string());
        assert!(seen.insert(key), "an audit event appended twice: {e}");
    }
    // The killed runs stay on record as what they were; every run id is one row. Their
    // heartbeats are minutes old, not yet dead by the 16-minute rule: still RUNNING.
    let dup_runs = stack
        .d1_retry("SELECT run_id, COUNT(*) AS n FROM run_steps GROUP BY run_id, step HAVING n > 1");
    assert!(dup_runs.is_empty(), "a step recorded twice: {dup_runs:?}");
    let killed = format!("'{cycle_1}', '{ingest_2}'");
    let statuses = stack.d1_retry(&format!(
        "SELECT status FROM runs WHERE run_id IN ({killed}) ORDER BY run_id"
    ));
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(
        statuses.iter().all(|r| r["status"] == "RUNNING"),
        "{statuses:?}"
    );
    // The position the governor holds is the ledger's: reconciliation was clean above and the
    // breaker never moved.
    assert_eq!(stack.breaker_state(), "NORMAL");
    let position = stack.d1_retry(&format!(
        "SELECT qty_e2 FROM positions WHERE mode = 'live' AND market = '{LIVE_TICKER}'"
    ));
    assert_eq!(position.len(), 1, "{position:?}");
    assert_eq!(
        position[0]["qty_e2"], fills[0]["q"],
        "{position:?} vs {fills:?}"
    );

    // --- 4. Sixteen minutes without a heartbeat: the next runs close the dead ones ---
    // (the heartbeats are aged by hand; a scheduled handler never runs that long)
    stack.d1_retry(&format!(
        "UPDATE runs SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-17 minutes') \
         WHERE run_id IN ({killed})"
    ));
    let t5 = t4 + 300_000;
    deliver(&stack, t5);
    let cycle_5 = run(&stack, &run_id("cycle", t5));
    let recover = step(&cycle_5, "recover_orders");
    assert_eq!(recover["status"], "SUCCESS", "{cycle_5}");
    assert_eq!(
        recover["counts"]["abandoned_runs"],
        json!([cycle_1]),
        "{cycle_5}"
    );
    let closed = stack.d1_retry(&format!(
        "SELECT run_id, status, ended_at, detail FROM runs WHERE run_id IN ({killed})"
    ));
    for row in &closed {
        assert_eq!(row["status"], "FAIL", "{closed:?}");
        assert!(row["ended_at"].as_str().is_some(), "{closed:?}");
        let detail: Value = serde_json::from_str(row["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["code"], "RUN_ABANDONED", "{detail}");
    }
    let abandoned: Vec<Value> = stack
        .audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "RUN_ABANDONED")
        .collect();
    assert_eq!(abandoned.len(), 2, "one event per job: {abandoned:?}");
    for (job, id) in [("cycle", &cycle_1), ("ingest", &ingest_2)] {
        let e = abandoned
            .iter()
            .find(|e| e["payload"]["job"] == job)
            .unwrap_or_else(|| panic!("no RUN_ABANDONED for {job}: {abandoned:?}"));
        assert_eq!(e["payload"]["runs"][0]["run_id"], id.as_str(), "{e}");
    }
    // Closed once: a later run finds nothing more to close.
    let t6 = t5 + 300_000;
    deliver(&stack, t6);
    let cycle_6 = run(&stack, &run_id("cycle", t6));
    assert_eq!(
        step(&cycle_6, "recover_orders")["counts"]["abandoned_runs"],
        json!([]),
        "{cycle_6}"
    );
    stack.assert_audit_verifies();
    eprintln!(
        "crash test: {:.0} s (scheduled {})",
        started.elapsed().as_secs_f64(),
        format_utc(from_millis(t1).unwrap())
    );
}

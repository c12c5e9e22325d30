//! Ingestion end to end, against wrangler dev (real local D1, R2, Durable Objects) and the venue
//! simulator (10,000 open Kalshi markets in 10 pages of 1,000; 2,000 open Gamma markets).
//!
//! Each test starts its own stack: they inject faults and change compliance state, which would
//! leak between tests sharing one. D1 is read with `wrangler d1 execute`, not through the
//! Worker, so the checks do not trust the code they check.

use paul_p_e2e::{step, utc_day, Stack, StackConfig, SIMULATED_SOURCES};
use serde_json::{json, Value};
use std::process::{Command, Stdio};

const CRON: &str = "*/5 * * * *";
/// 2026-06-11T05:15:00Z, a five-minute boundary.
const T0: i64 = 1_781_154_900_000;
const KALSHI_OPEN: i64 = 10_000;
const POLY_OPEN: i64 = 2_000;
/// A recorded Kalshi market the simulator always serves (on the first page's event set).
const TICKER: &str = "KXNFLGAME-26OCT08TBDAL-DAL";

fn stack_with(vars: &[(&str, &str)]) -> Stack {
    Stack::start(StackConfig {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        unset: vec![],
    })
}

/// `POST /admin/ingest/run` as alice; the run summary.
fn run_now(stack: &Stack, body: &Value) -> Value {
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, body);
    assert_eq!(r.status, 200, "ingest run: {}", r.text());
    r.json()
}

fn runs(stack: &Stack) -> Vec<Value> {
    let r = stack.get(
        "/admin/runs?job=ingest&limit=100",
        Some(&stack.tokens.admin),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["runs"].as_array().cloned().unwrap_or_default()
}

fn count(stack: &Stack, sql: &str) -> i64 {
    stack.d1_count(sql)
}

fn markets(stack: &Stack, venue: &str) -> i64 {
    count(
        stack,
        &format!("SELECT COUNT(*) AS n FROM markets WHERE venue = '{venue}'"),
    )
}

fn breaker(stack: &Stack) -> Value {
    let r = stack.get("/admin/circuit-breaker", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn verify(stack: &Stack, hash: &str) -> Value {
    let r = stack.json(
        "POST",
        &format!("/admin/evidence/{hash}/verify"),
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(r.status, 200, "verify {hash}: {}", r.text());
    r.json()
}

/// One full repair pass over every blob and row (pages of 500), re-hashing every blob;
/// (blobs scanned, rows added, blobs that do not match their row, rows without a blob).
fn repair_all(stack: &Stack) -> (u64, u64, Vec<Value>, Vec<Value>) {
    let (mut objects, mut added, mut mismatched, mut missing) = (0, 0, Vec::new(), Vec::new());
    let mut body = json!({"limit": 500, "verify": true});
    loop {
        let r = stack.json("POST", "/admin/evidence-repair", &stack.tokens.admin, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        objects += v["objects_scanned"].as_u64().unwrap();
        added += v["rows_added"].as_u64().unwrap();
        mismatched.extend(v["hash_mismatch"].as_array().cloned().unwrap_or_default());
        mismatched.extend(v["size_mismatch"].as_array().cloned().unwrap_or_default());
        missing.extend(
            v["rows_without_blob"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        if v["next_cursor"].is_null() && v["next_after_hash"].is_null() {
            return (objects, added, mismatched, missing);
        }
        body = json!({"limit": 500, "verify": true, "cursor": v["next_cursor"],
                      "after_hash": v["next_after_hash"]});
    }
}

/// Every event of the audit log, following `next`.
fn audit_events(stack: &Stack) -> Vec<Value> {
    let mut out = Vec::new();
    let mut from = 1u64;
    loop {
        let r = stack.get(
            &format!("/admin/audit/events?from={from}&limit=1000"),
            Some(&stack.tokens.admin),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        out.extend(v["events"].as_array().cloned().unwrap_or_default());
        match v["next"].as_u64() {
            Some(n) => from = n,
            None => return out,
        }
    }
}

fn sim_requests(stack: &Stack, prefix: &str) -> usize {
    let r = stack.sim(
        "GET",
        &format!("/__sim/requests?path_prefix={prefix}"),
        None,
    );
    assert_eq!(r.status, 200);
    r.json()["requests"].as_array().map(Vec::len).unwrap_or(0)
}

fn fault(stack: &Stack, rule: Value) {
    let r = stack.sim("POST", "/__sim/faults", Some(&rule));
    assert_eq!(r.status, 201, "install fault: {}", r.text());
}

fn clear_faults(stack: &Stack) {
    assert_eq!(stack.sim("DELETE", "/__sim/faults", None).status, 200);
}

fn r2(stack: &Stack, args: &[&str]) {
    let out = Command::new(paul_p_e2e::root().join("node_modules/.bin/wrangler"))
        .args(["r2", "object"])
        .args(args)
        .args(["--local", "--persist-to"])
        .arg(stack.state_dir.join("state"))
        .current_dir(paul_p_e2e::root())
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .stdin(Stdio::null())
        .output()
        .expect("wrangler r2 object");
    assert!(
        out.status.success(),
        "wrangler r2 object {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_cron_run_ingests_every_open_market_with_verifiable_evidence_and_a_rerun_adds_nothing() {
    let stack = stack_with(&[]);
    stack.approve_sources(SIMULATED_SOURCES);

    let r = stack.scheduled(CRON, T0);
    assert_eq!(r.status, 200, "{}", r.text());
    let all = runs(&stack);
    assert_eq!(all.len(), 1, "{all:?}");
    let run_id = all[0]["run_id"].as_str().unwrap().to_string();
    assert!(run_id.starts_with("ingest-20260611T051500Z-"), "{run_id}");
    assert_eq!(all[0]["status"], "SUCCESS", "{}", all[0]);
    assert_eq!(all[0]["trigger"], CRON);

    assert_eq!(markets(&stack, "kalshi"), KALSHI_OPEN);
    assert_eq!(markets(&stack, "polymarket"), POLY_OPEN);
    assert_eq!(
        count(&stack, "SELECT COUNT(*) AS n FROM market_prices"),
        KALSHI_OPEN + POLY_OPEN
    );
    // Prices are integers in 1e-4 dollars, within 0..=1.
    assert_eq!(
        count(
            &stack,
            "SELECT COUNT(*) AS n FROM market_prices WHERE typeof(yes_bid_e4) != 'integer' \
             OR yes_bid_e4 NOT BETWEEN 0 AND 10000"
        ),
        0
    );

    // The run, its steps and its run audit.
    let detail = stack.get(&format!("/admin/runs/{run_id}"), Some(&stack.tokens.admin));
    assert_eq!(detail.status, 200, "{}", detail.text());
    let detail = detail.json();
    let steps = detail["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "compliance",
            "kalshi_events",
            "kalshi_markets",
            "kalshi_orderbooks",
            "polymarket_markets",
            "mark_to_market",
            "breaker_report"
        ]
    );
    let km = steps
        .iter()
        .find(|s| s["step"] == "kalshi_markets")
        .unwrap();
    assert_eq!(km["status"], "SUCCESS");
    assert_eq!(km["counts"]["pages"], 10);
    assert_eq!(km["counts"]["records"], KALSHI_OPEN);
    assert_eq!(km["counts"]["evidence"].as_array().unwrap().len(), 10);
    let events = steps.iter().find(|s| s["step"] == "kalshi_events").unwrap();
    assert_eq!(
        count(&stack, "SELECT COUNT(*) AS n FROM kalshi_events"),
        events["counts"]["records"].as_i64().unwrap()
    );
    let jsonl = stack.get(
        &format!("/admin/runs/{run_id}?format=jsonl"),
        Some(&stack.tokens.admin),
    );
    assert_eq!(jsonl.status, 200, "{}", jsonl.text());
    let lines: Vec<Value> = jsonl
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSONL line"))
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "RUN_START");
    assert_eq!(lines.last().unwrap()["type"], "RUN_END");
    assert_eq!(lines.last().unwrap()["status"], "SUCCESS");
    assert_eq!(lines.iter().filter(|l| l["type"] == "STEP_END").count(), 7);
    assert!(detail["run"]["audit_key"]
        .as_str()
        .unwrap()
        .starts_with("runs/2026-06-11/"));

    // Every market row points at indexed evidence, and every such evidence verifies.
    assert_eq!(
        count(
            &stack,
            "SELECT COUNT(*) AS n FROM markets m LEFT JOIN evidence e ON e.hash = m.evidence_hash \
             WHERE e.hash IS NULL"
        ),
        0
    );
    let hashes = stack.d1("SELECT DISTINCT evidence_hash AS h FROM markets");
    assert_eq!(
        hashes.len(),
        10 + 4,
        "10 Kalshi pages and 4 full Gamma pages"
    );
    for h in &hashes {
        let v = verify(&stack, h["h"].as_str().unwrap());
        assert_eq!(v["valid"], true, "{v}");
    }
    let evidence_rows = count(&stack, "SELECT COUNT(*) AS n FROM evidence");
    let (objects, added, mismatched, missing) = repair_all(&stack);
    assert_eq!(objects as i64, evidence_rows, "one blob per index row");
    assert_eq!((added, mismatched.len(), missing.len()), (0, 0, 0));

    // The same cron delivered again: nothing runs.
    assert_eq!(stack.scheduled(CRON, T0).status, 200);
    let again = runs(&stack);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["attempt"], 1);

    // The next cron: same bytes from the simulator, so no new rows, no new blobs.
    assert_eq!(stack.scheduled(CRON, T0 + 300_000).status, 200);
    let after = runs(&stack);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["status"], "SUCCESS", "{}", after[0]);
    assert_eq!(markets(&stack, "kalshi"), KALSHI_OPEN);
    assert_eq!(markets(&stack, "polymarket"), POLY_OPEN);
    assert_eq!(
        count(&stack, "SELECT COUNT(*) AS n FROM evidence"),
        evidence_rows
    );
    let (objects_after, _, _, _) = repair_all(&stack);
    assert_eq!(objects_after, objects, "no duplicate blobs");
    let second = stack
        .get(
            &format!("/admin/runs/{}", after[0]["run_id"].as_str().unwrap()),
            Some(&stack.tokens.admin),
        )
        .json();
    let km2 = second["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "kalshi_markets")
        .unwrap()
        .clone();
    assert_eq!(km2["counts"]["rows_written"], 0, "{km2}");
    assert_eq!(km2["counts"]["evidence_existing"], 10);

    // An operator run with a book and a mark.
    let run = run_now(&stack, &json!({"orderbooks": [TICKER], "mark": [TICKER]}));
    assert_eq!(
        step(&run, "kalshi_orderbooks")["status"],
        "SUCCESS",
        "{run}"
    );
    assert_eq!(step(&run, "mark_to_market")["counts"]["marked"], 1, "{run}");
    let book = stack.d1(&format!(
        "SELECT evidence_hash AS h FROM orderbooks WHERE venue = 'kalshi' AND market_id = '{TICKER}'"
    ));
    assert_eq!(book.len(), 1);
    assert_eq!(
        verify(&stack, book[0]["h"].as_str().unwrap())["valid"],
        true
    );
}

#[test]
fn an_unapproved_source_is_never_contacted() {
    let stack = stack_with(&[]);
    assert_eq!(stack.sim("DELETE", "/__sim/requests", None).status, 200);
    let run = run_now(&stack, &json!({}));
    for s in [
        "kalshi_events",
        "kalshi_markets",
        "kalshi_orderbooks",
        "polymarket_markets",
    ] {
        assert_eq!(step(&run, s)["status"], "SKIPPED", "{s}");
        assert_eq!(
            step(&run, s)["code"],
            "COMPLIANCE_SOURCE_UNDER_REVIEW",
            "{s}"
        );
    }
    assert_eq!(sim_requests(&stack, "/trade-api"), 0);
    assert_eq!(sim_requests(&stack, "/gamma"), 0);
    assert_eq!(sim_requests(&stack, "/clob"), 0);

    // Approving needs a ToS version and a future review date; the approval records its actor.
    let bad = stack.json(
        "PUT",
        "/admin/compliance/sources/kalshi",
        &stack.tokens.bob,
        &json!({"status": "approved", "tos_version": "v1", "next_review_at": utc_day(-1)}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let unknown = stack.json(
        "PUT",
        "/admin/compliance/sources/evil.example",
        &stack.tokens.bob,
        &json!({"status": "approved", "tos_version": "v1", "next_review_at": utc_day(10)}),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    stack.approve_sources(&["kalshi"]);
    let sources = stack
        .get("/admin/compliance/sources", Some(&stack.tokens.admin))
        .json();
    let kalshi = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "kalshi")
        .unwrap()
        .clone();
    assert_eq!(kalshi["updated_by"], "alice");
    assert_eq!(kalshi["admitted"], true);

    // Only the approved source is contacted.
    let run = run_now(&stack, &json!({}));
    assert_eq!(step(&run, "kalshi_markets")["status"], "SUCCESS", "{run}");
    assert_eq!(step(&run, "polymarket_markets")["status"], "SKIPPED");
    assert!(sim_requests(&stack, "/trade-api") > 0);
    assert_eq!(sim_requests(&stack, "/gamma"), 0);

    // Blocked again: not contacted again.
    let r = stack.json(
        "PUT",
        "/admin/compliance/sources/kalshi",
        &stack.tokens.bob,
        &json!({"status": "blocked", "note": "terms changed"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stack.sim("DELETE", "/__sim/requests", None).status, 200);
    let run = run_now(&stack, &json!({}));
    assert_eq!(
        step(&run, "kalshi_markets")["code"],
        "COMPLIANCE_SOURCE_BLOCKED"
    );
    assert_eq!(sim_requests(&stack, "/trade-api"), 0);
    assert_eq!(sim_requests(&stack, "/gamma"), 0);
    assert_eq!(
        count(
            &stack,
            "SELECT COUNT(*) AS n FROM compliance_source_changes WHERE name = 'kalshi'"
        ),
        2
    );
}

#[test]
fn bad_pages_leave_no_rows_keep_their_evidence_and_escalate_the_breaker() {
    let stack = stack_with(&[
        ("CAUTION_AFTER_FAILURES", "2"),
        ("HALT_AFTER_FAILURES", "3"),
        ("INGEST_RETRY_BASE_MS", "20"),
    ]);
    stack.approve_sources(SIMULATED_SOURCES);
    let markets_path = "/trade-api/v2/markets";

    // A 500 on the third page, on every attempt.
    fault(
        &stack,
        json!({"method": "GET", "path": markets_path, "match": "exact", "status": 500, "after": 2, "times": 4}),
    );
    let run = run_now(&stack, &json!({}));
    clear_faults(&stack);
    let km = step(&run, "kalshi_markets");
    assert_eq!(km["status"], "FAIL", "{run}");
    assert_eq!(km["code"], "HTTP_500");
    assert_eq!(km["counts"]["pages"], 2);
    assert_eq!(km["counts"]["retries"], 3);
    assert_eq!(km["counts"]["failures"], 1);
    assert_eq!(step(&run, "polymarket_markets")["status"], "SUCCESS");
    assert_eq!(markets(&stack, "kalshi"), 2_000, "only the two good pages");
    assert!(
        count(
            &stack,
            "SELECT COUNT(*) AS n FROM evidence WHERE source = 'kalshi' AND status = 500"
        ) >= 1
    );
    let b = breaker(&stack);
    assert_eq!(b["streaks"]["venue_api"], 1, "{b}");
    assert_eq!(b["state"], "NORMAL");

    // A truncated third page: stored, refused whole, nothing from it written.
    fault(
        &stack,
        json!({"method": "GET", "path": markets_path, "match": "exact", "kind": "truncated", "after": 2, "times": 1}),
    );
    let run = run_now(&stack, &json!({}));
    clear_faults(&stack);
    let km = step(&run, "kalshi_markets");
    assert_eq!(km["status"], "FAIL", "{run}");
    assert_eq!(km["code"], "BODY_INVALID_JSON");
    let truncated = km["counts"]["evidence"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let truncated = truncated.as_str().unwrap();
    assert_eq!(
        verify(&stack, truncated)["valid"],
        true,
        "its evidence is kept"
    );
    assert_eq!(
        count(
            &stack,
            &format!("SELECT COUNT(*) AS n FROM markets WHERE evidence_hash = '{truncated}'")
        ),
        0
    );
    assert_eq!(markets(&stack, "kalshi"), 2_000);
    let b = breaker(&stack);
    assert_eq!(b["streaks"]["venue_api"], 2, "{b}");
    assert_eq!(
        b["state"], "CAUTION",
        "escalated at CAUTION_AFTER_FAILURES=2"
    );

    // A 429 storm from the first page on: retried with backoff, then given up.
    fault(
        &stack,
        json!({"method": "GET", "path": markets_path, "match": "exact", "kind": "rate_limit"}),
    );
    let run = run_now(&stack, &json!({}));
    clear_faults(&stack);
    let km = step(&run, "kalshi_markets");
    assert_eq!(km["status"], "FAIL", "{run}");
    assert_eq!(km["code"], "HTTP_429");
    assert_eq!(km["counts"]["pages"], 0);
    assert_eq!(km["counts"]["responses"], 4);
    assert!(
        count(
            &stack,
            "SELECT COUNT(*) AS n FROM evidence WHERE source = 'kalshi' AND status = 429"
        ) >= 1
    );
    assert_eq!(markets(&stack, "kalshi"), 2_000);
    let b = breaker(&stack);
    assert_eq!(
        b["state"], "HALT",
        "escalated at HALT_AFTER_FAILURES=3: {b}"
    );

    // The runs say what failed.
    let all = runs(&stack);
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r["status"] == "FAIL"));
}

#[test]
fn a_blocked_entity_is_absent_from_d1_and_its_drop_is_audited() {
    let stack = stack_with(&[]);
    stack.approve_sources(SIMULATED_SOURCES);
    run_now(&stack, &json!({}));
    let present = format!(
        "SELECT COUNT(*) AS n FROM markets WHERE venue = 'kalshi' AND market_id = '{TICKER}'"
    );
    assert_eq!(count(&stack, &present), 1);
    let poly: String = stack.d1(
        "SELECT market_id AS id FROM markets WHERE venue = 'polymarket' ORDER BY market_id LIMIT 1",
    )[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = stack.json(
        "PUT",
        "/admin/compliance/rules",
        &stack.tokens.bob,
        &json!({"rules": [
            {"kind": "ticker", "venue": "kalshi", "value": TICKER, "reason": "e2e: blocked market"},
            {"kind": "ticker", "venue": "polymarket", "value": poly, "reason": "e2e: blocked market"},
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rules = stack
        .get("/admin/compliance/rules", Some(&stack.tokens.admin))
        .json();
    assert_eq!(rules["rules"].as_array().unwrap().len(), 2);
    assert_eq!(rules["set"]["actor"], "bob");

    let run = run_now(&stack, &json!({"orderbooks": [TICKER]}));
    assert_eq!(step(&run, "kalshi_markets")["status"], "SUCCESS", "{run}");
    assert_eq!(step(&run, "kalshi_markets")["counts"]["dropped"], 1);
    assert_eq!(step(&run, "polymarket_markets")["counts"]["dropped"], 1);
    assert_eq!(step(&run, "kalshi_orderbooks")["counts"]["dropped"], 1);
    assert_eq!(
        count(&stack, &present),
        0,
        "removed, though ingested before"
    );
    for table in ["market_prices", "orderbooks"] {
        assert_eq!(
            count(
                &stack,
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} WHERE market_id IN ('{TICKER}', '{poly}')"
                )
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(markets(&stack, "kalshi"), KALSHI_OPEN - 1);
    assert_eq!(markets(&stack, "polymarket"), POLY_OPEN - 1);

    // Each drop is in the audit log (its receipt recorded with it).
    let drops = stack.d1(
        "SELECT entity_key AS k, audit_seq AS seq, evidence_hash AS h FROM compliance_drops ORDER BY entity_key",
    );
    assert_eq!(drops.len(), 2, "{drops:?}");
    assert!(
        drops.iter().all(|d| d["seq"].as_i64().unwrap_or(0) > 0),
        "{drops:?}"
    );
    let events = audit_events(&stack);
    for d in &drops {
        let seq = d["seq"].as_u64().unwrap();
        let e = events
            .iter()
            .find(|e| e["seq"] == seq)
            .unwrap_or_else(|| panic!("no audit event {seq}"));
        assert_eq!(e["event"]["kind"], "COMPLIANCE_ENTITY_DROPPED", "{e}");
        assert_eq!(e["event"]["actor"], "system:ingest");
        assert_eq!(e["event"]["payload"]["entity_key"], d["k"], "{e}");
        assert_eq!(e["event"]["evidence_hash"], d["h"], "{e}");
    }
    for key in [TICKER, poly.as_str()] {
        assert!(
            events
                .iter()
                .any(|e| e["event"]["payload"]["entity_key"] == key),
            "no audited drop of {key}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["event"]["kind"] == "COMPLIANCE_RULES_REPLACED"
                && e["event"]["actor"] == "bob"),
        "the rule change is audited with its operator"
    );

    // The same responses again: the drops are not appended twice.
    run_now(&stack, &json!({}));
    assert_eq!(
        count(&stack, "SELECT COUNT(*) AS n FROM compliance_drops"),
        2
    );
}

#[test]
fn tampered_and_missing_evidence_is_reported_and_a_lost_blob_is_restored_by_the_next_fetch() {
    let stack = stack_with(&[]);
    stack.approve_sources(&["kalshi"]);
    run_now(&stack, &json!({"orderbooks": [TICKER]}));
    let row = stack.d1(&format!(
        "SELECT e.hash AS h, e.r2_key AS k FROM orderbooks o JOIN evidence e ON e.hash = o.evidence_hash \
         WHERE o.market_id = '{TICKER}'"
    ));
    let (hash, key) = (
        row[0]["h"].as_str().unwrap().to_string(),
        row[0]["k"].as_str().unwrap().to_string(),
    );
    let object = format!("paul-p-evidence/{key}");

    let forged = stack.state_dir.join("forged.json");
    std::fs::write(
        &forged,
        br#"{"orderbook_fp":{"yes_dollars":[["0.9900","1.00"]]}}"#,
    )
    .unwrap();
    r2(
        &stack,
        &["put", &object, "--file", forged.to_str().unwrap()],
    );
    let v = verify(&stack, &hash);
    assert_eq!(
        (v["valid"].clone(), v["code"].clone()),
        (json!(false), json!("EVIDENCE_HASH_MISMATCH")),
        "{v}"
    );
    let (_, _, mismatched, _) = repair_all(&stack);
    assert!(
        mismatched.iter().any(|k| k == key.as_str()),
        "{mismatched:?}"
    );

    r2(&stack, &["delete", &object]);
    let v = verify(&stack, &hash);
    assert_eq!(v["code"], "EVIDENCE_MISSING", "{v}");
    let (_, _, _, missing) = repair_all(&stack);
    assert!(missing.iter().any(|h| h == hash.as_str()), "{missing:?}");

    // The venue sends the same bytes again: the blob is written back under the same key.
    run_now(&stack, &json!({"orderbooks": [TICKER]}));
    assert_eq!(verify(&stack, &hash)["valid"], true);

    let bad = stack.json(
        "POST",
        "/admin/evidence/not-a-hash/verify",
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(bad.status, 400);
    let unknown = stack.json(
        "POST",
        &format!("/admin/evidence/{}/verify", "0".repeat(64)),
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "EVIDENCE_NOT_FOUND");
}

#[test]
fn a_run_out_of_cpu_budget_stops_cleanly_between_pages_and_records_where() {
    // ~120 ms of estimated CPU per 1,000-market page: three pages fit 400 ms, a fourth would not.
    let stack = stack_with(&[("INGEST_CPU_BUDGET_MS", "400")]);
    stack.approve_sources(SIMULATED_SOURCES);
    let run = run_now(&stack, &json!({}));
    assert_eq!(
        run["status"], "SUCCESS",
        "a budget stop is not a failure: {run}"
    );
    let km = step(&run, "kalshi_markets");
    assert_eq!(km["status"], "SUCCESS");
    assert_eq!(km["code"], "BUDGET_CPU", "{km}");
    let pages = km["counts"]["pages"].as_i64().unwrap();
    assert!((1..10).contains(&pages), "{km}");
    assert_eq!(km["stopped"]["reason"], "BUDGET_CPU");
    assert_eq!(km["stopped"]["at"]["page"], pages + 1);
    assert!(km["stopped"]["at"]["cursor"].is_string(), "{km}");
    assert_eq!(markets(&stack, "kalshi"), pages * 1_000, "whole pages only");
    let pm = step(&run, "polymarket_markets");
    assert_eq!(
        pm["code"], "BUDGET_CPU",
        "the budget is the run's, not a step's: {pm}"
    );

    let run_id = run["run_id"].as_str().unwrap();
    let jsonl = stack
        .get(
            &format!("/admin/runs/{run_id}?format=jsonl"),
            Some(&stack.tokens.admin),
        )
        .text();
    let end: Value = serde_json::from_str(jsonl.lines().last().unwrap()).unwrap();
    assert_eq!(end["type"], "RUN_END");
    assert_eq!(end["stopped"]["step"], "kalshi_markets", "{end}");
    assert_eq!(end["stopped"]["at"]["reason"], "BUDGET_CPU");
}

//! The production gate's artifacts end to end: `POST /admin/gates/production/run` and the daily
//! cron write `gates/production_gate_{run_id}.json` (and `status/dashboard_status_{run_id}.json`)
//! to R2_AUDIT, indexed in D1 and recorded in the audit log; the artifact carries thresholds,
//! metrics, checks, status and provenance; `GET /admin/gates/compare` and
//! `scripts/compare-gate-artifacts` show what changed between two.

use paul_p_e2e::{golive, root, shared, Stack};
use serde_json::{json, Value};
use std::process::Command;

fn run_gate(stack: &Stack) -> Value {
    let r = stack.json(
        "POST",
        "/admin/gates/production/run",
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn r2_get(stack: &Stack, key: &str) -> Vec<u8> {
    stack
        .wrangler_local(&[
            "r2",
            "object",
            "get",
            &format!("paul-p-audit/{key}"),
            "--pipe",
        ])
        .into_bytes()
}

fn note(stack: &Stack, text: &str) {
    let r = stack.json(
        "POST",
        "/admin/audit/notes",
        &stack.tokens.admin,
        &json!({"text": text}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

fn compare_script(args: &[&str]) -> (i32, String) {
    let out = Command::new(root().join("scripts/compare-gate-artifacts"))
        .args(args)
        .env(
            "COMPARE_GATE_ARTIFACTS_BIN",
            env!("CARGO_BIN_EXE_compare_gate_artifacts"),
        )
        .output()
        .expect("run scripts/compare-gate-artifacts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn gate_runs_write_indexed_audited_artifacts_with_provenance_and_compare() {
    let stack = shared();
    let admin = stack.tokens.admin.clone();

    let r = stack.get("/admin/gates/production", Some(&admin));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code(), "GATE_NOT_RUN");

    // A fresh system has no history: FAIL on proof, INCONCLUSIVE-level lift reason too.
    let first = run_gate(stack);
    let a = first["artifact"].clone();
    let run_a = a["run_id"].as_str().unwrap().to_string();
    assert_eq!(a["status"], "FAIL", "{a}");
    assert_eq!(a["production_profitability_gate"]["status"], "FAIL");
    assert_eq!(
        a["reasons"],
        json!([
            "GATE_INSUFFICIENT_TRADES",
            "GATE_INSUFFICIENT_TRADING_DAYS",
            "GATE_INSUFFICIENT_WINDOWS"
        ])
    );
    assert_eq!(a["thresholds"]["min_closed_trades"], 30);
    assert_eq!(a["thresholds"]["min_trading_days"], 21);
    assert_eq!(a["thresholds"]["violation_ratio"], "1.100000");
    assert_eq!(a["thresholds"]["max_violation_rate"], "0.350000");
    assert_eq!(a["metrics"]["closed_round_trips"], 0);
    let checks: Vec<&str> = a["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "integrity",
            "closed_round_trips",
            "trading_days",
            "forecast_windows",
            "violation_rate_all",
            "violation_rate_recent"
        ]
    );

    // Provenance: the build's commit (this checkout's HEAD: tests run on committed code), the
    // deployment version from CF_VERSION_METADATA, the compatibility date, both databases'
    // applied migrations, and the audit log's size and root.
    let p = &a["provenance"];
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(p["build"]["git_commit"], head.as_str(), "{p}");
    assert!(
        ["true", "false"].contains(&p["build"]["git_dirty"].as_str().unwrap()),
        "{p}"
    );
    assert_ne!(p["build"]["built_at"], "unknown");
    assert!(
        p["deployment"]["id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "version metadata binding: {p}"
    );
    assert_eq!(p["compatibility_date"], "2026-04-20");
    let db: Vec<&str> = p["migrations"]["DB"]
        .as_array()
        .unwrap_or_else(|| panic!("{p}"))
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(db.contains(&"0008_governance.sql"), "{db:?}");
    assert_eq!(p["migrations"]["DB_ANCHOR"], json!(["0001_anchors.sql"]));
    assert!(p["audit"]["size"].as_u64().is_some(), "{p}");
    assert_eq!(p["audit"]["root"].as_str().unwrap().len(), 64);

    // In R2 at its key, byte for byte what the index's hash says; indexed in D1; in the log.
    let index = &first["index"];
    let key = format!("gates/production_gate_{run_a}.json");
    assert_eq!(index["r2_key"], key.as_str());
    let bytes = r2_get(stack, &key);
    let stored: Value = serde_json::from_slice(&bytes).expect("artifact JSON in R2");
    assert_eq!(stored, a);
    let rows = stack.d1(&format!(
        "SELECT kind, status, sha256 FROM gate_artifacts WHERE run_id = '{run_a}'"
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "FAIL");
    assert_eq!(rows[0]["sha256"], index["sha256"]);

    // Something changes in between: the audit log grows.
    note(stack, "between two gate runs");
    let second = run_gate(stack);
    let b = second["artifact"].clone();
    let run_b = b["run_id"].as_str().unwrap().to_string();
    assert_ne!(run_a, run_b);

    let latest = stack.get("/admin/gates/production", Some(&admin)).json();
    assert_eq!(latest["artifact"]["run_id"], run_b.as_str());
    assert!(latest["recent"].as_array().unwrap().len() >= 2);
    let one = stack.get(&format!("/admin/gates/production/{run_a}"), Some(&admin));
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["artifact"], a);
    let r = stack.get(
        "/admin/gates/production/20990101T000000Z-none",
        Some(&admin),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code(), "GATE_ARTIFACT_NOT_FOUND");

    // The route's comparison.
    let r = stack.get(
        &format!("/admin/gates/compare?a={run_a}&b={run_b}"),
        Some(&admin),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let diff = r.json();
    assert_eq!(diff["status_changed"], false);
    let changed = diff["changed"].as_array().unwrap();
    let size = changed
        .iter()
        .find(|c| c["field"] == "provenance.audit.size")
        .unwrap_or_else(|| panic!("{diff}"));
    let grew = size["delta"].as_i64().unwrap();
    assert!(
        grew >= 2,
        "a note and a GATE_PRODUCTION_GATE record at least: {size}"
    );
    assert!(changed
        .iter()
        .any(|c| c["field"] == "provenance.audit.root"));
    assert!(!changed.iter().any(|c| c["field"] == "status"));
    for bad in ["/admin/gates/compare?a=x", "/admin/gates/compare?b=y"] {
        assert_eq!(stack.get(bad, Some(&admin)).status, 400, "{bad}");
    }
    let r = stack.get(
        &format!("/admin/gates/compare?a={run_a}&b=nope"),
        Some(&admin),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // The script on the two artifacts as stored: text lists the changed fields, --json is valid
    // JSON and says the same as the route.
    let dir = stack.state_dir.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let (fa, fb) = (dir.join("a.json"), dir.join("b.json"));
    std::fs::write(&fa, r2_get(stack, &key)).unwrap();
    std::fs::write(
        &fb,
        r2_get(stack, &format!("gates/production_gate_{run_b}.json")),
    )
    .unwrap();
    let (fa, fb) = (fa.to_str().unwrap(), fb.to_str().unwrap());
    let (code, text) = compare_script(&[fa, fb]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("a: {run_a} (FAIL)")), "{text}");
    assert!(text.contains("changed provenance.audit.size: "), "{text}");
    assert!(text.contains(&format!("({grew})")), "{text}");
    let (code, out) = compare_script(&[fa, fb, "--json"]);
    assert_eq!(code, 0);
    let parsed: Value = serde_json::from_str(&out).expect("--json prints valid JSON");
    assert_eq!(parsed, diff);
    let (code, out) = compare_script(&["--json", "--a", fa, "--b", fa]);
    assert_eq!(code, 0);
    let same: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(same["changed"], json!([]));
    let (code, _) = compare_script(&[fa]);
    assert_eq!(code, 2, "usage error");

    // An artifact altered in R2 is refused, not served.
    let mut forged = a.clone();
    forged["status"] = json!("PASS");
    let forged_path = dir.join("forged.json");
    std::fs::write(&forged_path, serde_json::to_vec_pretty(&forged).unwrap()).unwrap();
    stack.wrangler_local(&[
        "r2",
        "object",
        "put",
        &format!("paul-p-audit/{key}"),
        "--file",
        forged_path.to_str().unwrap(),
    ]);
    let r = stack.get(&format!("/admin/gates/production/{run_a}"), Some(&admin));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.error_code(), "GATE_ARTIFACT_TAMPERED");

    the_daily_cron_writes_the_gate_and_the_dashboard_status(stack);
    // The replay is off by default: the daily run wrote no replay artifact, and the manual route
    // refuses and writes nothing either.
    let r = stack.json("POST", "/admin/gates/replay/run", &admin, &json!({}));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "REPLAY_DISABLED");
    assert_eq!(
        stack.d1_count("SELECT COUNT(*) AS n FROM gate_artifacts WHERE kind = 'gate_lift_replay'"),
        0
    );
}

/// The daily cron (on the stack the gate already ran on, so the gate says FAIL).
fn the_daily_cron_writes_the_gate_and_the_dashboard_status(stack: &Stack) {
    let before =
        stack.d1_count("SELECT COUNT(*) AS n FROM gate_artifacts WHERE kind = 'dashboard_status'");
    let at = 1_795_000_000_000_i64 - 1_795_000_000_000_i64 % 86_400_000 + 1_800_000;
    let r = stack.scheduled("30 0 * * *", at);
    assert!(r.status < 300, "{}", r.text());
    let rows = stack.d1(
        "SELECT run_id, r2_key, status, trigger FROM gate_artifacts WHERE kind = 'dashboard_status' \
         ORDER BY created_at_ms DESC",
    );
    assert_eq!(rows.len() as i64, before + 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["trigger"], "cron:30 0 * * *");
    let key = row["r2_key"].as_str().unwrap();
    assert!(key.starts_with("status/dashboard_status_"), "{key}");
    let status: Value = serde_json::from_slice(&r2_get(stack, key)).unwrap();
    assert_eq!(status["kind"], "dashboard_status");
    assert_eq!(status["breaker"]["state"], "NORMAL");
    assert!(status["utilisation"].is_array(), "{status}");
    assert!(status["last_runs"].is_array(), "{status}");
    assert!(status["audit"]["size"].as_u64().is_some(), "{status}");
    let warnings: Vec<&str> = status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(warnings.contains(&"GATE_FAIL"), "{warnings:?}");
    assert_eq!(status["status"], "WARN");
    // The gate ran in the same delivery.
    let gates = stack.d1(
        "SELECT trigger FROM gate_artifacts WHERE kind = 'production_gate' AND trigger = 'cron:30 0 * * *'",
    );
    assert!(!gates.is_empty());
}

#[test]
fn gate_lift_replay_strict_mode_fails_a_day_without_data() {
    let at = 1_795_000_000_000_i64 - 1_795_000_000_000_i64 % 86_400_000 + 1_800_000;
    // On, strict, four days ending the recording's last day (2025-03-01): the recorded candles
    // run from 2025-02-28 14:00 to 2025-03-01 23:00, and only 2025-02-28 has markets with a
    // quoted book and earlier history to model from; the other days fail, so the run fails.
    let stack = Stack::start(paul_p_e2e::StackConfig {
        vars: vec![
            ("ENABLE_GATE_LIFT_REPLAY".into(), "1".into()),
            ("GATE_LIFT_REPLAY_DAYS".into(), "4".into()),
            ("GATE_LIFT_REPLAY_STRICT".into(), "1".into()),
            ("GATE_MIN_SIGNALS_PER_WINDOW".into(), "1".into()),
        ],
        ..Default::default()
    });
    let admin = stack.tokens.admin.clone();
    // On, but nothing recorded yet: the manual route says so and writes nothing.
    let r = stack.json("POST", "/admin/gates/replay/run", &admin, &json!({}));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "REPLAY_DATA_MISSING");
    let fixture = root()
        .join("../shared/fixtures/kalshi/paulp_candlesticks_2026-03/candlesticks-2026-03-02T23-11-55-535Z.json");
    stack.wrangler_local(&[
        "r2",
        "object",
        "put",
        "paul-p-audit/replay/kalshi_candlesticks.json",
        "--file",
        fixture.to_str().unwrap(),
    ]);
    stack.scheduled("30 0 * * *", at);
    let rows = stack
        .d1("SELECT run_id, r2_key, status FROM gate_artifacts WHERE kind = 'gate_lift_replay'");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "FAIL");
    let key = rows[0]["r2_key"].as_str().unwrap();
    assert!(key.starts_with("gates/gate_lift_replay_"), "{key}");
    let art: Value = serde_json::from_slice(&r2_get(&stack, key)).unwrap();
    assert_eq!(art["synthetic"], true);
    assert_eq!(art["anchor_day"], "2025-03-02");
    let days: Vec<(String, Value)> = art["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d["failure"].clone()))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2025-02-26".to_string(), json!("REPLAY_NO_DATA")),
            ("2025-02-27".to_string(), json!("REPLAY_NO_DATA")),
            ("2025-02-28".to_string(), Value::Null),
            ("2025-03-01".to_string(), json!("REPLAY_NO_DATA")),
        ]
    );
    assert_eq!(art["failed_days"], 3);
    assert_eq!(art["days"][2]["evaluated"], 4);
    assert!(art["source"]["markets"].as_u64().unwrap() == 82);
    // The daily run is on record as failed because of the strict replay.
    let runs = stack.d1("SELECT status FROM runs WHERE job = 'production_gate_daily'");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "FAIL");

    // The manual route (`POST /admin/gates/replay/run`) runs the same replay and writes the same
    // artifact: same days and outcome, its own run id, triggered by the operator, indexed,
    // stored byte for byte as its hash says, and on record in the audit log.
    let bad = stack.json(
        "POST",
        "/admin/gates/replay/run",
        &admin,
        &json!({"days": 2}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let r = stack.json("POST", "/admin/gates/replay/run", &admin, &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let manual = &v["artifact"];
    assert_eq!(manual["kind"], "gate_lift_replay");
    assert_eq!(manual["status"], "FAIL");
    assert_eq!(manual["trigger"], "manual:admin");
    assert_eq!(manual["synthetic"], true);
    assert_ne!(manual["run_id"], art["run_id"]);
    for field in [
        "days",
        "windows",
        "failed_days",
        "anchor_day",
        "config",
        "source",
    ] {
        assert_eq!(manual[field], art[field], "{field}");
    }
    let run_id = manual["run_id"].as_str().unwrap();
    let key = format!("gates/gate_lift_replay_{run_id}.json");
    assert_eq!(v["index"]["r2_key"], key.as_str());
    let bytes = r2_get(&stack, &key);
    assert_eq!(&serde_json::from_slice::<Value>(&bytes).unwrap(), manual);
    let rows = stack.d1(&format!(
        "SELECT kind, status, sha256, trigger FROM gate_artifacts WHERE run_id = '{run_id}'"
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["kind"], "gate_lift_replay");
    assert_eq!(rows[0]["sha256"], v["index"]["sha256"]);
    assert_eq!(rows[0]["trigger"], "manual:admin");
    let recorded: Vec<Value> = stack
        .audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "GATE_GATE_LIFT_REPLAY" && e["payload"]["run_id"] == run_id)
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["actor"], "admin");
    assert_eq!(recorded[0]["payload"]["sha256"], v["index"]["sha256"]);
}

fn strategy(stack: &Stack, id: &str) -> Value {
    let r = stack.get("/admin/strategies", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no strategy {id}"))
}

#[test]
fn go_live_needs_two_operators_and_every_precondition_and_otherwise_changes_nothing() {
    let stack = shared();
    let (alice, bob) = (stack.tokens.alice.clone(), stack.tokens.bob.clone());
    assert_eq!(strategy(stack, "fair_value")["mode"], "paper");

    let r = stack.json(
        "POST",
        "/admin/strategies/fair_value/go-live",
        &alice,
        &json!({"capitalAllocationUsd": "2500.00"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let a = r.json()["approval"].clone();
    assert_eq!(a["action"], "strategy.go_live");
    assert_eq!(
        a["params"]["capital_allocation_usd_micros"],
        2_500_000_000_i64
    );
    assert_eq!(a["params"]["from"]["mode"], "paper");
    let id = a["id"].as_str().unwrap().to_string();

    // One operator is not enough.
    let r = stack.json(
        "POST",
        &format!("/admin/approvals/{id}/approve"),
        &alice,
        &json!({}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code(), "SELF_APPROVAL");
    assert_eq!(strategy(stack, "fair_value")["mode"], "paper");

    // A second operator approves, but the preconditions do not hold (no PASS gate, no recent
    // full audit verification, no preflight): the approval fails with the reasons and the
    // strategy is untouched.
    let r = stack.json(
        "POST",
        &format!("/admin/approvals/{id}/approve"),
        &bob,
        &json!({}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "APPROVAL_ACTION_FAILED");
    let failed = r.json()["error"]["details"]["approval"].clone();
    assert_eq!(failed["status"], "failed");
    let reasons: Vec<String> = failed["result"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r == "GO_LIVE_GATE_NOT_PASS" || r == "GO_LIVE_GATE_NOT_RUN"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"GO_LIVE_AUDIT_NOT_VERIFIED".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"GO_LIVE_PREFLIGHT_FAILED".to_string()),
        "{reasons:?}"
    );
    let s = strategy(stack, "fair_value");
    assert_eq!(s["mode"], "paper");
    assert_ne!(s["capital_allocation_usd_micros"], 2_500_000_000_i64);
    let r = stack.json(
        "POST",
        &format!("/admin/approvals/{id}/approve"),
        &bob,
        &json!({}),
    );
    assert_eq!(r.error_code(), "APPROVAL_ALREADY_DECIDED");

    // Bad requests.
    for bad in [
        json!({"capitalAllocationUsd": 1.5}),
        json!({"capitalAllocationUsd": "-5"}),
        json!({}),
    ] {
        let r = stack.json("POST", "/admin/strategies/fair_value/go-live", &alice, &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = stack.json(
        "POST",
        "/admin/strategies/no_such/go-live",
        &alice,
        &json!({"capitalAllocationUsd": 100}),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // A capital increase has no preconditions beyond two operators; a decrease is refused here.
    let current = strategy(stack, "fair_value")["capital_allocation_usd_micros"]
        .as_i64()
        .unwrap();
    let r = stack.json(
        "POST",
        "/admin/approvals",
        &bob,
        &json!({"action": "strategy.increase_capital",
                "params": {"strategy_id": "fair_value", "capital_allocation_usd_micros": current - 1}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "APPROVAL_NOT_REQUIRED");
    let r = stack.json(
        "POST",
        "/admin/approvals",
        &bob,
        &json!({"action": "strategy.increase_capital",
                "params": {"strategy_id": "fair_value", "capital_allocation_usd_micros": current + 1_000_000}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["approval"]["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "POST",
        &format!("/admin/approvals/{id}/approve"),
        &alice,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        strategy(stack, "fair_value")["capital_allocation_usd_micros"],
        current + 1_000_000
    );
}

/// Two simulated pairs with an edge (see tests/cycle.rs for their numbers): YES on the first at
/// 0.45 against a model of 0.545, NO on the second at 0.27 against 0.645.
const PAIRS: [(&str, &str); 2] = [
    (
        "KXNFLGAME-26OCT08TBDALSIM0-DAL",
        "0x57372d9b27dfcc4c92a24c0b7eebfdfde3da9355718fdd045e800e60b156289f",
    ),
    (
        "KXNFLGAME-26OCT08TBDALSIM1-DAL",
        "0x9a975b48f0e08bb76ce1d37d93a26d93a3713e99eaf8b49ca88c35264eb6c8e2",
    ),
];

fn approve_pair(stack: &Stack, ticker: &str, condition: &str) {
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
    let r = stack.json(
        "POST",
        &format!("/admin/pairs/{id}/approve"),
        &stack.tokens.bob,
        &json!({"notes": "same game"}),
    );
    assert_eq!(r.status, 200, "approve: {}", r.text());
}

#[test]
fn a_paper_history_built_by_the_trading_cycle_reaches_pass_and_go_live_then_needs_two_operators() {
    // Thresholds scaled down (every one is configurable, and the artifact records them) so that
    // two simulated round trips through the real cycle make a complete history.
    let stack = Stack::start(paul_p_e2e::StackConfig {
        vars: vec![
            // Go-live needs the Kalshi credentials configured (their presence is what it checks;
            // the strategy makes no live order in this test).
            (
                "KALSHI_API_KEY_ID".into(),
                format!("e2e-kalshi-id-{}", paul_p_e2e::random_token()),
            ),
            (
                "KALSHI_PRIVATE_KEY".into(),
                format!("e2e-kalshi-key-{}", paul_p_e2e::random_token()),
            ),
            ("GATE_MIN_CLOSED_TRADES".into(), "2".into()),
            ("GATE_MIN_TRADING_DAYS".into(), "1".into()),
            ("GATE_MIN_SIGNALS_PER_WINDOW".into(), "2".into()),
            ("GATE_MIN_WINDOWS".into(), "1".into()),
            ("GATE_RECENT_WINDOWS".into(), "1".into()),
        ],
        ..Default::default()
    });
    let mut sources = paul_p_e2e::SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());
    for (ticker, condition) in PAIRS {
        approve_pair(&stack, ticker, condition);
    }
    // Before any trade: FAIL on proof.
    assert_eq!(run_gate(&stack)["artifact"]["status"], "FAIL");

    // The cycle (after the ingestion cron) signals, checks, audits and fills both on paper.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t1 = (now_ms / 300_000 + 1) * 300_000;
    let r = stack.scheduled("*/5 * * * *", t1);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM fills"), 2);
    // Both markets resolve the way the strategy bet; the next cron settles them.
    for (ticker, result) in [(PAIRS[0].0, "yes"), (PAIRS[1].0, "no")] {
        let r = stack.sim(
            "POST",
            &format!("/__sim/kalshi/markets/{ticker}/settle"),
            Some(&json!({ "result": result })),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = stack.scheduled("*/5 * * * *", t1 + 300_000);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stack.d1_count("SELECT COUNT(*) AS n FROM closed_trades"), 2);

    let gate = run_gate(&stack)["artifact"].clone();
    assert_eq!(gate["status"], "PASS", "{gate}");
    assert_eq!(gate["metrics"]["closed_round_trips"], 2);
    assert_eq!(gate["metrics"]["windows"], 1);
    assert_eq!(gate["metrics"]["lift_windows"], 1, "{gate}");
    assert_eq!(gate["thresholds"]["min_closed_trades"], 2);
    assert!(gate["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["pass"] == true));

    // Go-live before the security checklist is done: one operator is refused; with two, every
    // precondition but the checklist (which a fresh local stack fails) holds, so the approval
    // fails with that reason alone and the strategy stays on paper.
    let (alice, bob) = (stack.tokens.alice.clone(), stack.tokens.bob.clone());
    golive::verify_all(&stack, &stack.tokens.admin);
    let id = request_go_live(&stack, &alice);
    let r = approve(&stack, &alice, &id);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code(), "SELF_APPROVAL");
    let r = approve(&stack, &bob, &id);
    assert_eq!(r.status, 409, "{}", r.text());
    let result = &r.json()["error"]["details"]["approval"]["result"];
    let reasons: Vec<String> = result["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, vec!["GO_LIVE_PREFLIGHT_FAILED"], "{result}");
    assert_eq!(result["facts"]["latest_gate"][0], "PASS");
    assert_eq!(result["facts"]["breaker"], "NORMAL");
    assert_eq!(strategy(&stack, "fair_value")["mode"], "paper");

    // The steps README "Go-live checklist" documents (the preflight report uploaded, the log
    // anchored and verified, a clean reconciliation, the breaker drill HALT -> RECOVERY ->
    // NORMAL): the checklist passes.
    let checklist = golive::complete(&stack, &alice);
    assert!(golive::failing(&checklist).is_empty(), "{checklist}");

    // Go-live again: the requester still cannot approve her own request; the second operator's
    // approval executes it once, and the strategy is live with the requested allocation.
    let id = request_go_live(&stack, &alice);
    let r = approve(&stack, &alice, &id);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code(), "SELF_APPROVAL");
    assert_eq!(strategy(&stack, "fair_value")["mode"], "paper");
    let r = approve(&stack, &bob, &id);
    assert_eq!(r.status, 200, "{}", r.text());
    let approval = r.json()["approval"].clone();
    assert_eq!(approval["status"], "executed", "{approval}");
    assert_eq!(approval["result"]["mode"], "live", "{approval}");
    assert_eq!(approval["result"]["facts"]["preflight_passed"], true);
    let s = strategy(&stack, "fair_value");
    assert_eq!(s["mode"], "live", "{s}");
    assert_eq!(s["capital_allocation_usd_micros"], 2_500_000_000_i64);
    let r = approve(&stack, &bob, &id);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "APPROVAL_ALREADY_DECIDED");

    // Executed once, both identities on record.
    let events = stack.audit_events();
    for kind in ["APPROVAL_APPROVED", "APPROVAL_EXECUTED"] {
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| e["kind"] == kind && e["payload"]["approval"]["approval_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{kind} exactly once: {mine:?}");
        let p = &mine[0]["payload"]["approval"];
        assert_eq!(
            (p["requested_by"].as_str(), p["approved_by"].as_str()),
            (Some("alice"), Some("bob")),
            "{kind}: {p}"
        );
        assert_eq!(mine[0]["actor"], "bob");
    }
}

fn request_go_live(stack: &Stack, token: &str) -> String {
    let r = stack.json(
        "POST",
        "/admin/strategies/fair_value/go-live",
        token,
        &json!({"capitalAllocationUsd": 2500}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["approval"]["id"].as_str().unwrap().to_string()
}

fn approve(stack: &Stack, token: &str, id: &str) -> paul_p_e2e::Resp {
    stack.json(
        "POST",
        &format!("/admin/approvals/{id}/approve"),
        token,
        &json!({}),
    )
}

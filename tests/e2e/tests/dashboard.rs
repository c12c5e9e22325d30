//! The operators' dashboard end to end: activity is seeded through the real paths (ingestion,
//! a pair approval, a paper trade made by the cron cycle, a risk refusal, an approval request,
//! a production gate run, an anchor and a verification), the numbers are read from the JSON
//! admin routes and D1, and `tests/browser/dashboard.mjs` drives headless Chromium
//! (playwright-core, `/usr/bin/chromium`) against the page: it must render every panel with
//! exactly those numbers and both charts with data points, halt the breaker through its button,
//! and log no console error, page error or failed request. The screenshot is kept at
//! `target/test-logs/dashboard.png`.

use paul_p_e2e::{root, send, Stack, StackConfig, SIMULATED_SOURCES};
use serde_json::{json, Value};
use std::process::{Command, Stdio};

const CRON: &str = "*/5 * * * *";
const TICKER: &str = "KXNFLGAME-26OCT08TBDALSIM0-DAL";
const CONDITION: &str = "0x57372d9b27dfcc4c92a24c0b7eebfdfde3da9355718fdd045e800e60b156289f";
const CHROMIUM: &str = "/usr/bin/chromium";

fn get(stack: &Stack, path: &str) -> Value {
    let r = stack.get(path, Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Seeds one of each kind of activity the dashboard shows, through the admin routes and crons.
fn seed(stack: &Stack) {
    let mut sources = SIMULATED_SOURCES.to_vec();
    sources.push("anthropic");
    stack.approve_sources(&sources);
    let r = stack.json("POST", "/admin/ingest/run", &stack.tokens.alice, &json!({}));
    assert_eq!(r.status, 200, "ingest: {}", r.text());
    stack.approve_pair(TICKER, CONDITION);

    // The cron at the next five-minute boundary: ingestion, then the cycle's paper trade.
    let t1 = (now_ms() / 300_000 + 1) * 300_000;
    let r = stack.scheduled(CRON, t1);
    assert_eq!(r.status, 200, "scheduled: {}", r.text());
    assert_eq!(
        stack.d1_count("SELECT COUNT(*) AS n FROM orders WHERE state = 'filled'"),
        1,
        "the cycle filled one paper order"
    );

    // A refusal with a code: a dry run on a market the governor knows nothing about.
    let r = stack.json(
        "POST",
        "/admin/risk/check",
        &stack.tokens.admin,
        &json!({"client_order_id": "dash-refused-1", "market": "KXNOPE-26-X", "side": "yes",
                "action": "buy", "qty": 100, "limit_price": 5000, "kind": "new"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["verdict"]["approved"], false, "{}", r.text());

    // Breaker transitions: CAUTION and back.
    for target in ["CAUTION", "NORMAL"] {
        let r = stack.json(
            "POST",
            "/admin/circuit-breaker/transition",
            &stack.tokens.bob,
            &json!({"targetState": target, "reason": format!("dashboard e2e: {target}")}),
        );
        assert_eq!(r.status, 200, "{target}: {}", r.text());
    }

    // A pending two-person approval.
    let r = stack.json(
        "POST",
        "/admin/approvals",
        &stack.tokens.alice,
        &json!({"action": "risk.loosen_limits",
                "params": {"limits": {"max_position_size_bps": 600}, "reason": "dashboard e2e"},
                "reason": "dashboard e2e"}),
    );
    assert_eq!(r.status, 201, "approval: {}", r.text());

    // A production gate run, an anchor, and a verification of the whole log.
    let r = stack.json(
        "POST",
        "/admin/gates/production/run",
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(r.status, 201, "gate: {}", r.text());
    let r = stack.scheduled("0 * * * *", now_ms());
    assert_eq!(r.status, 200, "anchor: {}", r.text());
    let r = stack.json(
        "POST",
        "/admin/audit/verify",
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(r.status, 200, "verify: {}", r.text());
}

/// What the page must show, read from the JSON routes (and cross-checked with D1).
fn expected(stack: &Stack) -> Value {
    let breaker = get(stack, "/admin/circuit-breaker");
    let risk = get(stack, "/admin/risk");
    let equity = get(stack, "/admin/risk/equity");
    let positions = get(stack, "/admin/positions");
    let decisions = get(stack, "/admin/risk/decisions?limit=50");
    let audit = get(stack, "/admin/audit/status");
    let runs = get(stack, "/admin/runs?limit=10");
    let approvals = get(stack, "/admin/approvals?status=pending");
    let gate = get(stack, "/admin/gates/production");

    let refusals: Vec<Value> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["approved"] == false)
        .map(|d| json!({"client_order_id": d["client_order_id"], "codes": d["verdict"]["codes"]}))
        .collect();
    assert!(
        refusals
            .iter()
            .any(|r| r["client_order_id"] == "dash-refused-1"
                && r["codes"].to_string().contains("RISK_DATA_MISSING")),
        "{decisions}"
    );
    let points = equity["points"].as_array().unwrap();
    assert!(!points.is_empty(), "the fill moved equity: {equity}");
    let last_point = points.last().unwrap();

    // D1 agrees with the routes.
    let pending = approvals["approvals"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{approvals}");
    assert_eq!(
        stack.d1_count("SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending'"),
        1
    );
    let position_rows = positions["positions"].as_array().unwrap();
    assert_eq!(position_rows.len(), 1, "{positions}");
    assert_eq!(position_rows[0]["market"], TICKER);

    let latest_ingest = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job"] == "ingest")
        .unwrap_or_else(|| panic!("an ingestion run in {runs}"));
    let latest_cycle = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job"] == "cycle")
        .unwrap_or_else(|| panic!("a cycle run in {runs}"));
    let steps_of = |run: &Value| {
        let id = run["run_id"].as_str().unwrap();
        let v = get(stack, &format!("/admin/runs/{id}"));
        json!({
            "run_id": id,
            "job": run["job"],
            "status": run["status"],
            "steps": v["steps"].as_array().unwrap().iter()
                .map(|s| json!({"step": s["step"], "status": s["status"]}))
                .collect::<Vec<_>>(),
        })
    };

    assert!(gate["index"]["run_id"].is_string(), "{gate}");
    assert_eq!(
        gate["index"]["status"], gate["artifact"]["status"],
        "{gate}"
    );
    assert!(
        !gate["artifact"]["checks"].as_array().unwrap().is_empty(),
        "{gate}"
    );
    let anchor = &audit["anchors"]["last"];
    assert!(anchor.is_object(), "an anchor: {audit}");
    assert_eq!(audit["verification"]["last"]["valid"], true, "{audit}");
    assert_eq!(
        breaker["transitions"].as_array().unwrap().len(),
        2,
        "the seeded transitions: {breaker}"
    );
    json!({
        "breaker": {
            "state": breaker["state"],
            "transitions": breaker["transitions"].as_array().unwrap().len(),
        },
        "limits": risk["utilisation"],
        "equity": {
            "points": points.len(),
            "last_equity_usd_micros": last_point["equity_usd_micros"],
            "last_drawdown_bps": last_point["drawdown_bps"],
        },
        "positions": position_rows.iter()
            .map(|p| json!({"market": p["market"], "qty_e2": p["qty_e2"]}))
            .collect::<Vec<_>>(),
        "refusals": refusals,
        "audit": {
            "size": audit["size"],
            "anchors": audit["anchors"]["count"],
            "anchor_tree_size": anchor["tree_size"],
            "anchor_timestamp_ms": anchor["timestamp_ms"],
            "verification": audit["verification"]["last"],
        },
        "runs": [steps_of(latest_ingest), steps_of(latest_cycle)],
        "approvals": pending.iter().map(|a| a["id"].clone()).collect::<Vec<_>>(),
        "gate": {
            "run_id": gate["index"]["run_id"],
            "status": gate["index"]["status"],
            "checks": gate["artifact"]["checks"],
        },
        "raw": {
            "breaker": breaker, "risk": risk, "equity": equity, "positions": positions,
            "decisions": decisions, "audit": audit, "runs": runs, "approvals": approvals,
            "gate": gate,
        },
    })
}

#[test]
fn dashboard_shows_the_seeded_numbers_and_halts_through_its_button() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `apt-get update && apt-get install -y chromium` as root \
         (./scripts/setup.sh does when it runs as root)"
    );
    let stack = Stack::start(StackConfig::default());

    // The page shell is served without a token, with its security headers; nothing else is.
    let r = send("GET", &stack.url("/admin/dashboard"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let csp = r
        .header("content-security-policy")
        .expect("CSP")
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for (method, path) in [
        ("GET", "/admin/risk/equity"),
        ("GET", "/admin/dashboard/"),
        ("POST", "/admin/dashboard"),
        ("HEAD", "/admin/dashboard"),
    ] {
        let r = send(method, &stack.url(path), &[], None);
        assert_eq!(r.status, 401, "{method} {path}");
    }
    let r = stack.get("/admin/risk/equity?limit=0", Some(&stack.tokens.admin));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "INVALID_QUERY");

    seed(&stack);
    let expected = expected(&stack);
    let logs = root().join("target/test-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let expected_path = logs.join("dashboard-expected.json");
    std::fs::write(
        &expected_path,
        serde_json::to_vec_pretty(&expected).unwrap(),
    )
    .unwrap();
    let before = get(&stack, "/admin/circuit-breaker");
    assert_ne!(before["state"], "HALT", "{before}");

    let out = Command::new("node")
        .arg(root().join("tests/browser/dashboard.mjs"))
        .env("DASHBOARD_BASE", &stack.base)
        .env("DASHBOARD_TOKEN", &stack.tokens.alice)
        .env("DASHBOARD_EXPECTED", &expected_path)
        .env("DASHBOARD_SCREENSHOT", logs.join("dashboard.png"))
        .env("CHROMIUM", CHROMIUM)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(logs.join("dashboard-browser.log"), &text).unwrap();
    assert!(out.status.success(), "browser test failed:\n{text}");

    // The halt went through the real route: the breaker says HALT, by alice, with the reason
    // the script typed.
    let after = get(&stack, "/admin/circuit-breaker");
    assert_eq!(after["state"], "HALT", "{after}");
    assert_eq!(after["actor"], "alice", "{after}");
    assert_eq!(after["reason"], "dashboard e2e: emergency halt", "{after}");
}

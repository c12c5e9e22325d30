//! Security hardening end to end: the go-live checklist (`GET /admin/preflight`) item by item,
//! every forbidden D1 form refused through a real request path (`POST /admin/d1/query`), and
//! the audit trail of requests and crons served while `SECURITY_DB_GUARDRAILS=0`.

use paul_p_e2e::golive::{self, assert_item};
use paul_p_e2e::{random_token, send, Resp, Stack, StackConfig};
use serde_json::{json, Value};

#[test]
fn the_go_live_checklist_fails_item_by_item_on_a_fresh_stack_and_passes_after_the_documented_steps()
{
    // A fresh stack configured the way a hurried first deploy might be: one operator token, no
    // Access, no Kalshi keys, and a key pasted into a plain setting.
    let planted = format!("{}{}{}", "sk-", "ant-", random_token());
    let mut stack = Stack::start(StackConfig {
        vars: vec![("LLM_FALLBACK_HEADER".into(), planted.clone())],
        unset: vec![
            "ADMIN_TOKENS".into(),
            "CF_ACCESS_TEAM_DOMAIN".into(),
            "CF_ACCESS_AUD".into(),
        ],
    });
    let admin = stack.tokens.admin.clone();

    let r = stack.get("/admin/preflight", None);
    assert_eq!(r.status, 401);

    let c = golive::checklist(&stack, &admin);
    assert_eq!(c["pass"], false, "{c}");
    assert_eq!(c["items"].as_array().unwrap().len(), 8, "{c}");
    for i in c["items"].as_array().unwrap() {
        assert_eq!(
            i["status"], "fail",
            "every item fails on a fresh stack: {i}"
        );
    }
    assert_item(&c, "secrets_present", "fail", "KALSHI");
    assert_item(&c, "operator_tokens", "fail", "1 distinct operator(s)");
    assert_item(&c, "cloudflare_access", "fail", "not both set");
    assert_item(
        &c,
        "vars_clean",
        "fail",
        "LLM_FALLBACK_HEADER (anthropic-key)",
    );
    assert_item(&c, "audit_anchoring", "fail", "no anchor recorded");
    assert_item(&c, "reconciliation", "fail", "no reconciliation recorded");
    assert_item(
        &c,
        "breaker_exercised",
        "fail",
        "no recorded transition into HALT",
    );
    assert_item(
        &c,
        "security_preflight",
        "fail",
        "no security preflight report",
    );
    let text = c.to_string();
    assert!(
        !text.contains(&planted),
        "the planted value must not be echoed"
    );

    // README "Go-live checklist", step 1: secrets with `wrangler secret put`, Access, a second
    // operator, the pasted key removed from the vars (here: the env file, then a restart).
    let tokens = json!({"alice": stack.tokens.alice, "bob": stack.tokens.bob}).to_string();
    let sim = stack.sim_base.clone();
    let aud = stack.access_aud.clone();
    let kalshi_id = format!("e2e-kalshi-id-{}", random_token());
    let kalshi_key = format!("e2e-kalshi-key-{}", random_token());
    stack.reconfigure(
        &[
            ("ADMIN_TOKENS", &tokens),
            ("CF_ACCESS_TEAM_DOMAIN", &sim),
            ("CF_ACCESS_AUD", &aud),
            ("KALSHI_API_KEY_ID", &kalshi_id),
            ("KALSHI_PRIVATE_KEY", &kalshi_key),
        ],
        &["LLM_FALLBACK_HEADER"],
    );
    let alice = stack.tokens.alice.clone();
    let c = golive::checklist(&stack, &alice);
    assert_item(&c, "secrets_present", "pass", "secrets are set");
    assert_item(&c, "operator_tokens", "pass", "3 distinct operators");
    assert_item(&c, "cloudflare_access", "pass", "are set");
    assert_item(&c, "vars_clean", "pass", "looks like a credential");
    assert_eq!(
        golive::failing(&c),
        [
            "audit_anchoring",
            "reconciliation",
            "breaker_exercised",
            "security_preflight"
        ],
        "{c}"
    );

    // Step 2: the security preflight report, uploaded where the Worker reads it.
    golive::upload_report(&stack, "FAIL");
    let c = golive::checklist(&stack, &alice);
    assert_item(&c, "security_preflight", "fail", "verdict is FAIL");
    golive::upload_report(&stack, "PASS");
    let c = golive::checklist(&stack, &alice);
    assert_item(&c, "security_preflight", "pass", "PASS ");

    // Step 3: anchor the audit log, then verify all of it.
    let r = stack.json(
        "POST",
        "/admin/audit/notes",
        &alice,
        &json!({"text": "go-live checklist run"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    golive::anchor_now(&stack);
    let c = golive::checklist(&stack, &alice);
    assert_item(&c, "audit_anchoring", "fail", "no full verification");
    golive::verify_all(&stack, &alice);
    let c = golive::checklist(&stack, &alice);
    assert_item(&c, "audit_anchoring", "pass", "full verification passed");
    assert_eq!(
        golive::failing(&c),
        ["reconciliation", "breaker_exercised"],
        "{c}"
    );

    // Step 4: the breaker drill. Entering HALT is recorded; leaving it needs a clean
    // reconciliation that began after the halt.
    let r = golive::transition(&stack, &alice, "HALT", "go-live drill");
    assert_eq!(r.status, 200, "{}", r.text());
    let c = golive::checklist(&stack, &alice);
    assert_item(
        &c,
        "breaker_exercised",
        "fail",
        "HALT was entered but never left",
    );
    let r = golive::transition(&stack, &alice, "RECOVERY", "drill over");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "RECOVERY_REQUIRES_CLEAN_RECONCILIATION");
    let c = golive::checklist(&stack, &alice);
    assert_eq!(
        golive::failing(&c),
        ["reconciliation", "breaker_exercised"],
        "{c}"
    );

    // The reconciliation (the trading cycle runs one every 5 minutes; here by hand).
    golive::reconcile_clean(&stack, &alice);
    let c = golive::checklist(&stack, &alice);
    assert_item(&c, "reconciliation", "pass", "clean reconciliation");
    assert_eq!(golive::failing(&c), ["breaker_exercised"], "{c}");

    // Now HALT can be left: RECOVERY already counts as leaving it; NORMAL ends the drill.
    let r = golive::transition(&stack, &alice, "RECOVERY", "drill over");
    assert_eq!(r.status, 200, "{}", r.text());
    let c = golive::checklist(&stack, &alice);
    assert_item(
        &c,
        "breaker_exercised",
        "pass",
        "entered HALT and left it for RECOVERY",
    );
    let r = golive::transition(&stack, &stack.tokens.bob, "NORMAL", "recovered");
    assert_eq!(r.status, 200, "{}", r.text());

    // Every item passes, and so does the checklist.
    let c = golive::checklist(&stack, &alice);
    assert!(golive::failing(&c).is_empty(), "{c}");
    assert_eq!(c["pass"], true, "{c}");
    assert_eq!(c["items"].as_array().unwrap().len(), 8, "{c}");

    // A failing preflight report (as a newer upload would be) turns the checklist back.
    golive::upload_report(&stack, "FAIL");
    let c = golive::checklist(&stack, &alice);
    assert_eq!(c["pass"], false, "{c}");
    assert_eq!(golive::failing(&c), ["security_preflight"], "{c}");
}

fn query(stack: &Stack, token: &str, body: &Value) -> Resp {
    stack.json("POST", "/admin/d1/query", token, body)
}

#[test]
fn every_forbidden_d1_form_is_refused_through_the_operator_query_route_and_selects_run_audited() {
    let stack = Stack::start(StackConfig::default());
    let alice = stack.tokens.alice.clone();
    let forbidden: &[(&str, &str)] = &[
        ("PRAGMA table_list", "forbidden_keyword"),
        ("  pragma  foreign_keys = OFF  ", "forbidden_keyword"),
        ("ATTACH DATABASE 'other.db' AS other", "forbidden_keyword"),
        ("DETACH DATABASE other", "forbidden_keyword"),
        ("CREATE TABLE smuggled (a)", "forbidden_keyword"),
        (
            "ALTER TABLE runs ADD COLUMN smuggled TEXT",
            "forbidden_keyword",
        ),
        ("DROP TABLE runs", "forbidden_keyword"),
        ("VACUUM", "forbidden_keyword"),
        ("dRoP\tTaBlE\nruns", "forbidden_keyword"),
        ("/* harmless */ DrOp TABLE runs", "forbidden_keyword"),
        ("SELECT 1;\n  DROP TABLE runs", "multiple_statements"),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("SELECT 1 /* ; DROP TABLE runs */", "hidden_in_comment"),
        ("SELECT 1 -- then DROP TABLE runs", "hidden_in_comment"),
        ("SELECT 1 /* never closed", "unterminated_comment"),
        ("SELECT\u{00A0}1", "non_ascii_outside_literal"),
        ("SELECT 1\u{0000}", "control_character"),
        ("SELECT * FROM sqlite_master", "internal_table"),
        ("SELECT * FROM runs WHERE run_id = :id", "named_parameter"),
        ("REPLACE INTO runs (run_id) VALUES ('x')", "not_admitted"),
        ("SELECT ?", "parameter_count_mismatch"),
        ("", "empty"),
    ];
    for (sql, reason) in forbidden {
        let r = query(&stack, &alice, &json!({"db": "DB", "sql": sql}));
        assert_eq!(r.status, 400, "{sql:?}: {}", r.text());
        assert_eq!(r.error_code(), "DB_STATEMENT_FORBIDDEN", "{sql:?}");
        assert_eq!(r.json()["error"]["details"]["reason"], *reason, "{sql:?}");
    }
    // The same against the anchor database.
    let r = query(
        &stack,
        &alice,
        &json!({"db": "DB_ANCHOR", "sql": "DROP TABLE anchors"}),
    );
    assert_eq!(r.error_code(), "DB_STATEMENT_FORBIDDEN");

    // Writes the gate admits in code are refused here: this route only reads.
    for (sql, params, kind) in [
        ("DELETE FROM runs", json!([]), "DELETE"),
        ("UPDATE runs SET status = ?", json!(["fail"]), "UPDATE"),
        (
            "INSERT INTO runs (run_id) VALUES (?)",
            json!(["x"]),
            "INSERT",
        ),
    ] {
        let r = query(
            &stack,
            &alice,
            &json!({"db": "DB", "sql": sql, "params": params}),
        );
        assert_eq!(r.status, 400, "{sql}: {}", r.text());
        assert_eq!(r.error_code(), "DB_QUERY_READ_ONLY", "{sql}");
        assert_eq!(r.json()["error"]["details"]["kind"], kind);
    }

    // Malformed requests.
    for body in [
        json!({"db": "OTHER", "sql": "SELECT 1"}),
        json!({"db": "DB"}),
        json!({"db": "DB", "sql": "SELECT ?", "params": [{"a": 1}]}),
        json!({"db": "DB", "sql": "SELECT 1", "extra": true}),
    ] {
        let r = query(&stack, &alice, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.error_code(), "INVALID_REQUEST", "{body}");
    }
    let r = send(
        "POST",
        &stack.url("/admin/d1/query"),
        &[("content-type", "application/json")],
        Some(br#"{"db":"DB","sql":"SELECT 1"}"#),
    );
    assert_eq!(r.status, 401);

    // Nothing was changed: every table is still there, with its rows.
    let tables = stack.d1("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'runs'");
    assert_eq!(tables.len(), 1);
    let sources = stack.d1_count("SELECT COUNT(*) AS n FROM compliance_sources");
    assert!(sources > 0);

    // A SELECT with bound parameters runs and answers rows.
    let r = query(
        &stack,
        &alice,
        &json!({"db": "DB", "sql": "SELECT COUNT(*) AS n FROM compliance_sources WHERE status <> ? AND 1 = ?", "params": ["nonexistent", 1]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["rows"][0]["n"], sources, "{v}");
    assert_eq!(v["count"], 1);
    assert_eq!(v["truncated"], false);
    let r = query(
        &stack,
        &alice,
        &json!({"db": "DB_ANCHOR", "sql": "SELECT COUNT(*) AS n FROM anchors"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"][0]["n"], 0);

    // Each use was audited first, refusals included, with who ran what.
    let events = stack.audit_events();
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "d1.query_refused")
        .collect();
    assert_eq!(
        refused.len(),
        forbidden.len() + 1 + 3,
        "one record per refusal"
    );
    assert!(refused.iter().all(|e| e["actor"] == "alice"));
    let drop = refused
        .iter()
        .find(|e| e["payload"]["sql"] == "DROP TABLE runs")
        .expect("the DROP attempt is on record");
    assert_eq!(drop["payload"]["refusal"]["reason"], "forbidden_keyword");
    let ran: Vec<&Value> = events.iter().filter(|e| e["kind"] == "d1.query").collect();
    assert_eq!(ran.len(), 2);
    assert_eq!(ran[0]["payload"]["params"], 2);
    assert_eq!(ran[1]["payload"]["db"], "DB_ANCHOR");
    // With the guardrails on, requests are not recorded one by one.
    assert!(!events
        .iter()
        .any(|e| e["kind"] == "security.unguarded_request"));
}

#[test]
fn with_guardrails_off_every_request_and_cron_is_audited_and_operator_sql_stays_guarded() {
    let stack = Stack::start(StackConfig {
        vars: vec![("SECURITY_DB_GUARDRAILS".into(), "0".into())],
        unset: vec![],
    });
    let alice = stack.tokens.alice.clone();
    let r = stack.get("/admin/whoami", Some(&alice));
    assert_eq!(r.status, 200, "{}", r.text());
    let whoami_id = r.header("x-request-id").expect("request id").to_string();
    let r = stack.get("/health", None);
    assert_eq!(r.status, 200);
    let health_id = r.header("x-request-id").expect("request id").to_string();

    // Operator SQL is checked whatever the setting says.
    let r = query(
        &stack,
        &alice,
        &json!({"db": "DB", "sql": "DROP TABLE runs"}),
    );
    assert_eq!(r.error_code(), "DB_STATEMENT_FORBIDDEN");
    let r = query(
        &stack,
        &alice,
        &json!({"db": "DB", "sql": "DELETE FROM runs"}),
    );
    assert_eq!(r.error_code(), "DB_QUERY_READ_ONLY");
    assert_eq!(
        stack
            .d1("SELECT name FROM sqlite_master WHERE name = 'runs'")
            .len(),
        1
    );

    // A cron delivery is recorded before its jobs run.
    let r = send("GET", &stack.url("/__scheduled?cron=0+*+*+*+*"), &[], None);
    assert_eq!(r.status, 200);

    let events = stack.audit_events();
    let unguarded: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "security.unguarded_request")
        .collect();
    let whoami = unguarded
        .iter()
        .find(|e| e["payload"]["request_id"] == whoami_id.as_str())
        .unwrap_or_else(|| panic!("whoami is not on record: {unguarded:?}"));
    assert_eq!(whoami["actor"], "alice");
    assert_eq!(whoami["payload"]["route"], "/admin/whoami");
    assert_eq!(whoami["payload"]["method"], "GET");
    let health = unguarded
        .iter()
        .find(|e| e["payload"]["request_id"] == health_id.as_str())
        .expect("the public health check is on record too");
    assert_eq!(health["actor"], "anonymous");
    // Both queries, and the audit reads themselves, were served and recorded.
    assert!(
        unguarded
            .iter()
            .filter(|e| e["payload"]["route"] == "/admin/d1/query")
            .count()
            == 2
    );
    let job = events
        .iter()
        .find(|e| e["kind"] == "security.unguarded_job")
        .expect("the cron delivery is on record");
    assert_eq!(job["actor"], "cron:0 * * * *");
}

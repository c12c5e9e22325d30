use super::*;
use serde_json::json;

const NOW: i64 = 1_790_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn report(verdict: &str, finished_ms: i64) -> Vec<u8> {
    let finished =
        crate::core::time::format_utc(crate::core::time::from_millis(finished_ms).unwrap());
    json!({
        "schema": REPORT_SCHEMA,
        "verdict": verdict,
        "finished_at": finished,
        "repository": {"commit": "0123456789abcdef0123"},
        "checks": [{"name": "cargo-audit", "status": "pass"}],
        "findings": [],
    })
    .to_string()
    .into_bytes()
}

fn transition(from: BreakerState, to: BreakerState, at_ms: i64) -> TransitionFact {
    TransitionFact { from, to, at_ms }
}

/// Facts on which every item passes.
fn good() -> Facts {
    Facts {
        now_ms: NOW,
        secrets: vec![
            ("OPERATOR_TOKEN".into(), false),
            ("OPERATOR_TOKENS".into(), true),
            ("LLM_KEY".into(), true),
            ("SIGNING_SEED".into(), true),
        ],
        secret_alternatives: vec![names(&["OPERATOR_TOKENS", "OPERATOR_TOKEN"])],
        auth: Ok(AuthFacts {
            bearer_operators: names(&["alice", "bob"]),
            access_configured: true,
            access_identities: vec![],
        }),
        settings: vec![(
            "KALSHI_BASE_URL".into(),
            "https://api.elections.kalshi.com".into(),
        )],
        anchoring: Ok(AnchoringFacts {
            latest_anchor_ms: Some(NOW - 30 * MIN),
            last_full_verification: Some((true, NOW - 10 * MIN)),
        }),
        reconciliation: Ok(Some(ReconciliationFacts {
            at_ms: NOW - 4 * MIN,
            clean: true,
        })),
        breaker_transitions: Ok(vec![
            transition(BreakerState::Normal, BreakerState::Halt, NOW - 3 * HOUR),
            transition(BreakerState::Halt, BreakerState::Recovery, NOW - 2 * HOUR),
            transition(BreakerState::Recovery, BreakerState::Normal, NOW - HOUR),
        ]),
        security_report: Ok(Some(report("PASS", NOW - 86_400_000))),
    }
}

fn status_of(c: &Checklist, id: &str) -> (Status, String) {
    let i = c.items.iter().find(|i| i.id == id).expect(id);
    (i.status, i.reason.clone())
}

fn fails_with(f: &Facts, id: &str, needle: &str) {
    let c = evaluate(f);
    assert!(!c.pass, "{id}: the checklist must fail");
    let (status, reason) = status_of(&c, id);
    assert_eq!(status, Status::Fail, "{id}: {reason}");
    assert!(reason.contains(needle), "{id}: {reason:?} lacks {needle:?}");
    // Exactly the one item fails.
    assert_eq!(
        c.failing().count(),
        1,
        "{:?}",
        c.failing().collect::<Vec<_>>()
    );
}

#[test]
fn all_good_facts_pass_every_item_in_order() {
    let c = evaluate(&good());
    assert!(c.pass, "{:?}", c.failing().collect::<Vec<_>>());
    let ids: Vec<&str> = c.items.iter().map(|i| i.id).collect();
    assert_eq!(
        ids,
        [
            "secrets_present",
            "operator_tokens",
            "cloudflare_access",
            "vars_clean",
            "audit_anchoring",
            "reconciliation",
            "breaker_exercised",
            "security_preflight"
        ]
    );
    assert_eq!(c.evaluated_at_ms, NOW);
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["items"][0]["status"], "pass");
}

#[test]
fn a_missing_secret_is_named_and_alternatives_count_once() {
    let mut f = good();
    f.secrets[2].1 = false;
    fails_with(&f, "secrets_present", "not set: LLM_KEY");

    let mut f = good();
    f.secrets[1].1 = false;
    fails_with(&f, "secrets_present", "OPERATOR_TOKENS or OPERATOR_TOKEN");

    // Either member of the group satisfies it.
    let mut f = good();
    f.secrets[0].1 = true;
    f.secrets[1].1 = false;
    assert!(evaluate(&f).pass);
}

#[test]
fn one_operator_or_a_misconfiguration_fails_the_token_item() {
    let mut f = good();
    f.auth.as_mut().unwrap().bearer_operators = names(&["admin"]);
    fails_with(&f, "operator_tokens", "1 distinct operator(s)");

    // Names differing only by case are one operator.
    let mut f = good();
    f.auth.as_mut().unwrap().bearer_operators = names(&["Alice"]);
    f.auth.as_mut().unwrap().access_identities = names(&["alice"]);
    fails_with(&f, "operator_tokens", "1 distinct");

    // The Access allow-list counts.
    let mut f = good();
    f.auth.as_mut().unwrap().bearer_operators = names(&["admin"]);
    f.auth.as_mut().unwrap().access_identities = names(&["carol@example.com"]);
    assert!(evaluate(&f).pass);

    let mut f = good();
    f.auth = Err("AUTH_TOKEN_TOO_SHORT".into());
    let c = evaluate(&f);
    assert!(status_of(&c, "operator_tokens")
        .1
        .contains("AUTH_TOKEN_TOO_SHORT"));
    assert_eq!(status_of(&c, "cloudflare_access").0, Status::Fail);
}

#[test]
fn access_must_be_configured() {
    let mut f = good();
    f.auth.as_mut().unwrap().access_configured = false;
    fails_with(&f, "cloudflare_access", "not both set");
}

#[test]
fn a_secret_in_the_vars_is_named_with_its_rule_but_not_its_value() {
    let mut f = good();
    let value = format!("{}{}", "sk-a", "nt-api03-Zq8J3Vx0mLr7KpW2aYc9HdN5bFs1");
    f.settings.push(("LLM_HELPER".into(), value.clone()));
    fails_with(&f, "vars_clean", "LLM_HELPER (anthropic-key)");
    let c = evaluate(&f);
    assert!(!serde_json::to_string(&c).unwrap().contains(&value));
}

#[test]
fn anchoring_needs_a_recent_anchor_and_a_recent_passing_full_verification() {
    let mut f = good();
    f.anchoring = Ok(AnchoringFacts::default());
    fails_with(&f, "audit_anchoring", "no anchor recorded");

    let mut f = good();
    f.anchoring.as_mut().unwrap().latest_anchor_ms = Some(NOW - 2 * HOUR - 1);
    fails_with(&f, "audit_anchoring", "the latest anchor is 2 h 0 min old");

    // Exactly 2 h passes (equality at the limit).
    let mut f = good();
    f.anchoring.as_mut().unwrap().latest_anchor_ms = Some(NOW - 2 * HOUR);
    f.anchoring.as_mut().unwrap().last_full_verification = Some((true, NOW - 2 * HOUR));
    assert!(evaluate(&f).pass);

    let mut f = good();
    f.anchoring.as_mut().unwrap().last_full_verification = None;
    fails_with(&f, "audit_anchoring", "no full verification");

    let mut f = good();
    f.anchoring.as_mut().unwrap().last_full_verification = Some((false, NOW));
    fails_with(&f, "audit_anchoring", "found problems");

    let mut f = good();
    f.anchoring.as_mut().unwrap().last_full_verification = Some((true, NOW - 3 * HOUR));
    fails_with(&f, "audit_anchoring", "verification is 3 h 0 min old");

    let mut f = good();
    f.anchoring = Err("AUDIT_ANCHORS_UNAVAILABLE".into());
    fails_with(&f, "audit_anchoring", "AUDIT_ANCHORS_UNAVAILABLE");
}

#[test]
fn reconciliation_must_be_clean_and_recent() {
    let mut f = good();
    f.reconciliation = Ok(None);
    fails_with(&f, "reconciliation", "no reconciliation recorded");

    let mut f = good();
    f.reconciliation = Ok(Some(ReconciliationFacts {
        at_ms: NOW,
        clean: false,
    }));
    fails_with(&f, "reconciliation", "drift");

    let mut f = good();
    f.reconciliation = Ok(Some(ReconciliationFacts {
        at_ms: NOW - 16 * MIN,
        clean: true,
    }));
    fails_with(&f, "reconciliation", "16 min old");

    let mut f = good();
    f.reconciliation = Ok(Some(ReconciliationFacts {
        at_ms: NOW + HOUR,
        clean: true,
    }));
    fails_with(&f, "reconciliation", "future");
}

#[test]
fn the_breaker_must_have_entered_and_left_halt_in_that_order() {
    let mut f = good();
    f.breaker_transitions = Ok(vec![]);
    fails_with(&f, "breaker_exercised", "no recorded transition into HALT");

    let mut f = good();
    f.breaker_transitions = Ok(vec![transition(
        BreakerState::Normal,
        BreakerState::Halt,
        NOW,
    )]);
    fails_with(&f, "breaker_exercised", "never left");

    // Leaving HALT before (in the kept history) entering it again does not count.
    let mut f = good();
    f.breaker_transitions = Ok(vec![
        transition(BreakerState::Halt, BreakerState::Recovery, NOW - 2 * HOUR),
        transition(BreakerState::Recovery, BreakerState::Halt, NOW - HOUR),
        transition(BreakerState::Halt, BreakerState::Halt, NOW - MIN),
    ]);
    fails_with(&f, "breaker_exercised", "never left");

    let mut f = good();
    f.breaker_transitions = Err("RISK_UNAVAILABLE".into());
    fails_with(&f, "breaker_exercised", "RISK_UNAVAILABLE");
}

#[test]
fn the_preflight_report_must_pass_be_clean_and_be_younger_than_seven_days() {
    let mut f = good();
    f.security_report = Ok(None);
    fails_with(&f, "security_preflight", "no security preflight report");

    let mut f = good();
    f.security_report = Ok(Some(report("FAIL", NOW)));
    fails_with(&f, "security_preflight", "verdict is FAIL");

    let mut f = good();
    f.security_report = Ok(Some(report("SKIPPED", NOW)));
    fails_with(&f, "security_preflight", "verdict is SKIPPED");

    let mut f = good();
    f.security_report = Ok(Some(report("PASS", NOW - 7 * 86_400_000 - MIN)));
    fails_with(&f, "security_preflight", "7 d 0 h old");

    let mut f = good();
    let mut r: Value = serde_json::from_slice(&report("PASS", NOW)).unwrap();
    r["findings"] = json!([{"id": "RUSTSEC-2099-0001"}]);
    f.security_report = Ok(Some(r.to_string().into_bytes()));
    fails_with(&f, "security_preflight", "unresolved findings");

    let mut f = good();
    let mut r: Value = serde_json::from_slice(&report("PASS", NOW)).unwrap();
    r["checks"] = json!([{"name": "lockfiles", "status": "fail"}]);
    f.security_report = Ok(Some(r.to_string().into_bytes()));
    fails_with(&f, "security_preflight", "failed checks");

    let mut f = good();
    let mut r: Value = serde_json::from_slice(&report("PASS", NOW)).unwrap();
    r["schema"] = json!("something/else");
    f.security_report = Ok(Some(r.to_string().into_bytes()));
    fails_with(
        &f,
        "security_preflight",
        "not a paul-p/security-preflight/1",
    );

    let mut f = good();
    f.security_report = Ok(Some(b"not json".to_vec()));
    fails_with(&f, "security_preflight", "not JSON");

    let mut f = good();
    let mut r: Value = serde_json::from_slice(&report("PASS", NOW)).unwrap();
    r["finished_at"] = Value::Null;
    f.security_report = Ok(Some(r.to_string().into_bytes()));
    fails_with(&f, "security_preflight", "no finished_at");
}

#[test]
fn ages_read_naturally() {
    assert_eq!(age_text(0), "0 min");
    assert_eq!(age_text(59 * MIN), "59 min");
    assert_eq!(age_text(125 * MIN), "2 h 5 min");
    assert_eq!(age_text(26 * HOUR), "1 d 2 h");
    assert_eq!(age_text(-5), "0 min");
}

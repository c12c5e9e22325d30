//! Rotating the audit signing key end to end (docs/RUNBOOK.md step 7): the handover anchor,
//! verification across it (ours and an outside witness's with only the current public key),
//! and the refusal to anchor after a key swapped without the previous one. Its own test binary
//! so that its restarts do not load the machine while audit.rs floods the local proxy.

use paul_p::core::audit::{open_checkpoint, NoteVerifier};
use paul_p_e2e::{Stack, StackConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn status(stack: &Stack) -> Value {
    let r = stack.get("/admin/audit/status", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn note(stack: &Stack, text: &str) -> u16 {
    stack
        .json(
            "POST",
            "/admin/audit/notes",
            &stack.tokens.admin,
            &json!({ "text": text }),
        )
        .status
}

/// A whole-log verification once the R2 mirror has every event; the report.
fn verify_all(stack: &Stack) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    while status(stack)["mirror"]["lag"] != 0 {
        assert!(Instant::now() < deadline, "the R2 mirror never caught up");
        std::thread::sleep(Duration::from_millis(250));
    }
    let r = stack.json(
        "POST",
        "/admin/audit/verify",
        &stack.tokens.admin,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["done"], true, "{v}");
    v
}

/// Every anchor note in DB_ANCHOR, oldest first, read around the Worker.
fn anchor_notes(stack: &Stack) -> Vec<String> {
    let out = stack.wrangler_local(&[
        "d1",
        "execute",
        "DB_ANCHOR",
        "--json",
        "--command",
        "SELECT note FROM anchors ORDER BY id",
    ]);
    let parsed: Value = serde_json::from_str(&out).expect("wrangler d1 --json");
    parsed[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|row| row["note"].as_str().unwrap().to_string())
        .collect()
}

fn published_key(stack: &Stack) -> Value {
    let r = stack.get("/audit/checkpoint/key", None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Runs the hourly cron as if scheduled `hours` after `base_hour`; returns its run record.
fn anchor_at(stack: &Stack, base_hour: i64, hours: i64) -> Value {
    let r = stack.scheduled("0 * * * *", (base_hour + hours) * 3_600_000 + 1_000);
    assert_eq!(r.status, 200, "{}", r.text());
    status(stack)["anchors"]["last_run"].clone()
}

#[test]
fn rotating_the_signing_key_hands_over_and_keeps_old_checkpoints_verifiable() {
    let (k1, k2, k3) = (
        paul_p_e2e::random_signing_key(),
        paul_p_e2e::random_signing_key(),
        paul_p_e2e::random_signing_key(),
    );
    let mut stack = Stack::start(StackConfig {
        vars: vec![("AUDIT_SIGNING_KEY".into(), k1.clone())],
        ..Default::default()
    });
    let hour = paul_p::clock::now_ms().div_euclid(3_600_000);
    let old = published_key(&stack);
    assert!(old.get("previous").is_none(), "{old}");
    assert_eq!(note(&stack, "before the rotation"), 201);
    let run = anchor_at(&stack, hour, 0);
    assert_eq!(run["status"], "SUCCESS", "{run}");

    // Step 1 of the runbook: the new key in AUDIT_SIGNING_KEY, the old in ..._PREVIOUS.
    stack.reconfigure(
        &[
            ("AUDIT_SIGNING_KEY", k2.as_str()),
            ("AUDIT_SIGNING_KEY_PREVIOUS", k1.as_str()),
        ],
        &[],
    );
    let rotating = published_key(&stack);
    assert_ne!(rotating["key_id"], old["key_id"]);
    assert_eq!(rotating["previous"]["key_id"], old["key_id"], "{rotating}");
    assert_eq!(rotating["previous"]["verifier_key"], old["verifier_key"]);
    // Before the handover the previous key still vouches for the newest anchor.
    assert_eq!(note(&stack, "rotating"), 201);
    let report = verify_all(&stack);
    assert_eq!(report["valid"], true, "{report}");

    // The next hourly anchor is the handover: audited, naming the old key, signed by both.
    let run = anchor_at(&stack, hour, 1);
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(
        run["detail"]["handover_from_key_id"], old["key_id"],
        "{run}"
    );
    let handover = stack.get("/audit/checkpoint", None).text();
    assert!(
        handover.contains(&format!(
            "\nprevious-key {}\n",
            old["verifier_key"].as_str().unwrap()
        )),
        "{handover}"
    );
    assert_eq!(handover.split_once("\n\n").unwrap().1.lines().count(), 2);
    let s = status(&stack);
    let size = s["size"].as_u64().unwrap();
    let events = stack.get(
        &format!("/admin/audit/events?from={}&limit=10", size - 1),
        Some(&stack.tokens.admin),
    );
    let events = events.json();
    let handover_event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["kind"] == "AUDIT_SIGNING_KEY_HANDOVER")
        .unwrap_or_else(|| panic!("no handover event: {events}"))["event"]
        .clone();
    assert_eq!(handover_event["payload"]["previous_key_id"], old["key_id"]);
    assert_eq!(handover_event["payload"]["key_id"], rotating["key_id"]);

    // Step 2: the previous secret is removed; anchoring and verification go on with the new
    // key alone, and the old anchor still verifies through the handover.
    stack.reconfigure(&[], &["AUDIT_SIGNING_KEY_PREVIOUS"]);
    assert!(published_key(&stack).get("previous").is_none());
    let run = anchor_at(&stack, hour, 2);
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(run["detail"]["handover_from_key_id"], Value::Null);
    let s = status(&stack);
    assert_eq!(s["anchors"]["count"], 3, "{s}");
    let retired = &s["signing_key"]["retired"];
    assert_eq!(retired.as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(retired[0]["key_id"], old["key_id"]);
    assert_eq!(retired[0]["retired_by_anchor"], 2);
    let report = verify_all(&stack);
    assert_eq!(report["valid"], true, "{report}");
    // An outside witness holding only the published current key checks every anchor.
    let current = NoteVerifier::parse(published_key(&stack)["verifier_key"].as_str().unwrap())
        .expect("published key");
    let notes = anchor_notes(&stack);
    assert_eq!(notes.len(), 3);
    let review = paul_p::core::audit::review_anchors(&notes, &current);
    assert!(review.problems.is_empty(), "{:?}", review.problems);
    assert!(
        open_checkpoint(&notes[0], &current).is_err(),
        "anchor 1 is the old key's"
    );

    // A key swapped without the previous one cannot extend the chain: anchoring fails loudly,
    // nothing is written, and the new key alone cannot vouch for the history.
    stack.reconfigure(&[("AUDIT_SIGNING_KEY", k3.as_str())], &[]);
    let run = anchor_at(&stack, hour, 3);
    assert_eq!(run["status"], "FAIL", "{run}");
    assert_eq!(run["detail"]["code"], "AUDIT_ANCHOR_PREDECESSOR_INVALID");
    assert_eq!(status(&stack)["anchors"]["count"], 3);
    let report = verify_all(&stack);
    assert_eq!(report["valid"], false, "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .all(|p| p["code"] == "ANCHOR_SIGNATURE_INVALID"),
        "{report}"
    );
}

//! The audit log end to end: concurrent appends through the `AuditLog` object, the R2 mirror,
//! hourly anchoring (idempotent within the hour), proofs checked with the core verifiers
//! against the published key, verification that pins every kind of tampering to its seq, and
//! the loud failure of anchoring without a signing key.

use paul_p::core::audit::{
    open_checkpoint, verify_consistency, verify_inclusion, AuditEvent, Hash32, NoteVerifier,
};
use paul_p_e2e::{send, Resp, Stack, StackConfig};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const HOURLY: &str = "/__scheduled?cron=0+*+*+*+*";
const DAILY: &str = "/__scheduled?cron=30+0+*+*+*";

fn admin(stack: &Stack) -> &str {
    &stack.tokens.admin
}

fn status(stack: &Stack) -> Value {
    let r = stack.get("/admin/audit/status", Some(admin(stack)));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn verify(stack: &Stack, body: &Value) -> Value {
    let r = stack.json("POST", "/admin/audit/verify", admin(stack), body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["done"], true,
        "one request verifies a log this small: {v}"
    );
    v
}

/// (seq, code) of a verification report.
fn problems(report: &Value) -> Vec<(Option<u64>, String)> {
    report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| (p["seq"].as_u64(), p["code"].as_str().unwrap().to_string()))
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}");
}

fn wait_mirrored(stack: &Stack, size: u64) {
    wait_for("the R2 mirror to catch up", Duration::from_secs(90), || {
        let s = status(stack);
        s["size"] == size && s["mirror"]["lag"] == 0
    });
}

fn note(stack: &Stack, text: &str) -> Resp {
    stack.json(
        "POST",
        "/admin/audit/notes",
        admin(stack),
        &json!({ "text": text }),
    )
}

fn event_key(seq: u64) -> String {
    format!("paul-p-audit/audit/events/{seq:012}.json")
}

fn hex(h: &str) -> Hash32 {
    Hash32::from_hex(h).expect("hex hash")
}

fn hashes(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .expect("hash list")
        .iter()
        .map(|h| hex(h.as_str().unwrap()).as_bytes().to_vec())
        .collect()
}

#[test]
fn audit_log_end_to_end() {
    let stack = Stack::start(StackConfig::default());

    // --- an empty log ---
    let s = status(&stack);
    assert_eq!(s["size"], 0);
    assert_eq!(s["signing_key"]["configured"], true);
    let r = stack.get("/audit/checkpoint", None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "AUDIT_NO_CHECKPOINT")
    );
    let key = stack.get("/audit/checkpoint/key", None);
    assert_eq!(key.status, 200, "{}", key.text());
    let key = key.json();
    let verifier = NoteVerifier::parse(key["verifier_key"].as_str().unwrap()).unwrap();
    assert_eq!(format!("{:08x}", verifier.key_id()), key["key_id"]);

    // --- 200 concurrent appends: seq 1..=200, no gap, no duplicate ---
    // 40 clients released together, 5 appends each, all against the one object. (Far more
    // simultaneous connections than this trip wrangler's local proxy, not the Worker.)
    const N: usize = 200;
    const CLIENTS: usize = 40;
    let gate = Arc::new(Barrier::new(CLIENTS));
    let url = stack.url("/admin/audit/notes");
    let auth = format!("Bearer {}", admin(&stack));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (gate, url, auth) = (gate.clone(), url.clone(), auth.clone());
            std::thread::spawn(move || {
                gate.wait();
                (0..N / CLIENTS)
                    .map(|i| {
                        let body =
                            json!({ "text": format!("concurrent note {c}-{i}") }).to_string();
                        send(
                            "POST",
                            &url,
                            &[
                                ("authorization", &auth),
                                ("content-type", "application/json"),
                            ],
                            Some(body.as_bytes()),
                        )
                    })
                    .collect::<Vec<Resp>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text());
            let receipts = r.json()["receipts"].as_array().unwrap().clone();
            assert_eq!(receipts.len(), 1);
            receipts[0]["seq"].as_u64().unwrap()
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());

    // A batch of notes is one atomic append with consecutive seqs; bad input changes nothing.
    let r = stack.json(
        "POST",
        "/admin/audit/notes",
        admin(&stack),
        &json!({ "notes": ["timeline 1", "timeline 2", "timeline 3"] }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let batch: Vec<u64> = r.json()["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(batch, vec![201, 202, 203]);
    for bad in [
        json!({}),
        json!({"text": ""}),
        json!({"text": "x", "extra": 1}),
    ] {
        let r = stack.json("POST", "/admin/audit/notes", admin(&stack), &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let size = 203u64;
    wait_mirrored(&stack, size);

    // --- the hourly cron, twice in the same hour: one anchor ---
    let hour = |ms: i64| ms.div_euclid(3_600_000);
    let before = status(&stack)["now_ms"].as_i64().unwrap();
    for _ in 0..2 {
        let r = stack.get(HOURLY, None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let s = status(&stack);
    let after = s["now_ms"].as_i64().unwrap();
    let expected_anchors = if hour(before) == hour(after) { 1 } else { 2 };
    assert_eq!(s["anchors"]["count"], expected_anchors, "{s}");
    assert_eq!(s["anchors"]["last"]["tree_size"], size);
    // The second run found the hour anchored; the hour's run record keeps its SUCCESS.
    assert_eq!(s["anchors"]["last_run"]["status"], "SUCCESS", "{s}");
    assert_eq!(s["anchors"]["last"]["root"], s["root"]);

    // The public checkpoint verifies with the published key and commits to the log's head.
    let note_text = stack.get("/audit/checkpoint", None);
    assert_eq!(note_text.status, 200);
    assert!(note_text
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let checkpoint = open_checkpoint(&note_text.text(), &verifier).expect("signed by the key");
    assert_eq!(checkpoint.size(), size);
    assert_eq!(checkpoint.root().to_hex(), s["root"].as_str().unwrap());
    assert_eq!(
        checkpoint.chain_head().to_hex(),
        s["chain_head"].as_str().unwrap()
    );

    // --- proofs, checked independently with the core verifiers ---
    let events = stack.get("/admin/audit/events?from=7&limit=2", Some(admin(&stack)));
    assert_eq!(events.status, 200, "{}", events.text());
    let events = events.json();
    assert_eq!(events["events"].as_array().unwrap().len(), 2);
    assert_eq!(events["next"], 9);
    let seventh = &events["events"][0];
    let bytes = serde_json::to_string(&seventh["event"]).unwrap();
    let event = AuditEvent::from_canonical_bytes(bytes.as_bytes()).expect("canonical event");
    assert_eq!(event.seq.get(), 7);
    assert_eq!(event.kind, "OPERATOR_NOTE");
    assert_eq!(event.actor, "admin");
    assert_eq!(event.leaf_hash().unwrap().to_hex(), seventh["leaf_hash"]);
    let proof = stack.get(
        &format!("/admin/audit/proof/7?size={size}"),
        Some(admin(&stack)),
    );
    assert_eq!(proof.status, 200, "{}", proof.text());
    let proof = proof.json();
    assert_eq!(proof["leaf_hash"], seventh["leaf_hash"]);
    verify_inclusion(
        6,
        size,
        event.leaf_hash().unwrap().as_bytes(),
        &hashes(&proof["proof"]),
        checkpoint.root().as_bytes(),
    )
    .expect("event 7 is in the anchored tree");
    let consistency = stack.get("/admin/audit/consistency?from=100", Some(admin(&stack)));
    assert_eq!(consistency.status, 200, "{}", consistency.text());
    let consistency = consistency.json();
    assert_eq!(consistency["to"], size);
    verify_consistency(
        100,
        size,
        &hashes(&consistency["proof"]),
        hex(consistency["root_from"].as_str().unwrap()).as_bytes(),
        checkpoint.root().as_bytes(),
    )
    .expect("size 100 is a prefix of the anchored tree");
    for (path, status, code) in [
        ("/admin/audit/proof/0", 400, "INVALID_PARAMETER"),
        ("/admin/audit/proof/x", 400, "INVALID_PARAMETER"),
        ("/admin/audit/proof/204", 400, "AUDIT_PROOF_RANGE_INVALID"),
        (
            "/admin/audit/proof/5?size=4",
            400,
            "AUDIT_PROOF_RANGE_INVALID",
        ),
        (
            "/admin/audit/proof/5?size=999",
            400,
            "AUDIT_PROOF_RANGE_INVALID",
        ),
        ("/admin/audit/consistency", 400, "INVALID_PARAMETER"),
        (
            "/admin/audit/consistency?from=10&to=5",
            400,
            "AUDIT_PROOF_RANGE_INVALID",
        ),
        ("/admin/audit/events?limit=0", 400, "INVALID_PARAMETER"),
        ("/admin/audit/events?from=-1", 400, "INVALID_PARAMETER"),
    ] {
        let r = stack.get(path, Some(admin(&stack)));
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{path}"
        );
    }
    let r = stack.json(
        "POST",
        "/admin/audit/verify",
        admin(&stack),
        &json!({"from": 0}),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "INVALID_PARAMETER")
    );
    let r = stack.json(
        "POST",
        "/admin/audit/verify",
        admin(&stack),
        &json!({"to": 999}),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "AUDIT_VERIFY_RANGE_INVALID")
    );

    // --- verification of the untouched mirror ---
    let report = verify(&stack, &json!({}));
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], size);
    assert_eq!(report["full"], true);
    assert!(problems(&report).is_empty());
    let partial = verify(&stack, &json!({"from": 50, "to": 60}));
    assert_eq!(
        (partial["valid"].clone(), partial["checked"].clone()),
        (json!(true), json!(11))
    );

    // The daily cron starts a whole-log verification the object drives from its alarm.
    let r = stack.get(DAILY, None);
    assert_eq!(r.status, 200);
    wait_for("the daily verification", Duration::from_secs(60), || {
        status(&stack)["verification"]["last_full"]["trigger"] == "cron:30 0 * * *"
    });
    let last_full = &status(&stack)["verification"]["last_full"];
    assert_eq!(last_full["valid"], true, "{last_full}");
    assert_eq!(last_full["checked"], size);

    // --- tampering, each pinned to its seq and code ---
    let dir = stack.state_dir.join("tamper");
    std::fs::create_dir_all(&dir).unwrap();
    let edited = dir.join("7.json");
    std::fs::write(&edited, bytes.replace("concurrent note", "concurrent n0te")).unwrap();
    stack.wrangler_local(&[
        "r2",
        "object",
        "put",
        &event_key(7),
        "--file",
        edited.to_str().unwrap(),
    ]);
    let report = verify(&stack, &json!({}));
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_bad_seq"], 7);
    assert_eq!(
        problems(&report),
        vec![(Some(7), "EVENT_HASH_MISMATCH".into())]
    );

    stack.wrangler_local(&["r2", "object", "delete", &event_key(50)]);
    let report = verify(&stack, &json!({}));
    assert_eq!(
        problems(&report),
        vec![
            (Some(7), "EVENT_HASH_MISMATCH".into()),
            (Some(50), "SEQUENCE_GAP".into())
        ]
    );

    // The tail: 201 to the log's end now (the daily cron's production gate and dashboard
    // status appended their own records after `size`).
    let end = status(&stack)["size"].as_u64().unwrap();
    assert!(end >= size);
    for seq in 201..=end {
        stack.wrangler_local(&["r2", "object", "delete", &event_key(seq)]);
    }
    let report = verify(&stack, &json!({}));
    assert_eq!(
        problems(&report),
        vec![
            (Some(7), "EVENT_HASH_MISMATCH".into()),
            (Some(50), "SEQUENCE_GAP".into()),
            (Some(201), "TRUNCATED".into())
        ]
    );

    let stray = dir.join("stray.json");
    std::fs::write(&stray, b"{}").unwrap();
    stack.wrangler_local(&[
        "r2",
        "object",
        "put",
        &event_key(999),
        "--file",
        stray.to_str().unwrap(),
    ]);
    let report = verify(&stack, &json!({}));
    assert!(problems(&report).contains(&(Some(999), "UNKNOWN_OBJECT".into())));

    // A forged anchor: the latest note with its body changed, signature kept.
    let forged = note_text.text().replacen(
        &format!("timestamp-ms {}", checkpoint.timestamp_ms()),
        &format!("timestamp-ms {}", checkpoint.timestamp_ms() + 1),
        1,
    );
    assert_ne!(forged, note_text.text());
    let fake = |b: u8| Hash32::from_bytes([b; 32]).to_hex();
    stack.wrangler_local(&[
        "d1",
        "execute",
        "DB_ANCHOR",
        "--command",
        &format!(
            "INSERT INTO anchors (hour_bucket, tree_size, root, chain_head, prev_anchor, \
             anchor_hash, timestamp_ms, key_id, note, r2_key) VALUES (1, {size}, '{}', '{}', \
             '{}', '{}', {}, '{}', '{}', 'forged')",
            fake(1),
            fake(2),
            fake(3),
            fake(4),
            checkpoint.timestamp_ms() + 1,
            key["key_id"].as_str().unwrap(),
            forged
        ),
    ]);
    let report = verify(&stack, &json!({}));
    let found = problems(&report);
    assert!(
        found.contains(&(Some(size), "ANCHOR_SIGNATURE_INVALID".into())),
        "{report}"
    );
    assert_eq!(report["first_bad_seq"], 7);

    // Anchoring never chains onto an anchor it cannot verify: within this hour it has nothing
    // to do; in a new hour it fails with AUDIT_ANCHOR_PREDECESSOR_INVALID.
    let r = stack.get(HOURLY, None);
    assert_eq!(r.status, 200);
    let s = status(&stack);
    let last_run = &s["anchors"]["last_run"];
    assert!(
        last_run["status"] == "SUCCESS"
            || last_run["detail"]["code"] == "AUDIT_ANCHOR_PREDECESSOR_INVALID",
        "{last_run}"
    );
    assert_eq!(s["anchors"]["last"]["r2_key"], "forged");
    assert_eq!(s["verification"]["last"]["valid"], false);

    // Anchors are append-only in the database itself.
    let out = std::process::Command::new(paul_p_e2e::root().join("node_modules/.bin/wrangler"))
        .args(["d1", "execute", "DB_ANCHOR", "--local", "--persist-to"])
        .arg(stack.state_dir.join("state"))
        .args(["--command", "DELETE FROM anchors"])
        .current_dir(paul_p_e2e::root())
        .env("CI", "true")
        .output()
        .unwrap();
    assert!(!out.status.success(), "deleting anchors must fail");
}

#[test]
fn anchoring_without_a_signing_key_fails_loudly_and_auth_failures_are_rate_limited() {
    let stack = Stack::start(StackConfig {
        unset: vec!["AUDIT_SIGNING_KEY".into()],
        ..StackConfig::default()
    });
    // Appends do not need the key.
    let r = note(&stack, "before anchoring");
    assert_eq!(r.status, 201, "{}", r.text());

    let r = stack.get(HOURLY, None);
    assert_eq!(r.status, 200);
    let s = status(&stack);
    assert_eq!(s["signing_key"]["configured"], false);
    assert_eq!(s["signing_key"]["code"], "AUDIT_SIGNING_KEY_MISSING");
    assert_eq!(s["anchors"]["count"], 0);
    assert_eq!(s["anchors"]["last_run"]["status"], "FAIL", "{s}");
    assert_eq!(
        s["anchors"]["last_run"]["detail"]["code"],
        "AUDIT_SIGNING_KEY_MISSING"
    );
    wait_for("the failure in the logs", Duration::from_secs(10), || {
        stack.worker_logs().contains("audit_anchor_failed")
    });
    let r = stack.get("/audit/checkpoint/key", None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "AUDIT_SIGNING_KEY_MISSING")
    );
    // Without the key, anchors cannot be checked: verification refuses rather than pass.
    let r = stack.json("POST", "/admin/audit/verify", admin(&stack), &json!({}));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "AUDIT_SIGNING_KEY_MISSING")
    );

    // A burst of bad credentials costs the log one AUTH_FAILED record, not twenty.
    for i in 0..20 {
        let r = stack.get("/admin/audit/status", Some(&format!("wrong-token-{i:040}")));
        assert_eq!(r.status, 401);
    }
    let events = stack.get("/admin/audit/events?from=1&limit=100", Some(admin(&stack)));
    let events = events.json();
    let failed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"] == "AUTH_FAILED")
        .collect();
    assert_eq!(failed.len(), 1, "{events}");
    assert_eq!(failed[0]["event"]["actor"], "system");
    assert_eq!(failed[0]["event"]["payload"]["count"], 1);
    assert!(!events.to_string().contains("wrong-token"));
}

/// One POST that reports a transport failure instead of panicking (the Worker gets killed).
fn try_post(url: &str, auth: &str, body: &Value) -> Option<(u16, Value)> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let result = agent
        .post(url)
        .set("authorization", auth)
        .set("content-type", "application/json")
        .send_string(&body.to_string());
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = resp.status();
    // A body cut off by the kill is no acknowledgement: the client never saw the receipts.
    resp.into_json().ok().map(|body| (status, body))
}

#[test]
fn a_hard_kill_during_appends_loses_no_acknowledged_event_and_splits_no_batch() {
    let mut stack = Stack::start(StackConfig::default());
    let url = stack.url("/admin/audit/notes");
    let auth = format!("Bearer {}", admin(&stack));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (url, auth, stop) = (url.clone(), auth.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for b in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let notes: Vec<String> = (0..3).map(|i| format!("crash {c}-{b}-{i}")).collect();
                    match try_post(&url, &auth, &json!({ "notes": notes })) {
                        Some((201, body)) => acknowledged.extend(
                            body["receipts"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|r| r["seq"].as_u64().unwrap()),
                        ),
                        Some(_) => {}
                        None => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2_500));
    stack.kill_worker_hard();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acknowledged: Vec<u64> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() >= 3,
        "some appends were acknowledged before the kill"
    );
    stack.start_again();

    let size = status(&stack)["size"].as_u64().unwrap();
    // Every acknowledged event survived the crash.
    assert!(acknowledged.iter().all(|s| *s <= size), "size {size}");
    // Every batch is whole, in consecutive seqs: no partial batch was committed.
    let mut texts: Vec<(u64, String)> = Vec::new();
    let mut from = 1;
    while from <= size {
        let page = stack.get(
            &format!("/admin/audit/events?from={from}&limit=1000"),
            Some(admin(&stack)),
        );
        let page = page.json();
        for e in page["events"].as_array().unwrap() {
            texts.push((
                e["seq"].as_u64().unwrap(),
                e["event"]["payload"]["text"].as_str().unwrap().to_string(),
            ));
        }
        from += 1000;
    }
    assert_eq!(
        texts.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=size).collect::<Vec<_>>()
    );
    for chunk in texts.chunks(3) {
        let batch: Vec<&str> = chunk
            .iter()
            .map(|(_, t)| t.rsplit_once('-').unwrap().0)
            .collect();
        assert_eq!(chunk.len(), 3, "a partial batch at the end: {chunk:?}");
        assert!(
            batch.iter().all(|b| *b == batch[0]),
            "split batch {chunk:?}"
        );
        assert!(
            chunk[0].1.ends_with("-0") && chunk[2].1.ends_with("-2"),
            "{chunk:?}"
        );
    }
    // The log goes on where it stopped, and it verifies.
    let r = note(&stack, "after the crash");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["receipts"][0]["seq"], size + 1);
    wait_mirrored(&stack, size + 1);
    let report = verify(&stack, &json!({}));
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], size + 1);
}

#[test]
fn breaker_transitions_are_audited_with_their_operator() {
    let stack = Stack::start(StackConfig::default());
    let r = stack.json(
        "POST",
        "/admin/circuit-breaker/transition",
        &stack.tokens.alice,
        &json!({"targetState": "CAUTION", "reason": "venue looks slow"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let events = stack.get("/admin/audit/events?from=1&limit=100", Some(admin(&stack)));
    assert_eq!(events.status, 200, "{}", events.text());
    let events = events.json();
    let transition = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["kind"] == "risk.breaker_transition")
        .unwrap_or_else(|| panic!("no breaker transition in the log: {events}"));
    assert_eq!(transition["event"]["actor"], "alice");
    let text = transition["event"]["payload"].to_string();
    assert!(text.contains("CAUTION"), "{text}");
}

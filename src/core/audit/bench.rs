//! Native benchmarks of the audit core, as ignored tests (release build recommended):
//!
//! ```sh
//! cargo test --release --lib core::audit::bench -- --ignored --nocapture --test-threads=1
//! ```
//!
//! Each prints one JSON line starting with `BENCH ` for `scripts/bench.sh` to collect.

use super::event::event_object_key;
use super::merkle::{inclusion_proof, verify_inclusion, MemoryTree, TreeStore};
use super::sequencer::{stage, NewEvent, WriterState};
use super::verify::review_anchors;
use super::verify_run::{VerifyRun, LIST_PREFIX};
use super::{
    anchor_genesis, sign_checkpoint, Checkpoint, LeafRecord, LogHead, NoteSigner, Verifier,
};
use serde_json::json;
use std::time::Instant;

fn report(name: &str, fields: serde_json::Value) {
    let mut line = json!({ "bench": name });
    if let (Some(out), Some(add)) = (line.as_object_mut(), fields.as_object()) {
        out.extend(add.clone());
    }
    println!("BENCH {line}");
}

/// A realistic event: a risk refusal with a handful of fields.
fn event(i: u64) -> NewEvent {
    NewEvent {
        actor: "risk-governor".into(),
        kind: "RISK_REFUSED".into(),
        payload: json!({
            "client_order_id": format!("po-{i:010}"),
            "market": "KXFEDDECISION-26JUN-H0",
            "reason": "RISK_LIMIT_DAILY_LOSS",
            "notional_usd_micros": 12_500_000 + i as i64,
            "limit_usd_micros": 10_000_000,
        }),
        evidence_hash: None,
    }
}

/// Stages `n` events in batches of `batch`: (records, canonical bytes, final state, seconds).
fn build_log(n: u64, batch: u64) -> (Vec<LeafRecord>, Vec<Vec<u8>>, WriterState, f64) {
    let mut state = WriterState::genesis();
    let mut records = Vec::with_capacity(n as usize);
    let mut bodies = Vec::with_capacity(n as usize);
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let events: Vec<NewEvent> = (i..(i + batch).min(n)).map(event).collect();
        let staged = stage(&state, 1_767_225_600_000 + i as i64, &events).unwrap();
        for e in staged.events {
            records.push(e.record);
            bodies.push(e.bytes);
        }
        state = staged.state;
        i += batch;
    }
    (records, bodies, state, started.elapsed().as_secs_f64())
}

#[test]
#[ignore = "benchmark"]
fn bench_staging_appends_batched_and_unbatched() {
    const N: u64 = 100_000;
    for batch in [1u64, 100] {
        let (_, _, state, secs) = build_log(N, batch);
        assert_eq!(state.head.size(), N);
        report(
            "audit_stage_native",
            json!({
                "events": N,
                "batch": batch,
                "seconds": secs,
                "events_per_s": N as f64 / secs,
            }),
        );
    }
}

#[test]
#[ignore = "benchmark"]
fn bench_full_verification_of_100k_events() {
    const N: u64 = 100_000;
    const PAGE: u64 = 250;
    let (records, bodies, state, _) = build_log(N, 100);
    let signer = NoteSigner::from_seed("paul-p/audit", &[9; 32]).unwrap();
    let checkpoint = Checkpoint::new(
        "paul-p/audit",
        N,
        state.head.root(),
        state.head.chain_head,
        anchor_genesis(),
        1_767_229_200_000,
    )
    .unwrap();
    let anchors = [sign_checkpoint(&checkpoint, &signer).unwrap()];
    let keys: Vec<String> = records.iter().map(|r| event_object_key(r.seq)).collect();

    let started = Instant::now();
    let review = review_anchors(&anchors, &signer.verifier());
    let verifier = Verifier::new(LogHead::genesis(), N, N, review).unwrap();
    let mut run = VerifyRun::new("bench".into(), "bench".into(), 1, N, N, 0, verifier);
    let mut pages = 0;
    while let Some(plan) = run.next_page(PAGE) {
        let (lo, hi) = (plan.first as usize - 1, plan.last as usize);
        // The page's listing, as R2 would return it, and the objects read.
        let listed: Vec<String> = keys[lo..hi].to_vec();
        let selected = run.select_objects(&plan, &listed, N);
        let read: Vec<(String, Option<Vec<u8>>)> = selected
            .read
            .iter()
            .zip(&bodies[lo..hi])
            .map(|(k, b)| (k.clone(), Some(b.clone())))
            .collect();
        assert!(listed.iter().all(|k| k.starts_with(LIST_PREFIX)));
        // Persisted between pages, as the Durable Object does.
        let stored = serde_json::to_string(&run).unwrap();
        run = serde_json::from_str(&stored).unwrap();
        run.apply(&plan, &records[lo..hi], &read, &selected.unknown)
            .unwrap();
        pages += 1;
    }
    let verdict = run.finish().unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(verdict.valid);
    assert_eq!(verdict.checked, N);
    report(
        "audit_full_verification_native",
        json!({
            "events": N,
            "pages": pages,
            "page_events": PAGE,
            "seconds": secs,
            "events_per_s": N as f64 / secs,
        }),
    );
}

#[test]
#[ignore = "benchmark"]
fn bench_inclusion_proofs_at_a_million_leaves() {
    const SIZE: u64 = 1_000_000;
    const PROOFS: u64 = 10_000;
    let build = Instant::now();
    let mut tree = MemoryTree::new();
    for i in 0..SIZE {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&i.to_be_bytes());
        tree.push(super::Hash32::from_bytes(b));
    }
    let root = tree.root();
    let build_secs = build.elapsed().as_secs_f64();
    // Deterministic spread of leaf indices.
    let indices: Vec<u64> = (0..PROOFS)
        .map(|k| (k.wrapping_mul(2_654_435_761)) % SIZE)
        .collect();
    let started = Instant::now();
    let mut hashes = 0;
    for &index in &indices {
        let proof = inclusion_proof(&tree, index, SIZE).unwrap();
        hashes += proof.len();
        std::hint::black_box(&proof);
    }
    let generate = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for &index in &indices {
        let proof = inclusion_proof(&tree, index, SIZE).unwrap();
        let leaf = tree.perfect_subtree(0, index).unwrap();
        verify_inclusion(index, SIZE, leaf.as_bytes(), &proof, root.as_bytes()).unwrap();
    }
    let generate_and_verify = started.elapsed().as_secs_f64();
    report(
        "audit_inclusion_proof_1m_native",
        json!({
            "leaves": SIZE,
            "proofs": PROOFS,
            "tree_build_seconds": build_secs,
            "hashes_per_proof": hashes as f64 / PROOFS as f64,
            "generate_us_per_proof": generate * 1e6 / PROOFS as f64,
            "generate_and_verify_us_per_proof": generate_and_verify * 1e6 / PROOFS as f64,
        }),
    );
}

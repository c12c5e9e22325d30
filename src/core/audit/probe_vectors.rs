//! Every RFC 6962 probe in `shared/vectors/merkle/testdata` (transparency-dev/merkle) through
//! our verifiers, each expecting its recorded verdict. The vectors live beside the clone, not
//! in it; a missing directory fails the test rather than skipping it.

use super::merkle::{verify_consistency, verify_inclusion};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `<ancestor>/shared/vectors/merkle/testdata` for the nearest ancestor of the crate that has
/// one: `../shared` beside a clone, `/work/shared` above a worktree.
fn testdata_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/vectors/merkle/testdata"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "RFC 6962 probe vectors not found: no shared/vectors/merkle/testdata beside any \
                 ancestor of {}",
                manifest.display()
            )
        })
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn b64(s: &str, file: &Path) -> Vec<u8> {
    BASE64
        .decode(s)
        .unwrap_or_else(|e| panic!("{}: bad base64 {s:?}: {e}", file.display()))
}

fn read<T: for<'de> Deserialize<'de>>(file: &Path) -> T {
    let text = std::fs::read_to_string(file).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProbe {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyProbe {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// Runs every probe of one kind; returns (probes, of which expected to fail).
fn run<T: for<'de> Deserialize<'de>>(
    kind: &str,
    check: impl Fn(&T, &Path) -> (bool, bool, String),
) -> (usize, usize) {
    let files = json_files(&testdata_dir().join(kind));
    assert!(!files.is_empty(), "no {kind} probes found");
    let mut failures = Vec::new();
    let mut want_err_count = 0;
    for file in &files {
        let probe: T = read(file);
        let (want_err, got_err, detail) = check(&probe, file);
        want_err_count += usize::from(want_err);
        if want_err != got_err {
            failures.push(format!(
                "{}: wantErr={want_err} but got {detail}",
                file.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {kind} probes disagree:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    (files.len(), want_err_count)
}

#[test]
fn every_inclusion_probe_gets_its_expected_verdict() {
    let (total, want_err) = run("inclusion", |p: &InclusionProbe, file| {
        let proof: Vec<Vec<u8>> = p.proof.iter().flatten().map(|h| b64(h, file)).collect();
        let result = verify_inclusion(
            p.leaf_idx,
            p.tree_size,
            &b64(&p.leaf_hash, file),
            &proof,
            &b64(&p.root, file),
        );
        let detail = format!("{result:?} ({})", p.desc);
        (p.want_err, result.is_err(), detail)
    });
    // The set is fixed: a silently shrunken directory must not pass.
    assert_eq!(total, 98);
    assert!(want_err > 0 && want_err < total);
}

#[test]
fn every_consistency_probe_gets_its_expected_verdict() {
    let (total, want_err) = run("consistency", |p: &ConsistencyProbe, file| {
        let proof: Vec<Vec<u8>> = p.proof.iter().flatten().map(|h| b64(h, file)).collect();
        let result = verify_consistency(
            p.size1,
            p.size2,
            &proof,
            &b64(&p.root1, file),
            &b64(&p.root2, file),
        );
        let detail = format!("{result:?} ({})", p.desc);
        (p.want_err, result.is_err(), detail)
    });
    assert_eq!(total, 98);
    assert!(want_err > 0 && want_err < total);
}

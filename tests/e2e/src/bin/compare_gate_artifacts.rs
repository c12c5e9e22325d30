//! `scripts/compare-gate-artifacts A.json B.json [--json]`: what changed between two gate
//! artifacts (status, thresholds, metrics with deltas, checks, provenance). The comparison is
//! the Worker's own (`core::gate_artifact::compare`, also behind `GET /admin/gates/compare`),
//! so the script and the route never disagree. Also accepts the runbook's `--a A --b B`.
//!
//! Exit status: 0 after printing the comparison, 2 on a usage error or an unreadable file.

use paul_p::core::gate_artifact::{compare, render_text};
use serde_json::Value;

fn usage(msg: &str) -> ! {
    eprintln!(
        "compare-gate-artifacts: {msg}\nusage: compare-gate-artifacts A.json B.json [--json]"
    );
    std::process::exit(2)
}

fn read(path: &str) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
    let v: Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| usage(&format!("{path}: not JSON: {e}")));
    // An artifact as GET /admin/gates/production/{run_id} answers it is accepted too.
    match v.get("artifact") {
        Some(a) if a.is_object() => a.clone(),
        _ => v,
    }
}

fn main() {
    let mut json = false;
    let mut files: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--a" | "--b" => match args.next() {
                Some(v) => files.push(v),
                None => usage(&format!("{arg} needs a file")),
            },
            "-h" | "--help" => usage("compare two gate artifacts"),
            s if s.starts_with("--") => usage(&format!("unknown option {s}")),
            _ => files.push(arg),
        }
    }
    if files.len() != 2 {
        usage("give exactly two artifact files");
    }
    let diff = compare(&read(&files[0]), &read(&files[1]));
    if json {
        println!("{}", serde_json::to_string_pretty(&diff).expect("JSON"));
    } else {
        print!("{}", render_text(&diff));
    }
}

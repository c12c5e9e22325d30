//! Every curl in docs/RUNBOOK.md runs, as written, against a fresh local stack: the `sh` blocks
//! are executed in order in one shell (so the setup block's variables carry over), with `B` and
//! `ADMIN_TOKEN` pointing at the stack, and each curl's HTTP status is checked against the
//! `<!-- expect: … -->` line above its block.

use paul_p_e2e::{root, Stack, StackConfig};
use std::process::Command;

struct Block {
    line: usize,
    expect: Vec<u16>,
    script: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "```sh" {
            let expect_line = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .copied()
                .unwrap_or("");
            let expect: Vec<u16> = expect_line
                .trim()
                .strip_prefix("<!-- expect:")
                .and_then(|r| r.strip_suffix("-->"))
                .unwrap_or_else(|| {
                    panic!(
                        "RUNBOOK.md line {}: an sh block needs <!-- expect: … -->",
                        i + 1
                    )
                })
                .split_whitespace()
                .map(|s| s.parse().expect("a status code"))
                .collect();
            let start = i + 1;
            let mut end = start;
            while lines[end].trim() != "```" {
                end += 1;
            }
            out.push(Block {
                line: i + 1,
                expect,
                script: lines[start..end].join("\n"),
            });
            i = end;
        }
        i += 1;
    }
    out
}

/// How many curl commands a block runs (a command may continue over `\` lines).
fn curls(script: &str) -> usize {
    script
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("curl ") || l.contains("$(curl ") || l.contains("| curl ")
        })
        .count()
}

#[test]
fn every_curl_in_the_runbook_answers_as_documented() {
    let text = std::fs::read_to_string(root().join("docs/RUNBOOK.md")).expect("docs/RUNBOOK.md");
    let blocks = blocks(&text);
    assert!(blocks.len() >= 8, "the runbook has its procedures");
    for b in &blocks {
        assert_eq!(
            curls(&b.script),
            b.expect.len(),
            "RUNBOOK.md line {}: one expected status per curl",
            b.line
        );
    }

    let stack = Stack::start(StackConfig::default());
    let dir = stack.state_dir.join("runbook");
    std::fs::create_dir_all(&dir).unwrap();
    let codes = dir.join("codes");
    // Each curl reports its status on a file (curl's `%{stderr}` switch, redirected), leaving
    // its output and the command as written.
    let mut script = format!(
        "curl() {{ command curl -w '%{{stderr}}HTTPSTATUS %{{http_code}}\\n' \"$@\" 2>>{:?}; }}\n",
        codes
    );
    let mut expected = Vec::new();
    for b in &blocks {
        script.push_str(&b.script);
        script.push('\n');
        expected.extend(b.expect.iter().map(|c| (b.line, *c)));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(root())
        .env("B", &stack.base)
        .env("ADMIN_TOKEN", &stack.tokens.admin)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let got: Vec<u16> = std::fs::read_to_string(&codes)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("HTTPSTATUS "))
        .map(|c| c.trim().parse().unwrap_or(0))
        .collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "every curl ran; output:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ((line, want), got) in expected.iter().zip(&got) {
        assert_eq!(
            got, want,
            "RUNBOOK.md block at line {line}; output:\n{stdout}"
        );
    }
}

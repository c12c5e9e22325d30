//! Runs one command against a fresh local stack (simulator + `wrangler dev`, real local bindings),
//! then stops the stack: `with_stack -- PROGRAM [ARGS…]`. `scripts/api-fuzz.sh` runs
//! Schemathesis through it.
//!
//! Before the command starts, the stack is given some state to read, the way an operator would
//! on a first day: the simulated sources approved and one ingestion run (one market marked), so
//! list and detail routes answer with data rather than only empty lists.
//!
//! The command gets the stack in its environment: `PAUL_P_BASE_URL` (the Worker),
//! `PAUL_P_ADMIN_TOKEN` (an operator bearer token of this throw-away stack), `PAUL_P_SIM_URL`.
//! Exits with the command's exit code (2 if it could not be started or was killed).

use paul_p_e2e::{Stack, StackConfig, SIMULATED_SOURCES};
use serde_json::json;
use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().skip_while(|a| a != "--").skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: with_stack -- PROGRAM [ARGS…]");
        std::process::exit(2);
    };
    let stack = Stack::start(StackConfig::default());
    stack.approve_sources(SIMULATED_SOURCES);
    let markets = stack
        .sim("GET", "/trade-api/v2/markets?status=open&limit=50", None)
        .json();
    let ticker = markets["markets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["ticker"].as_str())
        .find(|t| !t.starts_with("KXMVE"))
        .expect("the simulator serves an open market")
        .to_string();
    let r = stack.json(
        "POST",
        "/admin/ingest/run",
        &stack.tokens.admin,
        &json!({ "mark": [ticker] }),
    );
    assert_eq!(r.status, 200, "seed ingestion: {}", r.text());
    eprintln!(
        "[with_stack] stack up at {} (state {})",
        stack.base,
        stack.state_dir.display()
    );

    let status = Command::new(program)
        .args(rest)
        .env("PAUL_P_BASE_URL", &stack.base)
        .env("PAUL_P_ADMIN_TOKEN", &stack.tokens.admin)
        .env("PAUL_P_SIM_URL", &stack.sim_base)
        .status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(2),
        Err(e) => {
            eprintln!("[with_stack] could not run {program}: {e}");
            2
        }
    };
    drop(stack);
    std::process::exit(code);
}

//! Paul P: the control plane of an autonomous prediction-market trading system.
//!
//! This file holds entry points only; see `ARCHITECTURE` in the README for the layout:
//! `core` (pure logic), `http` (router, auth, routes), `objects` (Durable Objects), `store`
//! (the D1 gate; SQLite/D1/R2 adapters), `jobs` (crons), `audit_client` (the write-ahead audit port),
//! `outbound` (the one fetch port), `obs` (logs).

pub mod anthropic_client;
pub mod audit_client;
pub mod bindings;
pub mod build_info;
pub mod checklist;
pub mod clock;
pub mod core;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod kalshi_client;
pub mod metrics;
pub mod objects;
pub mod obs;
pub mod outbound;
pub mod risk_client;
pub mod store;
pub mod venues;
pub mod webcrypto;

use core::redact::Redactor;
use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

/// Names of every secret the Worker may be given. Only the log redactor reads them all, and
/// only to scrub their values from what it writes; each credential is otherwise read by the
/// one module that uses it.
pub const SECRET_NAMES: &[&str] = &[
    "ADMIN_TOKEN",
    "ADMIN_TOKENS",
    "KALSHI_API_KEY_ID",
    "KALSHI_PRIVATE_KEY",
    "ANTHROPIC_API_KEY",
    "AUDIT_SIGNING_KEY",
];

/// Secrets set only for a while (not required by the go-live checklist), redacted like the
/// others: the audit signing key being retired during a rotation.
pub const OPTIONAL_SECRET_NAMES: &[&str] = &["AUDIT_SIGNING_KEY_PREVIOUS"];

/// Secrets of which any one satisfies the go-live checklist (operator tokens may come from
/// either secret).
pub const SECRET_ALTERNATIVES: &[&[&str]] = &[&["ADMIN_TOKENS", "ADMIN_TOKEN"]];

/// Whether each secret of [`SECRET_NAMES`] is set (non-empty), for the go-live checklist. Only
/// names and booleans leave this function.
pub fn secret_presence(env: &Env) -> Vec<(String, bool)> {
    SECRET_NAMES
        .iter()
        .map(|name| {
            let set = env
                .secret(name)
                .map(|v| !v.to_string().trim().is_empty())
                .unwrap_or(false);
            (name.to_string(), set)
        })
        .collect()
}

/// A redactor that scrubs every configured secret value (and every operator token inside
/// `ADMIN_TOKENS`) from log lines.
pub fn secrets_redactor(env: &Env) -> Redactor {
    let mut values = Vec::new();
    for name in SECRET_NAMES.iter().chain(OPTIONAL_SECRET_NAMES) {
        if let Ok(v) = env.secret(name) {
            let v = v.to_string();
            if *name == "ADMIN_TOKENS" {
                if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&v) {
                    values.extend(map.values().filter_map(|t| t.as_str().map(String::from)));
                }
            }
            values.push(v);
        }
    }
    Redactor::new(values)
}

#[event(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let resp = http::handle(req, env.clone()).await;
    // Monitoring counters are written after the answer, not on its path.
    ctx.wait_until(async move {
        let log = obs::Logger::new(ids::random_hex(8), secrets_redactor(&env));
        metrics::flush(&env, &log).await;
    });
    Ok(resp)
}

#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let log = obs::Logger::new(ids::random_hex(8), secrets_redactor(&env));
    jobs::run_scheduled(&event.cron(), event.schedule() as i64, &env, &log).await;
    metrics::flush(&env, &log).await;
}

#[cfg(all(test, target_arch = "wasm32"))]
mod ingest_cpu_tests;
#[cfg(all(test, target_arch = "wasm32"))]
mod webcrypto_tests;

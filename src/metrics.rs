//! Monitoring counters, Worker side. Increments are buffered in isolate memory only for the
//! life of an invocation and added to D1 (`metric_counters`) in one batch when it ends (the
//! fetch handler does it after answering, through `waitUntil`; scheduled jobs before they
//! return), so the hot path costs no extra round trip and nothing lives on in an isolate that
//! may vanish. Gauges are computed from state when `GET /admin/metrics` is scraped.

use crate::core::metrics::{self, Pending};
use crate::obs::Logger;
use crate::store::d1::Db;
use serde_json::json;
use std::cell::RefCell;
use worker::Env;

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

fn with(f: impl FnOnce(&mut Pending)) {
    PENDING.with(|p| f(&mut p.borrow_mut()));
}

/// One served request, by route group (`unmatched` when no route matched).
pub fn observe_request(group: &str, status: u16, ms: u64) {
    with(|p| metrics::observe_request(p, group, status, ms));
}

/// One outbound call through the port: `outcome` is the HTTP status or the failure code.
pub fn observe_fetch(base_setting: &str, outcome: &str, is_error: bool) {
    let venue = metrics::venue_of(base_setting);
    with(|p| metrics::observe_fetch(p, &venue, outcome, is_error));
}

/// Adds one to a counter with the given labels.
pub fn count(name: &str, labels: &[(&str, &str)]) {
    with(|p| p.add(name, metrics::labels(labels), 1));
}

/// Adds everything buffered to D1. On failure the increments go back to the buffer (the next
/// flush in this isolate carries them) and the failure is logged.
pub async fn flush(env: &Env, log: &Logger) {
    let items = PENDING.with(|p| p.borrow_mut().drain());
    if items.is_empty() {
        return;
    }
    let result = match Db::open(env, "DB", log) {
        Ok(db) => crate::store::metrics::add(&db, &items).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        log.warn(
            "metrics_flush_failed",
            json!({"code": e.code(), "counters": items.len()}),
        );
        with(|p| p.restore(items));
    }
}

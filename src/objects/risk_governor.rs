//! The `RiskGovernor` Durable Object: one per deployment (`id_from_name("governor")`). It owns
//! the breaker, limits, exposure book and failure streaks as one JSON state in its SQLite
//! storage; every change goes through `core::risk::apply`.
//!
//! One event at a time: a mutex spans load → decide → audit append → persist, so a check and its
//! reservation are one atomic step even though the audit append awaits another object.
//! Write-ahead: the audit records of an event are appended before its new state is persisted;
//! if the append fails the event does not happen, and the audit failure itself is reported to
//! the breaker (that escalation is persisted with its records queued for the alarm to retry —
//! moving toward HALT must not wait for the log).

use crate::audit_client::{self, AuditRecord};
use crate::bindings;
use crate::core::breaker::{BreakerConfig, FailureSource};
use crate::core::money::Usd;
use crate::core::risk::{
    self, Effect, Event, GovernorError, GovernorState, OrderIntent, ReconciliationOutcome,
    RiskLimits, Verdict,
};
use chrono::{DateTime, Utc};
use futures_util::lock::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// How long an operator's dry-run reservation is held before it is released, by default.
const DEFAULT_DRY_RUN_HOLD_SECS: i64 = 60;
/// How many decisions are kept for `GET /admin/risk/decisions`.
const DECISIONS_KEPT: i64 = 1000;
/// How soon a failed audit append is retried by the alarm.
const AUDIT_RETRY_MS: i64 = 15_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS governor (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  client_order_id TEXT NOT NULL,
  market TEXT NOT NULL,
  approved INTEGER NOT NULL,
  dry_run INTEGER NOT NULL,
  verdict TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dry_runs (
  client_order_id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT NOT NULL,
  label TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (name, label)
);
CREATE TABLE IF NOT EXISTS equity_history (
  at INTEGER PRIMARY KEY,
  equity INTEGER NOT NULL,
  peak INTEGER
);";

/// How many equity points are kept for `GET /admin/risk/equity`.
const EQUITY_POINTS_KEPT: i64 = 2000;

#[durable_object]
pub struct RiskGovernor {
    state: State,
    env: Env,
    lock: Mutex<()>,
}

/// A request to apply one event, from the Worker.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    actor: String,
    event: Event,
}

/// Limits a two-person approval executes (`core::risk::apply_limits`: may loosen). Only the
/// Worker's approvals route sends it, after a second operator approved.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovedLimitsRequest {
    actor: String,
    /// The limits the approval was requested against; refused if no longer in force.
    base: RiskLimits,
    limits: RiskLimits,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    actor: String,
    intent: OrderIntent,
    #[serde(default)]
    dry_run: bool,
}

fn envelope(status: u16, code: &str, message: &str, details: Value) -> Result<Response> {
    Response::from_json(&json!({"error": {"code": code, "message": message, "details": details}}))
        .map(|r| r.with_status(status))
}

fn governor_error(e: &GovernorError) -> Result<Response> {
    let status = match e.code() {
        "INVALID_TRANSITION"
        | "RECOVERY_REQUIRES_CLEAN_RECONCILIATION"
        | "REQUIRES_TWO_PERSON_APPROVAL"
        | "LIMITS_CHANGED_SINCE_REQUEST"
        | "DUPLICATE_FILL"
        | "UNKNOWN_RESERVATION" => 409,
        "GOVERNOR_STATE_CORRUPT" => 503,
        _ => 400,
    };
    let details: serde_json::Map<String, Value> = e
        .details()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    envelope(status, e.code(), &e.to_string(), Value::Object(details))
}

/// [`governor_error`] as a plain response (building a JSON response cannot fail in practice).
fn error_response(e: &GovernorError) -> Response {
    governor_error(e).unwrap_or_else(|_| Response::error("governor error", 500).expect("response"))
}

/// Decodes a request body from the Worker, or the 400 to answer with.
fn parse<T: serde::de::DeserializeOwned>(
    body: Value,
    what: &str,
) -> std::result::Result<T, Response> {
    serde_json::from_value(body).map_err(|e| {
        envelope(
            400,
            "INVALID_REQUEST",
            &format!("{what} does not match the schema"),
            json!({"reason": e.to_string()}),
        )
        .unwrap_or_else(|_| Response::error("invalid request", 400).expect("response"))
    })
}

/// The JSON rendering of a verdict.
pub fn verdict_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Approved(a) => json!({
            "approved": true,
            "client_order_id": a.client_order_id(),
            "effect": a.effect(),
            "reduce_only": a.reduce_only(),
            "reserved_usd_micros": a.reserved(),
        }),
        Verdict::Refused(r) => json!({
            "approved": false,
            "codes": r.codes(),
            "reasons": r.reasons,
            "summary": r.to_string(),
        }),
    }
}

fn actor_of(event: &Event, fallback: &str) -> String {
    match event {
        Event::ManualTransition(t) => t.actor.clone(),
        Event::LimitsUpdate { actor, .. } => actor.clone(),
        _ => fallback.to_string(),
    }
}

/// A stable name for a serialisable unit enum value (`"HALT"`, `"RISK_LIMIT_DAILY_LOSS"`).
fn label_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "unknown".into())
}

/// Counters an event adds once it is persisted: position drift alerts by severity, critical
/// alerts, failure reports by source.
fn event_counters(event: &Event) -> Vec<(&'static str, String)> {
    match event {
        Event::Reconciliation {
            outcome: ReconciliationOutcome::Drift { severity, .. },
        } => vec![("position_drift_alerts", label_of(severity))],
        Event::Reconciliation {
            outcome: ReconciliationOutcome::Failed { .. },
        } => vec![("reconciliation_failures", String::new())],
        Event::CriticalAlert { .. } => vec![("critical_alerts", String::new())],
        Event::FailureReported { source, .. } => vec![("failures_reported", label_of(source))],
        _ => Vec::new(),
    }
}

fn audit_records(actor: &str, effects: &[Effect]) -> Vec<AuditRecord> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(record) => Some(AuditRecord {
                actor: actor.to_string(),
                kind: format!("risk.{}", record.kind()),
                payload: serde_json::to_value(record).unwrap_or(Value::Null),
                evidence_hash: None,
            }),
            _ => None,
        })
        .collect()
}

impl RiskGovernor {
    fn now(&self) -> DateTime<Utc> {
        crate::clock::now()
    }

    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<()> {
        self.sql().exec(SCHEMA, None)?;
        Ok(())
    }

    fn breaker_config(&self) -> std::result::Result<BreakerConfig, String> {
        let d = BreakerConfig::default();
        let caution =
            bindings::var_i64(&self.env, "CAUTION_AFTER_FAILURES", d.caution_after.into())?;
        let halt = bindings::var_i64(&self.env, "HALT_AFTER_FAILURES", d.halt_after.into())?;
        let recon = bindings::var_i64(
            &self.env,
            "RECOVERY_MAX_RECON_AGE_MIN",
            d.recovery_max_recon_age_min.into(),
        )?;
        Ok(BreakerConfig {
            caution_after: u32::try_from(caution)
                .map_err(|_| "CAUTION_AFTER_FAILURES out of range")?,
            halt_after: u32::try_from(halt).map_err(|_| "HALT_AFTER_FAILURES out of range")?,
            recovery_max_recon_age_min: u32::try_from(recon)
                .map_err(|_| "RECOVERY_MAX_RECON_AGE_MIN out of range")?,
        })
    }

    /// Loads the state, creating it on first use: NORMAL, the guide's default limits, and in
    /// paper mode the paper capital as cash (live mode learns cash from the venue).
    fn load(&self) -> std::result::Result<GovernorState, GovernorError> {
        let rows: Vec<Value> = self
            .sql()
            .exec("SELECT state FROM governor WHERE id = 1", None)
            .and_then(|c| c.to_array())
            .map_err(|e| GovernorError::CorruptState {
                message: e.to_string(),
            })?;
        if let Some(state) = rows
            .first()
            .and_then(|r| r.get("state"))
            .and_then(|s| s.as_str())
        {
            return GovernorState::from_json(state);
        }
        let now = self.now();
        let config = self
            .breaker_config()
            .map_err(|message| GovernorError::CorruptState { message })?;
        let fresh = GovernorState::new(config, RiskLimits::default(), now)?;
        let live = bindings::var(&self.env, "EXECUTION_MODE").as_deref() == Some("live");
        if live {
            return Ok(fresh);
        }
        let capital =
            bindings::var(&self.env, "PAPER_CAPITAL_USD").unwrap_or_else(|| "10000".into());
        let cash = Usd::parse_dollars(&capital).map_err(|e| GovernorError::CorruptState {
            message: format!("PAPER_CAPITAL_USD: {e}"),
        })?;
        let (state, _) = risk::apply(fresh, Event::CashBalance { cash }, now);
        Ok(state)
    }

    fn persist(&self, state: &GovernorState) -> std::result::Result<(), GovernorError> {
        let json = state.to_json()?;
        self.sql()
            .exec(
                "INSERT INTO governor (id, state, updated_at) VALUES (1, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                vec![json.into(), crate::clock::now_ms().into()],
            )
            .map_err(|e| GovernorError::CorruptState {
                message: e.to_string(),
            })?;
        Ok(())
    }

    async fn schedule_alarm(&self, in_ms: i64) -> Result<()> {
        let at = crate::clock::now_ms() + in_ms;
        let current = self.state.storage().get_alarm().await?;
        if current.map(|c| c > at).unwrap_or(true) {
            self.state
                .storage()
                .set_alarm(std::time::Duration::from_millis(in_ms.max(0) as u64))
                .await?;
        }
        Ok(())
    }

    /// Applies `event` with write-ahead audit. On success returns the effects (already
    /// persisted); on an audit failure the event does not happen.
    async fn apply_event(
        &self,
        actor: &str,
        state: GovernorState,
        event: Event,
    ) -> std::result::Result<(GovernorState, Vec<Effect>), Response> {
        let actor = actor_of(&event, actor);
        let observed = event_counters(&event);
        self.apply_with(&actor, state, observed, |s, now| risk::apply(s, event, now))
            .await
    }

    /// [`Self::apply_event`] for any state transition (`risk::apply`, `risk::apply_limits`).
    async fn apply_with(
        &self,
        actor: &str,
        state: GovernorState,
        observed: Vec<(&'static str, String)>,
        transition: impl FnOnce(GovernorState, DateTime<Utc>) -> (GovernorState, Vec<Effect>),
    ) -> std::result::Result<(GovernorState, Vec<Effect>), Response> {
        let now = self.now();
        let before = state.clone();
        let (next, effects) = transition(state, now);
        let records = audit_records(actor, &effects);
        if let Err(e) = audit_client::append(&self.env, records).await {
            let before_failure = before.clone();
            // The event does not happen. The audit failure is itself a failure the breaker
            // counts; its escalation is persisted now and its records queued for retry.
            let (failed, fx) = risk::apply(
                before,
                Event::FailureReported {
                    source: FailureSource::Audit,
                    detail: "audit append failed".into(),
                },
                now,
            );
            let queued = audit_records("risk-governor", &fx);
            if self.persist(&failed).is_ok() {
                self.observe(&before_failure, &failed, &fx, &[]);
            }
            for r in queued {
                let _ = self.sql().exec(
                    "INSERT INTO pending_audit (record) VALUES (?)",
                    vec![serde_json::to_string(&r).unwrap_or_default().into()],
                );
            }
            let _ = self.schedule_alarm(AUDIT_RETRY_MS).await;
            return Err(envelope(
                503,
                audit_client::AuditUnavailable::CODE,
                "the audit log did not confirm the append; nothing was changed",
                json!({"detail": e.detail}),
            )
            .unwrap_or_else(|_| Response::error("audit unavailable", 503).expect("response")));
        }
        if let Err(e) = self.persist(&next) {
            return Err(error_response(&e));
        }
        self.observe(&before, &next, &effects, &observed);
        Ok((next, effects))
    }

    /// Adds one to a counter kept for `GET /admin/metrics`.
    fn count(&self, name: &str, label: &str) {
        let _ = self.sql().exec(
            "INSERT INTO counters (name, label, value) VALUES (?, ?, 1)
             ON CONFLICT (name, label) DO UPDATE SET value = value + 1",
            vec![name.into(), label.into()],
        );
    }

    /// What monitoring keeps of a persisted change, in the same storage as the state: breaker
    /// transitions (`FROM>TO`), refusal codes, and the equity curve when equity moved.
    fn observe(
        &self,
        before: &GovernorState,
        next: &GovernorState,
        effects: &[Effect],
        observed: &[(&str, String)],
    ) {
        for (name, label) in observed {
            self.count(name, label);
        }
        let (from, to) = (before.breaker().state(), next.breaker().state());
        if from != to {
            self.count(
                "breaker_transitions",
                &format!("{}>{}", label_of(&from), label_of(&to)),
            );
        }
        for effect in effects {
            if let Effect::Verdict(Verdict::Refused(r)) = effect {
                // A refused check counts once per code, however many limits gave it.
                let codes: std::collections::BTreeSet<String> =
                    r.codes().iter().map(label_of).collect();
                for code in codes {
                    self.count("risk_refusals", &code);
                }
            }
        }
        let (Ok(equity), peak) = (next.book().equity(), next.book().peak_equity()) else {
            return;
        };
        let last: Option<i64> = self
            .sql()
            .exec(
                "SELECT equity FROM equity_history ORDER BY at DESC LIMIT 1",
                None,
            )
            .and_then(|c| c.to_array::<Value>())
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r["equity"].as_i64()));
        if last == Some(equity.micros()) {
            return;
        }
        let _ = self.sql().exec(
            "INSERT OR REPLACE INTO equity_history (at, equity, peak) VALUES (?, ?, ?)",
            vec![
                crate::clock::now_ms().into(),
                equity.micros().into(),
                peak.map(|p| p.micros()).into(),
            ],
        );
        let _ = self.sql().exec(
            "DELETE FROM equity_history WHERE at < (SELECT at FROM equity_history ORDER BY at DESC LIMIT 1 OFFSET ?)",
            vec![(EQUITY_POINTS_KEPT - 1).into()],
        );
    }

    fn handle_counters(&self) -> Result<Response> {
        let rows: Vec<Value> = self
            .sql()
            .exec(
                "SELECT name, label, value FROM counters ORDER BY name, label",
                None,
            )?
            .to_array()?;
        Response::from_json(&json!({"counters": rows}))
    }

    fn handle_equity(&self, limit: i64) -> Result<Response> {
        let mut rows: Vec<Value> = self
            .sql()
            .exec(
                "SELECT at, equity, peak FROM equity_history ORDER BY at DESC LIMIT ?",
                vec![limit.into()],
            )?
            .to_array()?;
        rows.reverse();
        let points: Vec<Value> = rows
            .into_iter()
            .map(|r| json!({"at": r["at"], "equity_usd_micros": r["equity"], "peak_equity_usd_micros": r["peak"]}))
            .collect();
        Response::from_json(&json!({"points": points}))
    }

    /// Releases dry-run reservations whose hold has expired.
    async fn expire_dry_runs(
        &self,
        mut state: GovernorState,
    ) -> std::result::Result<GovernorState, Response> {
        let now_ms = crate::clock::now_ms();
        let due: Vec<Value> = self
            .sql()
            .exec(
                "SELECT client_order_id FROM dry_runs WHERE expires_at <= ?",
                vec![now_ms.into()],
            )
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        for row in due {
            let Some(id) = row.get("client_order_id").and_then(|v| v.as_str()) else {
                continue;
            };
            if state.book().reservation(id).is_some() {
                let event = Event::Cancel {
                    client_order_id: id.to_string(),
                };
                state = self.apply_event("risk-governor", state, event).await?.0;
            }
            let _ = self.sql().exec(
                "DELETE FROM dry_runs WHERE client_order_id = ?",
                vec![id.into()],
            );
        }
        Ok(state)
    }

    /// The current state with expired dry-run reservations released, or the response to answer.
    async fn current(&self) -> std::result::Result<GovernorState, Response> {
        let state = self.load().map_err(|e| error_response(&e))?;
        self.expire_dry_runs(state).await
    }

    async fn handle_event(&self, body: Value) -> Result<Response> {
        let req: EventRequest = match parse(body, "event") {
            Ok(r) => r,
            Err(resp) => return Ok(resp),
        };
        let state = match self.current().await {
            Ok(s) => s,
            Err(resp) => return Ok(resp),
        };
        match self.apply_event(&req.actor, state, req.event).await {
            Ok((next, effects)) => {
                for e in &effects {
                    if let Effect::Rejected(err) = e {
                        return governor_error(err);
                    }
                }
                let realised: Vec<Value> = effects
                    .iter()
                    .filter_map(|e| match e {
                        Effect::Realised { market, pnl } => {
                            Some(json!({"market": market, "pnl_usd_micros": pnl}))
                        }
                        _ => None,
                    })
                    .collect();
                Response::from_json(&json!({"ok": true, "view": view(&next), "realised": realised}))
            }
            Err(resp) => Ok(resp),
        }
    }

    /// `POST /limits/approved`: the limits of an executed two-person approval, loosening
    /// allowed; refused like any update when invalid, and with `LIMITS_CHANGED_SINCE_REQUEST`
    /// when the limits in force are no longer the approval's `base` (checked under the lock).
    async fn handle_approved_limits(&self, body: Value) -> Result<Response> {
        let req: ApprovedLimitsRequest = match parse(body, "approved limits") {
            Ok(r) => r,
            Err(resp) => return Ok(resp),
        };
        let state = match self.current().await {
            Ok(s) => s,
            Err(resp) => return Ok(resp),
        };
        let (actor, base, limits, reason) = (req.actor, req.base, req.limits, req.reason);
        let applied = self
            .apply_with(&actor, state, Vec::new(), |s, now| {
                risk::apply_limits(s, &base, limits, &actor, &reason, now)
            })
            .await;
        match applied {
            Ok((next, effects)) => {
                for e in &effects {
                    if let Effect::Rejected(err) = e {
                        return governor_error(err);
                    }
                }
                Response::from_json(&json!({"ok": true, "view": view(&next)}))
            }
            Err(resp) => Ok(resp),
        }
    }

    async fn handle_check(&self, body: Value) -> Result<Response> {
        let req: CheckRequest = match parse(body, "check") {
            Ok(r) => r,
            Err(resp) => return Ok(resp),
        };
        let state = match self.current().await {
            Ok(s) => s,
            Err(resp) => return Ok(resp),
        };
        let intent = req.intent.clone();
        let (_, effects) = match self
            .apply_event(&req.actor, state, Event::Check(req.intent))
            .await
        {
            Ok(r) => r,
            Err(resp) => return Ok(resp),
        };
        let Some(verdict) = effects.iter().find_map(|e| match e {
            Effect::Verdict(v) => Some(v),
            _ => None,
        }) else {
            return envelope(500, "INTERNAL", "no verdict", json!({}));
        };
        let rendered = verdict_json(verdict);
        let now_ms = crate::clock::now_ms();
        self.sql().exec(
            "INSERT INTO decisions (at, client_order_id, market, approved, dry_run, verdict) VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                now_ms.into(),
                intent.client_order_id.clone().into(),
                intent.market.as_str().into(),
                i64::from(verdict.is_approved()).into(),
                i64::from(req.dry_run).into(),
                rendered.to_string().into(),
            ],
        )?;
        self.sql().exec(
            "DELETE FROM decisions WHERE id <= (SELECT MAX(id) FROM decisions) - ?",
            vec![DECISIONS_KEPT.into()],
        )?;
        if req.dry_run && verdict.is_approved() {
            let hold = bindings::var_i64(
                &self.env,
                "RISK_DRY_RUN_HOLD_SECS",
                DEFAULT_DRY_RUN_HOLD_SECS,
            )
            .unwrap_or(DEFAULT_DRY_RUN_HOLD_SECS);
            self.sql().exec(
                "INSERT OR REPLACE INTO dry_runs (client_order_id, expires_at) VALUES (?, ?)",
                vec![intent.client_order_id.into(), (now_ms + hold * 1000).into()],
            )?;
            self.schedule_alarm(hold * 1000).await?;
        }
        Response::from_json(&json!({"verdict": rendered, "dry_run": req.dry_run}))
    }

    fn handle_decisions(&self, limit: i64) -> Result<Response> {
        let rows: Vec<Value> = self
            .sql()
            .exec(
                "SELECT at, client_order_id, market, approved, dry_run, verdict FROM decisions ORDER BY id DESC LIMIT ?",
                vec![limit.into()],
            )?
            .to_array()?;
        let decisions: Vec<Value> = rows
            .into_iter()
            .map(|r| {
                json!({
                    "at": r["at"],
                    "client_order_id": r["client_order_id"],
                    "market": r["market"],
                    "approved": r["approved"].as_i64() == Some(1),
                    "dry_run": r["dry_run"].as_i64() == Some(1),
                    "verdict": r["verdict"].as_str().and_then(|s| serde_json::from_str::<Value>(s).ok()),
                })
            })
            .collect();
        Response::from_json(&json!({"decisions": decisions}))
    }

    async fn retry_pending_audit(&self) -> Result<()> {
        let rows: Vec<Value> = self
            .sql()
            .exec("SELECT id, record FROM pending_audit ORDER BY id", None)?
            .to_array()?;
        if rows.is_empty() {
            return Ok(());
        }
        let records: Vec<AuditRecord> = rows
            .iter()
            .filter_map(|r| {
                r["record"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
            })
            .collect();
        match audit_client::append(&self.env, records).await {
            Ok(_) => {
                let last = rows.last().and_then(|r| r["id"].as_i64()).unwrap_or(0);
                self.sql()
                    .exec("DELETE FROM pending_audit WHERE id <= ?", vec![last.into()])?;
            }
            Err(_) => self.schedule_alarm(AUDIT_RETRY_MS).await?,
        }
        Ok(())
    }
}

/// What operators see of the state.
pub fn view(state: &GovernorState) -> Value {
    let b = state.breaker();
    let book = state.book();
    let equity = book.equity().ok();
    json!({
        "breaker": {
            "state": b.state(),
            "since": b.since().to_rfc3339(),
            "reason": b.reason(),
            "actor": b.actor(),
            "streaks": b.streaks(),
            "config": b.config(),
            "last_clean_reconciliation_at": b.last_clean_reconciliation_at().map(|t| t.to_rfc3339()),
            "transitions": b.history().collect::<Vec<_>>(),
        },
        "limits": state.limits(),
        "utilisation": state.utilisation(),
        "book": {
            "cash_usd_micros": book.cash(),
            "equity_usd_micros": equity,
            "day_start_equity_usd_micros": book.day_start_equity(),
            "peak_equity_usd_micros": book.peak_equity(),
            "markets": book.markets().count(),
            "positions": book.markets().filter(|(m, _)| book.position(m).is_some()).count(),
            "open_reservations": book.reservations().count(),
        },
    })
}

impl DurableObject for RiskGovernor {
    fn new(state: State, env: Env) -> Self {
        RiskGovernor {
            state,
            env,
            lock: Mutex::new(()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let _one_at_a_time = self.lock.lock().await;
        self.ensure_schema()?;
        let url = req.url()?;
        let method = req.method().to_string();
        match (method.as_str(), url.path()) {
            ("POST", "/event") => {
                let body: Value = req.json().await.unwrap_or(Value::Null);
                self.handle_event(body).await
            }
            ("POST", "/limits/approved") => {
                let body: Value = req.json().await.unwrap_or(Value::Null);
                self.handle_approved_limits(body).await
            }
            ("POST", "/check") => {
                let body: Value = req.json().await.unwrap_or(Value::Null);
                self.handle_check(body).await
            }
            ("GET", "/state") => match self.current().await {
                Ok(state) => Response::from_json(&view(&state)),
                Err(resp) => Ok(resp),
            },
            ("GET", "/decisions") => {
                let limit = url
                    .query_pairs()
                    .find(|(k, _)| k == "limit")
                    .and_then(|(_, v)| v.parse::<i64>().ok())
                    .unwrap_or(50)
                    .clamp(1, DECISIONS_KEPT);
                self.handle_decisions(limit)
            }
            ("GET", "/counters") => self.handle_counters(),
            ("GET", "/equity") => {
                let limit = url
                    .query_pairs()
                    .find(|(k, _)| k == "limit")
                    .and_then(|(_, v)| v.parse::<i64>().ok())
                    .unwrap_or(500)
                    .clamp(1, EQUITY_POINTS_KEPT);
                self.handle_equity(limit)
            }
            _ => envelope(404, "NOT_FOUND", "no such governor route", json!({})),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let _one_at_a_time = self.lock.lock().await;
        self.ensure_schema()?;
        self.retry_pending_audit().await?;
        if let Ok(state) = self.load() {
            let _ = self.expire_dry_runs(state).await;
        }
        let next: Vec<Value> = self
            .sql()
            .exec("SELECT MIN(expires_at) AS next FROM dry_runs", None)?
            .to_array()?;
        if let Some(at) = next.first().and_then(|r| r["next"].as_i64()) {
            self.schedule_alarm((at - crate::clock::now_ms()).max(1000))
                .await?;
        }
        Response::ok("ok")
    }
}

//! The `AuditLog` Durable Object: the single writer of the audit log (one instance,
//! `id_from_name("audit")`). It assigns sequence numbers, keeps the events, the Merkle
//! subtrees, the chain head and frontier in its SQLite storage, mirrors every event once to
//! R2_AUDIT, and runs verifications of the mirror.
//!
//! Crash safety of an append: load head → stage → insert rows → move head all happen inside
//! one `storage().transaction(..)` callback without an `await`, so they commit together or
//! not at all (a failing statement rolls the whole batch back); the head row only moves by
//! compare-and-swap from the size it was loaded at, and `seq` is the primary key, so a
//! sequence number can never be handed out twice. The receipts are returned only after the
//! transaction resolved and `storage().sync()` confirmed the write is on disk. Mirroring to R2
//! happens afterwards, from the alarm, keyed by a high-water mark: a crash between commit and
//! mirror only delays the mirror (write-once puts make retries harmless).
//!
//! Internal HTTP API (called by the Worker through `stub.fetch_with_request`):
//! `POST /append {"records":[{actor,kind,payload,evidence_hash?}]}`, `GET /head`,
//! `GET /events?from=&limit=`, `GET /proof?seq=&size=`, `GET /consistency?from=&to=`,
//! `GET /status`, `POST /verify {from?,to?,cursor?,trigger}`,
//! `POST /verify/scheduled {id,trigger}`. Errors use the Worker's JSON envelope.

use crate::core::audit::sequencer::{self, AppendError, NewEvent};
use crate::core::audit::verify::{review_anchors_with, VerifyReport};
use crate::core::audit::verify_run::{VerifyRun, LIST_PREFIX};
use crate::core::audit::{
    consistency_proof, event_object_key, inclusion_proof, root_at, AuditError, Frontier, LogHead,
    LogStore, Verifier,
};
use crate::http::error::{from_body_error, ApiError};
use crate::http::{error_response, json_response, params};
use crate::obs::Logger;
use crate::store::audit_r2::{self, PutOnce};
use crate::store::audit_sql::SqlLog;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// Events checked per verification page (one R2 read each).
const VERIFY_PAGE: u64 = 250;

/// Events one request or alarm verifies before answering with a cursor.
const VERIFY_BUDGET: u64 = 1_000;

/// Events one alarm mirrors before re-arming.
const MIRROR_BUDGET: u64 = 500;

/// Events put to R2 concurrently.
const MIRROR_PARALLEL: usize = 8;

/// Most events one `GET /events` returns.
const MAX_EVENTS_PAGE: u64 = 1_000;

/// Delay before retrying a failed mirror or verification page: doubles per consecutive
/// failure from 1 s, capped at 5 min.
pub fn retry_delay_ms(failures: u64) -> i64 {
    let exp = failures.saturating_sub(1).min(20) as u32;
    (1_000i64 << exp).min(300_000)
}

#[durable_object]
pub struct AuditLog {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
}

fn store_error(e: AuditError) -> ApiError {
    let status = match e {
        AuditError::ProofRangeInvalid { .. } => 400,
        _ => 503,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn worker_error(code: &str, e: worker::Error) -> ApiError {
    ApiError::unavailable(code, e.to_string())
}

fn body<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| from_body_error(&e))
}

fn query(url: &worker::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendBody {
    records: Vec<NewEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    to: Option<u64>,
    #[serde(default)]
    cursor: Option<String>,
    trigger: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduledBody {
    id: String,
    trigger: String,
}

/// The JSON answer for a finished run.
fn report_json(run: &VerifyRun, report: &VerifyReport) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("done".into(), json!(true));
        map.insert("run_id".into(), json!(run.id));
        map.insert("from".into(), json!(run.from));
        map.insert("to".into(), json!(run.to));
        map.insert("full".into(), json!(run.is_full()));
    }
    value
}

impl DurableObject for AuditLog {
    fn new(state: State, env: Env) -> Self {
        AuditLog {
            state,
            env,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let log = Logger::new(crate::ids::request_id(), crate::secrets_redactor(&self.env));
        Ok(match self.serve(req, &log).await {
            Ok(response) => response,
            Err(e) => {
                if e.status >= 500 {
                    log.error(
                        "audit_log_failed",
                        json!({"code": e.code, "message": e.message}),
                    );
                }
                error_response(&e)
            }
        })
    }

    async fn alarm(&self) -> Result<Response> {
        let log = Logger::new(
            format!("alarm-{}", crate::ids::random_hex(6)),
            crate::secrets_redactor(&self.env),
        );
        if let Err(e) = self.sql() {
            log.error("audit_alarm_failed", json!({"code": e.code}));
            let _ = self.state.storage().set_alarm(retry_delay_ms(3)).await;
            return Response::empty();
        }
        let mut next: Option<i64> = None;
        let mut sooner = |delay: i64| next = Some(next.map_or(delay, |n: i64| n.min(delay)));
        match self.mirror(&log).await {
            Ok(true) => sooner(0),
            Ok(false) => {}
            Err(failures) => sooner(retry_delay_ms(failures)),
        }
        match self.verify_by_alarm(&log).await {
            Ok(true) => sooner(0),
            Ok(false) => {}
            Err(e) => {
                log.error(
                    "audit_verify_page_failed",
                    json!({"code": e.code, "message": e.message}),
                );
                sooner(retry_delay_ms(5));
            }
        }
        if let Some(delay) = next {
            if let Err(e) = self.state.storage().set_alarm(delay).await {
                log.error("audit_alarm_set_failed", json!({"detail": e.to_string()}));
            }
        }
        Response::empty()
    }
}

impl AuditLog {
    /// The tables, created on first use by this instance.
    fn sql(&self) -> std::result::Result<SqlLog, ApiError> {
        let sql = SqlLog::new(self.state.storage().sql());
        if !self.schema_ready.get() {
            sql.ensure_schema().map_err(store_error)?;
            self.schema_ready.set(true);
        }
        Ok(sql)
    }

    async fn serve(
        &self,
        mut req: Request,
        log: &Logger,
    ) -> std::result::Result<Response, ApiError> {
        let url = req.url().map_err(|_| ApiError::not_found())?;
        let method = req.method();
        let bytes = match method {
            Method::Post => req
                .bytes()
                .await
                .map_err(|_| ApiError::invalid_json("unreadable body"))?,
            _ => Vec::new(),
        };
        match (method, url.path()) {
            (Method::Post, "/append") => self.append(body(&bytes)?, log).await,
            (Method::Get, "/head") => self.head(),
            (Method::Get, "/events") => self.events(&url),
            (Method::Get, "/proof") => self.proof(&url),
            (Method::Get, "/consistency") => self.consistency(&url),
            (Method::Get, "/status") => self.status(log).await,
            (Method::Post, "/verify") => self.verify(body(&bytes)?, log).await,
            (Method::Post, "/verify/scheduled") => self.verify_scheduled(body(&bytes)?).await,
            _ => Err(ApiError::not_found()),
        }
    }

    /// Makes sure the alarm will run (it mirrors and drives scheduled verifications).
    async fn ensure_alarm(&self, log: &Logger) {
        let storage = self.state.storage();
        let result = async {
            if storage.get_alarm().await?.is_none() {
                storage.set_alarm(0).await?;
            }
            Ok::<(), worker::Error>(())
        }
        .await;
        if let Err(e) = result {
            // The next append or status call tries again; the write itself is safe.
            log.error("audit_alarm_set_failed", json!({"detail": e.to_string()}));
        }
    }

    async fn append(
        &self,
        body: AppendBody,
        log: &Logger,
    ) -> std::result::Result<Response, ApiError> {
        let sql = self.sql()?;
        let storage = self.state.storage();
        let now = crate::clock::now_ms();
        let events = body.records;
        let outcome = Rc::new(RefCell::new(None));
        let slot = outcome.clone();
        // Load, stage and write without an await: one transaction, rolled back on any error.
        let committed = storage
            .transaction(move |_txn| async move {
                let result = sequencer::append(&sql, now, &events);
                let failed = result.is_err();
                *slot.borrow_mut() = Some(result);
                if failed {
                    Err(worker::Error::RustError(
                        "append refused; rolled back".into(),
                    ))
                } else {
                    Ok(())
                }
            })
            .await;
        let result = outcome.borrow_mut().take();
        let receipts = match (committed, result) {
            (Ok(()), Some(Ok(receipts))) => receipts,
            (_, Some(Err(AppendError::Rejected { index, error }))) => {
                return Err(ApiError::new(400, error.code(), "the records were refused")
                    .with_details(json!({ "index": index, "reason": error.to_string() })));
            }
            (_, Some(Err(AppendError::Store(error)))) => return Err(store_error(error)),
            (Err(e), _) => return Err(worker_error("AUDIT_STORE_UNAVAILABLE", e)),
            (Ok(()), None) => {
                return Err(ApiError::unavailable(
                    "AUDIT_STORE_UNAVAILABLE",
                    "the append transaction did not run",
                ))
            }
        };
        // Answer only once the batch is on disk.
        storage
            .sync()
            .await
            .map_err(|e| worker_error("AUDIT_STORE_UNAVAILABLE", e))?;
        self.ensure_alarm(log).await;
        json_response(200, &json!({ "receipts": receipts }))
    }

    fn head(&self) -> std::result::Result<Response, ApiError> {
        let state = self.sql()?.load().map_err(store_error)?;
        json_response(
            200,
            &json!({
                "size": state.head.size(),
                "root": state.head.root(),
                "chain_head": state.head.chain_head,
                "last_at": state.last_at,
            }),
        )
    }

    fn events(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let from = params::u64_at_least("from", query(url, "from").as_deref(), 1)?.unwrap_or(1);
        let limit = params::u64_at_least("limit", query(url, "limit").as_deref(), 1)?
            .unwrap_or(100)
            .min(MAX_EVENTS_PAGE);
        let sql = self.sql()?;
        let size = sql.size().map_err(store_error)?;
        let rows = sql.events(from, limit).map_err(store_error)?;
        let mut events = Vec::with_capacity(rows.len());
        for (record, bytes) in rows {
            // The canonical bytes, verbatim: what was hashed is what is shown.
            let text = String::from_utf8(bytes).map_err(|_| {
                store_error(AuditError::LogCorrupt {
                    detail: "event is not UTF-8".into(),
                })
            })?;
            let event = RawValue::from_string(text).map_err(|_| {
                store_error(AuditError::LogCorrupt {
                    detail: "event is not JSON".into(),
                })
            })?;
            events.push(json!({
                "seq": record.seq,
                "leaf_hash": record.leaf_hash,
                "chain_hash": record.chain_hash,
                "event": event,
            }));
        }
        let next = events
            .last()
            .and_then(|e| e["seq"].as_u64())
            .map(|s| s + 1)
            .filter(|n| *n <= size);
        json_response(
            200,
            &json!({ "size": size, "events": events, "next": next }),
        )
    }

    fn proof(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let seq = params::u64_at_least("seq", query(url, "seq").as_deref(), 1)?
            .ok_or_else(|| params::invalid("seq", "required"))?;
        let sql = self.sql()?;
        let current = sql.size().map_err(store_error)?;
        let size = params::u64_param("size", query(url, "size").as_deref())?.unwrap_or(current);
        if size > current {
            return Err(store_error(AuditError::ProofRangeInvalid {
                detail: format!("the log has {current} events, not {size}"),
            }));
        }
        let index = seq - 1;
        let proof = inclusion_proof(&sql, index, size).map_err(store_error)?;
        let record = sql.records(seq, seq).map_err(store_error)?;
        let leaf = record.first().ok_or_else(|| {
            store_error(AuditError::LogCorrupt {
                detail: format!("no record {seq}"),
            })
        })?;
        let root = root_at(&sql, size).map_err(store_error)?;
        json_response(
            200,
            &json!({
                "seq": seq,
                "size": size,
                "leaf_index": index,
                "leaf_hash": leaf.leaf_hash,
                "root": root,
                "proof": proof,
            }),
        )
    }

    fn consistency(&self, url: &worker::Url) -> std::result::Result<Response, ApiError> {
        let sql = self.sql()?;
        let current = sql.size().map_err(store_error)?;
        let from = params::u64_param("from", query(url, "from").as_deref())?
            .ok_or_else(|| params::invalid("from", "required"))?;
        let to = params::u64_param("to", query(url, "to").as_deref())?.unwrap_or(current);
        if to > current {
            return Err(store_error(AuditError::ProofRangeInvalid {
                detail: format!("the log has {current} events, not {to}"),
            }));
        }
        let proof = consistency_proof(&sql, from, to).map_err(store_error)?;
        json_response(
            200,
            &json!({
                "from": from,
                "to": to,
                "root_from": root_at(&sql, from).map_err(store_error)?,
                "root_to": root_at(&sql, to).map_err(store_error)?,
                "proof": proof,
            }),
        )
    }

    async fn status(&self, log: &Logger) -> std::result::Result<Response, ApiError> {
        let sql = self.sql()?;
        let head = sql.load();
        let size = sql.size().map_err(store_error)?;
        let mirror = sql.mirror_state().map_err(store_error)?;
        let lag = size.saturating_sub(mirror.high_water);
        if lag > 0 {
            // Self-healing: a lagging mirror always has an alarm coming.
            self.ensure_alarm(log).await;
        }
        let alarm = self.state.storage().get_alarm().await.ok().flatten();
        let (root, chain_head, last_at, corrupt) = match &head {
            Ok(state) => (
                Some(state.head.root()),
                Some(state.head.chain_head),
                Some(state.last_at),
                None,
            ),
            Err(e) => (None, None, None, Some(e.code())),
        };
        json_response(
            200,
            &json!({
                "size": size,
                "root": root,
                "chain_head": chain_head,
                "last_at": last_at,
                "log_error": corrupt,
                "mirror": {
                    "high_water": mirror.high_water,
                    "lag": lag,
                    "failures": mirror.failures,
                    "last_error": mirror.last_error,
                    "last_error_at_ms": mirror.last_error_at_ms,
                    "conflicts": mirror.conflicts,
                },
                "next_alarm_ms": alarm,
                "verification": {
                    "last_full": sql.last_result(true).map_err(store_error)?,
                    "last": sql.last_result(false).map_err(store_error)?,
                    "running": sql.running().map_err(store_error)?,
                },
            }),
        )
    }

    // --- R2 mirror ---------------------------------------------------------------------------

    /// Mirrors up to [`MIRROR_BUDGET`] events past the high-water mark. `Ok(true)` if more
    /// remain; `Err(consecutive failures)` after a failed put.
    async fn mirror(&self, log: &Logger) -> std::result::Result<bool, u64> {
        let sql = self.sql().map_err(|_| 1u64)?;
        let (size, state) = match (sql.size(), sql.mirror_state()) {
            (Ok(size), Ok(state)) => (size, state),
            _ => return Err(1),
        };
        if state.high_water >= size {
            return Ok(false);
        }
        let fail = |detail: String, high_water: u64| {
            let now = crate::clock::now_ms();
            let _ = sql.mirror_advanced(high_water);
            let _ = sql.mirror_failed(&detail, now);
            log.error(
                "audit_mirror_failed",
                json!({"detail": detail, "high_water": high_water}),
            );
            state.failures + 1
        };
        let bucket = match self.env.bucket(audit_r2::BUCKET) {
            Ok(b) => b,
            Err(e) => return Err(fail(e.to_string(), state.high_water)),
        };
        let count = (size - state.high_water).min(MIRROR_BUDGET);
        let events = match sql.events(state.high_water + 1, count) {
            Ok(events) => events,
            Err(e) => return Err(fail(e.to_string(), state.high_water)),
        };
        let mut high_water = state.high_water;
        for chunk in events.chunks(MIRROR_PARALLEL) {
            let puts = chunk.iter().map(|(record, bytes)| {
                let key = event_object_key(record.seq);
                let bucket = &bucket;
                async move { audit_r2::put_once(bucket, &key, bytes, "application/json").await }
            });
            let results = futures_util::future::join_all(puts).await;
            for ((record, _), result) in chunk.iter().zip(results) {
                let seq = record.seq.get();
                match result {
                    Ok(PutOnce::Created) | Ok(PutOnce::AlreadyThere) => high_water = seq,
                    Ok(PutOnce::Conflict) => {
                        // Never overwritten; verification reports the object at this seq.
                        let _ = sql.mirror_conflict(seq, crate::clock::now_ms());
                        log.error("audit_mirror_conflict", json!({"seq": seq}));
                        high_water = seq;
                    }
                    Err(e) => return Err(fail(format!("seq {seq}: {e}"), high_water)),
                }
            }
            if let Err(e) = sql.mirror_advanced(high_water) {
                return Err(fail(e.to_string(), high_water));
            }
        }
        Ok(high_water < size)
    }

    // --- verification ------------------------------------------------------------------------

    /// Starts a run over `from..=to` (defaults: the whole log).
    async fn start_run(
        &self,
        id: String,
        trigger: String,
        from: Option<u64>,
        to: Option<u64>,
    ) -> std::result::Result<VerifyRun, ApiError> {
        let anchor_keys = crate::jobs::anchor::keys(&self.env)
            .map_err(|p| ApiError::unavailable(p.code(), p.message()))?;
        let sql = self.sql()?;
        let size = sql.size().map_err(store_error)?;
        let from = from.unwrap_or(1);
        let to = to.unwrap_or(size);
        if from == 0 || to > size || from > to.saturating_add(1) {
            return Err(ApiError::new(
                400,
                "AUDIT_VERIFY_RANGE_INVALID",
                "the range is not within the log",
            )
            .with_details(json!({ "from": from, "to": to, "size": size })));
        }
        let start = if from == 1 {
            LogHead::genesis()
        } else {
            LogHead {
                frontier: Frontier::from_store(&sql, from - 1).map_err(store_error)?,
                chain_head: sql.chain_at(from - 1).map_err(store_error)?,
            }
        };
        let db = crate::store::anchors::db(&self.env)
            .map_err(|e| worker_error("AUDIT_ANCHORS_UNAVAILABLE", e))?;
        let notes = crate::store::anchors::all_notes(&db)
            .await
            .map_err(|e| worker_error("AUDIT_ANCHORS_UNAVAILABLE", e))?;
        let review = review_anchors_with(&notes, &anchor_keys);
        let verifier = Verifier::new(start, to, size, review).map_err(store_error)?;
        Ok(VerifyRun::new(
            id,
            trigger,
            from,
            to,
            size,
            crate::clock::now_ms(),
            verifier,
        ))
    }

    /// Checks pages of `run` until `budget` events are done or nothing is left; `true` when
    /// nothing is left.
    async fn advance(
        &self,
        run: &mut VerifyRun,
        budget: u64,
    ) -> std::result::Result<bool, ApiError> {
        let sql = self.sql()?;
        let bucket = self
            .env
            .bucket(audit_r2::BUCKET)
            .map_err(|e| worker_error("AUDIT_MIRROR_UNAVAILABLE", e))?;
        let mut checked = 0;
        while let Some(plan) = run.next_page(VERIFY_PAGE.min(budget.saturating_sub(checked)).max(1))
        {
            if checked >= budget {
                return Ok(false);
            }
            let records = if plan.first <= plan.last {
                sql.records(plan.first, plan.last).map_err(store_error)?
            } else {
                Vec::new()
            };
            let keys = audit_r2::list_keys(
                &bucket,
                LIST_PREFIX,
                plan.list_after.as_deref(),
                plan.list_through.as_deref(),
            )
            .await
            .map_err(|e| worker_error("AUDIT_MIRROR_UNAVAILABLE", e))?;
            let current = sql.size().map_err(store_error)?;
            let selected = run.select_objects(&plan, &keys, current);
            let read = audit_r2::get_many(&bucket, &selected.read)
                .await
                .map_err(|e| worker_error("AUDIT_MIRROR_UNAVAILABLE", e))?;
            run.apply(&plan, &records, &read, &selected.unknown)
                .map_err(store_error)?;
            checked += plan.last + 1 - plan.first;
        }
        Ok(true)
    }

    /// Stores a finished run's result; the answer for it.
    fn conclude(
        &self,
        run: VerifyRun,
        version: u64,
        log: &Logger,
    ) -> std::result::Result<Value, ApiError> {
        let sql = self.sql()?;
        let report = run.clone().finish().map_err(store_error)?;
        if !sql
            .finish_run(&run, version, &report, crate::clock::now_ms())
            .map_err(store_error)?
        {
            return Err(ApiError::new(
                409,
                "AUDIT_VERIFY_BUSY",
                "the run moved on meanwhile",
            ));
        }
        let fields = json!({
            "run_id": run.id,
            "trigger": run.trigger,
            "full": run.is_full(),
            "valid": report.valid,
            "checked": report.checked,
            "first_bad_seq": report.first_bad_seq,
            "problems": report.problems.len() as u64 + report.problems_omitted,
        });
        if report.valid {
            log.info("audit_verified", fields);
        } else {
            log.error("audit_verification_failed", fields);
        }
        Ok(report_json(&run, &report))
    }

    async fn verify(
        &self,
        body: VerifyBody,
        log: &Logger,
    ) -> std::result::Result<Response, ApiError> {
        let sql = self.sql()?;
        let (mut run, version) = match body.cursor {
            Some(cursor) => {
                if body.from.is_some() || body.to.is_some() {
                    return Err(ApiError::invalid_request(
                        "give either a cursor or a range, not both",
                    ));
                }
                sql.load_run(&cursor).map_err(store_error)?.ok_or_else(|| {
                    ApiError::new(404, "AUDIT_VERIFY_RUN_UNKNOWN", "no run with this cursor")
                        .with_details(json!({ "cursor": cursor }))
                })?
            }
            None => {
                let id = format!("verify-{}", crate::ids::random_hex(8));
                let run = self.start_run(id, body.trigger, body.from, body.to).await?;
                sql.insert_run(&run, false, crate::clock::now_ms())
                    .map_err(store_error)?;
                (run, 0)
            }
        };
        let done = self.advance(&mut run, VERIFY_BUDGET).await?;
        if done {
            return json_response(200, &self.conclude(run, version, log)?);
        }
        if !sql
            .save_run(&run, version, crate::clock::now_ms())
            .map_err(store_error)?
        {
            return Err(ApiError::new(
                409,
                "AUDIT_VERIFY_BUSY",
                "the run moved on meanwhile",
            ));
        }
        json_response(
            200,
            &json!({
                "done": false,
                "cursor": run.id,
                "run_id": run.id,
                "from": run.from,
                "to": run.to,
                "next_seq": run.verifier.next_seq(),
            }),
        )
    }

    /// Starts a whole-log run driven by the alarm, once per `id`.
    async fn verify_scheduled(
        &self,
        body: ScheduledBody,
    ) -> std::result::Result<Response, ApiError> {
        let sql = self.sql()?;
        if sql.run_known(&body.id).map_err(store_error)? {
            return json_response(200, &json!({ "run_id": body.id, "started": false }));
        }
        let run = self.start_run(body.id, body.trigger, None, None).await?;
        sql.insert_run(&run, true, crate::clock::now_ms())
            .map_err(store_error)?;
        self.state
            .storage()
            .set_alarm(0)
            .await
            .map_err(|e| worker_error("AUDIT_STORE_UNAVAILABLE", e))?;
        json_response(202, &json!({ "run_id": run.id, "started": true }))
    }

    /// One budget of the oldest alarm-driven run; `true` if the alarm should come back.
    async fn verify_by_alarm(&self, log: &Logger) -> std::result::Result<bool, ApiError> {
        let sql = self.sql()?;
        let Some((mut run, version)) = sql.next_alarm_run().map_err(store_error)? else {
            return Ok(false);
        };
        if self.advance(&mut run, VERIFY_BUDGET).await? {
            self.conclude(run, version, log)?;
        } else {
            sql.save_run(&run, version, crate::clock::now_ms())
                .map_err(store_error)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_one_second_to_five_minutes() {
        assert_eq!(retry_delay_ms(0), 1_000);
        assert_eq!(retry_delay_ms(1), 1_000);
        assert_eq!(retry_delay_ms(2), 2_000);
        assert_eq!(retry_delay_ms(5), 16_000);
        assert_eq!(retry_delay_ms(9), 256_000);
        assert_eq!(retry_delay_ms(10), 300_000);
        assert_eq!(retry_delay_ms(u64::MAX), 300_000);
    }
}

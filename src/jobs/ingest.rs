//! The ingestion job (every five minutes, and `POST /admin/ingest/run`):
//!
//! 1. `compliance` — read the sources and the entity rules; only approved sources with a
//!    current review are admitted. Rules that cannot be read deny every fetch of the run.
//! 2. `kalshi_events` — `GET /events` by cursor: series, category and title of each event.
//! 3. `kalshi_markets` — `GET /markets?status=open` by cursor, 1,000 a page.
//! 4. `kalshi_orderbooks` — the books of the markets asked for (an explicit list; the cron asks
//!    for none until approved pairs exist).
//! 5. `polymarket_markets` — Gamma `GET /markets` by limit/offset.
//! 6. `mark_to_market` — the YES mark of each market asked for, to the risk governor.
//! 7. `breaker_report` — each contacted source's success or failure, to the circuit breaker.
//!
//! Every page goes fetch → evidence → parse → compliance (drops audited write-ahead) → one
//! atomic D1 batch of ≤100-parameter upserts. A page that fails at any point writes nothing and
//! ends its listing; the pages before it stay. The run's budget is checked before each page.

use super::fetch::{Fetched, Fetcher};
use super::{Recorder, RunSummary, StepEnd, STALE_AFTER_MS};
use crate::audit_client::{self, AuditRecord};
use crate::bindings;
use crate::core::breaker::FailureSource;
use crate::core::compliance::{self, Admission, Denial, EntityKind, Rule, RuleSet, Source, Venue};
use crate::core::evidence::EvidenceHash;
use crate::core::ingest::batch::{Row, Statement};
use crate::core::ingest::requests::{
    gamma_markets_url, kalshi_events_url, kalshi_markets_by_ticker_url, kalshi_markets_url,
    kalshi_orderbook_url, CursorPaging, OffsetPaging, PageStep, KALSHI_EVENTS_PAGE_LIMIT,
};
use crate::core::ingest::rows::{self, EventIndex, EventInfo, Observed};
use crate::core::ingest::{breaker_reports, IngestConfig, SourceOutcome, StepCounts};
use crate::core::money::Price;
use crate::core::risk::{Event, MarketId, MarketMeta};
use crate::core::run_audit::{self, Redelivery, StepStatus};
use crate::core::time::parse_utc;
use crate::obs::Logger;
use crate::outbound::Outbound;
use crate::store::compliance as compliance_store;
use crate::store::d1::{Db, DbError};
use crate::store::evidence::EvidenceStore;
use crate::store::market_data::{self, Removals};
use crate::store::runs;
use crate::venues::BodyError;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::fmt;
use worker::Env;

/// The job's name in `runs`.
pub const JOB: &str = "ingest";
/// The actor of the audit records the job appends.
pub const ACTOR: &str = "system:ingest";
/// Most markets an operator may ask books or marks for in one run.
pub const MAX_REQUESTED_MARKETS: usize = 50;
/// Most audit records per append call.
const AUDIT_CHUNK: usize = 200;

/// Who asked for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Cron {
        cron: String,
        scheduled: DateTime<Utc>,
    },
    Operator {
        actor: String,
    },
}

/// A run request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestRequest {
    pub trigger: Trigger,
    /// Kalshi tickers whose books to fetch.
    pub orderbook_tickers: Vec<String>,
    /// Kalshi tickers to mark for the risk governor.
    pub mark_tickers: Vec<String>,
    /// Kalshi markets to read whatever their status (the trading cycle's held markets, whose
    /// `result` settles positions): step `kalshi_held_markets`, recorded only when asked.
    pub held_tickers: Vec<String>,
}

impl IngestRequest {
    /// The cron's request: no books or marks until the trading cycle names markets.
    pub fn cron(cron: &str, scheduled: DateTime<Utc>) -> IngestRequest {
        IngestRequest {
            trigger: Trigger::Cron {
                cron: cron.to_string(),
                scheduled,
            },
            orderbook_tickers: Vec::new(),
            mark_tickers: Vec::new(),
            held_tickers: Vec::new(),
        }
    }
}

/// Why a run did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestError {
    Db(DbError),
    /// Another run of the job holds the lease.
    AlreadyRunning {
        run_id: String,
    },
    /// This cron delivery's run already finished, or another delivery is running it.
    AlreadyRecorded {
        run_id: String,
        status: String,
    },
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Db(e) => e.code(),
            IngestError::AlreadyRunning { .. } => "INGEST_ALREADY_RUNNING",
            IngestError::AlreadyRecorded { .. } => "INGEST_RUN_ALREADY_RECORDED",
        }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Db(e) => e.fmt(f),
            IngestError::AlreadyRunning { run_id } => {
                write!(f, "INGEST_ALREADY_RUNNING: run_id={run_id}")
            }
            IngestError::AlreadyRecorded { run_id, status } => {
                write!(
                    f,
                    "INGEST_RUN_ALREADY_RECORDED: run_id={run_id} status={status}"
                )
            }
        }
    }
}

impl From<DbError> for IngestError {
    fn from(e: DbError) -> Self {
        IngestError::Db(e)
    }
}

/// Runs the job once for `req`.
pub async fn run(env: &Env, log: &Logger, req: IngestRequest) -> Result<RunSummary, IngestError> {
    let now = crate::clock::now();
    let db = Db::open(env, "DB", log)?;
    let (run_id, trigger, scheduled) = match &req.trigger {
        Trigger::Cron { cron, scheduled } => (
            run_audit::cron_run_id(JOB, cron, *scheduled),
            cron.clone(),
            Some(*scheduled),
        ),
        Trigger::Operator { actor } => (
            run_audit::operator_run_id(JOB, now, &crate::ids::random_hex(4)),
            format!("operator:{actor}"),
            None,
        ),
    };

    // Claim the run id: a re-delivered cron finds its run and leaves it alone, unless the
    // delivery that started it went silent (then it takes over; every write is idempotent).
    let attempt = if runs::insert_run(&db, &run_id, JOB, &trigger, now, scheduled).await? {
        1
    } else {
        let row = runs::run(&db, &run_id).await?.ok_or_else(|| {
            IngestError::Db(DbError::Failed {
                message: "run vanished after insert conflict".into(),
            })
        })?;
        let heartbeat = row.heartbeat_at.as_deref().and_then(parse_utc);
        match run_audit::judge_redelivery(&row.status, heartbeat, now, STALE_AFTER_MS) {
            Redelivery::Stale if runs::take_over(&db, &row, now).await? => row.attempt + 1,
            _ => {
                return Err(IngestError::AlreadyRecorded {
                    run_id,
                    status: row.status,
                })
            }
        }
    };

    let mut recorder = Recorder::new(
        &db,
        env,
        log,
        run_id.clone(),
        JOB,
        trigger,
        attempt,
        now,
        scheduled.unwrap_or(now),
    );
    // A malformed setting fails the run, recorded like any other failure: a typo never
    // silently becomes a default.
    let config = match IngestConfig::from_settings(|n| bindings::var(env, n)) {
        Ok(c) => c,
        Err(detail) => {
            recorder
                .record(
                    "config",
                    now,
                    StepEnd::fail(json!({}), "CONFIG_INVALID", detail),
                )
                .await;
            return Ok(recorder.finish().await?);
        }
    };
    let lease_until = now + TimeDelta::milliseconds(config.budget.wall_ms as i64 + 60_000);
    if !runs::acquire_lease(&db, JOB, &run_id, now, lease_until).await? {
        recorder
            .record(
                "lease",
                now,
                StepEnd::skipped(
                    "INGEST_ALREADY_RUNNING",
                    "another ingestion run holds the lease",
                ),
            )
            .await;
        recorder.finish().await?;
        return Err(IngestError::AlreadyRunning { run_id });
    }

    // With the lease held, no other ingestion is running: close the ones that died mid-way
    // (a failure here is logged by the helper and leaves them for the next run).
    let _ = super::abandon_dead_runs(env, &db, log, JOB, &run_id, ACTOR).await;

    run_steps(env, log, &db, &mut recorder, &config, &req).await;

    if let Err(e) = runs::release_lease(&db, JOB, &run_id).await {
        log.error(
            "lease_not_released",
            json!({"run_id": run_id, "code": e.code()}),
        );
    }
    Ok(recorder.finish().await?)
}

/// What the compliance step decided.
struct Gate {
    rules: RuleSet,
    kalshi: Result<Admission, Denial>,
    gamma: Result<Admission, Denial>,
}

async fn compliance_step(db: &Db, today: chrono::NaiveDate) -> (StepEnd, Option<Gate>) {
    let rows = match compliance_store::source_rows(db).await {
        Ok(r) => r,
        Err(e) => {
            return (
                StepEnd::fail(
                    json!({}),
                    Denial::Unavailable.code(),
                    format!("sources unreadable cause={}", e.code()),
                ),
                None,
            )
        }
    };
    let rules = match compliance_store::rule_set(db).await {
        Ok(r) => r,
        Err(e) => {
            return (
                StepEnd::fail(json!({}), "COMPLIANCE_RULES_UNAVAILABLE", e.detail()),
                None,
            )
        }
    };
    let mut sources = serde_json::Map::new();
    for s in Source::ALL {
        let verdict = match compliance::admit(&rows, s, today) {
            Ok(a) => {
                json!({"admitted": true, "tos_version": a.tos_version(), "next_review_at": a.next_review().to_string()})
            }
            Err(d) => json!({"admitted": false, "code": d.code()}),
        };
        sources.insert(s.as_str().to_string(), verdict);
    }
    let counts =
        json!({"sources": sources, "rules": rules.rules().len(), "rules_version": rules.version()});
    let gate = Gate {
        kalshi: compliance::admit(&rows, Source::Kalshi, today),
        gamma: compliance::admit(&rows, Source::PolymarketGamma, today),
        rules,
    };
    (StepEnd::success(counts), Some(gate))
}

/// The state shared by the steps of one run.
struct Run<'a> {
    env: &'a Env,
    log: &'a Logger,
    db: &'a Db,
    run_id: &'a str,
    config: &'a IngestConfig,
    fetcher: Fetcher<'a>,
    rules: &'a RuleSet,
}

async fn run_steps(
    env: &Env,
    log: &Logger,
    db: &Db,
    rec: &mut Recorder<'_>,
    config: &IngestConfig,
    req: &IngestRequest,
) {
    let started = crate::clock::now();
    let (end, gate) = compliance_step(db, started.date_naive()).await;
    rec.record("compliance", started, end).await;
    const FETCH_STEPS: [&str; 6] = [
        "kalshi_events",
        "kalshi_markets",
        "kalshi_orderbooks",
        "polymarket_markets",
        "mark_to_market",
        "breaker_report",
    ];
    let Some(gate) = gate else {
        for step in FETCH_STEPS {
            let end = StepEnd::skipped(
                "COMPLIANCE_UNAVAILABLE",
                "compliance data unreadable: batch denied",
            );
            rec.record(step, crate::clock::now(), end).await;
        }
        return;
    };
    let outbound = match Outbound::from_env(env, &[]) {
        Ok(o) => o,
        Err(e) => {
            for step in FETCH_STEPS {
                let end = StepEnd::skipped(e.code(), "outbound base URLs misconfigured");
                rec.record(step, crate::clock::now(), end).await;
            }
            return;
        }
    };
    let evidence = match EvidenceStore::open(env, db) {
        Ok(s) => s,
        Err(e) => {
            for step in FETCH_STEPS {
                let end = StepEnd::skipped(
                    e.code(),
                    "evidence store unavailable: nothing may be parsed",
                );
                rec.record(step, crate::clock::now(), end).await;
            }
            return;
        }
    };
    let run_id = rec.run_id.clone();
    let mut run = Run {
        env,
        log,
        db,
        run_id: &run_id,
        config,
        fetcher: Fetcher::new(
            &outbound,
            &evidence,
            log,
            &run_id,
            config.retry,
            config.budget,
            config.fetch_timeout_ms,
            rec.started.timestamp_millis(),
        ),
        rules: &gate.rules,
    };
    let mut outcomes: Vec<SourceOutcome> = Vec::new();

    // Kalshi: events, then markets (which need the events' series and categories for the
    // rules), then the books asked for.
    let mut events = EventIndex::new();
    match &gate.kalshi {
        Err(denial) => {
            for step in ["kalshi_events", "kalshi_markets", "kalshi_orderbooks"] {
                let end = StepEnd::skipped(denial.code(), denial.detail());
                rec.record(step, crate::clock::now(), end).await;
            }
        }
        Ok(admission) => {
            let mut failure: Option<String> = None;
            let t = crate::clock::now();
            let end = kalshi_events(&mut run, admission, &mut events).await;
            let events_complete = end.status == StepStatus::Success && end.stopped.is_none();
            note_failure(&end, &mut failure);
            rec.record("kalshi_events", t, end).await;
            let t = crate::clock::now();
            let end = if events_complete {
                kalshi_markets(&mut run, admission, &events, None).await
            } else {
                StepEnd::skipped(
                    "COMPLIANCE_CONTEXT_UNAVAILABLE",
                    "events incomplete: event-level rules cannot be applied, markets not ingested",
                )
            };
            note_failure(&end, &mut failure);
            rec.record("kalshi_markets", t, end).await;
            if !req.held_tickers.is_empty() {
                let t = crate::clock::now();
                let end = if events_complete {
                    kalshi_markets(&mut run, admission, &events, Some(&req.held_tickers)).await
                } else {
                    StepEnd::skipped(
                        "COMPLIANCE_CONTEXT_UNAVAILABLE",
                        "events incomplete: event-level rules cannot be applied, markets not ingested",
                    )
                };
                note_failure(&end, &mut failure);
                rec.record("kalshi_held_markets", t, end).await;
            }
            let t = crate::clock::now();
            let end = kalshi_orderbooks(&mut run, admission, &req.orderbook_tickers).await;
            note_failure(&end, &mut failure);
            rec.record("kalshi_orderbooks", t, end).await;
            outcomes.push(SourceOutcome {
                source: Source::Kalshi,
                failure,
            });
        }
    }

    match &gate.gamma {
        Err(denial) => {
            let end = StepEnd::skipped(denial.code(), denial.detail());
            rec.record("polymarket_markets", crate::clock::now(), end)
                .await;
        }
        Ok(admission) => {
            let t = crate::clock::now();
            let end = polymarket_markets(&mut run, admission).await;
            let mut failure = None;
            note_failure(&end, &mut failure);
            rec.record("polymarket_markets", t, end).await;
            outcomes.push(SourceOutcome {
                source: Source::PolymarketGamma,
                failure,
            });
        }
    }

    let t = crate::clock::now();
    let end = mark_to_market(&run, &req.mark_tickers).await;
    rec.record("mark_to_market", t, end).await;

    let t = crate::clock::now();
    let end = breaker_report(&run, &outcomes).await;
    rec.record("breaker_report", t, end).await;
}

fn note_failure(end: &StepEnd, failure: &mut Option<String>) {
    if end.status == StepStatus::Fail && failure.is_none() {
        *failure = end.code.clone();
    }
}

fn counts_json(counts: &StepCounts, evidence: &[EvidenceHash]) -> Value {
    let mut v = serde_json::to_value(counts).unwrap_or_else(|_| json!({}));
    v["evidence"] = json!(evidence.iter().map(|h| h.to_hex()).collect::<Vec<_>>());
    v
}

/// A page's work after parsing: what to drop (and audit), what to remove, what to write.
struct PagePlan {
    venue: Venue,
    kind: EntityKind,
    source: Source,
    evidence: EvidenceHash,
    drops: Vec<(String, Rule)>,
    statements: Vec<Statement>,
}

/// The market and quote rows of a listing page and the records the rules drop (by key):
/// `(drops, statements, rows written)`.
fn market_page<'a, R>(
    rules: &RuleSet,
    records: &'a [R],
    entity: impl Fn(&'a R) -> (String, compliance::Entity<'a>),
    rows_of: impl Fn(&'a R) -> (Row, Row),
) -> (Vec<(String, Rule)>, Vec<Statement>, usize) {
    let mut drops = Vec::new();
    let mut markets: Vec<Row> = Vec::with_capacity(records.len());
    let mut quotes: Vec<Row> = Vec::with_capacity(records.len());
    for record in records {
        let (key, entity) = entity(record);
        if let Some(rule) = rules.check(&entity) {
            drops.push((key, rule.clone()));
            continue;
        }
        let (market, quote) = rows_of(record);
        markets.push(market);
        quotes.push(quote);
    }
    let row_count = markets.len() + quotes.len();
    let mut statements = rows::MARKETS.statements(&markets);
    statements.extend(rows::MARKET_PRICES.statements(&quotes));
    (drops, statements, row_count)
}

impl Run<'_> {
    /// Fetches `url` and parses the body with `parse`: the parsed page, where and when it was
    /// observed, and the body's size (for the CPU meter). On failure, the step's end, with the
    /// failure counted and the evidence kept.
    async fn fetch_parsed<T>(
        &mut self,
        admission: &Admission,
        url: &str,
        counts: &mut StepCounts,
        hashes: &mut Vec<EvidenceHash>,
        parse: impl FnOnce(&[u8]) -> Result<T, BodyError>,
    ) -> Result<(T, Observed, usize), StepEnd> {
        let (bytes, hash, at) = match self.fetcher.get(admission, url, counts).await {
            Fetched::Body { bytes, hash, at } => (bytes, hash, at),
            Fetched::Failed {
                code,
                detail,
                evidence,
            } => {
                counts.failures += 1;
                hashes.extend(evidence);
                return Err(StepEnd::fail(counts_json(counts, hashes), code, detail));
            }
        };
        hashes.push(hash);
        match parse(&bytes) {
            Ok(page) => Ok((page, Observed { evidence: hash, at }, bytes.len())),
            Err(e) => {
                counts.failures += 1;
                Err(StepEnd::fail(
                    counts_json(counts, hashes),
                    e.code(),
                    format!("{} evidence={hash}", e.detail()),
                ))
            }
        }
    }

    /// [`Run::commit`] for a listing page: a failure is counted and ends the step.
    async fn commit_page(
        &self,
        plan: PagePlan,
        counts: &mut StepCounts,
        hashes: &[EvidenceHash],
    ) -> Result<(), StepEnd> {
        self.commit(plan, counts).await.map_err(|(code, detail)| {
            counts.failures += 1;
            StepEnd::fail(counts_json(counts, hashes), code, detail)
        })
    }

    /// Budget check before a page; `Err` carries the clean-stop step end.
    fn admit_page(
        &self,
        counts: &StepCounts,
        evidence: &[EvidenceHash],
        at: Value,
    ) -> Result<(), StepEnd> {
        self.fetcher
            .budget
            .admits_page(&self.fetcher.meter, crate::clock::now_ms(), counts.pages)
            .map_err(|stop| StepEnd::stopped(counts_json(counts, evidence), stop.code(), at))
    }

    /// Drops (audited first), removals and upserts of one page; all or nothing.
    async fn commit(
        &self,
        plan: PagePlan,
        counts: &mut StepCounts,
    ) -> Result<(), (String, String)> {
        let hash = plan.evidence.to_hex();
        if !plan.drops.is_empty() {
            self.audit_drops(&plan, &hash).await?;
        }
        let removals = Removals {
            venue: plan.venue.as_str(),
            market_ids: if plan.kind == EntityKind::Market {
                plan.drops.iter().map(|(k, _)| k.clone()).collect()
            } else {
                Vec::new()
            },
            event_tickers: if plan.kind == EntityKind::Event {
                plan.drops.iter().map(|(k, _)| k.clone()).collect()
            } else {
                Vec::new()
            },
        };
        let written = market_data::write_page(self.db, &removals, &plan.statements)
            .await
            .map_err(|e| {
                // D1's own message is for the log only; the run records the code.
                self.log.error(
                    "page_not_written",
                    json!({"detail": e.to_string(), "evidence": hash}),
                );
                (
                    e.code().to_string(),
                    format!("page not written evidence={hash}"),
                )
            })?;
        counts.rows_written += written;
        counts.dropped += plan.drops.len() as u32;
        Ok(())
    }

    /// Appends each drop not yet recorded for this response to the audit log, then records
    /// them. Write-ahead: if the append fails, nothing of the page is written.
    async fn audit_drops(&self, plan: &PagePlan, hash: &str) -> Result<(), (String, String)> {
        let keys: Vec<&str> = plan.drops.iter().map(|(k, _)| k.as_str()).collect();
        let recorded: HashSet<(String, String)> =
            compliance_store::recorded_drops(self.db, hash, plan.venue.as_str(), &keys)
                .await
                .map_err(|e| {
                    self.log.error(
                        "compliance_drops_unreadable",
                        json!({"detail": e.to_string()}),
                    );
                    (
                        "COMPLIANCE_UNAVAILABLE".to_string(),
                        format!(
                            "recorded drops unreadable cause={} evidence={hash}",
                            e.code()
                        ),
                    )
                })?
                .into_iter()
                .collect();
        let fresh: Vec<&(String, Rule)> = plan
            .drops
            .iter()
            .filter(|(k, r)| !recorded.contains(&(k.clone(), r.id.clone())))
            .collect();
        for chunk in fresh.chunks(AUDIT_CHUNK) {
            let records: Vec<AuditRecord> = chunk
                .iter()
                .map(|(key, rule)| AuditRecord {
                    actor: ACTOR.to_string(),
                    kind: "COMPLIANCE_ENTITY_DROPPED".to_string(),
                    payload: json!({
                        "source": plan.source.as_str(),
                        "venue": plan.venue.as_str(),
                        "entity_kind": plan.kind.as_str(),
                        "entity_key": key,
                        "rule_id": rule.id,
                        "rule_kind": rule.kind.as_str(),
                        "rule_value": rule.value,
                        "rule_reason": rule.reason,
                        "rules_version": self.rules.version(),
                        "run_id": self.run_id,
                    }),
                    evidence_hash: Some(hash.to_string()),
                })
                .collect();
            let receipts = audit_client::append(self.env, records).await.map_err(|e| {
                (
                    e.code().to_string(),
                    format!(
                        "compliance drops not audited, page not written: {} evidence={hash}",
                        e.detail()
                    ),
                )
            })?;
            let drops: Vec<compliance_store::DropRecord> = chunk
                .iter()
                .zip(receipts)
                .map(|((key, rule), receipt)| compliance_store::DropRecord {
                    evidence_hash: hash.to_string(),
                    venue: plan.venue.as_str(),
                    entity_kind: plan.kind.as_str(),
                    entity_key: key.clone(),
                    rule_id: rule.id.clone(),
                    rules_version: self.rules.version().to_string(),
                    run_id: self.run_id.to_string(),
                    audit_seq: Some(receipt.seq.get()),
                })
                .collect();
            if let Err(e) =
                compliance_store::record_drops(self.db, &drops, crate::clock::now()).await
            {
                // The audit log has them; only the de-duplication record is missing, so a
                // re-run may append these drops once more. Said loudly, not fatal.
                self.log.error(
                    "compliance_drops_not_recorded",
                    json!({"code": e.code(), "evidence": hash, "drops": drops.len()}),
                );
            }
        }
        Ok(())
    }
}

fn base_url(env: &Env, source: Source) -> Result<String, StepEnd> {
    bindings::var(env, source.base_url_var()).ok_or_else(|| {
        StepEnd::fail(
            json!({}),
            "CONFIG_MISSING",
            format!("setting={} is empty", source.base_url_var()),
        )
    })
}

async fn kalshi_events(
    run: &mut Run<'_>,
    admission: &Admission,
    events: &mut EventIndex,
) -> StepEnd {
    let base = match base_url(run.env, Source::Kalshi) {
        Ok(b) => b,
        Err(end) => return end,
    };
    let mut counts = StepCounts::default();
    let mut hashes = Vec::new();
    let mut paging = CursorPaging::default();
    loop {
        if let Err(end) = run.admit_page(
            &counts,
            &hashes,
            json!({"page": counts.pages + 1, "cursor": paging.cursor()}),
        ) {
            return end;
        }
        let url = kalshi_events_url(&base, KALSHI_EVENTS_PAGE_LIMIT, paging.cursor());
        let (page, obs, size) = match run
            .fetch_parsed(
                admission,
                &url,
                &mut counts,
                &mut hashes,
                crate::venues::kalshi::parse_events_page,
            )
            .await
        {
            Ok(fetched) => fetched,
            Err(end) => return end,
        };
        page.rejects.iter().for_each(|r| counts.reject(r.code()));
        let mut drops = Vec::new();
        let mut rows_out: Vec<Row> = Vec::new();
        for e in &page.records {
            // Markets look their event up whatever the event's fate: a dropped event's
            // markets then match the same rule.
            events.insert(e.event_ticker.clone(), EventInfo::of(e));
            if let Some(rule) = run.rules.check(&rows::kalshi_event_entity(e)) {
                drops.push((e.event_ticker.clone(), rule.clone()));
            } else {
                rows_out.push(rows::kalshi_event_row(e, &obs));
            }
        }
        counts.records += page.records.len() as u32;
        let plan = PagePlan {
            venue: Venue::Kalshi,
            kind: EntityKind::Event,
            source: Source::Kalshi,
            evidence: obs.evidence,
            drops,
            statements: rows::KALSHI_EVENTS.statements(&rows_out),
        };
        if let Err(end) = run.commit_page(plan, &mut counts, &hashes).await {
            return end;
        }
        run.fetcher
            .meter
            .charge_page(&run.fetcher.cost, size, rows_out.len());
        counts.pages += 1;
        match paging.advance(page.cursor) {
            PageStep::Next => continue,
            PageStep::Done => return StepEnd::success(counts_json(&counts, &hashes)),
            PageStep::Loop { cursor } => {
                return StepEnd::fail(
                    counts_json(&counts, &hashes),
                    "VENUE_CURSOR_LOOP",
                    format!("cursor={cursor}"),
                )
            }
        }
    }
}

/// `GET /markets?status=open` by cursor, or (`held`) the named markets whatever their status.
async fn kalshi_markets(
    run: &mut Run<'_>,
    admission: &Admission,
    events: &EventIndex,
    held: Option<&[String]>,
) -> StepEnd {
    let base = match base_url(run.env, Source::Kalshi) {
        Ok(b) => b,
        Err(end) => return end,
    };
    let mut counts = StepCounts::default();
    let mut hashes = Vec::new();
    let mut paging = CursorPaging::default();
    loop {
        if let Err(end) = run.admit_page(
            &counts,
            &hashes,
            json!({"page": counts.pages + 1, "cursor": paging.cursor()}),
        ) {
            return end;
        }
        let url = match held {
            Some(tickers) => kalshi_markets_by_ticker_url(
                &base,
                tickers,
                run.config.kalshi_page_limit,
                paging.cursor(),
            ),
            None => kalshi_markets_url(&base, run.config.kalshi_page_limit, paging.cursor()),
        };
        let (page, obs, size) = match run
            .fetch_parsed(
                admission,
                &url,
                &mut counts,
                &mut hashes,
                crate::venues::kalshi::parse_markets_page,
            )
            .await
        {
            Ok(fetched) => fetched,
            Err(end) => return end,
        };
        page.rejects.iter().for_each(|r| counts.reject(r.code()));
        let (drops, statements, row_count) = market_page(
            run.rules,
            &page.records,
            |m| (m.ticker.clone(), rows::kalshi_market_entity(m, events)),
            |m| rows::kalshi_market_rows(m, events, &obs),
        );
        counts.records += page.records.len() as u32;
        let plan = PagePlan {
            venue: Venue::Kalshi,
            kind: EntityKind::Market,
            source: Source::Kalshi,
            evidence: obs.evidence,
            drops,
            statements,
        };
        if let Err(end) = run.commit_page(plan, &mut counts, &hashes).await {
            return end;
        }
        run.fetcher
            .meter
            .charge_page(&run.fetcher.cost, size, row_count);
        counts.pages += 1;
        match paging.advance(page.cursor) {
            PageStep::Next => continue,
            PageStep::Done => return StepEnd::success(counts_json(&counts, &hashes)),
            PageStep::Loop { cursor } => {
                return StepEnd::fail(
                    counts_json(&counts, &hashes),
                    "VENUE_CURSOR_LOOP",
                    format!("cursor={cursor}"),
                )
            }
        }
    }
}

async fn kalshi_orderbooks(
    run: &mut Run<'_>,
    admission: &Admission,
    tickers: &[String],
) -> StepEnd {
    if tickers.is_empty() {
        return StepEnd::skipped(
            "NO_MARKETS_REQUESTED",
            "no books asked for (the trading cycle asks for the markets of approved pairs)",
        );
    }
    let base = match base_url(run.env, Source::Kalshi) {
        Ok(b) => b,
        Err(end) => return end,
    };
    let mut counts = StepCounts::default();
    let mut hashes = Vec::new();
    let mut first_failure: Option<(String, String)> = None;
    for ticker in tickers {
        if let Err(end) = run.admit_page(&counts, &hashes, json!({"ticker": ticker})) {
            return end;
        }
        // A book of a blocked market is not even fetched.
        let entity = compliance::Entity {
            venue: Venue::Kalshi,
            kind: EntityKind::Market,
            key: ticker,
            ids: vec![ticker],
            series: Some(rows::kalshi_series_of(ticker)),
            event: None,
            categories: vec![],
            titles: vec![],
        };
        if run.rules.check(&entity).is_some() {
            counts.dropped += 1;
            continue;
        }
        let url = kalshi_orderbook_url(&base, ticker);
        let (bytes, hash, at) = match run.fetcher.get(admission, &url, &mut counts).await {
            Fetched::Body { bytes, hash, at } => (bytes, hash, at),
            Fetched::Failed {
                code,
                detail,
                evidence,
            } => {
                counts.failures += 1;
                hashes.extend(evidence);
                first_failure.get_or_insert((code, format!("ticker={ticker} {detail}")));
                continue;
            }
        };
        hashes.push(hash);
        let book = match crate::venues::kalshi::parse_orderbook_response(&bytes) {
            Ok(b) => b,
            Err(e) => {
                counts.failures += 1;
                first_failure.get_or_insert((e.code(), format!("ticker={ticker} evidence={hash}")));
                continue;
            }
        };
        counts.records += 1;
        let obs = Observed { evidence: hash, at };
        let row = rows::kalshi_book_row(ticker, &book, &obs);
        let plan = PagePlan {
            venue: Venue::Kalshi,
            kind: EntityKind::Market,
            source: Source::Kalshi,
            evidence: hash,
            drops: Vec::new(),
            statements: rows::ORDERBOOKS.statements(&[row]),
        };
        if let Err((code, detail)) = run.commit(plan, &mut counts).await {
            counts.failures += 1;
            first_failure.get_or_insert((code, detail));
            continue;
        }
        run.fetcher
            .meter
            .charge_page(&run.fetcher.cost, bytes.len(), 1);
        counts.pages += 1;
    }
    match first_failure {
        None => StepEnd::success(counts_json(&counts, &hashes)),
        Some((code, detail)) => StepEnd::fail(counts_json(&counts, &hashes), code, detail),
    }
}

async fn polymarket_markets(run: &mut Run<'_>, admission: &Admission) -> StepEnd {
    let base = match base_url(run.env, Source::PolymarketGamma) {
        Ok(b) => b,
        Err(end) => return end,
    };
    let mut counts = StepCounts::default();
    let mut hashes = Vec::new();
    let mut paging = OffsetPaging::new(run.config.gamma_page_limit);
    loop {
        if let Err(end) = run.admit_page(
            &counts,
            &hashes,
            json!({"page": counts.pages + 1, "offset": paging.offset}),
        ) {
            return end;
        }
        let url = gamma_markets_url(&base, paging.limit, paging.offset);
        let (page, obs, size) = match run
            .fetch_parsed(
                admission,
                &url,
                &mut counts,
                &mut hashes,
                crate::venues::polymarket::parse_gamma_markets,
            )
            .await
        {
            Ok(fetched) => fetched,
            Err(end) => return end,
        };
        page.rejects.iter().for_each(|r| counts.reject(r.code()));
        let (drops, statements, row_count) = market_page(
            run.rules,
            &page.records,
            |m| (m.condition_id.clone(), rows::gamma_market_entity(m)),
            |m| rows::gamma_market_rows(m, &obs),
        );
        counts.records += page.records.len() as u32;
        let items = page.records.len() + page.rejects.len();
        let plan = PagePlan {
            venue: Venue::Polymarket,
            kind: EntityKind::Market,
            source: Source::PolymarketGamma,
            evidence: obs.evidence,
            drops,
            statements,
        };
        if let Err(end) = run.commit_page(plan, &mut counts, &hashes).await {
            return end;
        }
        run.fetcher
            .meter
            .charge_page(&run.fetcher.cost, size, row_count);
        counts.pages += 1;
        if paging.advance(items) == PageStep::Done {
            return StepEnd::success(counts_json(&counts, &hashes));
        }
    }
}

async fn mark_to_market(run: &Run<'_>, tickers: &[String]) -> StepEnd {
    if tickers.is_empty() {
        return StepEnd::skipped(
            "NO_MARKETS_REQUESTED",
            "no marks asked for (the trading cycle asks for the markets it holds)",
        );
    }
    let quotes = match market_data::quotes(run.db, Venue::Kalshi.as_str(), tickers).await {
        Ok(q) => q,
        Err(e) => return StepEnd::fail(json!({}), e.code(), "stored quotes unreadable"),
    };
    let (mut marked, mut unpriced, mut failures) = (0u32, Vec::new(), 0u32);
    let mut first_failure = None;
    let found: HashSet<&str> = quotes.iter().map(|q| q.market_id.as_str()).collect();
    let missing: Vec<&String> = tickers
        .iter()
        .filter(|t| !found.contains(t.as_str()))
        .collect();
    for q in &quotes {
        let p = |v: Option<i64>| v.and_then(Price::new);
        let (Some(yes), Some(observed_at)) = (
            rows::mark_price(p(q.yes_bid_e4), p(q.yes_ask_e4), p(q.last_price_e4)),
            parse_utc(&q.observed_at),
        ) else {
            unpriced.push(q.market_id.clone());
            continue;
        };
        // The governor cannot evaluate a market it knows nothing about: tell it the market's
        // category, correlation group (markets of one Kalshi event move together) and
        // settlement time before the price. Without a close time the market stays unknown to
        // it and every check on it refuses (fail closed).
        if let Some(settles_at) = q.close_time.as_deref().and_then(parse_utc) {
            let meta = MarketMeta {
                category: q
                    .category
                    .clone()
                    .or_else(|| q.series_id.clone())
                    .unwrap_or_else(|| "UNCATEGORIZED".into()),
                correlation_group: q
                    .event_id
                    .clone()
                    .unwrap_or_else(|| format!("market:{}", q.market_id)),
                settles_at,
            };
            let info = Event::MarketInfo {
                market: MarketId::new(&q.market_id),
                meta,
            };
            if let Err(e) = crate::risk_client::apply(run.env, ACTOR, &info).await {
                failures += 1;
                first_failure.get_or_insert(e.code);
                continue;
            }
        }
        let event = Event::Mark {
            market: MarketId::new(&q.market_id),
            yes,
            observed_at,
        };
        match crate::risk_client::apply(run.env, ACTOR, &event).await {
            Ok(_) => marked += 1,
            Err(e) => {
                failures += 1;
                first_failure.get_or_insert(e.code);
            }
        }
    }
    let counts = json!({"requested": tickers.len(), "marked": marked, "unpriced": unpriced,
                        "no_quote": missing, "failures": failures});
    match first_failure {
        None => StepEnd::success(counts),
        Some(code) => StepEnd::fail(counts, code, "the risk governor refused or was unreachable"),
    }
}

async fn breaker_report(run: &Run<'_>, outcomes: &[SourceOutcome]) -> StepEnd {
    let reports = breaker_reports(outcomes);
    if reports.is_empty() {
        return StepEnd::skipped("NO_SOURCE_CONTACTED", "no source was contacted in this run");
    }
    for r in &reports {
        crate::risk_client::report_outcome(
            run.env,
            run.log,
            FailureSource::VenueApi,
            r.success,
            &r.detail,
        )
        .await;
    }
    StepEnd::success(json!({
        "successes": reports.iter().filter(|r| r.success).count(),
        "failures": reports.iter().filter(|r| !r.success).count(),
        "reports": reports.iter().map(|r| r.detail.clone()).collect::<Vec<_>>(),
    }))
}

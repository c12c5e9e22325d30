//! The trading cycle, run by the five-minute cron right after ingestion:
//!
//! 1. `governor_sync` — fills the ledger holds but the risk governor has not confirmed (a cycle
//!    that stopped between the two) are sent again; a replay the governor already has is fine.
//! 2. `recover_orders` — orders an earlier cycle left mid-way are recovered deterministically
//!    ([`recover_orders`]): no stale signal is executed, no fill counted twice, the
//!    reservation released.
//! 3. `pairs` — every pair's rules hashes are compared with what ingestion last stored; a pair
//!    whose rules changed goes back to review (audited). The tradable ones are kept.
//! 4. `signals` — each tradable pair is evaluated by each strategy not `disabled`
//!    (`core::strategy`); every signal is stored (the forecast record). Then, per signal, its
//!    order: deterministic client order id (an order that exists is left alone, so a re-run in
//!    the same bucket does nothing), risk governor check, audit append before submission, then
//!    execution by the strategy's mode ([`execute`]): paper fills against the ingested book
//!    (`core::paper`), live goes to Kalshi (`jobs::live`). No order is created
//!    while the breaker is in HALT.
//! 5. `settlement` — paper positions in markets ingestion saw resolved, and live positions the
//!    venue's settlement records (`/portfolio/settlements`) show settled, close into closed
//!    trades with realised P&L linked to their entry fills (`core::settlement`); the governor
//!    is told (`Settlement`).
//! 6. `reconcile` — the position book against a replay of the fill ledger
//!    (`core::reconcile`), and the integrity gate (`core::integrity`); violations are stored,
//!    the outcome goes to the governor (drift/orphans escalate the breaker) and the audit log.
//! 7. `discovery` — candidate pairs by title similarity are proposed and graded by the LLM
//!    (`jobs::discovery`); they land in review, never approved.
//!
//! The clock of every record the cycle writes is the cron delivery's scheduled time, so a test
//! (or a replay) can drive simulated days through `/cdn-cgi/handler/scheduled?time=`.

use super::{Recorder, RunSummary, StepEnd};
use crate::audit_client::{self, AuditRecord};
use crate::bindings;
use crate::core::audit::Hash32;
use crate::core::integrity::{self, IntegrityConfig, IntegrityInput, ViolationCode};
use crate::core::money::{Price, Qty, Usd};
use crate::core::orders::{OrderEvent, OrderRecord};
use crate::core::pairs::{Pair, PairStatus, RulesHashes};
use crate::core::paper;
use crate::core::reconcile::{self, Holdings, Thresholds};
use crate::core::risk::{DriftSeverity, Event, FillReport, MarketId, ReconciliationOutcome};
use crate::core::run_audit;
use crate::core::settlement::{Exit, Ledger, LedgerFill, Resolution, VenueSettlementTerms};
use crate::core::strategy::{self, Decision, ModelQuote, Signal, SignalInput};
use crate::core::time::{format_utc, parse_utc};
use crate::obs::Logger;
use crate::risk_client;
use crate::store::d1::{Db, DbError};
use crate::store::pairs as pair_store;
use crate::store::runs;
use crate::store::trading::{self as store, BookPosition, MarketChange, Mode};
use crate::venues::kalshi::{Level, Orderbook};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;
use worker::Env;

/// The job's name in `runs`.
pub const JOB: &str = "cycle";
/// The actor of everything the cycle does.
pub const ACTOR: &str = "system:cycle";
/// Most pairs evaluated per cycle (and tickers asked of ingestion).
pub const MAX_PAIRS: i64 = 50;
/// A book older than this (by the real clock) is not traded against.
const MAX_BOOK_AGE_SECS: i64 = 15 * 60;

/// Why a cycle did not run.
#[derive(Debug, Clone, PartialEq)]
pub enum CycleError {
    Db(DbError),
    /// This cron delivery's cycle already ran (or is running).
    AlreadyRecorded {
        run_id: String,
        status: String,
    },
}

impl CycleError {
    pub fn code(&self) -> &'static str {
        match self {
            CycleError::Db(e) => e.code(),
            CycleError::AlreadyRecorded { .. } => "CYCLE_RUN_ALREADY_RECORDED",
        }
    }
}

impl fmt::Display for CycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CycleError::Db(e) => e.fmt(f),
            CycleError::AlreadyRecorded { run_id, status } => {
                write!(f, "{}: run_id={run_id} status={status}", self.code())
            }
        }
    }
}

impl From<DbError> for CycleError {
    fn from(e: DbError) -> Self {
        CycleError::Db(e)
    }
}

/// The markets ingestion must fetch for the cycle: the books of approved pairs' Kalshi
/// markets, and the markets held (whose results settle positions). Errors leave a list empty.
pub async fn watched_tickers(env: &Env, log: &Logger) -> (Vec<String>, Vec<String>) {
    let Ok(db) = Db::open(env, "DB", log) else {
        return (Vec::new(), Vec::new());
    };
    let mut books: Vec<String> = pair_store::list(&db, Some(PairStatus::Approved), MAX_PAIRS)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.kalshi_ticker)
        .collect();
    books.sort();
    books.dedup();
    let mut held: Vec<String> = Vec::new();
    for mode in [Mode::Paper, Mode::Live] {
        held.extend(
            store::positions(&db, mode)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.market.0),
        );
    }
    held.truncate(MAX_PAIRS as usize);
    (books, held)
}

/// Runs the cycle of the cron delivery `cron` scheduled at `scheduled`.
pub async fn run(
    env: &Env,
    log: &Logger,
    cron: &str,
    scheduled: DateTime<Utc>,
) -> Result<RunSummary, CycleError> {
    let started = crate::clock::now();
    let db = Db::open(env, "DB", log)?;
    let run_id = run_audit::cron_run_id(JOB, cron, scheduled);
    if !runs::insert_run(&db, &run_id, JOB, cron, started, Some(scheduled)).await? {
        let status = runs::run(&db, &run_id)
            .await?
            .map(|r| r.status)
            .unwrap_or_default();
        return Err(CycleError::AlreadyRecorded { run_id, status });
    }
    let mut rec = Recorder::new(
        &db,
        env,
        log,
        run_id.clone(),
        JOB,
        cron.to_string(),
        1,
        started,
        scheduled,
    );
    let cx = Cx {
        env,
        log,
        db: &db,
        run_id: &run_id,
        actor: ACTOR.to_string(),
        now: scheduled,
    };
    steps(&cx, &mut rec).await;
    Ok(rec.finish().await?)
}

/// What every step needs.
pub struct Cx<'a> {
    pub env: &'a Env,
    pub log: &'a Logger,
    pub db: &'a Db,
    pub run_id: &'a str,
    /// Who the audit records name: the cycle, or the operator who asked.
    pub actor: String,
    /// The cycle's clock: the scheduled time of its cron delivery.
    pub now: DateTime<Utc>,
}

async fn steps(cx: &Cx<'_>, rec: &mut Recorder<'_>) {
    let t = crate::clock::now();
    let end = governor_sync(cx).await;
    rec.record("governor_sync", t, end).await;

    let t = crate::clock::now();
    let end = recover_orders(cx).await;
    rec.record("recover_orders", t, end).await;

    let t = crate::clock::now();
    let (end, tradable) = pairs_step(cx).await;
    rec.record("pairs", t, end).await;

    let t = crate::clock::now();
    let end = signals_step(cx, &tradable).await;
    rec.record("signals", t, end).await;

    let t = crate::clock::now();
    let end = settlement_step(cx).await;
    rec.record("settlement", t, end).await;

    // Live: only when a strategy is live or the live ledger holds anything. Read once: it also
    // decides whether a clean paper reconciliation counts (unreadable counts as live).
    let live = super::live::is_active(cx).await;
    let t = crate::clock::now();
    let live_or_unknown = live.as_ref().map_or(true, |active| *active);
    let end = match reconcile_paper(cx, &format!("cron:{}", cx.run_id), live_or_unknown).await {
        Ok(v) => StepEnd::success(v),
        Err(e) => StepEnd::fail(json!({}), e.code(), e.to_string()),
    };
    rec.record("reconcile", t, end).await;

    match live {
        Ok(false) => {}
        Ok(true) => {
            let t = crate::clock::now();
            let end = match super::live::reconcile(cx, &format!("cron:{}", cx.run_id)).await {
                Ok(v) if v["outcome"] == "clean" => StepEnd::success(v),
                Ok(v) => {
                    let code = match v["outcome"].as_str() {
                        Some("failed") => "RECONCILE_LIVE_FAILED",
                        _ => "RECONCILE_LIVE_DRIFT",
                    };
                    StepEnd::fail(
                        v,
                        code,
                        "live reconciliation was not clean; the breaker was told",
                    )
                }
                Err(e) => StepEnd::fail(json!({}), e.code(), e.to_string()),
            };
            rec.record("reconcile_live", t, end).await;
        }
        Err(e) => {
            let t = crate::clock::now();
            rec.record(
                "reconcile_live",
                t,
                StepEnd::fail(json!({}), e.code(), "database read failed"),
            )
            .await;
        }
    }

    // Last: it trades nothing, and its LLM calls must not delay the steps that do.
    let t = crate::clock::now();
    let end = super::discovery::step(cx).await;
    rec.record("discovery", t, end).await;
}

/// Appends one record as the cycle; `Err(code)` if the log did not confirm.
pub(super) async fn audit(cx: &Cx<'_>, kind: &str, payload: Value) -> Result<u64, String> {
    let record = AuditRecord {
        actor: cx.actor.clone(),
        kind: kind.to_string(),
        payload,
        evidence_hash: None,
    };
    match audit_client::append(cx.env, vec![record]).await {
        Ok(receipts) => Ok(receipts.first().map(|r| r.seq.get()).unwrap_or_default()),
        Err(e) => {
            cx.log.error(
                "cycle_not_audited",
                json!({"kind": kind, "code": e.code(), "detail": e.detail()}),
            );
            Err(e.code().to_string())
        }
    }
}

/// Tells the governor `event`; `Ok` also when it answers that it already has it (`tolerated`).
pub(super) async fn governor(cx: &Cx<'_>, event: &Event, tolerated: &str) -> Result<(), String> {
    match risk_client::apply(cx.env, ACTOR, event).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == tolerated => Ok(()),
        Err(e) => {
            cx.log.error(
                "cycle_governor_refused",
                json!({"code": e.code, "message": e.message}),
            );
            Err(e.code)
        }
    }
}

fn fill_report(f: &LedgerFill) -> FillReport {
    FillReport {
        fill_id: f.fill_id.clone(),
        client_order_id: f.client_order_id.clone(),
        market: f.market.clone(),
        side: f.side,
        action: f.action,
        qty: f.qty,
        price: f.price,
        fee: f.fee,
    }
}

/// Sends `fills` to the governor and marks each one it has; returns how many it refused.
pub(super) async fn apply_fills(cx: &Cx<'_>, fills: &[LedgerFill]) -> usize {
    let mut refused = 0;
    for f in fills {
        match governor(cx, &Event::Fill(fill_report(f)), "DUPLICATE_FILL").await {
            Ok(()) => {
                if let Err(e) = store::mark_fill_applied(cx.db, &f.fill_id).await {
                    cx.log.error(
                        "fill_applied_not_recorded",
                        json!({"fill_id": f.fill_id, "code": e.code()}),
                    );
                }
            }
            Err(_) => refused += 1,
        }
    }
    refused
}

async fn governor_sync(cx: &Cx<'_>) -> StepEnd {
    let pending = match store::pending_fills(cx.db).await {
        Ok(p) => p,
        Err(e) => return StepEnd::fail(json!({}), e.code(), "database read failed"),
    };
    let refused = apply_fills(cx, &pending).await;
    let counts = json!({"pending": pending.len(), "refused": refused});
    if refused > 0 {
        return StepEnd::fail(
            counts,
            "CYCLE_GOVERNOR_FILL_REFUSED",
            "the risk governor refused fills from the ledger",
        );
    }
    StepEnd::success(counts)
}

/// Recovers the orders an earlier cycle left mid-way (it stopped between an order's record and
/// its execution): `core::orders::recover_interrupted` decides from what is on record — an
/// `intent` is rejected, a paper order left `submitted` takes the ledger's fills of it (never
/// executed again) and the rest is cancelled. Each recovery is audited before it is stored, and
/// the order's reservation is released at the governor (after `governor_sync` sent it any
/// fills). Live orders left `submitted` are resolved by live reconciliation.
async fn recover_orders(cx: &Cx<'_>) -> StepEnd {
    // Cycles that died mid-way are closed as abandoned (their orders are recovered below).
    let (abandoned, mut failures) =
        match super::abandon_dead_runs(cx.env, cx.db, cx.log, JOB, cx.run_id, ACTOR).await {
            Ok(closed) => (closed, 0),
            Err(_) => (Vec::new(), 1),
        };
    let found = match crate::store::live::interrupted_orders(cx.db, cx.run_id).await {
        Ok(f) => f,
        Err(e) => return StepEnd::fail(json!({}), e.code(), "database read failed"),
    };
    let (mut cancelled, mut filled, mut rejected) = (0, 0, 0);
    for (order, paper) in &found {
        match recover_one(cx, order, *paper).await {
            Ok(state) => match state {
                crate::core::orders::OrderState::Filled => filled += 1,
                crate::core::orders::OrderState::Rejected => rejected += 1,
                _ => cancelled += 1,
            },
            Err(code) => {
                cx.log.error(
                    "order_not_recovered",
                    json!({"client_order_id": order.client_order_id, "code": code}),
                );
                failures += 1;
            }
        }
    }
    let counts = json!({"interrupted": found.len(), "cancelled": cancelled, "filled": filled,
                        "rejected": rejected, "failures": failures, "abandoned_runs": abandoned});
    if failures > 0 {
        return StepEnd::fail(
            counts,
            "CYCLE_RECOVERY_INCOMPLETE",
            "some interrupted orders or dead runs could not be recovered",
        );
    }
    StepEnd::success(counts)
}

async fn recover_one(
    cx: &Cx<'_>,
    order: &OrderRecord,
    paper: bool,
) -> Result<crate::core::orders::OrderState, String> {
    let recorded = if paper {
        store::market_fills(cx.db, Mode::Paper, order.market.as_str())
            .await
            .map_err(|e| e.code().to_string())?
    } else {
        Vec::new()
    };
    let r = crate::core::orders::recover_interrupted(order, paper, &recorded, cx.now)
        .map_err(|e| e.to_string())?;
    audit(
        cx,
        "ORDER_RECOVERED",
        json!({"mode": if paper { "paper" } else { "live" }, "from": order.state.as_str(),
               "order": r.order, "fills_adopted": r.fills_adopted}),
    )
    .await?;
    store::update_order(cx.db, &r.order, None)
        .await
        .map_err(|e| e.code().to_string())?;
    let release = Event::Cancel {
        client_order_id: order.client_order_id.clone(),
    };
    governor(cx, &release, "UNKNOWN_RESERVATION").await?;
    Ok(r.order.state)
}

/// The rules hashes of a pair's two markets as ingestion last stored them.
async fn current_rules(db: &Db, pair: &Pair) -> Result<Option<RulesHashes>, DbError> {
    let k = pair_store::market(db, "kalshi", &pair.kalshi_ticker).await?;
    let p = pair_store::market(db, "polymarket", &pair.polymarket_condition_id).await?;
    let (Some(k), Some(p)) = (k, p) else {
        return Ok(None);
    };
    match (
        Hash32::from_hex(&k.rules_hash),
        Hash32::from_hex(&p.rules_hash),
    ) {
        (Ok(kalshi), Ok(polymarket)) => Ok(Some(RulesHashes { kalshi, polymarket })),
        _ => Err(DbError::Failed {
            message: "markets.rules_hash is not a hash".into(),
        }),
    }
}

/// Re-checks every pair's rules; returns the tradable pairs.
async fn pairs_step(cx: &Cx<'_>) -> (StepEnd, Vec<Pair>) {
    let pairs = match pair_store::list(cx.db, None, 500).await {
        Ok(p) => p,
        Err(e) => {
            return (
                StepEnd::fail(json!({}), e.code(), "database read failed"),
                Vec::new(),
            )
        }
    };
    let (mut back_to_review, mut not_tradable, mut failures) = (0, 0, 0);
    let mut tradable = Vec::new();
    for pair in pairs {
        if pair.status == PairStatus::Rejected {
            continue;
        }
        let rules = match current_rules(cx.db, &pair).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                not_tradable += 1;
                continue;
            }
            Err(e) => {
                cx.log.error(
                    "pair_rules_unreadable",
                    json!({"pair_id": pair.id, "code": e.code()}),
                );
                failures += 1;
                continue;
            }
        };
        if let Some(next) = pair.observe_rules(&rules) {
            let payload = json!({"pair_id": next.id, "from": pair.status.as_str(),
                                 "to": next.status.as_str(), "reason": next.review_reason});
            if audit(cx, "PAIR_RULES_CHANGED", payload).await.is_err() {
                failures += 1;
                continue;
            }
            let at = format_utc(cx.now);
            match pair_store::update(cx.db, &next, pair.status, &at).await {
                Ok(_) => back_to_review += 1,
                Err(_) => failures += 1,
            }
            continue;
        }
        if pair.status != PairStatus::Approved {
            continue;
        }
        match pair.tradable(cx.now, &rules) {
            Ok(()) if tradable.len() < MAX_PAIRS as usize => tradable.push(pair),
            Ok(()) => not_tradable += 1,
            Err(why) => {
                cx.log.info(
                    "pair_not_tradable",
                    json!({"pair_id": pair.id, "code": why.code()}),
                );
                not_tradable += 1;
            }
        }
    }
    let counts = json!({"tradable": tradable.len(), "back_to_review": back_to_review,
                        "not_tradable": not_tradable, "failures": failures});
    let end = if failures > 0 {
        StepEnd::fail(
            counts,
            "CYCLE_PAIRS_INCOMPLETE",
            "some pairs could not be checked",
        )
    } else {
        StepEnd::success(counts)
    };
    (end, tradable)
}

#[derive(Debug, Default)]
struct SignalCounts {
    evaluated: u32,
    no_signal: u32,
    signals: u32,
    existing_orders: u32,
    orders: u32,
    refused: u32,
    filled: u32,
    unfilled: u32,
    live_refused: u32,
    live_placed: u32,
    live_unknown: u32,
    live_rejected: u32,
    failures: u32,
    skipped_halt: u32,
    inputs_missing: u32,
}

/// The governor's breaker state and equity.
async fn governor_view(cx: &Cx<'_>) -> Result<(String, Option<Usd>), String> {
    let state = risk_client::state(cx.env).await.map_err(|e| e.code)?;
    let breaker = state["breaker"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let equity = state["book"]["equity_usd_micros"].as_i64().map(Usd);
    Ok((breaker, equity))
}

async fn signals_step(cx: &Cx<'_>, pairs: &[Pair]) -> StepEnd {
    if pairs.is_empty() {
        return StepEnd::skipped("NO_TRADABLE_PAIRS", "no approved, tradable pair");
    }
    let strategies = match store::strategies(cx.db).await {
        Ok(s) => s,
        Err(e) => return StepEnd::fail(json!({}), e.code(), "database read failed"),
    };
    let active: Vec<_> = strategies
        .into_iter()
        .filter(|s| s.mode != Mode::Disabled)
        .collect();
    if active.is_empty() {
        return StepEnd::skipped("NO_ACTIVE_STRATEGY", "every strategy is disabled");
    }
    let (breaker, equity) = match governor_view(cx).await {
        Ok(v) => v,
        Err(code) => {
            return StepEnd::fail(
                json!({}),
                code,
                "risk governor unavailable: no signal, no order",
            )
        }
    };
    let halted = breaker == "HALT";
    let mut c = SignalCounts::default();
    for pair in pairs {
        let inputs = match signal_inputs(cx, pair).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                c.inputs_missing += 1;
                continue;
            }
            Err(e) => {
                cx.log.error(
                    "signal_inputs_unreadable",
                    json!({"pair_id": pair.id, "code": e.code()}),
                );
                c.failures += 1;
                continue;
            }
        };
        for s in &active {
            c.evaluated += 1;
            let bankroll = Usd(equity
                .map(|e| e.micros().min(s.capital_allocation.micros()))
                .unwrap_or(0));
            let market = MarketId::new(pair.kalshi_ticker.clone());
            let input = SignalInput {
                pair_id: &pair.id,
                market: &market,
                book: &inputs.book,
                model: inputs.model,
                bankroll,
                evidence: inputs.evidence.clone(),
                now: cx.now,
            };
            let signal = match strategy::evaluate(&s.config, &input) {
                Ok(Decision::Signal(sig)) => sig,
                Ok(Decision::NoSignal(no)) => {
                    cx.log.info(
                        "no_signal",
                        json!({"pair_id": pair.id, "strategy": s.id, "code": no.code, "detail": no.detail}),
                    );
                    c.no_signal += 1;
                    continue;
                }
                Err(e) => {
                    cx.log.warn(
                        "strategy_error",
                        json!({"pair_id": pair.id, "strategy": s.id, "code": e.code()}),
                    );
                    c.failures += 1;
                    continue;
                }
            };
            c.signals += 1;
            if let Err(e) = store::insert_signal(cx.db, &signal, s.mode, cx.run_id).await {
                cx.log.error("signal_not_stored", json!({"code": e.code()}));
                c.failures += 1;
                continue;
            }
            if halted {
                c.skipped_halt += 1;
                continue;
            }
            order_for(cx, s.mode, &s.id, &signal, &inputs.book, &mut c).await;
        }
    }
    let counts = json!({
        "pairs": pairs.len(), "evaluated": c.evaluated, "no_signal": c.no_signal,
        "signals": c.signals, "orders": c.orders, "existing_orders": c.existing_orders,
        "refused": c.refused, "filled": c.filled, "unfilled": c.unfilled,
        "live_refused": c.live_refused, "live_placed": c.live_placed,
        "live_unknown": c.live_unknown, "live_rejected": c.live_rejected, "skipped_halt": c.skipped_halt,
        "inputs_missing": c.inputs_missing, "failures": c.failures, "breaker": breaker,
    });
    if c.live_unknown > 0 {
        return StepEnd::fail(
            counts,
            "LIVE_ORDER_OUTCOME_UNKNOWN",
            "a live order's outcome is unknown; its market is blocked until reconciliation",
        );
    }
    if c.failures > 0 {
        return StepEnd::fail(
            counts,
            "CYCLE_SIGNALS_INCOMPLETE",
            "some pairs or orders failed",
        );
    }
    StepEnd::success(counts)
}

/// What the strategy is evaluated on, from what ingestion stored.
struct Inputs {
    book: Orderbook,
    model: ModelQuote,
    evidence: Vec<Hash32>,
}

#[derive(Deserialize)]
struct BookRow {
    yes_bids: String,
    no_bids: String,
    observed_at: String,
    evidence_hash: String,
}

#[derive(Deserialize)]
struct QuoteRow {
    yes_bid_e4: Option<i64>,
    yes_ask_e4: Option<i64>,
    evidence_hash: String,
}

const BOOK: &str = "SELECT yes_bids, no_bids, observed_at, evidence_hash FROM orderbooks \
     WHERE venue = 'kalshi' AND market_id = ?";
const QUOTE: &str = "SELECT yes_bid_e4, yes_ask_e4, evidence_hash FROM market_prices \
     WHERE venue = 'polymarket' AND market_id = ?";

fn levels(text: &str) -> Option<Vec<Level>> {
    let raw: Vec<[i64; 2]> = serde_json::from_str(text).ok()?;
    raw.into_iter()
        .map(|[p, q]| {
            Some(Level {
                price: Price::new(p)?,
                qty: Qty(q),
            })
        })
        .collect()
}

async fn signal_inputs(cx: &Cx<'_>, pair: &Pair) -> Result<Option<Inputs>, DbError> {
    use crate::store::d1::Param;
    let kalshi = pair_store::market(cx.db, "kalshi", &pair.kalshi_ticker).await?;
    if kalshi.as_ref().map(|k| k.status.as_str()) != Some("active") {
        return Ok(None);
    }
    let Some(book) = cx
        .db
        .first::<BookRow>(BOOK, &[Param::Text(&pair.kalshi_ticker)])
        .await?
    else {
        return Ok(None);
    };
    let fresh = parse_utc(&book.observed_at)
        .is_some_and(|t| crate::clock::now() - t <= TimeDelta::seconds(MAX_BOOK_AGE_SECS));
    if !fresh {
        cx.log.info(
            "book_stale",
            json!({"market": pair.kalshi_ticker, "observed_at": book.observed_at}),
        );
        return Ok(None);
    }
    let Some(quote) = cx
        .db
        .first::<QuoteRow>(QUOTE, &[Param::Text(&pair.polymarket_condition_id)])
        .await?
    else {
        return Ok(None);
    };
    let (Some(yes_bids), Some(no_bids)) = (levels(&book.yes_bids), levels(&book.no_bids)) else {
        return Err(DbError::Failed {
            message: "orderbooks levels unreadable".into(),
        });
    };
    let (Some(bid), Some(ask)) = (
        quote.yes_bid_e4.and_then(Price::new),
        quote.yes_ask_e4.and_then(Price::new),
    ) else {
        return Ok(None);
    };
    if bid > ask || bid == Price::ZERO || ask == Price::ONE_DOLLAR {
        return Ok(None);
    }
    let model = match pair.polymarket_outcome {
        0 => ModelQuote { bid, ask },
        _ => ModelQuote {
            bid: ask.complement(),
            ask: bid.complement(),
        },
    };
    let evidence = [
        &book.evidence_hash,
        &quote.evidence_hash,
        &kalshi.map(|k| k.evidence_hash).unwrap_or_default(),
    ]
    .iter()
    .filter_map(|h| Hash32::from_hex(h).ok())
    .collect();
    Ok(Some(Inputs {
        book: Orderbook { yes_bids, no_bids },
        model,
        evidence,
    }))
}

/// Creates, checks and executes the order of `signal` (once per client order id).
async fn order_for(
    cx: &Cx<'_>,
    mode: Mode,
    strategy_id: &str,
    signal: &Signal,
    book: &Orderbook,
    c: &mut SignalCounts,
) {
    let intent = signal.intent();
    let order = OrderRecord::intent(&intent, cx.now);
    match store::insert_order(
        cx.db,
        &order,
        Some(&signal.client_order_id),
        strategy_id,
        if mode == Mode::Live {
            Mode::Live
        } else {
            Mode::Paper
        },
        cx.run_id,
    )
    .await
    {
        Ok(true) => c.orders += 1,
        Ok(false) => {
            c.existing_orders += 1;
            return;
        }
        Err(e) => {
            cx.log.error("order_not_stored", json!({"code": e.code()}));
            c.failures += 1;
            return;
        }
    }
    match execute(cx, mode, signal, order, book).await {
        Ok(Executed::Refused) => c.refused += 1,
        Ok(Executed::Live(live)) => match live {
            super::live::LiveExecuted::Refused => c.live_refused += 1,
            super::live::LiveExecuted::Placed { filled } => {
                c.live_placed += 1;
                if filled.units() > 0 {
                    c.filled += 1;
                }
            }
            super::live::LiveExecuted::Unknown => c.live_unknown += 1,
            super::live::LiveExecuted::VenueRejected => c.live_rejected += 1,
        },
        Ok(Executed::Paper { filled, unfilled }) => {
            if filled.units() > 0 {
                c.filled += 1;
            }
            if unfilled.units() > 0 {
                c.unfilled += 1;
            }
        }
        Err(code) => {
            cx.log.error(
                "order_failed",
                json!({"client_order_id": signal.client_order_id, "code": code}),
            );
            c.failures += 1;
        }
    }
}

/// What execution did with an order.
enum Executed {
    /// The governor (or the audit log) said no; the order is closed.
    Refused,
    /// A live-mode strategy's order (see `jobs::live`).
    Live(super::live::LiveExecuted),
    Paper {
        filled: Qty,
        unfilled: Qty,
    },
}

/// The execution seam: dispatches on the strategy's mode. `Live` goes to Kalshi through
/// `jobs::live` (`crate::kalshi_client`).
async fn execute(
    cx: &Cx<'_>,
    mode: Mode,
    signal: &Signal,
    order: OrderRecord,
    book: &Orderbook,
) -> Result<Executed, String> {
    match mode {
        Mode::Paper => execute_paper(cx, signal, order, book).await,
        Mode::Live => super::live::execute(cx, signal, order)
            .await
            .map(Executed::Live),
        Mode::Disabled => Err("STRATEGY_DISABLED".to_string()),
    }
}

pub(super) fn codes_of(verdict: &Value) -> String {
    verdict["codes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Risk check, audit, fill against the ingested book, ledger, governor.
async fn execute_paper(
    cx: &Cx<'_>,
    signal: &Signal,
    order: OrderRecord,
    book: &Orderbook,
) -> Result<Executed, String> {
    let code = |e: crate::core::orders::OrderError| e.code().to_string();
    let db_code = |e: DbError| e.code().to_string();
    let intent = signal.intent();
    let verdict = match risk_client::check(cx.env, ACTOR, &intent, false).await {
        Ok(v) => v["verdict"].clone(),
        Err(e) => json!({"approved": false, "codes": [e.code]}),
    };
    if verdict["approved"] != true {
        let refused = order
            .apply(
                OrderEvent::Refuse {
                    reason: format!("RISK_REFUSED: {}", codes_of(&verdict)),
                },
                cx.now,
            )
            .map_err(code)?;
        store::update_order(cx.db, &refused, None)
            .await
            .map_err(db_code)?;
        return Ok(Executed::Refused);
    }
    let approved = order.apply(OrderEvent::Approve, cx.now).map_err(code)?;
    // Write-ahead: the submission is on record before anything executes.
    let payload = json!({"mode": "paper", "order": approved, "verdict": verdict,
                         "signal": {"pair_id": signal.pair_id, "model_prob_ppm": signal.model_prob,
                                    "market_prob_ppm": signal.market_prob, "edge_bps": signal.edge_bps,
                                    "evidence": signal.evidence.iter().map(|h| h.to_hex()).collect::<Vec<_>>()}});
    let seq = match audit(cx, "ORDER_SUBMITTED", payload).await {
        Ok(seq) => seq,
        Err(audit_code) => {
            let mut cancelled = approved
                .apply(OrderEvent::CancelConfirmed, cx.now)
                .map_err(code)?;
            cancelled.reason = Some(format!("{audit_code}: not submitted"));
            store::update_order(cx.db, &cancelled, None)
                .await
                .map_err(db_code)?;
            let release = Event::Cancel {
                client_order_id: intent.client_order_id.clone(),
            };
            let _ = governor(cx, &release, "UNKNOWN_RESERVATION").await;
            return Ok(Executed::Refused);
        }
    };
    let mut order = approved.apply(OrderEvent::Submit, cx.now).map_err(code)?;
    // On record as submitted before it executes: a cycle that stops here leaves an honest
    // `submitted` order (and its reservation), never a silent fill.
    store::update_order(cx.db, &order, Some(seq))
        .await
        .map_err(db_code)?;
    let exec = paper::execute(
        book,
        intent.side,
        intent.action,
        intent.limit_price,
        intent.qty,
    )
    .map_err(|e| e.code().to_string())?;
    let fills: Vec<LedgerFill> = exec
        .fill_reports(&intent.client_order_id, &intent.market)
        .into_iter()
        .map(|r| LedgerFill {
            fill_id: r.fill_id,
            client_order_id: r.client_order_id,
            market: r.market,
            side: r.side,
            action: r.action,
            qty: r.qty,
            price: r.price,
            fee: r.fee,
            at: cx.now,
        })
        .collect();
    for f in &fills {
        order = order
            .apply(
                OrderEvent::Fill {
                    fill_id: f.fill_id.clone(),
                    qty: f.qty,
                    fee: f.fee,
                },
                cx.now,
            )
            .map_err(code)?;
    }
    if exec.unfilled.units() > 0 {
        order = order
            .apply(OrderEvent::CancelConfirmed, cx.now)
            .map_err(code)?;
    }
    // The market's book after these fills: replay its ledger with them.
    let mut ledger_fills = store::market_fills(cx.db, Mode::Paper, intent.market.as_str())
        .await
        .map_err(db_code)?;
    ledger_fills.retain(|f| !fills.iter().any(|n| n.fill_id == f.fill_id));
    ledger_fills.extend(fills.iter().cloned());
    let (ledger, closed) = Ledger::replay(&ledger_fills).map_err(|e| e.code().to_string())?;
    let position = ledger
        .position(&intent.market)
        .map(|p| BookPosition::from_open(&intent.market, p));
    store::record_execution(
        cx.db,
        Some(&order),
        Some(seq),
        &fills,
        &MarketChange {
            mode: Mode::Paper,
            market: &intent.market,
            position,
            closed: &closed,
            now: cx.now,
        },
    )
    .await
    .map_err(db_code)?;
    // The governor learns the fills (a refusal is retried by governor_sync next cycle) and
    // releases what the book could not fill.
    apply_fills(cx, &fills).await;
    if exec.unfilled.units() > 0 {
        let release = Event::Cancel {
            client_order_id: intent.client_order_id.clone(),
        };
        let _ = governor(cx, &release, "UNKNOWN_RESERVATION").await;
    }
    Ok(Executed::Paper {
        filled: exec.filled,
        unfilled: exec.unfilled,
    })
}

async fn settlement_step(cx: &Cx<'_>) -> StepEnd {
    // Paper positions close on the ingested market result; live ones on the venue's own
    // settlement record (`GET /portfolio/settlements`, every page, read once per cycle when
    // a live position is open), at its payout. Live reconciliation checks the two agree.
    let mut positions = Vec::new();
    for mode in [Mode::Paper, Mode::Live] {
        match store::positions(cx.db, mode).await {
            Ok(p) => positions.extend(p.into_iter().map(|p| (mode, p))),
            Err(e) => return StepEnd::fail(json!({}), e.code(), "database read failed"),
        }
    }
    let venue = if positions.iter().any(|(m, _)| *m == Mode::Live) {
        Some(super::live::venue_settlements(cx).await)
    } else {
        None
    };
    let (mut settled, mut open, mut failures) = (0, 0, 0);
    let mut pnl: i64 = 0;
    for (mode, p) in &positions {
        let outcome = match (mode, &venue) {
            (Mode::Live, Some(Err(code))) => Err(code.clone()),
            (Mode::Live, Some(Ok(records))) => settle_one(cx, *mode, p, Some(records)).await,
            _ => settle_one(cx, *mode, p, None).await,
        };
        match outcome {
            Ok(Some(realised)) => {
                settled += 1;
                pnl += realised.micros();
            }
            Ok(None) => open += 1,
            Err(code) => {
                cx.log.error(
                    "settlement_failed",
                    json!({"market": p.market, "mode": mode.as_str(), "code": code}),
                );
                failures += 1;
            }
        }
    }
    let counts = json!({"positions": positions.len(), "settled": settled, "open": open,
                        "failures": failures, "realised_pnl_usd_micros": pnl,
                        "venue_settlements": venue.as_ref().and_then(|v| v.as_ref().ok()).map(Vec::len)});
    if failures > 0 {
        return StepEnd::fail(
            counts,
            "CYCLE_SETTLEMENT_INCOMPLETE",
            "some positions could not be settled",
        );
    }
    StepEnd::success(counts)
}

/// Closes `p` if its market resolved — by the ingested result (paper) or by the venue's
/// settlement record among `venue` (live); the realised P&L, or `None` while it is open.
async fn settle_one(
    cx: &Cx<'_>,
    mode: Mode,
    p: &BookPosition,
    venue: Option<&[crate::venues::kalshi::VenueSettlement]>,
) -> Result<Option<Usd>, String> {
    let db_code = |e: DbError| e.code().to_string();
    let ledger_code = |e: crate::core::settlement::LedgerError| e.to_string();
    let fills = store::market_fills(cx.db, mode, p.market.as_str())
        .await
        .map_err(db_code)?;
    let (mut ledger, closed_by_fills) = Ledger::replay(&fills).map_err(ledger_code)?;
    let (resolution, trade, source) = match venue {
        Some(records) => {
            let Some(record) = records.iter().find(|s| s.ticker == p.market.as_str()) else {
                return Ok(None);
            };
            let terms = VenueSettlementTerms::of(record).map_err(ledger_code)?;
            let trade = ledger
                .settle_from_venue(&p.market, &terms)
                .map_err(ledger_code)?;
            (terms.result, trade, "venue_settlement")
        }
        None => {
            let row = pair_store::market(cx.db, "kalshi", p.market.as_str())
                .await
                .map_err(db_code)?;
            let result = row.and_then(|r| r.result).unwrap_or_default();
            let Some(resolution) = Resolution::from_result(&result).map_err(ledger_code)? else {
                return Ok(None);
            };
            let trade = ledger
                .settle(&p.market, resolution, cx.now)
                .map_err(ledger_code)?;
            (resolution, trade, "ingested_result")
        }
    };
    let Some(trade) = trade else {
        return Ok(None);
    };
    audit(
        cx,
        "TRADE_CLOSED",
        json!({"mode": mode.as_str(), "source": source, "trade": trade}),
    )
    .await?;
    let yes_value = match resolution {
        Resolution::Yes => Price::ONE_DOLLAR,
        Resolution::No => Price::ZERO,
    };
    governor(
        cx,
        &Event::Settlement {
            market: p.market.clone(),
            yes_value,
        },
        "",
    )
    .await?;
    let realised = trade.realised_pnl;
    let mut closed = closed_by_fills;
    closed.push(trade);
    store::record_execution(
        cx.db,
        None,
        None,
        &[],
        &MarketChange {
            mode,
            market: &p.market,
            position: None,
            closed: &closed,
            now: cx.now,
        },
    )
    .await
    .map_err(db_code)?;
    Ok(Some(realised))
}

/// Why a reconciliation could not run at all.
#[derive(Debug)]
pub enum ReconcileError {
    Db(DbError),
    Config(String),
}

impl ReconcileError {
    pub fn code(&self) -> &'static str {
        match self {
            ReconcileError::Db(e) => e.code(),
            ReconcileError::Config(_) => "CONFIG_INVALID",
        }
    }
}

impl fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconcileError::Db(e) => e.fmt(f),
            ReconcileError::Config(d) => write!(f, "CONFIG_INVALID: {d}"),
        }
    }
}

impl From<DbError> for ReconcileError {
    fn from(e: DbError) -> Self {
        ReconcileError::Db(e)
    }
}

/// Reconciliation thresholds and integrity settings from the environment.
pub(super) fn reconcile_config(env: &Env) -> Result<(Thresholds, IntegrityConfig), ReconcileError> {
    let d = Thresholds::default();
    let caution = bindings::var_i64(env, "RECONCILE_CAUTION_BPS", d.caution_bps)
        .map_err(ReconcileError::Config)?;
    let halt =
        bindings::var_i64(env, "RECONCILE_HALT_BPS", d.halt_bps).map_err(ReconcileError::Config)?;
    let thresholds = Thresholds {
        caution_bps: caution,
        halt_bps: halt,
    };
    thresholds
        .validate()
        .map_err(|e| ReconcileError::Config(e.to_string()))?;
    let integrity = IntegrityConfig::from_vars(
        bindings::var(env, "INTEGRITY_MAX_OPEN_POSITION_AGE_DAYS").as_deref(),
        bindings::var(env, "INTEGRITY_ORPHAN_WHITELIST_IDS").as_deref(),
    )
    .map_err(ReconcileError::Config)?;
    Ok((thresholds, integrity))
}

/// Paper reconciliation: the position book against a replay of the fill ledger (with the
/// settlements recorded as closed trades), then the integrity gate. Violations are stored;
/// the outcome goes to the audit log, the governor and `reconciliations` — except a *clean*
/// paper outcome when `live` (anything trades live, [`super::live::is_active`], or that could
/// not be read): the live reconciliation speaks for the breaker then, and a clean paper book
/// must neither reset the failure streak a failing live reconciliation builds nor count as the
/// clean reconciliation HALT → RECOVERY needs. Drift and failures are always reported.
/// Returns the summary.
pub async fn reconcile_paper(
    cx: &Cx<'_>,
    triggered_by: &str,
    live: bool,
) -> Result<Value, ReconcileError> {
    let (thresholds, integrity_config) = reconcile_config(cx.env)?;
    let fills = store::fills(cx.db, Mode::Paper).await?;
    let trades = store::closed_trades(cx.db, Mode::Paper).await?;
    let book = store::positions(cx.db, Mode::Paper).await?;
    let ours = Holdings::from_positions(book.iter().map(|p| {
        let signed = match p.side {
            crate::core::risk::Side::Yes => p.qty.units(),
            crate::core::risk::Side::No => -p.qty.units(),
        };
        (p.market.clone(), Qty(signed))
    }));
    let replayed: Result<Ledger, String> = (|| {
        let (mut ledger, _) = Ledger::replay(&fills).map_err(|e| e.to_string())?;
        for t in &trades {
            if let Exit::Settlement { result } = t.exit {
                ledger
                    .settle(&t.market, result, t.closed_at)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(ledger)
    })();
    let report = match &replayed {
        Ok(ledger) => reconcile::reconcile(&ours, Ok(&Holdings::from_ledger(ledger)), thresholds),
        Err(detail) => {
            let e = reconcile::ReadError::Venue {
                endpoint: "fills_ledger".into(),
                detail: detail.clone(),
            };
            reconcile::reconcile(&ours, Err(&e), thresholds)
        }
    };
    let records: Vec<_> = book.iter().map(BookPosition::record).collect();
    let violations = integrity::check(
        &IntegrityInput {
            fills: &fills,
            open_positions: &records,
            closed_trades: &trades,
            now: cx.now,
        },
        &integrity_config,
    );
    for v in &violations {
        store::upsert_violation(cx.db, v, cx.now).await?;
    }
    // Violations an operator resolved do not escalate again; open ones do.
    let open: Vec<_> = store::violations(cx.db, Some("open"), 500).await?;
    let open_now: Vec<&integrity::Violation> = violations
        .iter()
        .filter(|v| open.iter().any(|o| o.id == v.id))
        .collect();
    let mut outcome = report.outcome();
    if matches!(outcome, ReconciliationOutcome::Clean) && !open_now.is_empty() {
        let orphan = open_now
            .iter()
            .any(|v| v.code == ViolationCode::IntegrityOrphanPosition);
        let detail = open_now
            .iter()
            .take(5)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        outcome = ReconciliationOutcome::Drift {
            severity: if orphan {
                DriftSeverity::Halt
            } else {
                DriftSeverity::Caution
            },
            detail: format!("integrity: {detail}"),
        };
    }
    let (outcome_name, severity) = outcome.labels();
    let id = format!("recon-{}-{}", cx.run_id, cx.now.timestamp_millis());
    let summary = json!({
        "id": id,
        "mode": "paper",
        "outcome": outcome_name,
        "severity": severity,
        "drift_bps": report.drift_bps,
        "markets_compared": report.markets_compared,
        "findings": report.findings,
        "failure": report.failure,
        "thresholds": report.thresholds,
        "violations": violations.iter().map(|v| json!({"id": v.id, "code": v.code.as_str(), "subject": v.subject,
            "open": open_now.iter().any(|o| o.id == v.id)})).collect::<Vec<_>>(),
        "fills": fills.len(),
        "positions": book.len(),
        "closed_trades": trades.len(),
    });
    let report_to_breaker = !(live && matches!(outcome, ReconciliationOutcome::Clean));
    record_reconciliation(
        cx,
        &id,
        Mode::Paper,
        triggered_by,
        outcome,
        report.drift_bps,
        summary,
        report_to_breaker,
    )
    .await
}

/// The end of a reconciliation, paper or live: audited first (`RECONCILIATION`), then reported
/// to the risk governor (when `report_to_breaker`) and stored; the summary with the audit seq,
/// whether it was meant for the breaker (`breaker_counted`) and whether the governor took the
/// report (`governor_told`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_reconciliation(
    cx: &Cx<'_>,
    id: &str,
    mode: Mode,
    triggered_by: &str,
    outcome: ReconciliationOutcome,
    drift_bps: Option<i64>,
    mut summary: Value,
    report_to_breaker: bool,
) -> Result<Value, ReconcileError> {
    let (outcome_name, severity) = outcome.labels();
    summary["breaker_counted"] = json!(report_to_breaker);
    let seq = audit(cx, "RECONCILIATION", summary.clone())
        .await
        .map_err(|code| {
            ReconcileError::Db(DbError::Failed {
                message: format!("{code}: reconciliation not audited"),
            })
        })?;
    let told = if report_to_breaker {
        governor(cx, &Event::Reconciliation { outcome }, "")
            .await
            .is_ok()
    } else {
        false
    };
    store::insert_reconciliation(
        cx.db,
        &store::ReconciliationRecord {
            id,
            mode,
            triggered_by,
            outcome: outcome_name,
            severity,
            drift_bps,
            report: &summary,
            audit_seq: Some(seq),
            at: cx.now,
        },
    )
    .await?;
    let mut out = summary;
    out["audit_seq"] = json!(seq);
    out["governor_told"] = json!(told);
    Ok(out)
}

/// A summary of a finished cycle for the log.
pub fn log_summary(log: &Logger, result: &Result<RunSummary, CycleError>) {
    match result {
        Ok(s) => log.info(
            "job_finished",
            json!({"job": JOB, "run_id": s.run_id, "status": s.status.as_str()}),
        ),
        Err(e) => log.warn(
            "job_not_run",
            json!({"job": JOB, "code": e.code(), "detail": e.to_string()}),
        ),
    }
}

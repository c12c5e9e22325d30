//! Live execution and live reconciliation, plugged into the trading cycle's seam
//! (`cycle::execute` for a strategy in mode `live`; `cycle::steps` runs [`reconcile`] when any
//! strategy is live or the live ledger holds anything).
//!
//! Execution of one order: no new order on a market while a live order there is `unknown`
//! (`core::orders::ensure_market_clear`); the RiskGovernor check (its approval, rebuilt as
//! `Approved`, is the only way to a venue body); the write-ahead audit append; the order on
//! record as `submitted`; then `kalshi_client::submit` (immediate-or-cancel at the signal's
//! limit). The venue's answer decides the order's state (`core::kalshi_http`): accepted → its
//! fills are read from the venue and enter the ledger and the governor (if that read fails, the
//! order stays `submitted` for reconciliation to resolve with its fills); timeout / 5xx →
//! `unknown`, reservation kept, the market blocked until reconciliation; refused → rejected,
//! reservation released; credentials refused → rejected and reported to the breaker.
//!
//! Reconciliation: every page of the venue's orders resolves our `submitted`/`unknown` orders
//! (their fills are read and recorded), then every page of positions and fills is compared with
//! the live book and ledger (`core::reconcile`), and every page of settlements with the live
//! closed trades (`reconcile::check_settlements`: payout and fees as the venue recorded them). A venue fill we never recorded — a dropped
//! fill — is an orphan: HALT. A read that fails is a failed reconciliation, told to the
//! governor, never "no positions".

use super::cycle::{self, Cx};
use crate::core::breaker::FailureSource;
use crate::core::kalshi_http::SubmitOutcome;
use crate::core::money::Qty;
use crate::core::orders::{ensure_market_clear, OrderEvent, OrderRecord, OrderState};
use crate::core::reconcile::{self, Holdings, ReadError};
use crate::core::risk::{Approved, Event, MarketId, Side};
use crate::core::settlement::{Ledger, LedgerFill};
use crate::core::strategy::Signal;
use crate::kalshi_client::KalshiClient;
use crate::risk_client;
use crate::store::d1::DbError;
use crate::store::trading::{self as store, BookPosition, MarketChange, Mode};
use crate::venues::kalshi::{TimeInForce, VenueFill, VenueSettlement};
use serde_json::{json, Value};

/// What live execution did with one order.
pub enum LiveExecuted {
    /// Not sent: blocked market, governor refusal, client unusable, audit down.
    Refused,
    /// The venue placed it (maybe partly filled).
    Placed { filled: Qty },
    /// Sent; the venue's answer was lost or a 5xx: `unknown` until reconciliation.
    Unknown,
    /// The venue refused it (nothing placed).
    VenueRejected,
}

fn db_code(e: DbError) -> String {
    e.code().to_string()
}

async fn refuse(cx: &Cx<'_>, order: &OrderRecord, reason: String) -> Result<LiveExecuted, String> {
    let refused = order
        .apply(OrderEvent::Refuse { reason }, cx.now)
        .map_err(|e| e.code().to_string())?;
    store::update_order(cx.db, &refused, None)
        .await
        .map_err(db_code)?;
    Ok(LiveExecuted::Refused)
}

async fn release(cx: &Cx<'_>, client_order_id: &str) {
    let release = Event::Cancel {
        client_order_id: client_order_id.to_string(),
    };
    let _ = cycle::governor(cx, &release, "UNKNOWN_RESERVATION").await;
}

fn ledger_fill(f: &VenueFill, client_order_id: &str, cx: &Cx<'_>) -> LedgerFill {
    LedgerFill {
        fill_id: f.fill_id.clone(),
        client_order_id: client_order_id.to_string(),
        market: MarketId::new(f.ticker.clone()),
        side: f.side,
        action: f.action,
        qty: f.qty,
        price: f.price(),
        fee: f.fee,
        at: f.created_time.unwrap_or(cx.now),
    }
}

/// Records `order` (its new state) with `fills` in the live ledger and book, and tells the
/// governor about the fills.
async fn record(
    cx: &Cx<'_>,
    order: &OrderRecord,
    seq: Option<u64>,
    fills: &[LedgerFill],
) -> Result<(), String> {
    let mut ledger_fills = store::market_fills(cx.db, Mode::Live, order.market.as_str())
        .await
        .map_err(db_code)?;
    ledger_fills.retain(|f| !fills.iter().any(|n| n.fill_id == f.fill_id));
    ledger_fills.extend(fills.iter().cloned());
    let (ledger, closed) = Ledger::replay(&ledger_fills).map_err(|e| e.code().to_string())?;
    let position = ledger
        .position(&order.market)
        .map(|p| BookPosition::from_open(&order.market, p));
    store::record_execution(
        cx.db,
        Some(order),
        seq,
        fills,
        &MarketChange {
            mode: Mode::Live,
            market: &order.market,
            position,
            closed: &closed,
            now: cx.now,
        },
    )
    .await
    .map_err(db_code)?;
    cycle::apply_fills(cx, fills).await;
    Ok(())
}

/// Executes one live order of `signal` (already stored in `intent`).
pub async fn execute(
    cx: &Cx<'_>,
    signal: &Signal,
    order: OrderRecord,
) -> Result<LiveExecuted, String> {
    let code = |e: crate::core::orders::OrderError| e.code().to_string();
    let client = match KalshiClient::from_env(cx.env).await {
        Ok(c) => c,
        Err(e) => {
            cx.log
                .error("live_client_unavailable", json!({"code": e.code()}));
            risk_client::report_outcome(cx.env, cx.log, FailureSource::VenueApi, false, e.code())
                .await;
            return refuse(cx, &order, format!("{}: not sent", e.code())).await;
        }
    };
    let unsettled = crate::store::live::unsettled_orders(cx.db)
        .await
        .map_err(db_code)?;
    if let Err(e) = ensure_market_clear(&unsettled, &order.market) {
        return refuse(cx, &order, e.to_string()).await;
    }
    let intent = signal.intent();
    let verdict = match risk_client::check(cx.env, cycle::ACTOR, &intent, false).await {
        Ok(v) => v["verdict"].clone(),
        Err(e) => json!({"approved": false, "codes": [e.code]}),
    };
    let Some(approved) = Approved::from_governor_answer(intent.clone(), &verdict) else {
        if verdict["approved"] == true {
            release(cx, &intent.client_order_id).await;
        }
        return refuse(
            cx,
            &order,
            format!("RISK_REFUSED: {}", cycle::codes_of(&verdict)),
        )
        .await;
    };
    let approved_order = order.approve(&approved, cx.now).map_err(code)?;
    let payload = json!({"mode": "live", "order": approved_order, "verdict": verdict,
                         "signal": {"pair_id": signal.pair_id, "model_prob_ppm": signal.model_prob,
                                    "market_prob_ppm": signal.market_prob, "edge_bps": signal.edge_bps,
                                    "evidence": signal.evidence.iter().map(|h| h.to_hex()).collect::<Vec<_>>()},
                         "venue": "kalshi", "time_in_force": "immediate_or_cancel"});
    let seq = match cycle::audit(cx, "ORDER_SUBMITTED", payload).await {
        Ok(seq) => seq,
        Err(audit_code) => {
            let mut cancelled = approved_order
                .apply(OrderEvent::CancelConfirmed, cx.now)
                .map_err(code)?;
            cancelled.reason = Some(format!("{audit_code}: not submitted"));
            store::update_order(cx.db, &cancelled, None)
                .await
                .map_err(db_code)?;
            release(cx, &intent.client_order_id).await;
            return Ok(LiveExecuted::Refused);
        }
    };
    let submitted = approved_order
        .apply(OrderEvent::Submit, cx.now)
        .map_err(code)?;
    // On record as submitted before it leaves: a cycle that dies here leaves an order that
    // reconciliation resolves, never a silent one.
    store::update_order(cx.db, &submitted, Some(seq))
        .await
        .map_err(db_code)?;
    let submission = client
        .submit(&approved, TimeInForce::ImmediateOrCancel)
        .await;
    cx.log.info(
        "live_order_submitted",
        json!({"client_order_id": intent.client_order_id, "market": intent.market,
               "requests": submission.requests, "duplicate_resolved": submission.duplicate_resolved,
               "outcome": outcome_name(&submission.outcome)}),
    );
    let event = submission
        .outcome
        .order_event()
        .ok_or_else(|| "SUBMIT_OUTCOME_UNRESOLVED".to_string())?;
    let next = submitted.apply(event, cx.now).map_err(code)?;
    match &submission.outcome {
        SubmitOutcome::Accepted(venue_order) => {
            let fills: Vec<LedgerFill> = if venue_order.filled.units() > 0 {
                match client.fills(Some(&venue_order.order_id)).await {
                    Ok(fs) => fs
                        .iter()
                        .map(|f| ledger_fill(f, &intent.client_order_id, cx))
                        .collect(),
                    Err(e) => {
                        // The venue filled it but its fills could not be read. Recording the
                        // order `filled` without them would leave venue fills nothing ever
                        // reads again (reconciliation resolves only unsettled orders): drift
                        // and HALT for good. The order stays `submitted` (reservation kept,
                        // market blocked); reconciliation resolves it from the venue's order
                        // list and records its fills, as for an order whose answer was lost.
                        cx.log.error(
                            "live_fills_unread",
                            json!({"order_id": venue_order.order_id, "code": e.code()}),
                        );
                        risk_client::report_outcome(
                            cx.env,
                            cx.log,
                            FailureSource::Execution,
                            true,
                            "",
                        )
                        .await;
                        return Ok(LiveExecuted::Placed {
                            filled: venue_order.filled,
                        });
                    }
                }
            } else {
                Vec::new()
            };
            record(cx, &next, None, &fills).await?;
            if next.state != OrderState::Resting && next.filled.units() < next.qty.units() {
                release(cx, &intent.client_order_id).await;
            }
            risk_client::report_outcome(cx.env, cx.log, FailureSource::Execution, true, "").await;
            Ok(LiveExecuted::Placed {
                filled: next.filled,
            })
        }
        SubmitOutcome::Unknown { reason } => {
            store::update_order(cx.db, &next, None)
                .await
                .map_err(db_code)?;
            risk_client::report_outcome(cx.env, cx.log, FailureSource::Execution, false, reason)
                .await;
            Ok(LiveExecuted::Unknown)
        }
        other => {
            store::update_order(cx.db, &next, None)
                .await
                .map_err(db_code)?;
            release(cx, &intent.client_order_id).await;
            if let SubmitOutcome::CredentialsRefused { status, code } = other {
                cx.log.error(
                    "kalshi_credentials_refused",
                    json!({"status": status, "venue_code": code}),
                );
                risk_client::report_outcome(
                    cx.env,
                    cx.log,
                    FailureSource::VenueApi,
                    false,
                    &format!("KALSHI_CREDENTIALS_REFUSED: status={status} venue_code={code}"),
                )
                .await;
            }
            Ok(LiveExecuted::VenueRejected)
        }
    }
}

fn outcome_name(o: &SubmitOutcome) -> &'static str {
    match o {
        SubmitOutcome::Accepted(_) => "accepted",
        SubmitOutcome::Duplicate => "duplicate",
        SubmitOutcome::RateLimited { .. } => "rate_limited",
        SubmitOutcome::CredentialsRefused { .. } => "credentials_refused",
        SubmitOutcome::Rejected { .. } => "rejected",
        SubmitOutcome::Unknown { .. } => "unknown",
        SubmitOutcome::NotSent { .. } => "not_sent",
    }
}

/// Every page of the venue's settlement records; `Err(code)` if the client or a read failed.
pub async fn venue_settlements(cx: &Cx<'_>) -> Result<Vec<VenueSettlement>, String> {
    let client = KalshiClient::from_env(cx.env)
        .await
        .map_err(|e| e.code().to_string())?;
    client.settlements().await.map_err(|e| e.to_string())
}

/// Whether the cycle should reconcile live: a live strategy exists or the live ledger or
/// order book holds anything.
pub async fn is_active(cx: &Cx<'_>) -> Result<bool, DbError> {
    if store::strategies(cx.db)
        .await?
        .iter()
        .any(|s| s.mode == Mode::Live)
    {
        return Ok(true);
    }
    Ok(!store::fills(cx.db, Mode::Live).await?.is_empty()
        || !crate::store::live::unsettled_orders(cx.db)
            .await?
            .is_empty())
}

/// Resolves unsettled live orders from a complete read of the venue's orders; records the
/// fills of those that reached the venue. Returns how many were resolved.
async fn resolve_unsettled(cx: &Cx<'_>, client: &KalshiClient) -> Result<usize, ReadError> {
    let ours = crate::store::live::unsettled_orders(cx.db)
        .await
        .map_err(|e| ReadError::Venue {
            endpoint: "orders_store".into(),
            detail: e.code().to_string(),
        })?;
    if ours.is_empty() {
        return Ok(0);
    }
    let venue_orders = client.orders(None).await?;
    let mut resolved = 0;
    for (client_order_id, event) in reconcile::resolve_unknown_orders(&ours, &venue_orders) {
        let Some(order) = ours.iter().find(|o| o.client_order_id == client_order_id) else {
            continue;
        };
        // Absence from the venue's list is trusted only in a later cycle than the one that
        // sent the order: a submission whose answer was lost may still be on its way in.
        if matches!(event, OrderEvent::Reconciled { venue: None }) && order.updated_at >= cx.now {
            continue;
        }
        let venue_order_id = match &event {
            OrderEvent::Reconciled { venue: Some(v) } => Some(v.order_id.clone()),
            _ => None,
        };
        let next = match order.apply(event, cx.now) {
            Ok(n) => n,
            Err(e) => {
                cx.log.error(
                    "unknown_order_unresolvable",
                    json!({"client_order_id": client_order_id, "code": e.code(), "detail": e.to_string()}),
                );
                continue;
            }
        };
        let fills = match (&venue_order_id, next.filled.units() > 0) {
            (Some(id), true) => client
                .fills(Some(id))
                .await?
                .iter()
                .map(|f| ledger_fill(f, &client_order_id, cx))
                .collect(),
            _ => Vec::new(),
        };
        let stored = if fills.is_empty() {
            store::update_order(cx.db, &next, None)
                .await
                .map_err(db_code)
        } else {
            record(cx, &next, None, &fills).await
        };
        if let Err(code) = stored {
            return Err(ReadError::Venue {
                endpoint: "orders_store".into(),
                detail: code,
            });
        }
        if next.state != OrderState::Resting && next.state.is_terminal() {
            release(cx, &client_order_id).await;
        }
        cx.log.info(
            "unknown_order_resolved",
            json!({"client_order_id": client_order_id, "state": next.state.as_str()}),
        );
        resolved += 1;
    }
    Ok(resolved)
}

/// Live reconciliation: the live book and ledger against the venue's positions and fills (all
/// pages), after resolving unsettled orders. Stored, audited and told to the governor.
pub async fn reconcile(cx: &Cx<'_>, triggered_by: &str) -> Result<Value, cycle::ReconcileError> {
    let (thresholds, _) = cycle::reconcile_config(cx.env)?;
    let venue: Result<(usize, Holdings, Vec<VenueSettlement>), ReadError> = async {
        let client = KalshiClient::from_env(cx.env)
            .await
            .map_err(|e| ReadError::Venue {
                endpoint: "kalshi_client".into(),
                detail: e.to_string(),
            })?;
        let resolved = resolve_unsettled(cx, &client).await?;
        let positions = client.positions().await?;
        let fills = client.fills(None).await?;
        let settlements = client.settlements().await?;
        Ok((
            resolved,
            Holdings::from_venue(&positions, Some(&fills)),
            settlements,
        ))
    }
    .await;
    let book = store::positions(cx.db, Mode::Live).await?;
    let ledger = store::fills(cx.db, Mode::Live).await?;
    let ours = Holdings::from_positions(book.iter().map(|p| {
        let signed = match p.side {
            Side::Yes => p.qty.units(),
            Side::No => -p.qty.units(),
        };
        (p.market.clone(), Qty(signed))
    }))
    .with_fills(ledger.iter().map(|f| (f.fill_id.clone(), f.market.clone())));
    let trades = store::closed_trades(cx.db, Mode::Live).await?;
    let (resolved, report) = match &venue {
        Ok((resolved, theirs, settlements)) => {
            let mut report = reconcile::reconcile(&ours, Ok(theirs), thresholds);
            report
                .findings
                .extend(reconcile::check_settlements(settlements, &trades, &ledger));
            (*resolved, report)
        }
        Err(e) => (0, reconcile::reconcile(&ours, Err(e), thresholds)),
    };
    let outcome = report.outcome();
    let (outcome_name, severity) = outcome.labels();
    let id = format!("recon-live-{}-{}", cx.run_id, cx.now.timestamp_millis());
    let summary = json!({
        "id": id,
        "mode": "live",
        "outcome": outcome_name,
        "severity": severity,
        "drift_bps": report.drift_bps,
        "markets_compared": report.markets_compared,
        "findings": report.findings,
        "failure": report.failure,
        "thresholds": report.thresholds,
        "unknown_orders_resolved": resolved,
        "fills": ledger.len(),
        "positions": book.len(),
        "closed_trades": trades.len(),
        "venue_settlements": venue.as_ref().ok().map(|(_, _, s)| s.len()),
    });
    cycle::record_reconciliation(
        cx,
        &id,
        Mode::Live,
        triggered_by,
        outcome,
        report.drift_bps,
        summary,
        true,
    )
    .await
}

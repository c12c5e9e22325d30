//! Reconciliation: our book against the venue's (live), or the position book against a
//! recomputation from the fill ledger (paper). Pure: the caller reads every page and hands over
//! the records — or the read failure, which is a failed reconciliation, never "no positions".
//!
//! Positions are compared as signed contract counts per market (YES positive, NO negative, as
//! Kalshi's `position_fp`). Findings:
//! - an **orphan** — the venue holds a position we do not know, we hold one the venue does not
//!   have, or a fill exists on one side only (a dropped fill is exactly this) — sends the
//!   breaker to HALT whatever its size; so does a settlement one side does not show or shows
//!   differently ([`check_settlements`], live);
//! - otherwise the **drift** `Σ |ours − theirs| / max(Σ |ours|, Σ |theirs|)`, in basis points
//!   rounded up, is CAUTION at `caution_bps` (default 200 = 2%) and HALT at `halt_bps`
//!   (default 500 = 5%); a smaller drift is reported but clean.
//!
//! The result maps onto [`ReconciliationOutcome`], the RiskGovernor's input.

use crate::core::money::{Qty, Usd};
use crate::core::orders::{OrderEvent, OrderRecord, OrderState};
use crate::core::risk::{DriftSeverity, MarketId, ReconciliationOutcome};
use crate::core::settlement::{ClosedTrade, Exit, Ledger, LedgerFill};
use crate::venues::kalshi::{MarketPosition, VenueFill, VenueOrder, VenueSettlement};
use crate::venues::PageParse;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Most pages a single paged read may take before it is called a loop.
pub const DEFAULT_MAX_PAGES: usize = 1_000;

/// Drift thresholds in basis points; `caution_bps ≤ halt_bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub caution_bps: i64,
    pub halt_bps: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            caution_bps: 200,
            halt_bps: 500,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), ReadError> {
        if self.caution_bps <= 0 || self.halt_bps < self.caution_bps || self.halt_bps > 10_000 {
            return Err(ReadError::InvalidThresholds(*self));
        }
        Ok(())
    }
}

/// Why a venue read (or the reconciliation's inputs) cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The HTTP read failed (status, timeout, body refused): the caller's words.
    Venue {
        endpoint: String,
        detail: String,
    },
    /// A page had records that did not parse: the picture would be incomplete.
    RecordRejected {
        endpoint: String,
        code: String,
        key: Option<String>,
    },
    /// The venue handed back a cursor it had already given.
    CursorLoop {
        endpoint: String,
    },
    TooManyPages {
        endpoint: String,
        pages: usize,
    },
    InvalidThresholds(Thresholds),
}

impl ReadError {
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::Venue { .. } => "RECONCILE_VENUE_READ_FAILED",
            ReadError::RecordRejected { .. } => "RECONCILE_RECORD_REJECTED",
            ReadError::CursorLoop { .. } => "RECONCILE_CURSOR_LOOP",
            ReadError::TooManyPages { .. } => "RECONCILE_TOO_MANY_PAGES",
            ReadError::InvalidThresholds(_) => "RECONCILE_INVALID_THRESHOLDS",
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            ReadError::Venue { endpoint, detail } => {
                write!(f, "{code}: endpoint={endpoint} {detail}")
            }
            ReadError::RecordRejected {
                endpoint,
                code: c,
                key,
            } => write!(
                f,
                "{code}: endpoint={endpoint} reject={c} key={}",
                key.as_deref().unwrap_or("-")
            ),
            ReadError::CursorLoop { endpoint } => write!(f, "{code}: endpoint={endpoint}"),
            ReadError::TooManyPages { endpoint, pages } => {
                write!(f, "{code}: endpoint={endpoint} pages={pages}")
            }
            ReadError::InvalidThresholds(t) => write!(
                f,
                "{code}: caution_bps={} halt_bps={}",
                t.caution_bps, t.halt_bps
            ),
        }
    }
}

/// Collects every page of one cursor-paged endpoint, refusing incomplete pictures.
#[derive(Debug, Clone)]
pub struct PagedRead<T> {
    endpoint: String,
    records: Vec<T>,
    cursors: BTreeSet<String>,
    pages: usize,
    max_pages: usize,
}

impl<T> PagedRead<T> {
    pub fn new(endpoint: &str, max_pages: usize) -> PagedRead<T> {
        PagedRead {
            endpoint: endpoint.to_string(),
            records: Vec::new(),
            cursors: BTreeSet::new(),
            pages: 0,
            max_pages,
        }
    }

    /// Adds a page; returns the cursor to fetch next, or `None` when the read is complete.
    pub fn push(&mut self, page: PageParse<T>) -> Result<Option<String>, ReadError> {
        if let Some(r) = page.rejects.first() {
            return Err(ReadError::RecordRejected {
                endpoint: self.endpoint.clone(),
                code: r.code(),
                key: r.key.clone(),
            });
        }
        self.pages += 1;
        self.records.extend(page.records);
        match page.cursor {
            None => Ok(None),
            Some(_) if self.pages >= self.max_pages => Err(ReadError::TooManyPages {
                endpoint: self.endpoint.clone(),
                pages: self.pages,
            }),
            Some(c) if !self.cursors.insert(c.clone()) => Err(ReadError::CursorLoop {
                endpoint: self.endpoint.clone(),
            }),
            Some(c) => Ok(Some(c)),
        }
    }

    /// The records, once `push` returned `Ok(None)`.
    pub fn finish(self) -> Vec<T> {
        self.records
    }
}

/// What one side holds: signed positions (zero rows dropped) and, for live, the fill ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub positions: BTreeMap<MarketId, Qty>,
    /// `None` when fills are not compared (paper).
    pub fill_ids: Option<BTreeMap<String, MarketId>>,
}

impl Holdings {
    /// The venue's picture from complete reads of positions and fills.
    pub fn from_venue(positions: &[MarketPosition], fills: Option<&[VenueFill]>) -> Holdings {
        Holdings {
            positions: positions
                .iter()
                .filter(|p| p.position.units() != 0)
                .map(|p| (MarketId::new(p.ticker.clone()), p.position))
                .collect(),
            fill_ids: fills.map(|fs| {
                fs.iter()
                    .map(|f| (f.fill_id.clone(), MarketId::new(f.ticker.clone())))
                    .collect()
            }),
        }
    }

    /// Positions recomputed from the fill ledger (paper), without fill comparison.
    pub fn from_ledger(ledger: &Ledger) -> Holdings {
        Holdings {
            positions: ledger
                .signed_positions()
                .into_iter()
                .filter(|(_, q)| q.units() != 0)
                .collect(),
            fill_ids: None,
        }
    }

    /// Signed positions from any source (e.g. the RiskGovernor's book), zero rows dropped.
    pub fn from_positions(positions: impl IntoIterator<Item = (MarketId, Qty)>) -> Holdings {
        Holdings {
            positions: positions
                .into_iter()
                .filter(|(_, q)| q.units() != 0)
                .collect(),
            fill_ids: None,
        }
    }

    pub fn with_fills(mut self, fills: impl IntoIterator<Item = (String, MarketId)>) -> Holdings {
        self.fill_ids = Some(fills.into_iter().collect());
        self
    }
}

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code")]
pub enum Finding {
    /// The venue holds a position our book does not know.
    #[serde(rename = "RECONCILE_ORPHAN_VENUE_POSITION")]
    OrphanVenuePosition { market: MarketId, venue: Qty },
    /// Our book holds a position the venue does not have.
    #[serde(rename = "RECONCILE_PHANTOM_POSITION")]
    PhantomPosition { market: MarketId, ours: Qty },
    /// Both hold the market, in different amounts (counts toward drift).
    #[serde(rename = "RECONCILE_QTY_MISMATCH")]
    QtyMismatch {
        market: MarketId,
        ours: Qty,
        venue: Qty,
    },
    /// A venue fill we never recorded (e.g. a dropped fill).
    #[serde(rename = "RECONCILE_UNRECORDED_VENUE_FILL")]
    UnrecordedVenueFill { fill_id: String, market: MarketId },
    /// A fill we recorded that the venue does not list.
    #[serde(rename = "RECONCILE_FILL_MISSING_AT_VENUE")]
    FillMissingAtVenue { fill_id: String, market: MarketId },
    /// The venue settled a market we traded; our books have no settlement of it.
    #[serde(rename = "RECONCILE_SETTLEMENT_NOT_RECORDED")]
    SettlementNotRecorded { market: MarketId, revenue: Usd },
    /// Our settlement of a market disagrees with the venue's record (`field`: `revenue` —
    /// our exit value against its payout — or `fees` — our fills' fees against its
    /// `fee_cost`).
    #[serde(rename = "RECONCILE_SETTLEMENT_MISMATCH")]
    SettlementMismatch {
        market: MarketId,
        field: &'static str,
        ours: Usd,
        venue: Usd,
    },
    /// We closed a position by settlement that the venue has no settlement record of.
    #[serde(rename = "RECONCILE_SETTLEMENT_MISSING_AT_VENUE")]
    SettlementMissingAtVenue { market: MarketId },
}

impl Finding {
    pub fn code(&self) -> &'static str {
        match self {
            Finding::OrphanVenuePosition { .. } => "RECONCILE_ORPHAN_VENUE_POSITION",
            Finding::PhantomPosition { .. } => "RECONCILE_PHANTOM_POSITION",
            Finding::QtyMismatch { .. } => "RECONCILE_QTY_MISMATCH",
            Finding::UnrecordedVenueFill { .. } => "RECONCILE_UNRECORDED_VENUE_FILL",
            Finding::FillMissingAtVenue { .. } => "RECONCILE_FILL_MISSING_AT_VENUE",
            Finding::SettlementNotRecorded { .. } => "RECONCILE_SETTLEMENT_NOT_RECORDED",
            Finding::SettlementMismatch { .. } => "RECONCILE_SETTLEMENT_MISMATCH",
            Finding::SettlementMissingAtVenue { .. } => "RECONCILE_SETTLEMENT_MISSING_AT_VENUE",
        }
    }

    pub fn is_orphan(&self) -> bool {
        !matches!(self, Finding::QtyMismatch { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            Finding::OrphanVenuePosition { market, venue } => {
                write!(f, "{code}: market={market} venue={venue}")
            }
            Finding::PhantomPosition { market, ours } => {
                write!(f, "{code}: market={market} ours={ours}")
            }
            Finding::QtyMismatch {
                market,
                ours,
                venue,
            } => write!(f, "{code}: market={market} ours={ours} venue={venue}"),
            Finding::UnrecordedVenueFill { fill_id, market }
            | Finding::FillMissingAtVenue { fill_id, market } => {
                write!(f, "{code}: fill_id={fill_id} market={market}")
            }
            Finding::SettlementNotRecorded { market, revenue } => {
                write!(f, "{code}: market={market} venue_revenue={revenue}")
            }
            Finding::SettlementMismatch {
                market,
                field,
                ours,
                venue,
            } => write!(
                f,
                "{code}: market={market} field={field} ours={ours} venue={venue}"
            ),
            Finding::SettlementMissingAtVenue { market } => {
                write!(f, "{code}: market={market}")
            }
        }
    }
}

/// The result of one run, to be stored, audited and reported to the breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// `None` when the run could not complete.
    pub drift_bps: Option<i64>,
    pub findings: Vec<Finding>,
    pub markets_compared: usize,
    /// Set when a read failed; then nothing was compared.
    pub failure: Option<String>,
    pub thresholds: Thresholds,
}

impl ReconcileReport {
    /// Escalation the findings call for; `None` is clean.
    pub fn severity(&self) -> Option<DriftSeverity> {
        if self.findings.iter().any(Finding::is_orphan) {
            return Some(DriftSeverity::Halt);
        }
        match self.drift_bps {
            Some(d) if d >= self.thresholds.halt_bps => Some(DriftSeverity::Halt),
            Some(d) if d >= self.thresholds.caution_bps => Some(DriftSeverity::Caution),
            _ => None,
        }
    }

    /// The RiskGovernor's input.
    pub fn outcome(&self) -> ReconciliationOutcome {
        if let Some(detail) = &self.failure {
            return ReconciliationOutcome::Failed {
                detail: detail.clone(),
            };
        }
        match self.severity() {
            None => ReconciliationOutcome::Clean,
            Some(severity) => {
                let mut detail = format!("drift_bps={}", self.drift_bps.unwrap_or(0));
                for finding in self.findings.iter().take(5) {
                    detail.push_str("; ");
                    detail.push_str(&finding.to_string());
                }
                if self.findings.len() > 5 {
                    detail.push_str(&format!("; +{} more", self.findings.len() - 5));
                }
                ReconciliationOutcome::Drift { severity, detail }
            }
        }
    }
}

/// Compares `ours` with `theirs` (the venue, or the ledger recomputation). A failed read
/// produces a failed report; nothing is ever compared against an empty stand-in.
pub fn reconcile(
    ours: &Holdings,
    theirs: Result<&Holdings, &ReadError>,
    thresholds: Thresholds,
) -> ReconcileReport {
    let failed = |detail: String| ReconcileReport {
        drift_bps: None,
        findings: Vec::new(),
        markets_compared: 0,
        failure: Some(detail),
        thresholds,
    };
    if let Err(e) = thresholds.validate() {
        return failed(e.to_string());
    }
    let theirs = match theirs {
        Ok(h) => h,
        Err(e) => return failed(e.to_string()),
    };
    let mut findings = Vec::new();
    let markets: BTreeSet<&MarketId> = ours
        .positions
        .keys()
        .chain(theirs.positions.keys())
        .collect();
    let (mut diff, mut sum_ours, mut sum_theirs) = (0i128, 0i128, 0i128);
    for market in &markets {
        let a = ours.positions.get(*market).copied().unwrap_or(Qty::ZERO);
        let b = theirs.positions.get(*market).copied().unwrap_or(Qty::ZERO);
        sum_ours += i128::from(a.units()).abs();
        sum_theirs += i128::from(b.units()).abs();
        diff += (i128::from(a.units()) - i128::from(b.units())).abs();
        let market = (*market).clone();
        match (a.units(), b.units()) {
            (x, y) if x == y => {}
            (0, _) => findings.push(Finding::OrphanVenuePosition { market, venue: b }),
            (_, 0) => findings.push(Finding::PhantomPosition { market, ours: a }),
            _ => findings.push(Finding::QtyMismatch {
                market,
                ours: a,
                venue: b,
            }),
        }
    }
    if let (Some(mine), Some(venue)) = (&ours.fill_ids, &theirs.fill_ids) {
        for (fill_id, market) in venue {
            if !mine.contains_key(fill_id) {
                findings.push(Finding::UnrecordedVenueFill {
                    fill_id: fill_id.clone(),
                    market: market.clone(),
                });
            }
        }
        for (fill_id, market) in mine {
            if !venue.contains_key(fill_id) {
                findings.push(Finding::FillMissingAtVenue {
                    fill_id: fill_id.clone(),
                    market: market.clone(),
                });
            }
        }
    }
    let base = sum_ours.max(sum_theirs);
    let drift_bps = if base == 0 {
        0
    } else {
        ((diff * 10_000 + base - 1) / base) as i64
    };
    ReconcileReport {
        drift_bps: Some(drift_bps),
        findings,
        markets_compared: markets.len(),
        failure: None,
        thresholds,
    }
}

/// Live settlements: the venue's settlement records (every page of `/portfolio/settlements`)
/// against our closed trades and fill ledger. For each market the venue settled that we
/// traded: our books must hold its settlement, at the venue's payout, and our fills' fees must
/// be the venue's `fee_cost`; and each of our settlements must be on the venue's record.
/// Every finding here is an orphan (money moved that one side does not show): HALT.
pub fn check_settlements(
    venue: &[VenueSettlement],
    trades: &[ClosedTrade],
    fills: &[LedgerFill],
) -> Vec<Finding> {
    let mut fees: BTreeMap<&str, i64> = BTreeMap::new();
    for f in fills {
        *fees.entry(f.market.as_str()).or_default() += f.fee.micros();
    }
    let mut settled: BTreeMap<&str, i64> = BTreeMap::new();
    for t in trades {
        if matches!(t.exit, Exit::Settlement { .. }) {
            *settled.entry(t.market.as_str()).or_default() += t.exit_value.micros();
        }
    }
    let mut findings = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for s in venue {
        let market = s.ticker.as_str();
        if !seen.insert(market) || !fees.contains_key(market) {
            continue;
        }
        let revenue = Usd(s.revenue_cents.saturating_mul(10_000));
        match settled.get(market) {
            None => findings.push(Finding::SettlementNotRecorded {
                market: MarketId::new(market),
                revenue,
            }),
            Some(&ours) if ours != revenue.micros() => findings.push(Finding::SettlementMismatch {
                market: MarketId::new(market),
                field: "revenue",
                ours: Usd(ours),
                venue: revenue,
            }),
            Some(_) => {}
        }
        let our_fees = fees.get(market).copied().unwrap_or(0);
        if our_fees != s.fee_cost.micros() {
            findings.push(Finding::SettlementMismatch {
                market: MarketId::new(market),
                field: "fees",
                ours: Usd(our_fees),
                venue: s.fee_cost,
            });
        }
    }
    for market in settled.keys() {
        if !seen.contains(market) {
            findings.push(Finding::SettlementMissingAtVenue {
                market: MarketId::new(*market),
            });
        }
    }
    findings
}

/// For each of our `unknown` (or still `submitted`) orders, the event that settles it from a
/// complete read of the venue's orders: the venue's view if it has the client order id, or
/// "never arrived" if it does not.
pub fn resolve_unknown_orders(
    orders: &[OrderRecord],
    venue_orders: &[VenueOrder],
) -> Vec<(String, OrderEvent)> {
    let by_client: BTreeMap<&str, &VenueOrder> = venue_orders
        .iter()
        .filter(|o| !o.client_order_id.is_empty())
        .map(|o| (o.client_order_id.as_str(), o))
        .collect();
    orders
        .iter()
        .filter(|o| matches!(o.state, OrderState::Unknown | OrderState::Submitted))
        .map(|o| {
            let venue = by_client.get(o.client_order_id.as_str()).map(|v| v.view());
            (o.client_order_id.clone(), OrderEvent::Reconciled { venue })
        })
        .collect()
}

#[cfg(test)]
mod tests;

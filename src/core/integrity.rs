//! The orphan-position integrity gate (runbook §9): the book's entries, open positions and
//! closed trades must tell one consistent story before any profitability is judged.
//!
//! Checks, in order:
//! 1. **Inventory** (`INTEGRITY_INVENTORY_MISMATCH`) — per market, the contracts acquired and
//!    released by fills (BUY and SELL netted, each fill read as the leg it acquires), less what
//!    settlement closed, must equal the open positions on record. This runs first so a position
//!    that a SELL already closed is never mistaken for an orphan.
//! 2. **Orphans** (`INTEGRITY_ORPHAN_POSITION`) — an open position older than
//!    `max_open_position_age_days` (default 3) without linkage (no entry fills, or entry fills
//!    the ledger does not have) is a violation unless its id is whitelisted
//!    (`INTEGRITY_ORPHAN_WHITELIST_IDS`). Younger ones get the benefit of the doubt.
//! 3. **Close without entry** (`INTEGRITY_CLOSE_WITHOUT_ENTRY`) — a closed trade that names no
//!    entry fill, or one that does not exist.
//! 4. **Duplicate close** (`INTEGRITY_DUPLICATE_CLOSE`) — the same trade id twice, or closed
//!    trades consuming more of an entry fill than it bought.
//! 5. **P&L arithmetic** (`INTEGRITY_PNL_MISMATCH`) — `realised ≠ exit_value − exit_fees −
//!    entry_cost − entry_fees`, entry cost not the sum of its parts, or a part whose cost is not
//!    the entry fill's price × quantity.
//!
//! Every violation has a stable id (a hash of its code and subject), so re-running the gate
//! finds the same violations rather than new copies.

use crate::core::money::Qty;
use crate::core::risk::book::acquired_leg;
use crate::core::risk::{MarketId, Side};
use crate::core::settlement::{ClosedTrade, Exit, LedgerFill};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Policy knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityConfig {
    pub max_open_position_age_days: i64,
    pub orphan_whitelist: BTreeSet<String>,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            max_open_position_age_days: 3,
            orphan_whitelist: BTreeSet::new(),
        }
    }
}

impl IntegrityConfig {
    /// From the two variables: a missing age means the default 3; a malformed or negative one
    /// is an error (a typo must not silently relax the gate). Whitelist ids are comma
    /// separated, trimmed, empty entries ignored.
    pub fn from_vars(age_days: Option<&str>, whitelist: Option<&str>) -> Result<Self, String> {
        let max_open_position_age_days = match age_days.map(str::trim) {
            None | Some("") => 3,
            Some(text) => match text.parse::<i64>() {
                Ok(d) if d >= 0 => d,
                _ => {
                    return Err(format!(
                        "INTEGRITY_INVALID_CONFIG: INTEGRITY_MAX_OPEN_POSITION_AGE_DAYS={text:?}"
                    ))
                }
            },
        };
        let orphan_whitelist = whitelist
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(IntegrityConfig {
            max_open_position_age_days,
            orphan_whitelist,
        })
    }
}

/// An open position as stored, with its linkage to entry fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPositionRecord {
    pub id: String,
    pub market: MarketId,
    pub side: Side,
    pub qty: Qty,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub opened_at: DateTime<Utc>,
    pub entry_fill_ids: Vec<String>,
}

/// The violation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViolationCode {
    IntegrityInventoryMismatch,
    IntegrityOrphanPosition,
    IntegrityCloseWithoutEntry,
    IntegrityDuplicateClose,
    IntegrityPnlMismatch,
}

impl ViolationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationCode::IntegrityInventoryMismatch => "INTEGRITY_INVENTORY_MISMATCH",
            ViolationCode::IntegrityOrphanPosition => "INTEGRITY_ORPHAN_POSITION",
            ViolationCode::IntegrityCloseWithoutEntry => "INTEGRITY_CLOSE_WITHOUT_ENTRY",
            ViolationCode::IntegrityDuplicateClose => "INTEGRITY_DUPLICATE_CLOSE",
            ViolationCode::IntegrityPnlMismatch => "INTEGRITY_PNL_MISMATCH",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violation: what, about which record, with key=value context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `viol-` + 16 hex digits of SHA-256 over the code and subject.
    pub id: String,
    pub code: ViolationCode,
    /// The record it is about: a market, position id, trade id or fill id.
    pub subject: String,
    pub market: Option<MarketId>,
    pub context: Vec<(String, String)>,
}

impl Violation {
    fn new(
        code: ViolationCode,
        subject: &str,
        market: Option<&MarketId>,
        context: Vec<(&str, String)>,
    ) -> Violation {
        let mut h = Sha256::new();
        for part in ["paulp.violation.v1", code.as_str(), subject] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Violation {
            id: format!("viol-{}", &hex::encode(h.finalize())[..16]),
            code,
            subject: subject.to_string(),
            market: market.cloned(),
            context: context
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: subject={}", self.code, self.subject)?;
        for (k, v) in &self.context {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// What the gate looks at.
#[derive(Debug, Clone, Copy)]
pub struct IntegrityInput<'a> {
    pub fills: &'a [LedgerFill],
    pub open_positions: &'a [OpenPositionRecord],
    pub closed_trades: &'a [ClosedTrade],
    pub now: DateTime<Utc>,
}

fn signed(side: Side, qty: i64) -> i64 {
    match side {
        Side::Yes => qty,
        Side::No => -qty,
    }
}

/// Runs every check; violations come in check order, then by subject.
pub fn check(input: &IntegrityInput<'_>, config: &IntegrityConfig) -> Vec<Violation> {
    let mut out = Vec::new();
    let fills: BTreeMap<&str, &LedgerFill> = input
        .fills
        .iter()
        .map(|f| (f.fill_id.as_str(), f))
        .collect();

    // 1. Inventory: fills net of settlement against open positions, per market.
    let mut expected: BTreeMap<&MarketId, i64> = BTreeMap::new();
    for f in input.fills {
        let (leg, _) = acquired_leg(f.side, f.action, f.price);
        *expected.entry(&f.market).or_default() += signed(leg, f.qty.units());
    }
    for t in input.closed_trades {
        if matches!(t.exit, Exit::Settlement { .. }) {
            *expected.entry(&t.market).or_default() -= signed(t.side, t.qty.units());
        }
    }
    let mut recorded: BTreeMap<&MarketId, i64> = BTreeMap::new();
    for p in input.open_positions {
        *recorded.entry(&p.market).or_default() += signed(p.side, p.qty.units());
    }
    let markets: BTreeSet<&MarketId> = expected.keys().chain(recorded.keys()).copied().collect();
    for market in markets {
        let e = expected.get(market).copied().unwrap_or(0);
        let r = recorded.get(market).copied().unwrap_or(0);
        if e != r {
            out.push(Violation::new(
                ViolationCode::IntegrityInventoryMismatch,
                market.as_str(),
                Some(market),
                vec![
                    ("from_fills", Qty(e).to_string()),
                    ("open_positions", Qty(r).to_string()),
                ],
            ));
        }
    }

    // 2. Old open positions without linkage.
    let max_age = TimeDelta::days(config.max_open_position_age_days);
    let mut orphans: Vec<&OpenPositionRecord> = input
        .open_positions
        .iter()
        .filter(|p| input.now - p.opened_at > max_age)
        .filter(|p| !config.orphan_whitelist.contains(&p.id))
        .filter(|p| {
            p.entry_fill_ids.is_empty()
                || p.entry_fill_ids
                    .iter()
                    .any(|id| !fills.contains_key(id.as_str()))
        })
        .collect();
    orphans.sort_by(|a, b| a.id.cmp(&b.id));
    for p in orphans {
        let missing: Vec<&str> = p
            .entry_fill_ids
            .iter()
            .filter(|id| !fills.contains_key(id.as_str()))
            .map(String::as_str)
            .collect();
        out.push(Violation::new(
            ViolationCode::IntegrityOrphanPosition,
            &p.id,
            Some(&p.market),
            vec![
                (
                    "age_hours",
                    (input.now - p.opened_at).num_hours().to_string(),
                ),
                (
                    "max_age_days",
                    config.max_open_position_age_days.to_string(),
                ),
                (
                    "linkage",
                    if p.entry_fill_ids.is_empty() {
                        "none".to_string()
                    } else {
                        format!("missing_fills={}", missing.join(","))
                    },
                ),
            ],
        ));
    }

    // 3–5. Closed trades.
    let mut trades: Vec<&ClosedTrade> = input.closed_trades.iter().collect();
    trades.sort_by(|a, b| a.trade_id.cmp(&b.trade_id));
    let mut without_entry = Vec::new();
    let mut duplicates = Vec::new();
    let mut pnl = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut consumed: BTreeMap<&str, i64> = BTreeMap::new();
    for t in &trades {
        if !seen.insert(t.trade_id.as_str()) {
            duplicates.push(Violation::new(
                ViolationCode::IntegrityDuplicateClose,
                &t.trade_id,
                Some(&t.market),
                vec![("reason", "trade_id_repeated".to_string())],
            ));
            continue;
        }
        let unknown: Vec<&str> = t
            .entries
            .iter()
            .filter(|e| !fills.contains_key(e.fill_id.as_str()))
            .map(|e| e.fill_id.as_str())
            .collect();
        if t.entries.is_empty() || !unknown.is_empty() {
            without_entry.push(Violation::new(
                ViolationCode::IntegrityCloseWithoutEntry,
                &t.trade_id,
                Some(&t.market),
                vec![(
                    "entries",
                    if t.entries.is_empty() {
                        "none".to_string()
                    } else {
                        format!("unknown_fills={}", unknown.join(","))
                    },
                )],
            ));
        }
        for e in &t.entries {
            *consumed.entry(e.fill_id.as_str()).or_default() += e.qty.units();
        }
        if let Some(problem) = pnl_problem(t, &fills) {
            pnl.push(Violation::new(
                ViolationCode::IntegrityPnlMismatch,
                &t.trade_id,
                Some(&t.market),
                problem,
            ));
        }
    }
    for (fill_id, qty) in consumed {
        if let Some(f) = fills.get(fill_id) {
            if qty > f.qty.units() {
                duplicates.push(Violation::new(
                    ViolationCode::IntegrityDuplicateClose,
                    fill_id,
                    Some(&f.market),
                    vec![
                        ("reason", "entry_consumed_beyond_fill".to_string()),
                        ("fill_qty", f.qty.to_string()),
                        ("closed_qty", Qty(qty).to_string()),
                    ],
                ));
            }
        }
    }
    out.extend(without_entry);
    out.extend(duplicates);
    out.extend(pnl);
    out
}

fn pnl_problem(
    t: &ClosedTrade,
    fills: &BTreeMap<&str, &LedgerFill>,
) -> Option<Vec<(&'static str, String)>> {
    if t.expected_pnl() != Some(t.realised_pnl) {
        return Some(vec![
            ("field", "realised_pnl".to_string()),
            ("recorded", t.realised_pnl.to_string()),
            (
                "expected",
                t.expected_pnl()
                    .map_or("overflow".to_string(), |u| u.to_string()),
            ),
        ]);
    }
    let parts: i128 = t.entries.iter().map(|e| i128::from(e.cost.micros())).sum();
    if parts != i128::from(t.entry_cost.micros()) {
        return Some(vec![
            ("field", "entry_cost".to_string()),
            ("recorded", t.entry_cost.to_string()),
            ("sum_of_entries_micros", parts.to_string()),
        ]);
    }
    for e in &t.entries {
        if let Some(f) = fills.get(e.fill_id.as_str()) {
            let (_, leg_price) = acquired_leg(f.side, f.action, f.price);
            if i128::from(leg_price.units()) * i128::from(e.qty.units())
                != i128::from(e.cost.micros())
            {
                return Some(vec![
                    ("field", "entry_part_cost".to_string()),
                    ("fill_id", e.fill_id.clone()),
                    ("recorded", e.cost.to_string()),
                    ("fill_price", leg_price.to_string()),
                    ("qty", e.qty.to_string()),
                ]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;

//! DB tables of the trading cycle (`migrations/0004_trading.sql`): strategies, signals, orders,
//! the fill ledger, the position book, closed trades, reconciliations and violations.
//! Every statement is a constant checked by `core::sql_guard` (see the test at the end); every
//! value is bound. Rows carry the fixed-point units of the core types (`*_e4`, `*_e2`,
//! `*_micros`, `*_ppm`).

use crate::core::integrity::{OpenPositionRecord, Violation};
use crate::core::money::{Price, Qty, Usd};
use crate::core::orders::OrderRecord;
use crate::core::risk::{Action, MarketId, Side};
use crate::core::settlement::{ClosedTrade, Exit, LedgerFill, OpenPosition};
use crate::core::strategy::{Signal, StrategyConfig};
use crate::core::time::{format_utc, parse_utc};
use crate::store::d1::{Db, DbError, Param};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::D1PreparedStatement;

const STRATEGIES: &str = "SELECT id, mode, config, capital_allocation_usd_micros, updated_by, \
     created_at, updated_at FROM strategies ORDER BY id";
const STRATEGY: &str = "SELECT id, mode, config, capital_allocation_usd_micros, updated_by, \
     created_at, updated_at FROM strategies WHERE id = ?";
const SET_MODE: &str =
    "UPDATE strategies SET mode = ?1, updated_by = ?2, updated_at = ?3 WHERE id = ?4 AND mode = ?5";

const INSERT_SIGNAL: &str = "INSERT OR IGNORE INTO signals (id, strategy_id, pair_id, market, \
     side, model_prob_ppm, market_prob_ppm, edge_bps, kelly_fraction_bps, qty_e2, \
     limit_price_e4, cost_micros, fee_micros, evidence, bucket, mode, run_id, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";
const SIGNALS: &str = "SELECT id, strategy_id, pair_id, market, side, model_prob_ppm, \
     market_prob_ppm, edge_bps, kelly_fraction_bps, qty_e2, limit_price_e4, cost_micros, \
     fee_micros, evidence, bucket, mode, run_id, synthetic, created_at FROM signals \
     WHERE (?1 IS NULL OR market = ?1) ORDER BY created_at DESC, id LIMIT ?2";

const INSERT_ORDER: &str = "INSERT OR IGNORE INTO orders (client_order_id, signal_id, \
     strategy_id, mode, market, side, action, qty_e2, limit_price_e4, filled_e2, fees_micros, \
     state, reason, venue_order_id, audit_seq, body, run_id, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL, ?15, ?16, ?17, ?17)";
const UPDATE_ORDER: &str = "UPDATE orders SET filled_e2 = ?1, fees_micros = ?2, state = ?3, \
     reason = ?4, venue_order_id = ?5, audit_seq = COALESCE(?6, audit_seq), body = ?7, \
     updated_at = ?8 WHERE client_order_id = ?9";
const ORDER_EXISTS: &str = "SELECT client_order_id FROM orders WHERE client_order_id = ?";
const ORDERS: &str = "SELECT client_order_id, signal_id, strategy_id, mode, market, side, action, \
     qty_e2, limit_price_e4, filled_e2, fees_micros, state, reason, venue_order_id, audit_seq, \
     run_id, created_at, updated_at FROM orders WHERE (?1 IS NULL OR state = ?1) \
     ORDER BY created_at DESC, client_order_id LIMIT ?2";

const INSERT_FILL: &str = "INSERT OR IGNORE INTO fills (fill_id, client_order_id, mode, market, \
     side, action, qty_e2, price_e4, fee_micros, at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const FILLS: &str = "SELECT fill_id, client_order_id, market, side, action, qty_e2, price_e4, \
     fee_micros, at FROM fills WHERE mode = ? ORDER BY at, fill_id";
const MARKET_FILLS: &str = "SELECT fill_id, client_order_id, market, side, action, qty_e2, \
     price_e4, fee_micros, at FROM fills WHERE mode = ? AND market = ? ORDER BY at, fill_id";
const PENDING_FILLS: &str = "SELECT fill_id, client_order_id, market, side, action, qty_e2, \
     price_e4, fee_micros, at FROM fills WHERE governor_applied = 0 ORDER BY at, fill_id LIMIT 200";
const FILL_APPLIED: &str = "UPDATE fills SET governor_applied = 1 WHERE fill_id = ?";

const UPSERT_POSITION: &str = "INSERT INTO positions (mode, market, side, qty_e2, cost_micros, \
     fees_micros, entry_fill_ids, opened_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (mode, market) DO UPDATE SET \
     side = excluded.side, qty_e2 = excluded.qty_e2, cost_micros = excluded.cost_micros, \
     fees_micros = excluded.fees_micros, entry_fill_ids = excluded.entry_fill_ids, \
     opened_at = excluded.opened_at, updated_at = excluded.updated_at";
const DELETE_POSITION: &str = "DELETE FROM positions WHERE mode = ? AND market = ?";
const POSITIONS: &str = "SELECT mode, market, side, qty_e2, cost_micros, fees_micros, \
     entry_fill_ids, opened_at, updated_at FROM positions WHERE mode = ? ORDER BY market";

const INSERT_TRADE: &str = "INSERT OR IGNORE INTO closed_trades (trade_id, mode, market, side, \
     qty_e2, entry_fill_ids, entry_cost_micros, entry_fees_micros, exit_kind, exit_ref, \
     exit_value_micros, exit_fees_micros, realised_pnl_micros, body, opened_at, closed_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
const TRADES: &str = "SELECT trade_id, mode, market, side, qty_e2, entry_fill_ids, \
     entry_cost_micros, entry_fees_micros, exit_kind, exit_ref, exit_value_micros, \
     exit_fees_micros, realised_pnl_micros, synthetic, opened_at, closed_at FROM closed_trades \
     WHERE (?1 IS NULL OR market = ?1) ORDER BY closed_at DESC, trade_id LIMIT ?2";
const TRADE_BODIES: &str = "SELECT body FROM closed_trades WHERE mode = ? ORDER BY closed_at";

const INSERT_RECONCILIATION: &str = "INSERT OR IGNORE INTO reconciliations (id, mode, \
     triggered_by, outcome, severity, drift_bps, report, audit_seq, at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const LATEST_RECONCILIATION: &str = "SELECT id, mode, triggered_by, outcome, severity, \
     drift_bps, report, audit_seq, at FROM reconciliations WHERE mode = ? \
     ORDER BY rowid DESC LIMIT 1";

const UPSERT_VIOLATION: &str = "INSERT INTO violations (id, code, subject, market, details, \
     status, first_seen_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?6) \
     ON CONFLICT (id) DO UPDATE SET details = excluded.details, last_seen_at = excluded.last_seen_at";
const VIOLATIONS: &str = "SELECT id, code, subject, market, details, status, first_seen_at, \
     last_seen_at, resolved_by, resolved_at, notes FROM violations \
     WHERE (?1 IS NULL OR status = ?1) ORDER BY last_seen_at DESC, id LIMIT ?2";
const VIOLATION: &str = "SELECT id, code, subject, market, details, status, first_seen_at, \
     last_seen_at, resolved_by, resolved_at, notes FROM violations WHERE id = ?";
const RESOLVE_VIOLATION: &str = "UPDATE violations SET status = 'resolved', resolved_by = ?1, \
     resolved_at = ?2, notes = ?3 WHERE id = ?4 AND status = 'open'";

fn bad(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Failed {
        message: format!("{what}: {e}"),
    }
}

fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| bad(what, e))
}

fn side_of(s: &str) -> Result<Side, DbError> {
    match s {
        "yes" => Ok(Side::Yes),
        "no" => Ok(Side::No),
        other => Err(bad("side", other)),
    }
}

fn action_of(s: &str) -> Result<Action, DbError> {
    match s {
        "buy" => Ok(Action::Buy),
        "sell" => Ok(Action::Sell),
        other => Err(bad("action", other)),
    }
}

fn time_of(s: &str) -> Result<DateTime<Utc>, DbError> {
    parse_utc(s).ok_or_else(|| bad("timestamp", s))
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// How a strategy may trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Disabled,
    Paper,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disabled => "disabled",
            Mode::Paper => "paper",
            Mode::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "disabled" => Some(Mode::Disabled),
            "paper" => Some(Mode::Paper),
            "live" => Some(Mode::Live),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct StrategyRow {
    id: String,
    mode: String,
    config: String,
    capital_allocation_usd_micros: i64,
    updated_by: String,
    created_at: String,
    updated_at: String,
}

/// A stored strategy.
#[derive(Debug, Clone)]
pub struct Strategy {
    pub id: String,
    pub mode: Mode,
    pub config: StrategyConfig,
    pub capital_allocation: Usd,
    pub updated_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Strategy {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "mode": self.mode,
            "config": self.config,
            "capital_allocation_usd_micros": self.capital_allocation,
            "updated_by": self.updated_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

fn strategy_of(row: StrategyRow) -> Result<Strategy, DbError> {
    let config: StrategyConfig =
        serde_json::from_str(&row.config).map_err(|e| bad("strategies.config", e))?;
    Ok(Strategy {
        mode: Mode::parse(&row.mode).ok_or_else(|| bad("strategies.mode", &row.mode))?,
        id: row.id,
        config,
        capital_allocation: Usd(row.capital_allocation_usd_micros),
        updated_by: row.updated_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub async fn strategies(db: &Db) -> Result<Vec<Strategy>, DbError> {
    db.all::<StrategyRow>(STRATEGIES, &[])
        .await?
        .into_iter()
        .map(strategy_of)
        .collect()
}

pub async fn strategy(db: &Db, id: &str) -> Result<Option<Strategy>, DbError> {
    db.first::<StrategyRow>(STRATEGY, &[Param::Text(id)])
        .await?
        .map(strategy_of)
        .transpose()
}

/// Sets the mode if it is still `expected`; `false` if it changed meanwhile.
pub async fn set_mode(
    db: &Db,
    id: &str,
    mode: Mode,
    expected: Mode,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let at = format_utc(now);
    let changed = db
        .run(
            SET_MODE,
            &[
                Param::Text(mode.as_str()),
                Param::Text(actor),
                Param::Text(&at),
                Param::Text(id),
                Param::Text(expected.as_str()),
            ],
        )
        .await?;
    Ok(changed > 0)
}

// ---------------------------------------------------------------------------------------------
// Signals

/// Stores a signal (its id is its client order id); `false` if it was already stored.
pub async fn insert_signal(
    db: &Db,
    signal: &Signal,
    mode: Mode,
    run_id: &str,
) -> Result<bool, DbError> {
    let evidence: Vec<String> = signal.evidence.iter().map(|h| h.to_hex()).collect();
    let evidence = to_json("signals.evidence", &evidence)?;
    let at = format_utc(signal.at);
    let changed = db
        .run(
            INSERT_SIGNAL,
            &[
                Param::Text(&signal.client_order_id),
                Param::Text(&signal.strategy_id),
                Param::Text(signal.pair_id.as_str()),
                Param::Text(signal.market.as_str()),
                Param::Text(signal.side.as_str()),
                Param::Int(signal.model_prob.ppm()),
                Param::Int(signal.market_prob.ppm()),
                Param::Int(signal.edge_bps),
                Param::Int(signal.kelly_fraction_bps),
                Param::Int(signal.qty.units()),
                Param::Int(signal.limit_price.units()),
                Param::Int(signal.cost.micros()),
                Param::Int(signal.fee.micros()),
                Param::Text(&evidence),
                Param::Int(signal.bucket),
                Param::Text(mode.as_str()),
                Param::Text(run_id),
                Param::Text(&at),
            ],
        )
        .await?;
    Ok(changed > 0)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalRow {
    pub id: String,
    pub strategy_id: String,
    pub pair_id: String,
    pub market: String,
    pub side: String,
    pub model_prob_ppm: i64,
    pub market_prob_ppm: i64,
    pub edge_bps: i64,
    pub kelly_fraction_bps: i64,
    pub qty_e2: i64,
    pub limit_price_e4: i64,
    pub cost_micros: i64,
    pub fee_micros: i64,
    pub evidence: String,
    pub bucket: i64,
    pub mode: String,
    pub run_id: String,
    pub synthetic: i64,
    pub created_at: String,
}

impl SignalRow {
    pub fn to_json(&self) -> Value {
        let mut v = json!(self);
        v["evidence"] = serde_json::from_str(&self.evidence).unwrap_or(Value::Null);
        v["client_order_id"] = json!(self.id);
        v
    }
}

pub async fn signals(db: &Db, market: Option<&str>, limit: i64) -> Result<Vec<SignalRow>, DbError> {
    db.all::<SignalRow>(
        SIGNALS,
        &[crate::store::opt_text(market), Param::Int(limit)],
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Orders

pub async fn order_exists(db: &Db, client_order_id: &str) -> Result<bool, DbError> {
    #[derive(Deserialize)]
    struct Row {
        #[allow(dead_code)]
        client_order_id: String,
    }
    Ok(db
        .first::<Row>(ORDER_EXISTS, &[Param::Text(client_order_id)])
        .await?
        .is_some())
}

/// Inserts a new order (state `intent`); `false` if its client order id is already taken.
pub async fn insert_order(
    db: &Db,
    order: &OrderRecord,
    signal_id: Option<&str>,
    strategy_id: &str,
    mode: Mode,
    run_id: &str,
) -> Result<bool, DbError> {
    let body = to_json("orders.body", order)?;
    let at = format_utc(order.updated_at);
    let changed = db
        .run(
            INSERT_ORDER,
            &[
                Param::Text(&order.client_order_id),
                crate::store::opt_text(signal_id),
                Param::Text(strategy_id),
                Param::Text(mode.as_str()),
                Param::Text(order.market.as_str()),
                Param::Text(order.side.as_str()),
                Param::Text(order.action.as_str()),
                Param::Int(order.qty.units()),
                Param::Int(order.limit_price.units()),
                Param::Int(order.filled.units()),
                Param::Int(order.fees.micros()),
                Param::Text(order.state.as_str()),
                crate::store::opt_text(order.reason.as_deref()),
                crate::store::opt_text(order.venue_order_id.as_deref()),
                Param::Text(&body),
                Param::Text(run_id),
                Param::Text(&at),
            ],
        )
        .await?;
    Ok(changed > 0)
}

fn order_update<'a>(
    db: &Db,
    order: &'a OrderRecord,
    body: &'a str,
    at: &'a str,
    audit_seq: Option<u64>,
) -> Result<D1PreparedStatement, DbError> {
    db.prepare(
        UPDATE_ORDER,
        &[
            Param::Int(order.filled.units()),
            Param::Int(order.fees.micros()),
            Param::Text(order.state.as_str()),
            crate::store::opt_text(order.reason.as_deref()),
            crate::store::opt_text(order.venue_order_id.as_deref()),
            audit_seq
                .map(|s| Param::Int(s as i64))
                .unwrap_or(Param::Null),
            Param::Text(body),
            Param::Text(at),
            Param::Text(&order.client_order_id),
        ],
    )
}

/// Stores the order's new state (and the audit sequence number of its submission, if given).
pub async fn update_order(
    db: &Db,
    order: &OrderRecord,
    audit_seq: Option<u64>,
) -> Result<(), DbError> {
    let body = to_json("orders.body", order)?;
    let at = format_utc(order.updated_at);
    let stmt = order_update(db, order, &body, &at, audit_seq)?;
    check_batch(db.batch(vec![stmt]).await?)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRow {
    pub client_order_id: String,
    pub signal_id: Option<String>,
    pub strategy_id: String,
    pub mode: String,
    pub market: String,
    pub side: String,
    pub action: String,
    pub qty_e2: i64,
    pub limit_price_e4: i64,
    pub filled_e2: i64,
    pub fees_micros: i64,
    pub state: String,
    pub reason: Option<String>,
    pub venue_order_id: Option<String>,
    pub audit_seq: Option<i64>,
    pub run_id: String,
    pub created_at: String,
    pub updated_at: String,
}

pub async fn orders(db: &Db, state: Option<&str>, limit: i64) -> Result<Vec<OrderRow>, DbError> {
    db.all::<OrderRow>(ORDERS, &[crate::store::opt_text(state), Param::Int(limit)])
        .await
}

// ---------------------------------------------------------------------------------------------
// Fills, positions, closed trades

#[derive(Debug, Clone, Deserialize)]
struct FillRow {
    fill_id: String,
    client_order_id: String,
    market: String,
    side: String,
    action: String,
    qty_e2: i64,
    price_e4: i64,
    fee_micros: i64,
    at: String,
}

fn fill_of(r: FillRow) -> Result<LedgerFill, DbError> {
    Ok(LedgerFill {
        side: side_of(&r.side)?,
        action: action_of(&r.action)?,
        qty: Qty(r.qty_e2),
        price: Price::new(r.price_e4).ok_or_else(|| bad("fills.price_e4", r.price_e4))?,
        fee: Usd(r.fee_micros),
        at: time_of(&r.at)?,
        fill_id: r.fill_id,
        client_order_id: r.client_order_id,
        market: MarketId::new(r.market),
    })
}

/// The fill ledger of `mode`, oldest first.
pub async fn fills(db: &Db, mode: Mode) -> Result<Vec<LedgerFill>, DbError> {
    db.all::<FillRow>(FILLS, &[Param::Text(mode.as_str())])
        .await?
        .into_iter()
        .map(fill_of)
        .collect()
}

/// The fills of one market, oldest first.
pub async fn market_fills(db: &Db, mode: Mode, market: &str) -> Result<Vec<LedgerFill>, DbError> {
    db.all::<FillRow>(
        MARKET_FILLS,
        &[Param::Text(mode.as_str()), Param::Text(market)],
    )
    .await?
    .into_iter()
    .map(fill_of)
    .collect()
}

/// Fills the risk governor has not confirmed yet.
pub async fn pending_fills(db: &Db) -> Result<Vec<LedgerFill>, DbError> {
    db.all::<FillRow>(PENDING_FILLS, &[])
        .await?
        .into_iter()
        .map(fill_of)
        .collect()
}

pub async fn mark_fill_applied(db: &Db, fill_id: &str) -> Result<(), DbError> {
    db.run(FILL_APPLIED, &[Param::Text(fill_id)]).await?;
    Ok(())
}

fn check_batch(results: Vec<worker::D1Result>) -> Result<(), DbError> {
    for r in results {
        if let Some(message) = r.error() {
            return Err(DbError::Failed { message });
        }
    }
    Ok(())
}

/// A position as the book stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookPosition {
    pub market: MarketId,
    pub side: Side,
    pub qty: Qty,
    pub cost: Usd,
    pub fees: Usd,
    pub entry_fill_ids: Vec<String>,
    pub opened_at: DateTime<Utc>,
}

impl BookPosition {
    /// The book's row for a ledger position.
    pub fn from_open(market: &MarketId, p: &OpenPosition) -> BookPosition {
        BookPosition {
            market: market.clone(),
            side: p.side,
            qty: p.qty(),
            cost: Usd(p.lots.iter().map(|l| l.price.units() * l.qty.units()).sum()),
            fees: Usd(p.lots.iter().map(|l| l.fee.micros()).sum()),
            entry_fill_ids: p.lots.iter().map(|l| l.fill_id.clone()).collect(),
            opened_at: p
                .lots
                .iter()
                .map(|l| l.opened_at)
                .min()
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }

    pub fn record(&self) -> OpenPositionRecord {
        OpenPositionRecord {
            id: self.market.as_str().to_string(),
            market: self.market.clone(),
            side: self.side,
            qty: self.qty,
            opened_at: self.opened_at,
            entry_fill_ids: self.entry_fill_ids.clone(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "market": self.market,
            "side": self.side,
            "qty_e2": self.qty,
            "cost_usd_micros": self.cost,
            "fees_usd_micros": self.fees,
            "entry_fill_ids": self.entry_fill_ids,
            "opened_at": format_utc(self.opened_at),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
struct PositionRow {
    #[allow(dead_code)]
    mode: String,
    market: String,
    side: String,
    qty_e2: i64,
    cost_micros: i64,
    fees_micros: i64,
    entry_fill_ids: String,
    opened_at: String,
    #[allow(dead_code)]
    updated_at: String,
}

pub async fn positions(db: &Db, mode: Mode) -> Result<Vec<BookPosition>, DbError> {
    db.all::<PositionRow>(POSITIONS, &[Param::Text(mode.as_str())])
        .await?
        .into_iter()
        .map(|r| {
            Ok(BookPosition {
                market: MarketId::new(r.market),
                side: side_of(&r.side)?,
                qty: Qty(r.qty_e2),
                cost: Usd(r.cost_micros),
                fees: Usd(r.fees_micros),
                entry_fill_ids: serde_json::from_str(&r.entry_fill_ids)
                    .map_err(|e| bad("positions.entry_fill_ids", e))?,
                opened_at: time_of(&r.opened_at)?,
            })
        })
        .collect()
}

/// Owned parameter values of one closed trade row.
struct TradeParams {
    entries: String,
    exit_kind: &'static str,
    exit_ref: String,
    body: String,
    opened: String,
    closed: String,
}

fn trade_params(t: &ClosedTrade) -> Result<TradeParams, DbError> {
    let ids: Vec<&str> = t.entries.iter().map(|e| e.fill_id.as_str()).collect();
    let (exit_kind, exit_ref) = match &t.exit {
        Exit::Fill { fill_id } => ("fill", fill_id.clone()),
        Exit::Settlement { result } => (
            "settlement",
            serde_json::to_value(result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
    };
    Ok(TradeParams {
        entries: to_json("closed_trades.entry_fill_ids", &ids)?,
        exit_kind,
        exit_ref,
        body: to_json("closed_trades.body", t)?,
        opened: format_utc(t.opened_at),
        closed: format_utc(t.closed_at),
    })
}

/// What one market's book looks like after a change: its position (or none) and the trades
/// that closed.
pub struct MarketChange<'a> {
    pub mode: Mode,
    pub market: &'a MarketId,
    pub position: Option<BookPosition>,
    pub closed: &'a [ClosedTrade],
    pub now: DateTime<Utc>,
}

/// Writes, in one atomic batch: the new fills, the order's new state, the market's position
/// and the trades that closed. Re-running it with the same values changes nothing.
pub async fn record_execution(
    db: &Db,
    order: Option<&OrderRecord>,
    audit_seq: Option<u64>,
    fills: &[LedgerFill],
    change: &MarketChange<'_>,
) -> Result<(), DbError> {
    let mode = change.mode.as_str();
    let now = format_utc(change.now);
    let fill_times: Vec<String> = fills.iter().map(|f| format_utc(f.at)).collect();
    let mut statements = Vec::new();
    for (f, at) in fills.iter().zip(&fill_times) {
        statements.push(db.prepare(
            INSERT_FILL,
            &[
                Param::Text(&f.fill_id),
                Param::Text(&f.client_order_id),
                Param::Text(mode),
                Param::Text(f.market.as_str()),
                Param::Text(f.side.as_str()),
                Param::Text(f.action.as_str()),
                Param::Int(f.qty.units()),
                Param::Int(f.price.units()),
                Param::Int(f.fee.micros()),
                Param::Text(at),
            ],
        )?);
    }
    let order_body;
    let order_at;
    if let Some(o) = order {
        order_body = to_json("orders.body", o)?;
        order_at = format_utc(o.updated_at);
        statements.push(order_update(db, o, &order_body, &order_at, audit_seq)?);
    }
    let position_params;
    match &change.position {
        Some(p) => {
            position_params = (
                to_json("positions.entry_fill_ids", &p.entry_fill_ids)?,
                format_utc(p.opened_at),
            );
            statements.push(db.prepare(
                UPSERT_POSITION,
                &[
                    Param::Text(mode),
                    Param::Text(p.market.as_str()),
                    Param::Text(p.side.as_str()),
                    Param::Int(p.qty.units()),
                    Param::Int(p.cost.micros()),
                    Param::Int(p.fees.micros()),
                    Param::Text(&position_params.0),
                    Param::Text(&position_params.1),
                    Param::Text(&now),
                ],
            )?);
        }
        None => statements.push(db.prepare(
            DELETE_POSITION,
            &[Param::Text(mode), Param::Text(change.market.as_str())],
        )?),
    }
    let trades: Vec<TradeParams> = change
        .closed
        .iter()
        .map(trade_params)
        .collect::<Result<_, _>>()?;
    for (t, p) in change.closed.iter().zip(&trades) {
        statements.push(db.prepare(
            INSERT_TRADE,
            &[
                Param::Text(&t.trade_id),
                Param::Text(mode),
                Param::Text(t.market.as_str()),
                Param::Text(t.side.as_str()),
                Param::Int(t.qty.units()),
                Param::Text(&p.entries),
                Param::Int(t.entry_cost.micros()),
                Param::Int(t.entry_fees.micros()),
                Param::Text(p.exit_kind),
                Param::Text(&p.exit_ref),
                Param::Int(t.exit_value.micros()),
                Param::Int(t.exit_fees.micros()),
                Param::Int(t.realised_pnl.micros()),
                Param::Text(&p.body),
                Param::Text(&p.opened),
                Param::Text(&p.closed),
            ],
        )?);
    }
    check_batch(db.batch(statements).await?)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TradeRow {
    pub trade_id: String,
    pub mode: String,
    pub market: String,
    pub side: String,
    pub qty_e2: i64,
    pub entry_fill_ids: String,
    pub entry_cost_micros: i64,
    pub entry_fees_micros: i64,
    pub exit_kind: String,
    pub exit_ref: String,
    pub exit_value_micros: i64,
    pub exit_fees_micros: i64,
    pub realised_pnl_micros: i64,
    pub synthetic: i64,
    pub opened_at: String,
    pub closed_at: String,
}

impl TradeRow {
    pub fn to_json(&self) -> Value {
        let mut v = json!(self);
        v["entry_fill_ids"] = serde_json::from_str(&self.entry_fill_ids).unwrap_or(Value::Null);
        v
    }
}

pub async fn trades(db: &Db, market: Option<&str>, limit: i64) -> Result<Vec<TradeRow>, DbError> {
    db.all::<TradeRow>(TRADES, &[crate::store::opt_text(market), Param::Int(limit)])
        .await
}

/// Every closed trade of `mode`, as the core type.
pub async fn closed_trades(db: &Db, mode: Mode) -> Result<Vec<ClosedTrade>, DbError> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    db.all::<Row>(TRADE_BODIES, &[Param::Text(mode.as_str())])
        .await?
        .into_iter()
        .map(|r| serde_json::from_str(&r.body).map_err(|e| bad("closed_trades.body", e)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reconciliations and violations

/// A reconciliation result to store.
pub struct ReconciliationRecord<'a> {
    pub id: &'a str,
    pub mode: Mode,
    pub triggered_by: &'a str,
    pub outcome: &'a str,
    pub severity: Option<&'a str>,
    pub drift_bps: Option<i64>,
    pub report: &'a Value,
    pub audit_seq: Option<u64>,
    pub at: DateTime<Utc>,
}

pub async fn insert_reconciliation(db: &Db, r: &ReconciliationRecord<'_>) -> Result<(), DbError> {
    let report = r.report.to_string();
    let at = format_utc(r.at);
    db.run(
        INSERT_RECONCILIATION,
        &[
            Param::Text(r.id),
            Param::Text(r.mode.as_str()),
            Param::Text(r.triggered_by),
            Param::Text(r.outcome),
            crate::store::opt_text(r.severity),
            r.drift_bps.map(Param::Int).unwrap_or(Param::Null),
            Param::Text(&report),
            r.audit_seq
                .map(|s| Param::Int(s as i64))
                .unwrap_or(Param::Null),
            Param::Text(&at),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReconciliationRow {
    pub id: String,
    pub mode: String,
    pub triggered_by: String,
    pub outcome: String,
    pub severity: Option<String>,
    pub drift_bps: Option<i64>,
    pub report: String,
    pub audit_seq: Option<i64>,
    pub at: String,
}

impl ReconciliationRow {
    pub fn to_json(&self) -> Value {
        let mut v = json!(self);
        v["report"] = serde_json::from_str(&self.report).unwrap_or(Value::Null);
        v
    }
}

/// The reconciliation stored last (by insertion: cycles stamp scheduled times, operators the
/// real time, so `at` alone does not order them).
pub async fn latest_reconciliation(
    db: &Db,
    mode: Mode,
) -> Result<Option<ReconciliationRow>, DbError> {
    db.first::<ReconciliationRow>(LATEST_RECONCILIATION, &[Param::Text(mode.as_str())])
        .await
}

/// Records that `v` was seen at `now` (new → open; known → last_seen_at moves, status kept).
pub async fn upsert_violation(db: &Db, v: &Violation, now: DateTime<Utc>) -> Result<(), DbError> {
    let details: serde_json::Map<String, Value> = v
        .context
        .iter()
        .map(|(k, val)| (k.clone(), Value::String(val.clone())))
        .collect();
    let details = Value::Object(details).to_string();
    let at = format_utc(now);
    db.run(
        UPSERT_VIOLATION,
        &[
            Param::Text(&v.id),
            Param::Text(v.code.as_str()),
            Param::Text(&v.subject),
            crate::store::opt_text(v.market.as_ref().map(|m| m.as_str())),
            Param::Text(&details),
            Param::Text(&at),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViolationRow {
    pub id: String,
    pub code: String,
    pub subject: String,
    pub market: Option<String>,
    pub details: String,
    pub status: String,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
    pub notes: Option<String>,
}

impl ViolationRow {
    pub fn to_json(&self) -> Value {
        let mut v = json!(self);
        v["details"] = serde_json::from_str(&self.details).unwrap_or(Value::Null);
        v
    }
}

pub async fn violations(
    db: &Db,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<ViolationRow>, DbError> {
    db.all::<ViolationRow>(
        VIOLATIONS,
        &[crate::store::opt_text(status), Param::Int(limit)],
    )
    .await
}

pub async fn violation(db: &Db, id: &str) -> Result<Option<ViolationRow>, DbError> {
    db.first::<ViolationRow>(VIOLATION, &[Param::Text(id)])
        .await
}

/// Resolves an open violation; `false` if it is not open (any more).
pub async fn resolve_violation(
    db: &Db,
    id: &str,
    actor: &str,
    notes: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let at = format_utc(now);
    let changed = db
        .run(
            RESOLVE_VIOLATION,
            &[
                Param::Text(actor),
                Param::Text(&at),
                Param::Text(notes),
                Param::Text(id),
            ],
        )
        .await?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [
            (STRATEGIES, 0),
            (STRATEGY, 1),
            (SET_MODE, 5),
            (INSERT_SIGNAL, 18),
            (SIGNALS, 2),
            (INSERT_ORDER, 17),
            (UPDATE_ORDER, 9),
            (ORDER_EXISTS, 1),
            (ORDERS, 2),
            (INSERT_FILL, 10),
            (FILLS, 1),
            (MARKET_FILLS, 2),
            (PENDING_FILLS, 0),
            (FILL_APPLIED, 1),
            (UPSERT_POSITION, 9),
            (DELETE_POSITION, 2),
            (POSITIONS, 1),
            (INSERT_TRADE, 16),
            (TRADES, 2),
            (TRADE_BODIES, 1),
            (INSERT_RECONCILIATION, 9),
            (LATEST_RECONCILIATION, 1),
            (UPSERT_VIOLATION, 6),
            (VIOLATIONS, 2),
            (VIOLATION, 1),
            (RESOLVE_VIOLATION, 4),
        ] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }

    #[test]
    fn modes_round_trip_and_unknown_ones_are_refused() {
        for m in [Mode::Disabled, Mode::Paper, Mode::Live] {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("PAPER"), None);
        assert_eq!(Mode::parse(""), None);
    }

    #[test]
    fn the_seeded_strategy_config_is_the_fair_value_default() {
        let sql = include_str!("../../migrations/0004_trading.sql");
        let start = sql.find("'{\"strategy_id\"").expect("seed config") + 1;
        let end = start + sql[start..].find('\'').expect("end of seed");
        let seeded: StrategyConfig = serde_json::from_str(&sql[start..end]).expect("parses");
        assert_eq!(seeded, StrategyConfig::fair_value("fair_value"));
        seeded.validate().expect("valid");
    }
}

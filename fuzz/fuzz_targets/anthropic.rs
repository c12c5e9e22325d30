//! The Anthropic Messages response parser on arbitrary bytes and statuses, and the answer parser
//! on arbitrary text: no panic, and the same input always gives the same outcome.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::core::llm;

fuzz_target!(|data: &[u8]| {
    let status = match data.first() {
        Some(b) if b % 4 == 0 => 429,
        Some(b) if b % 4 == 1 => 500,
        Some(b) if b % 4 == 2 => 400,
        _ => 200,
    };
    let first = llm::parse_response(status, data);
    let again = llm::parse_response(status, data);
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = llm::parse_answer(text);
    }
});

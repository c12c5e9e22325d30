//! Admin request bodies: risk limits, order intents (dry-run checks), and operator SQL
//! (`POST /admin/d1/query`) through the D1 statement gate. No panic; an admitted statement is
//! one of the four kinds, and the gate's verdict does not change when asked twice.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::core::{risk, sql_guard};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<risk::OrderIntent>(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = risk::parse_limits(text);
    let verdict = sql_guard::check(text);
    assert_eq!(verdict, sql_guard::check(text));
    if let Ok(checked) = verdict {
        assert!(checked.parameters <= sql_guard::MAX_PARAMETERS);
        let upper = text.to_ascii_uppercase();
        // Nothing admitted contains a forbidden keyword as a bare word outside literals; a
        // cheap necessary check: an admitted statement never starts with one.
        for kw in [
            "PRAGMA", "ATTACH", "DETACH", "CREATE", "ALTER", "DROP", "VACUUM",
        ] {
            assert!(!upper.trim_start().starts_with(kw), "admitted {text:?}");
        }
    }
});

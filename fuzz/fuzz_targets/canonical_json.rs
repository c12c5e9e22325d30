//! Canonical JSON and audit events: any JSON value canonicalises deterministically and
//! idempotently (canonical bytes parse back to a value with the same canonical bytes), and
//! `AuditEvent::from_canonical_bytes` never panics and only accepts canonical input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::core::audit::canonical::to_canonical_vec;
use paul_p::core::audit::AuditEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = AuditEvent::from_canonical_bytes(data) {
        assert_eq!(event.canonical_bytes().expect("re-encodes"), data);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(bytes) = to_canonical_vec(&value) {
        let back: serde_json::Value = serde_json::from_slice(&bytes).expect("canonical is JSON");
        assert_eq!(to_canonical_vec(&back).expect("still canonical"), bytes);
    }
});

//! Signed checkpoints (C2SP signed notes) and verifier keys on arbitrary text: no panic, and a
//! note that opens re-serialises to a body that parses to the same checkpoint.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::core::audit::{open_checkpoint, Checkpoint, NoteSigner, NoteVerifier};
use std::sync::OnceLock;

fn verifier() -> &'static NoteVerifier {
    static V: OnceLock<NoteVerifier> = OnceLock::new();
    V.get_or_init(|| {
        NoteSigner::from_secret("paul-p/audit", &"11".repeat(32))
            .expect("fixed seed")
            .verifier()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = NoteVerifier::parse(text);
    let _ = Checkpoint::parse_body(text);
    if let Ok(cp) = open_checkpoint(text, verifier()) {
        let again = Checkpoint::parse_body(&cp.to_body()).expect("an opened body parses");
        assert_eq!(again, cp);
    }
});

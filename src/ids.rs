//! Random identifiers (request ids, run ids). Deterministic ids (orders) live in `core`.

/// 16 random bytes as 32 hex characters. Falls back to a time-based id only if the platform's
/// random source fails, which workerd never does; an id is not a secret.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        let t = crate::clock::now_ms().to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = t[i % t.len()] ^ (i as u8);
        }
    }
    hex::encode(buf)
}

pub fn request_id() -> String {
    random_hex(16)
}

//! Cloudflare Access JWTs (claims check before the signature), JWKS documents and bearer
//! headers on arbitrary input: no panic; a JWT longer than the limit is always refused.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paul_p::core::auth::{parse_bearer, AccessConfig, Jwks, MAX_JWT_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = Jwks::parse(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_bearer(text);
    let config = AccessConfig::new("paulp.cloudflareaccess.com", "aud-fuzz", Some("a@b.c"))
        .expect("valid config");
    let result = config.check_claims(text, 1_790_000_000);
    if text.len() > MAX_JWT_LEN {
        assert!(result.is_err());
    }
});

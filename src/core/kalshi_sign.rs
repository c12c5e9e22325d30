//! The message a Kalshi request signature covers, and the headers that carry it.
//!
//! Kalshi authenticates a request with RSA-PSS (SHA-256, MGF1-SHA-256, salt length 32) over the
//! string `timestamp_ms + METHOD + path`, where `path` starts at `/trade-api/…` and stops before
//! the query string. The body is never signed, and neither is the host (both demo hosts accept
//! the same signature). Signing the query string is the classic integration bug — the reference
//! implementation had it — so the path is cut out of the full request URL here, in one place,
//! and the tests pin that `?…` never reaches the message.
//!
//! The signing itself (WebCrypto `RSA-PSS`, `saltLength: 32`) happens in the Worker; this module
//! only decides *what* is signed.

use std::fmt;

/// Header carrying the API key id.
pub const HEADER_KEY: &str = "KALSHI-ACCESS-KEY";
/// Header carrying the millisecond timestamp that was signed.
pub const HEADER_TIMESTAMP: &str = "KALSHI-ACCESS-TIMESTAMP";
/// Header carrying the base64 signature.
pub const HEADER_SIGNATURE: &str = "KALSHI-ACCESS-SIGNATURE";
/// RSA-PSS salt length in bytes (the SHA-256 digest length).
pub const PSS_SALT_LEN: usize = 32;

/// Where the signed path starts.
const API_ROOT: &str = "/trade-api/";

/// Why a request cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The method is not an upper-case HTTP token.
    BadMethod(String),
    /// The URL has no `/trade-api/` path, so there is nothing Kalshi would verify.
    NotATradeApiUrl(String),
    /// A negative timestamp cannot be a Unix time in milliseconds.
    BadTimestamp(i64),
}

impl SignError {
    pub fn code(&self) -> &'static str {
        match self {
            SignError::BadMethod(_) => "KALSHI_SIGN_BAD_METHOD",
            SignError::NotATradeApiUrl(_) => "KALSHI_SIGN_NOT_TRADE_API_URL",
            SignError::BadTimestamp(_) => "KALSHI_SIGN_BAD_TIMESTAMP",
        }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::BadMethod(m) => write!(f, "{}: method={m:?}", self.code()),
            SignError::NotATradeApiUrl(u) => write!(f, "{}: url={u:?}", self.code()),
            SignError::BadTimestamp(t) => write!(f, "{}: timestamp_ms={t}", self.code()),
        }
    }
}

/// The path Kalshi verifies for `url`: from `/trade-api/` up to (not including) any `?` or `#`.
///
/// `url` may be absolute (`https://host/trade-api/v2/portfolio/orders?limit=5`), carry a proxy
/// prefix before the API root (`http://127.0.0.1:8788/trade-api/v2/…`), or be a bare path.
pub fn signed_path(url: &str) -> Result<&str, SignError> {
    let without_fragment = url.split('#').next().unwrap_or("");
    let without_query = without_fragment.split('?').next().unwrap_or("");
    // Skip `scheme://authority` so a host that happens to contain the root cannot match.
    let path = match without_query.find("://") {
        Some(i) => {
            let after = &without_query[i + 3..];
            match after.find('/') {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => without_query,
    };
    match path.find(API_ROOT) {
        Some(i) => Ok(&path[i..]),
        None => Err(SignError::NotATradeApiUrl(url.to_string())),
    }
}

/// The exact string to sign: `timestamp_ms + METHOD + path` (see [`signed_path`]).
pub fn signing_message(timestamp_ms: i64, method: &str, url: &str) -> Result<String, SignError> {
    if timestamp_ms < 0 {
        return Err(SignError::BadTimestamp(timestamp_ms));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(SignError::BadMethod(method.to_string()));
    }
    let path = signed_path(url)?;
    Ok(format!("{timestamp_ms}{method}{path}"))
}

/// The three authentication headers, in a fixed order, for a signature already computed over
/// [`signing_message`] with the same timestamp.
pub fn auth_headers(
    key_id: &str,
    timestamp_ms: i64,
    signature_base64: &str,
) -> [(&'static str, String); 3] {
    [
        (HEADER_KEY, key_id.to_string()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (HEADER_SIGNATURE, signature_base64.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_and_fragment_are_never_signed() {
        let m = signing_message(
            1_781_159_348_379,
            "GET",
            "https://api.elections.kalshi.com/trade-api/v2/portfolio/fills?limit=200&cursor=abc",
        )
        .unwrap();
        assert_eq!(m, "1781159348379GET/trade-api/v2/portfolio/fills");
        assert!(!m.contains('?') && !m.contains("limit"));
        assert_eq!(
            signed_path("/trade-api/v2/markets?status=open#x").unwrap(),
            "/trade-api/v2/markets"
        );
    }

    #[test]
    fn host_and_proxy_prefix_do_not_enter_the_message() {
        let a = signing_message(
            1,
            "POST",
            "https://demo-api.kalshi.co/trade-api/v2/portfolio/orders",
        );
        let b = signing_message(
            1,
            "POST",
            "https://external-api.demo.kalshi.co/trade-api/v2/portfolio/orders",
        );
        let c = signing_message(
            1,
            "POST",
            "http://127.0.0.1:8788/trade-api/v2/portfolio/orders",
        );
        let d = signing_message(
            1,
            "POST",
            "https://proxy.example/kalshi/trade-api/v2/portfolio/orders",
        );
        assert_eq!(a.as_deref(), Ok("1POST/trade-api/v2/portfolio/orders"));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
    }

    #[test]
    fn delete_paths_keep_their_ids_and_ws_paths_are_signed_too() {
        assert_eq!(
            signing_message(
                7,
                "DELETE",
                "https://x/trade-api/v2/portfolio/orders/e641ead7-badf-41d1-a4bf-04a6cb202714"
            )
            .unwrap(),
            "7DELETE/trade-api/v2/portfolio/orders/e641ead7-badf-41d1-a4bf-04a6cb202714"
        );
        assert_eq!(
            signed_path("wss://x/trade-api/ws/v2").unwrap(),
            "/trade-api/ws/v2"
        );
    }

    #[test]
    fn refuses_what_kalshi_could_not_verify() {
        assert_eq!(
            signing_message(1, "get", "/trade-api/v2/x")
                .unwrap_err()
                .code(),
            "KALSHI_SIGN_BAD_METHOD"
        );
        assert_eq!(
            signing_message(1, "GET", "https://trade-api.example/v2/markets")
                .unwrap_err()
                .code(),
            "KALSHI_SIGN_NOT_TRADE_API_URL"
        );
        assert_eq!(
            signing_message(1, "GET", "https://x/markets?path=/trade-api/v2/")
                .unwrap_err()
                .code(),
            "KALSHI_SIGN_NOT_TRADE_API_URL"
        );
        assert_eq!(
            signing_message(-1, "GET", "/trade-api/v2/x")
                .unwrap_err()
                .code(),
            "KALSHI_SIGN_BAD_TIMESTAMP"
        );
    }

    #[test]
    fn headers_carry_key_timestamp_and_signature() {
        let h = auth_headers("k-1", 42, "c2ln");
        assert_eq!(h[0], (HEADER_KEY, "k-1".to_string()));
        assert_eq!(h[1], (HEADER_TIMESTAMP, "42".to_string()));
        assert_eq!(h[2], (HEADER_SIGNATURE, "c2ln".to_string()));
    }

    /// Pins the signature parameters with an independent implementation: `openssl` signs the
    /// documented message with RSA-PSS / SHA-256 / MGF1-SHA-256 / salt 32 under a throwaway
    /// key, verifies it, and refuses the same signature over the message with the query string
    /// (the reference implementation's bug) and with a different salt length.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn openssl_signs_and_verifies_the_documented_message_with_pss_salt_32() {
        use std::path::Path;
        use std::process::Command;

        fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
            Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("the openssl command line tool is installed (Debian package openssl)")
        }
        fn pss_args(salt: &str) -> Vec<String> {
            [
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{salt}"),
                "-sigopt",
                "rsa_mgf1_md:sha256",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        }
        fn verify(dir: &Path, salt: &str, data: &str) -> bool {
            let mut args = vec!["dgst".to_string(), "-sha256".to_string()];
            args.extend(pss_args(salt));
            args.extend(
                ["-verify", "pub.pem", "-signature", "sig.bin", data]
                    .iter()
                    .map(|s| s.to_string()),
            );
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            openssl(dir, &args).status.success()
        }

        let dir = std::env::temp_dir().join(format!(
            "paulp-kalshi-sign-{}-{}",
            std::process::id(),
            line!()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = |o: std::process::Output| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        ok(openssl(
            &dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "key.pem",
            ],
        ));
        ok(openssl(
            &dir,
            &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
        ));

        let url = "https://api.elections.kalshi.com/trade-api/v2/portfolio/orders?limit=5";
        let message = signing_message(1_781_159_383_478, "POST", url).unwrap();
        assert_eq!(message, "1781159383478POST/trade-api/v2/portfolio/orders");
        std::fs::write(dir.join("msg.txt"), &message).unwrap();
        std::fs::write(
            dir.join("with_query.txt"),
            "1781159383478POST/trade-api/v2/portfolio/orders?limit=5",
        )
        .unwrap();

        let mut sign = vec!["dgst".to_string(), "-sha256".to_string()];
        sign.extend(pss_args("32"));
        sign.extend(
            ["-sign", "key.pem", "-out", "sig.bin", "msg.txt"]
                .iter()
                .map(|s| s.to_string()),
        );
        let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
        ok(openssl(&dir, &sign));

        assert!(verify(&dir, "32", "msg.txt"), "salt-32 signature verifies");
        assert!(
            !verify(&dir, "32", "with_query.txt"),
            "the same signature does not cover the query string"
        );
        assert!(
            !verify(&dir, "20", "msg.txt"),
            "a verifier expecting another salt length refuses it: the parameter is pinned"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

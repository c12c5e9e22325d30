//! Evidence: the raw bytes of every venue/LLM response, kept before a single field is parsed.
//!
//! A body is identified by the SHA-256 of its bytes ([`EvidenceHash`]). It is stored once in
//! R2 at [`object_key`] (`evidence/{source}/{yyyy-mm-dd}/{sha256}`, the day of its first fetch)
//! and indexed once in D1 by hash; the object's custom metadata repeats the index fields
//! ([`EvidenceMeta`]), so a blob whose index row was lost can be re-indexed from the blob alone.
//! Every row derived from a response carries the hash, and [`verify`] re-checks stored bytes.

use crate::core::compliance::Source;
use crate::core::time::{format_day, format_utc, parse_utc};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

/// The prefix of every evidence object in R2_EVIDENCE.
pub const KEY_PREFIX: &str = "evidence/";

/// The SHA-256 of a response body.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvidenceHash([u8; 32]);

impl EvidenceHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> EvidenceHash {
        EvidenceHash(Sha256::digest(bytes).into())
    }

    /// Parses exactly 64 lowercase hex digits (the only spelling the system writes, so a
    /// different spelling cannot name the same evidence twice).
    pub fn from_hex(s: &str) -> Option<EvidenceHash> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(EvidenceHash(out))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for EvidenceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EvidenceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvidenceHash({})", self.to_hex())
    }
}

/// `evidence/{source}/{yyyy-mm-dd}/{sha256}`, the day being `first_fetched_at`'s UTC day.
pub fn object_key(source: Source, first_fetched_at: DateTime<Utc>, hash: &EvidenceHash) -> String {
    format!(
        "{KEY_PREFIX}{}/{}/{}",
        source.as_str(),
        format_day(first_fetched_at),
        hash.to_hex()
    )
}

/// The parts of an evidence object key, if `key` is one.
pub fn parse_object_key(key: &str) -> Option<(Source, String, EvidenceHash)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let mut parts = rest.split('/');
    let source = Source::parse(parts.next()?)?;
    let day = parts.next()?;
    crate::core::time::parse_day(day)?;
    let hash = EvidenceHash::from_hex(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((source, day.to_string(), hash))
}

/// Query parameters whose values are never stored (credentials some APIs accept in URLs).
const SECRET_QUERY_KEYS: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "auth",
    "signature",
    "sig",
    "secret",
    "password",
];

fn is_secret_query_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_QUERY_KEYS.contains(&lower.as_str())
        || lower.ends_with("_token")
        || lower.ends_with("_key")
        || lower.ends_with("_secret")
        || lower.ends_with("signature")
}

/// The endpoint as recorded: scheme, host, path and query, with any user-info dropped, the
/// fragment dropped, and the values of credential-like query parameters replaced by `REDACTED`.
pub fn redact_endpoint(url: &str) -> String {
    let without_fragment = url.split('#').next().unwrap_or("");
    let (scheme, rest) = match without_fragment.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("", without_fragment),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit('@').next().unwrap_or("");
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut out = String::with_capacity(url.len());
    if !scheme.is_empty() {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(host);
    out.push_str(path);
    if let Some(q) = query {
        out.push('?');
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_secret_query_key(k) => format!("{k}=REDACTED"),
                _ => pair.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// What the index records about one body. Also the R2 object's custom metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceMeta {
    pub source: Source,
    pub method: String,
    /// Redacted with [`redact_endpoint`].
    pub endpoint: String,
    pub status: u16,
    pub size: u64,
    pub content_type: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub run_id: Option<String>,
}

/// Longest content type kept (a hostile server could send anything).
const MAX_CONTENT_TYPE_CHARS: usize = 200;
/// Longest endpoint kept in metadata; R2 custom metadata is capped at 8 KB in total.
const MAX_ENDPOINT_CHARS: usize = 2_000;

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl EvidenceMeta {
    /// Builds the record for a response just received, redacting the URL.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: Source,
        method: &str,
        url: &str,
        status: u16,
        size: u64,
        content_type: Option<&str>,
        fetched_at: DateTime<Utc>,
        run_id: Option<&str>,
    ) -> EvidenceMeta {
        EvidenceMeta {
            source,
            method: method.to_ascii_uppercase(),
            endpoint: clip(&redact_endpoint(url), MAX_ENDPOINT_CHARS),
            status,
            size,
            content_type: content_type.map(|c| clip(c, MAX_CONTENT_TYPE_CHARS)),
            fetched_at,
            run_id: run_id.map(String::from),
        }
    }

    /// The R2 custom metadata.
    pub fn to_custom_metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("source".into(), self.source.as_str().into());
        m.insert("method".into(), self.method.clone());
        m.insert("endpoint".into(), self.endpoint.clone());
        m.insert("status".into(), self.status.to_string());
        m.insert("size".into(), self.size.to_string());
        if let Some(ct) = &self.content_type {
            m.insert("content_type".into(), ct.clone());
        }
        m.insert("fetched_at".into(), format_utc(self.fetched_at));
        if let Some(r) = &self.run_id {
            m.insert("run_id".into(), r.clone());
        }
        m
    }

    /// Reads the custom metadata of a blob back; `None` if a required field is missing or
    /// malformed (such a blob is reported, never indexed with guessed fields).
    pub fn from_custom_metadata(m: &HashMap<String, String>) -> Option<EvidenceMeta> {
        Some(EvidenceMeta {
            source: Source::parse(m.get("source")?)?,
            method: m.get("method")?.clone(),
            endpoint: m.get("endpoint")?.clone(),
            status: m.get("status")?.parse().ok()?,
            size: m.get("size")?.parse().ok()?,
            content_type: m.get("content_type").cloned(),
            fetched_at: parse_utc(m.get("fetched_at")?)?,
            run_id: m.get("run_id").cloned(),
        })
    }
}

/// The outcome of re-reading stored evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The bytes hash to the expected value.
    Match { size: u64 },
    /// The bytes are there but hash to something else.
    HashMismatch { actual: EvidenceHash, size: u64 },
    /// No bytes under the recorded key.
    Missing,
}

impl Verification {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verification::Match { .. })
    }

    /// `None` when valid; otherwise `EVIDENCE_HASH_MISMATCH` or `EVIDENCE_MISSING`.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Verification::Match { .. } => None,
            Verification::HashMismatch { .. } => Some("EVIDENCE_HASH_MISMATCH"),
            Verification::Missing => Some("EVIDENCE_MISSING"),
        }
    }
}

/// Re-hashes stored bytes (`None` when the blob is gone) against the expected hash.
pub fn verify(expected: &EvidenceHash, stored: Option<&[u8]>) -> Verification {
    match stored {
        None => Verification::Missing,
        Some(bytes) => {
            let actual = EvidenceHash::of(bytes);
            let size = bytes.len() as u64;
            if actual == *expected {
                Verification::Match { size }
            } else {
                Verification::HashMismatch { actual, size }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time::from_millis;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn the_hash_is_sha256_of_the_raw_bytes_in_lowercase_hex() {
        assert_eq!(EvidenceHash::of(b"").to_hex(), EMPTY_SHA256);
        assert_eq!(
            EvidenceHash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h = EvidenceHash::from_hex(EMPTY_SHA256).unwrap();
        assert_eq!(h, EvidenceHash::of(b""));
        for bad in [&EMPTY_SHA256.to_uppercase(), &EMPTY_SHA256[1..], "zz", ""] {
            assert_eq!(EvidenceHash::from_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_are_source_day_hash_and_parse_back() {
        let h = EvidenceHash::of(b"x");
        let t = from_millis(1_781_154_911_123).unwrap();
        let key = object_key(Source::PolymarketGamma, t, &h);
        assert_eq!(key, format!("evidence/polymarket_gamma/2026-06-11/{h}"));
        assert_eq!(
            parse_object_key(&key),
            Some((Source::PolymarketGamma, "2026-06-11".to_string(), h))
        );
        for bad in [
            format!("evidence/nobody/2026-06-11/{h}"),
            format!("evidence/kalshi/2026-6-11/{h}"),
            format!("evidence/kalshi/2026-06-11/{h}/x"),
            format!("runs/kalshi/2026-06-11/{h}"),
            "evidence/kalshi/2026-06-11/abc".to_string(),
        ] {
            assert_eq!(parse_object_key(&bad), None, "{bad}");
        }
    }

    #[test]
    fn endpoints_lose_credentials_userinfo_and_fragments() {
        assert_eq!(
            redact_endpoint("https://api.elections.kalshi.com/trade-api/v2/markets?limit=1000&cursor=abc&status=open"),
            "https://api.elections.kalshi.com/trade-api/v2/markets?limit=1000&cursor=abc&status=open"
        );
        assert_eq!(
            redact_endpoint("https://user:pw@h.example/p?api_key=s3cret&x=1&access_token=t&X-Amz-Signature=q#frag"),
            "https://h.example/p?api_key=REDACTED&x=1&access_token=REDACTED&X-Amz-Signature=REDACTED"
        );
        assert_eq!(
            redact_endpoint("http://127.0.0.1:8788/gamma/markets"),
            "http://127.0.0.1:8788/gamma/markets"
        );
    }

    #[test]
    fn metadata_round_trips_through_r2_custom_metadata() {
        let meta = EvidenceMeta::new(
            Source::Kalshi,
            "get",
            "https://h/trade-api/v2/markets?token=abc",
            429,
            17,
            Some("application/json"),
            from_millis(1_781_154_911_123).unwrap(),
            Some("ingest-x"),
        );
        assert_eq!(meta.method, "GET");
        assert_eq!(
            meta.endpoint,
            "https://h/trade-api/v2/markets?token=REDACTED"
        );
        let back = EvidenceMeta::from_custom_metadata(&meta.to_custom_metadata()).unwrap();
        assert_eq!(back, meta);
        let mut broken = meta.to_custom_metadata();
        broken.insert("status".into(), "many".into());
        assert_eq!(EvidenceMeta::from_custom_metadata(&broken), None);
        broken.remove("status");
        assert_eq!(EvidenceMeta::from_custom_metadata(&broken), None);
    }

    #[test]
    fn verification_reports_match_mismatch_and_missing() {
        let h = EvidenceHash::of(b"{\"markets\":[]}");
        assert_eq!(
            verify(&h, Some(b"{\"markets\":[]}")),
            Verification::Match { size: 14 }
        );
        let tampered = verify(&h, Some(b"{\"markets\":[1]}"));
        assert_eq!(tampered.code(), Some("EVIDENCE_HASH_MISMATCH"));
        assert!(!tampered.is_valid());
        assert_eq!(verify(&h, None).code(), Some("EVIDENCE_MISSING"));
    }
}

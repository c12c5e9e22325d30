//! The Access team's signing keys (`/cdn-cgi/access/certs`) and when to fetch them again.
//!
//! Keys rotate about every six weeks and the previous key stays valid for seven days, so the
//! cache is keyed by `kid` and refetched when a token names a `kid` it does not know. Refetches
//! are rate-limited (a flood of made-up `kid`s must not become a flood of fetches), and the whole
//! set expires after a maximum age so a withdrawn key stops being trusted.

use super::jwt::{is_clean_kid, ALG_RS256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Smallest RSA modulus accepted.
pub const MIN_MODULUS_BITS: usize = 2048;

/// An RSA public key usable for RS256 verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaJwk {
    kid: String,
    n: String,
    e: String,
    modulus_bits: usize,
}

impl RsaJwk {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Modulus, base64url as published.
    pub fn n(&self) -> &str {
        &self.n
    }

    /// Public exponent, base64url as published.
    pub fn e(&self) -> &str {
        &self.e
    }

    pub fn modulus_bits(&self) -> usize {
        self.modulus_bits
    }

    /// The public key as a JWK for `crypto.subtle.importKey("jwk", …)` with algorithm
    /// `{name: "RSASSA-PKCS1-v1_5", hash: "SHA-256"}`: only `kty`, `n`, `e` and `alg`, whatever
    /// else the published key carried.
    pub fn import_jwk(&self) -> String {
        json!({"kty": "RSA", "n": self.n, "e": self.e, "alg": ALG_RS256}).to_string()
    }
}

/// A key of the published set that was left out, and why (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    pub kid: Option<String>,
    pub reason: &'static str,
}

/// The usable keys of one fetched key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<RsaJwk>,
    skipped: Vec<SkippedKey>,
}

/// Why a fetched key set cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Not JSON, not an object, or without a `keys` array.
    Malformed { reason: &'static str },
    /// Two usable keys share a `kid`: which one signs is ambiguous, so neither is trusted.
    DuplicateKid { kid: String },
    /// No key is a usable RS256 verification key.
    NoUsableKeys { skipped: usize },
}

impl JwksError {
    /// Stable code for logs; the request itself is refused with
    /// [`super::AuthError::AccessKeysUnavailable`].
    pub fn code(&self) -> &'static str {
        match self {
            JwksError::Malformed { .. } => "JWKS_MALFORMED",
            JwksError::DuplicateKid { .. } => "JWKS_DUPLICATE_KID",
            JwksError::NoUsableKeys { .. } => "JWKS_NO_USABLE_KEYS",
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        match self {
            JwksError::Malformed { reason } => write!(f, ": reason={reason}"),
            JwksError::DuplicateKid { kid } => write!(f, ": kid={kid:?}"),
            JwksError::NoUsableKeys { skipped } => write!(f, ": skipped={skipped}"),
        }
    }
}

impl std::error::Error for JwksError {}

impl Jwks {
    /// Parses a `{"keys": […]}` document, keeping keys with `kty` `RSA`, a `kid`, `n` of at
    /// least [`MIN_MODULUS_BITS`] bits, a sane odd `e`, `alg` (if present) `RS256`, `use` (if
    /// present) `sig` and `key_ops` (if present) including `verify`. Other keys are skipped and
    /// reported; a set with none left, or with a `kid` repeated among usable keys, is an error.
    pub fn parse(bytes: &[u8]) -> Result<Jwks, JwksError> {
        let document: Value = serde_json::from_slice(bytes)
            .map_err(|_| JwksError::Malformed { reason: "not JSON" })?;
        let entries = document
            .as_object()
            .ok_or(JwksError::Malformed {
                reason: "not an object",
            })?
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::Malformed {
                reason: "no keys array",
            })?;

        let mut keys: Vec<RsaJwk> = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries {
            match usable_key(entry) {
                Ok(key) => {
                    if keys.iter().any(|k| k.kid == key.kid) {
                        return Err(JwksError::DuplicateKid { kid: key.kid });
                    }
                    keys.push(key);
                }
                Err(reason) => skipped.push(SkippedKey {
                    kid: entry.get("kid").and_then(Value::as_str).map(str::to_string),
                    reason,
                }),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys {
                skipped: skipped.len(),
            });
        }
        Ok(Jwks { keys, skipped })
    }

    pub fn keys(&self) -> &[RsaJwk] {
        &self.keys
    }

    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }
}

fn usable_key(entry: &Value) -> Result<RsaJwk, &'static str> {
    let member = |name: &str| entry.get(name);
    let text = |name: &str| member(name).and_then(Value::as_str);
    if !entry.is_object() {
        return Err("not an object");
    }
    if text("kty") != Some("RSA") {
        return Err("kty is not RSA");
    }
    let kid = text("kid")
        .filter(|kid| is_clean_kid(kid))
        .ok_or("kid missing or unusable")?;
    if member("alg").is_some() && text("alg") != Some(ALG_RS256) {
        return Err("alg is not RS256");
    }
    if member("use").is_some() && text("use") != Some("sig") {
        return Err("use is not sig");
    }
    if let Some(ops) = member("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("key_ops lacks verify");
        }
    }
    let n = text("n").ok_or("n missing")?;
    let modulus_bytes = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| "n is not base64url")?;
    let modulus = significant(&modulus_bytes);
    let modulus_bits = match modulus.first() {
        Some(top) => modulus.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    };
    if modulus_bits < MIN_MODULUS_BITS {
        return Err("modulus shorter than 2048 bits");
    }
    let e = text("e").ok_or("e missing")?;
    let exponent_bytes = URL_SAFE_NO_PAD
        .decode(e)
        .map_err(|_| "e is not base64url")?;
    let exponent = significant(&exponent_bytes);
    let exponent_ok = !exponent.is_empty()
        && exponent.len() <= 8
        && exponent.last().is_some_and(|low| low & 1 == 1)
        && exponent != [1];
    if !exponent_ok {
        return Err("e is not an odd exponent of at most 64 bits above 1");
    }
    Ok(RsaJwk {
        kid: kid.to_string(),
        n: n.to_string(),
        e: e.to_string(),
        modulus_bits,
    })
}

/// The bytes of a big-endian integer without leading zero bytes.
fn significant(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// How often the key set may be fetched and how long it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    /// At most one fetch attempt (successful or not) per this many seconds.
    pub min_refetch_interval_secs: i64,
    /// A key set older than this is no longer used and is refetched.
    pub max_age_secs: i64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            min_refetch_interval_secs: 60,
            max_age_secs: 3600,
        }
    }
}

/// The cached key set, as pure data. The Worker keeps one per isolate, asks
/// [`JwksCache::begin_refetch`] before fetching, and calls [`JwksCache::replace`] on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksCache {
    policy: JwksPolicy,
    keys: BTreeMap<String, RsaJwk>,
    fetched_at: Option<i64>,
    last_attempt_at: Option<i64>,
}

impl JwksCache {
    /// An empty cache: the first lookup asks for a fetch.
    pub fn new(policy: JwksPolicy) -> JwksCache {
        JwksCache {
            policy,
            keys: BTreeMap::new(),
            fetched_at: None,
            last_attempt_at: None,
        }
    }

    /// When the current key set was fetched (unix seconds), if ever.
    pub fn fetched_at(&self) -> Option<i64> {
        self.fetched_at
    }

    /// True while the key set is younger than the policy's maximum age.
    pub fn is_fresh(&self, now: i64) -> bool {
        self.fetched_at
            .is_some_and(|at| now.saturating_sub(at) < self.policy.max_age_secs)
    }

    /// The key for `kid`, only from a fresh key set: stale keys are never used, even when a
    /// refetch is not allowed yet (fail closed).
    pub fn key(&self, kid: &str, now: i64) -> Option<&RsaJwk> {
        if self.is_fresh(now) {
            self.keys.get(kid)
        } else {
            None
        }
    }

    /// True when a fetch is needed (nothing fetched yet, the set is stale, or `kid` is unknown)
    /// and allowed (the last attempt was at least `min_refetch_interval_secs` ago).
    pub fn should_refetch(&self, kid: &str, now: i64) -> bool {
        let rate_limited = self
            .last_attempt_at
            .is_some_and(|at| now.saturating_sub(at) < self.policy.min_refetch_interval_secs);
        let needed = !self.is_fresh(now) || !self.keys.contains_key(kid);
        needed && !rate_limited
    }

    /// [`Self::should_refetch`], recording the attempt when it says yes. Call it before the
    /// fetch (before any `await`), so concurrent requests in one isolate fetch once, and so a
    /// failing endpoint is asked at most once per interval.
    pub fn begin_refetch(&mut self, kid: &str, now: i64) -> bool {
        let go = self.should_refetch(kid, now);
        if go {
            self.last_attempt_at = Some(now);
        }
        go
    }

    /// Replaces the whole key set with a freshly fetched one: keys absent from it are dropped.
    pub fn replace(&mut self, jwks: Jwks, now: i64) {
        self.keys = jwks
            .keys
            .into_iter()
            .map(|key| (key.kid.clone(), key))
            .collect();
        self.fetched_at = Some(now);
        self.last_attempt_at = Some(self.last_attempt_at.map_or(now, |at| at.max(now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit modulus (top bit set), not a real key: parsing never needs one.
    fn modulus(bits: usize) -> String {
        let mut bytes = vec![0x5a_u8; bits.div_ceil(8)];
        bytes[0] = 0x80 >> ((8 - bits % 8) % 8);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa(kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "e": "AQAB", "n": modulus(2048)})
    }

    fn with(mut value: Value, key: &str, field: Value) -> Value {
        value[key] = field;
        value
    }

    fn parse(keys: Vec<Value>) -> Result<Jwks, JwksError> {
        Jwks::parse(json!({ "keys": keys }).to_string().as_bytes())
    }

    fn skip_reason(key: Value) -> &'static str {
        let jwks = parse(vec![rsa("good"), key]).unwrap();
        assert_eq!(jwks.keys().len(), 1);
        jwks.skipped()[0].reason
    }

    // --- parsing -----------------------------------------------------------------------------

    #[test]
    fn cloudflare_shaped_key_set_parses_both_keys() {
        // The certs endpoint publishes the current and previous key, plus legacy fields.
        let document = json!({
            "keys": [rsa("current"), rsa("previous")],
            "public_cert": {"kid": "current", "cert": "-----BEGIN CERTIFICATE-----"},
            "public_certs": []
        });
        let jwks = Jwks::parse(document.to_string().as_bytes()).unwrap();
        let kids: Vec<&str> = jwks.keys().iter().map(RsaJwk::kid).collect();
        assert_eq!(kids, ["current", "previous"]);
        assert_eq!(jwks.keys()[0].modulus_bits(), 2048);
        assert!(jwks.skipped().is_empty());
    }

    #[test]
    fn alg_and_use_are_optional() {
        let mut key = rsa("k");
        key.as_object_mut().unwrap().remove("alg");
        key.as_object_mut().unwrap().remove("use");
        assert_eq!(parse(vec![key]).unwrap().keys().len(), 1);
    }

    #[test]
    fn non_rsa_and_non_rs256_keys_are_skipped_with_a_reason() {
        let ec = json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"});
        assert_eq!(skip_reason(ec), "kty is not RSA");
        assert_eq!(
            skip_reason(with(rsa("k"), "alg", json!("RS512"))),
            "alg is not RS256"
        );
        assert_eq!(
            skip_reason(with(rsa("k"), "use", json!("enc"))),
            "use is not sig"
        );
        assert_eq!(
            skip_reason(with(rsa("k"), "key_ops", json!(["encrypt"]))),
            "key_ops lacks verify"
        );
        assert_eq!(skip_reason(json!("RSA")), "not an object");
        let jwks = parse(vec![rsa("good"), with(rsa("bad"), "use", json!("enc"))]).unwrap();
        let skipped = &jwks.skipped()[0];
        assert_eq!(skipped.kid.as_deref(), Some("bad"));
    }

    #[test]
    fn keys_without_kid_or_with_bad_numbers_are_skipped() {
        let mut no_kid = rsa("k");
        no_kid.as_object_mut().unwrap().remove("kid");
        assert_eq!(skip_reason(no_kid), "kid missing or unusable");
        assert_eq!(
            skip_reason(with(rsa("k"), "n", json!("a+b/"))),
            "n is not base64url"
        );
        assert_eq!(
            skip_reason(with(rsa("k"), "n", json!(modulus(1024)))),
            "modulus shorter than 2048 bits"
        );
        assert_eq!(
            skip_reason(with(rsa("k"), "n", json!(modulus(2047)))),
            "modulus shorter than 2048 bits"
        );
        for e in ["AQ", "Ag", "AAAA", "AQAAAAAAAAAB"] {
            assert!(
                skip_reason(with(rsa("k"), "e", json!(e))).starts_with("e is not"),
                "{e}"
            );
        }
        assert_eq!(
            skip_reason(with(rsa("k"), "e", json!("AQAB=="))),
            "e is not base64url"
        );
    }

    #[test]
    fn leading_zero_bytes_do_not_count_toward_modulus_size() {
        let mut bytes = vec![0u8];
        bytes.extend(URL_SAFE_NO_PAD.decode(modulus(2048)).unwrap());
        let padded = with(rsa("k"), "n", json!(URL_SAFE_NO_PAD.encode(&bytes)));
        assert_eq!(parse(vec![padded]).unwrap().keys()[0].modulus_bits(), 2048);
        let mut short = vec![0u8; 2];
        short.extend(URL_SAFE_NO_PAD.decode(modulus(2040)).unwrap());
        let short = with(rsa("k"), "n", json!(URL_SAFE_NO_PAD.encode(&short)));
        assert!(matches!(
            parse(vec![short]),
            Err(JwksError::NoUsableKeys { .. })
        ));
    }

    #[test]
    fn set_without_usable_keys_is_an_error() {
        assert_eq!(
            parse(vec![with(rsa("k"), "kty", json!("oct"))]),
            Err(JwksError::NoUsableKeys { skipped: 1 })
        );
        assert_eq!(parse(vec![]), Err(JwksError::NoUsableKeys { skipped: 0 }));
    }

    #[test]
    fn repeated_kid_among_usable_keys_is_an_error() {
        assert_eq!(
            parse(vec![rsa("k"), rsa("k")]),
            Err(JwksError::DuplicateKid { kid: "k".into() })
        );
    }

    #[test]
    fn malformed_documents_are_errors() {
        for doc in [&b"not json"[..], b"[]", b"{}", br#"{"keys": {}}"#] {
            assert!(
                matches!(Jwks::parse(doc), Err(JwksError::Malformed { .. })),
                "{doc:?}"
            );
        }
    }

    #[test]
    fn import_jwk_carries_only_public_rs256_members() {
        let key = with(
            rsa("k"),
            "d",
            json!("private-exponent-should-never-be-here"),
        );
        let jwks = parse(vec![key]).unwrap();
        let jwk: Value = serde_json::from_str(&jwks.keys()[0].import_jwk()).unwrap();
        assert_eq!(
            jwk,
            json!({"kty": "RSA", "n": modulus(2048), "e": "AQAB", "alg": "RS256"})
        );
    }

    // --- cache policy ------------------------------------------------------------------------

    const T0: i64 = 1_767_225_600;

    fn cache_with(kids: &[&str], fetched_at: i64) -> JwksCache {
        let mut cache = JwksCache::new(JwksPolicy::default());
        assert!(cache.begin_refetch(kids[0], fetched_at));
        cache.replace(
            parse(kids.iter().map(|k| rsa(k)).collect()).unwrap(),
            fetched_at,
        );
        cache
    }

    #[test]
    fn empty_cache_fetches_on_first_use() {
        let cache = JwksCache::new(JwksPolicy::default());
        assert!(cache.should_refetch("any", T0));
        assert_eq!(cache.key("any", T0), None);
    }

    #[test]
    fn known_kid_in_a_fresh_set_needs_no_fetch() {
        let cache = cache_with(&["a", "b"], T0);
        assert!(!cache.should_refetch("a", T0 + 3599));
        assert_eq!(cache.key("b", T0 + 3599).unwrap().kid(), "b");
    }

    #[test]
    fn unknown_kid_refetches_at_most_once_per_minute() {
        let mut cache = cache_with(&["a"], T0);
        assert!(!cache.begin_refetch("rotated", T0 + 59));
        assert!(cache.begin_refetch("rotated", T0 + 60));
        // The fetch is under way or failed: no new attempt for another minute.
        assert!(!cache.begin_refetch("rotated", T0 + 61));
        assert!(!cache.begin_refetch("another", T0 + 119));
        assert!(cache.begin_refetch("another", T0 + 120));
    }

    #[test]
    fn failed_first_fetch_is_also_rate_limited() {
        let mut cache = JwksCache::new(JwksPolicy::default());
        assert!(cache.begin_refetch("a", T0));
        // No replace: the fetch failed.
        assert!(!cache.should_refetch("a", T0 + 30));
        assert_eq!(cache.key("a", T0 + 30), None);
        assert!(cache.should_refetch("a", T0 + 60));
    }

    #[test]
    fn stale_set_is_refetched_and_not_used_meanwhile() {
        let cache = cache_with(&["a"], T0);
        assert!(cache.should_refetch("a", T0 + 3600));
        assert_eq!(cache.key("a", T0 + 3600), None);
    }

    #[test]
    fn replacing_the_set_drops_keys_that_were_withdrawn() {
        let mut cache = cache_with(&["old", "current"], T0);
        assert!(cache.begin_refetch("next", T0 + 120));
        cache.replace(parse(vec![rsa("current"), rsa("next")]).unwrap(), T0 + 120);
        assert_eq!(cache.fetched_at(), Some(T0 + 120));
        assert_eq!(cache.key("old", T0 + 121), None);
        assert!(cache.key("current", T0 + 121).is_some());
        assert!(cache.key("next", T0 + 121).is_some());
        assert!(!cache.should_refetch("next", T0 + 121));
    }

    #[test]
    fn policy_intervals_are_configurable() {
        let policy = JwksPolicy {
            min_refetch_interval_secs: 10,
            max_age_secs: 100,
        };
        let mut cache = JwksCache::new(policy);
        assert!(cache.begin_refetch("a", T0));
        cache.replace(parse(vec![rsa("a")]).unwrap(), T0);
        assert!(cache.begin_refetch("b", T0 + 10));
        assert!(!cache.is_fresh(T0 + 100));
    }
}

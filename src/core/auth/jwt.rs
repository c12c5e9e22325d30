//! Cloudflare Access JWTs (`Cf-Access-Jwt-Assertion`), RS256 only.
//!
//! Everything that can be decided without the signing key is decided here, and every such
//! decision can only refuse. What comes out is an [`UnverifiedAccessToken`]: the exact bytes the
//! Worker must check with WebCrypto (signing input, signature, `kid`). The caller's identity is
//! sealed inside it and is reachable only through [`UnverifiedAccessToken::verify_with`] with the
//! result of that check, so no path accepts a token whose signature was not verified.
//!
//! Claims are validated before the signature on purpose: an expired or foreign token costs no
//! RSA operation and, above all, cannot trigger a key-set refetch.

use super::error::{AuthError, JwtPart, Misconfiguration};
use super::json::{parse_object, ObjectError};
use super::{AuthMethod, Identity};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// Clock skew tolerated on `exp`, `nbf` and `iat` unless configured otherwise.
pub const DEFAULT_LEEWAY_SECS: i64 = 60;
/// Largest leeway [`AccessConfig::with_leeway_secs`] accepts; more would make `exp` meaningless.
pub const MAX_LEEWAY_SECS: i64 = 300;
/// Longest token considered at all. Access tokens are a few hundred bytes to a few KiB.
pub const MAX_JWT_LEN: usize = 16 * 1024;
/// The only accepted `alg`.
pub const ALG_RS256: &str = "RS256";

/// Validated Cloudflare Access settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    issuer: String,
    audience: String,
    /// Lower-cased identities from `ADMIN_ALLOWED_EMAILS`; `None` means no restriction beyond
    /// the Access policy itself.
    allowed: Option<BTreeSet<String>>,
    leeway_secs: i64,
}

impl AccessConfig {
    /// Builds the settings from `CF_ACCESS_TEAM_DOMAIN`, `CF_ACCESS_AUD` and the optional
    /// `ADMIN_ALLOWED_EMAILS` (all trimmed; callers pass non-empty values for the first two).
    ///
    /// The issuer is `https://<team domain>`; a team domain that already starts with `http://`
    /// or `https://` is the issuer verbatim (local development points it at a simulator). The
    /// allow-list is comma-separated and case-insensitive; empty entries are ignored, and a list
    /// with no entries means no restriction.
    pub fn new(
        team_domain: &str,
        audience: &str,
        allowed_emails: Option<&str>,
    ) -> Result<AccessConfig, Misconfiguration> {
        let issuer = issuer_for(team_domain.trim())?;
        let audience = audience.trim();
        if audience.is_empty() || !audience.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Misconfiguration::AccessAudienceInvalid);
        }
        Ok(AccessConfig {
            issuer,
            audience: audience.to_string(),
            allowed: allowed_emails.and_then(parse_allow_list),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        })
    }

    /// The same settings with another clock-skew leeway, clamped to `0..=MAX_LEEWAY_SECS`.
    pub fn with_leeway_secs(mut self, leeway_secs: i64) -> AccessConfig {
        self.leeway_secs = leeway_secs.clamp(0, MAX_LEEWAY_SECS);
        self
    }

    /// The `iss` every accepted token carries.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The AUD tag every accepted token's `aud` contains.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The identities of the `ADMIN_ALLOWED_EMAILS` allow-list (lower-cased); empty when the
    /// Access policy alone decides.
    pub fn allowed_identities(&self) -> Vec<String> {
        self.allowed
            .as_ref()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }

    /// Where the team's signing keys are published.
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.issuer)
    }

    /// Decodes and checks everything but the signature, at unix time `now` (seconds).
    ///
    /// Strict structure: three segments of unpadded base64url, header and payload JSON objects
    /// without repeated members, a non-empty signature. Header: `alg` exactly `RS256`, a `kid`,
    /// no `crit`. Claims: `iss` equal to [`Self::issuer`]; `aud` (string or array of strings)
    /// containing [`Self::audience`]; integer `exp` required with `now < exp + leeway`;
    /// `nbf` and `iat`, when present, integers no later than `now + leeway`; identity from
    /// `email` (lower-cased) or else `common_name`; the identity in the allow-list if one is
    /// configured.
    pub fn check_claims(&self, jwt: &str, now: i64) -> Result<UnverifiedAccessToken, AuthError> {
        if jwt.len() > MAX_JWT_LEN {
            return Err(malformed(JwtPart::Token, "too long"));
        }
        let mut segments = jwt.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(malformed(JwtPart::Token, "not three segments"));
        };

        let header = decode_object(header_b64, JwtPart::Header)?;
        if header.get("alg").and_then(Value::as_str) != Some(ALG_RS256) {
            return Err(AuthError::JwtAlgorithmRefused);
        }
        if header.contains_key("crit") {
            return Err(AuthError::JwtCriticalHeader);
        }
        let kid = match header.get("kid").and_then(Value::as_str) {
            Some(kid) if is_clean_kid(kid) => kid.to_string(),
            _ => return Err(AuthError::JwtKidMissing),
        };
        let claims = decode_object(payload_b64, JwtPart::Payload)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| malformed(JwtPart::Signature, "not base64url"))?;
        if signature.is_empty() {
            return Err(malformed(JwtPart::Signature, "empty"));
        }

        self.check_issuer(&claims)?;
        self.check_audience(&claims)?;
        self.check_times(&claims, now)?;
        let identity = identity_of(&claims)?;
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(&identity.to_ascii_lowercase()) {
                return Err(AuthError::IdentityNotAllowed);
            }
        }

        // The signing input is the first two segments exactly as received (ASCII, since both
        // decoded as base64url).
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        Ok(UnverifiedAccessToken {
            kid,
            signing_input: jwt.as_bytes()[..signing_input_len].to_vec(),
            signature,
            identity,
        })
    }

    fn check_issuer(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        match claims.get("iss") {
            None => Err(AuthError::JwtClaimMissing { claim: "iss" }),
            Some(Value::String(iss)) if *iss == self.issuer => Ok(()),
            Some(Value::String(_)) => Err(AuthError::JwtWrongIssuer),
            Some(_) => Err(AuthError::JwtClaimInvalid { claim: "iss" }),
        }
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        let contains = match claims.get("aud") {
            None => return Err(AuthError::JwtClaimMissing { claim: "aud" }),
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(items)) => {
                if !items.iter().all(Value::is_string) {
                    return Err(AuthError::JwtClaimInvalid { claim: "aud" });
                }
                items
                    .iter()
                    .any(|v| v.as_str() == Some(self.audience.as_str()))
            }
            Some(_) => return Err(AuthError::JwtClaimInvalid { claim: "aud" }),
        };
        if contains {
            Ok(())
        } else {
            Err(AuthError::JwtWrongAudience)
        }
    }

    fn check_times(&self, claims: &Map<String, Value>, now: i64) -> Result<(), AuthError> {
        let leeway = self.leeway_secs;
        let latest_acceptable = now.saturating_add(leeway);
        let exp = int_claim(claims, "exp")?.ok_or(AuthError::JwtClaimMissing { claim: "exp" })?;
        // RFC 7519: the current time must be before `exp`; the leeway extends that instant.
        if now >= exp.saturating_add(leeway) {
            return Err(AuthError::JwtExpired { exp, now, leeway });
        }
        if let Some(nbf) = int_claim(claims, "nbf")? {
            if nbf > latest_acceptable {
                return Err(AuthError::JwtNotYetValid { nbf, now, leeway });
            }
        }
        if let Some(iat) = int_claim(claims, "iat")? {
            if iat > latest_acceptable {
                return Err(AuthError::JwtIssuedInFuture { iat, now, leeway });
            }
        }
        Ok(())
    }
}

/// A token whose structure and claims passed, waiting for its signature to be checked.
///
/// Holds the inputs of the RSASSA-PKCS1-v1_5/SHA-256 verification; its identity is reachable
/// only through [`Self::verify_with`]. `Debug` prints the `kid` and lengths, never bytes.
pub struct UnverifiedAccessToken {
    kid: String,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    identity: String,
}

impl fmt::Debug for UnverifiedAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedAccessToken")
            .field("kid", &self.kid)
            .field("signing_input_len", &self.signing_input.len())
            .field("signature_len", &self.signature.len())
            .finish_non_exhaustive()
    }
}

impl UnverifiedAccessToken {
    /// The key id to look up in the team's key set.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `base64url(header) "." base64url(payload)`, as received: the data that was signed.
    pub fn signing_input(&self) -> &[u8] {
        &self.signing_input
    }

    /// The decoded signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Completes authentication with the outcome of verifying [`Self::signature`] over
    /// [`Self::signing_input`] with the RS256 key whose id is [`Self::kid`].
    /// `false` (or any doubt: a missing key must not reach this call) refuses.
    pub fn verify_with(self, signature_valid: bool) -> Result<Identity, AuthError> {
        if signature_valid {
            Ok(Identity::new(self.identity, AuthMethod::Access))
        } else {
            Err(AuthError::JwtSignatureInvalid)
        }
    }
}

fn malformed(part: JwtPart, reason: &'static str) -> AuthError {
    AuthError::JwtMalformed { part, reason }
}

fn decode_object(segment: &str, part: JwtPart) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| malformed(part, "not base64url"))?;
    parse_object(&bytes).map_err(|e| match e {
        ObjectError::NotJson { .. } => malformed(part, "not JSON"),
        ObjectError::NotObject => malformed(part, "not a JSON object"),
        ObjectError::DuplicateKey(_) => malformed(part, "repeated member"),
    })
}

fn int_claim(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<i64>, AuthError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or(AuthError::JwtClaimInvalid { claim }),
    }
}

/// `email` for users (lower-cased, so one person is one operator in approvals), else
/// `common_name` for service tokens. Empty strings count as absent.
fn identity_of(claims: &Map<String, Value>) -> Result<String, AuthError> {
    for (claim, lower) in [("email", true), ("common_name", false)] {
        match claims.get(claim) {
            None => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) if !s.chars().any(char::is_control) && s.trim() == s => {
                return Ok(if lower {
                    s.to_ascii_lowercase()
                } else {
                    s.clone()
                });
            }
            Some(_) => return Err(AuthError::JwtClaimInvalid { claim }),
        }
    }
    Err(AuthError::JwtNoIdentity)
}

/// A `kid` we are willing to look up and log: short, visible ASCII.
pub(super) fn is_clean_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= 256 && kid.bytes().all(|b| b.is_ascii_graphic())
}

fn issuer_for(team_domain: &str) -> Result<String, Misconfiguration> {
    let invalid = || Misconfiguration::AccessTeamDomainInvalid;
    if team_domain.is_empty() || !team_domain.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    let origin = ["https://", "http://"]
        .iter()
        .find_map(|scheme| team_domain.strip_prefix(scheme));
    match origin {
        // A URL is the issuer verbatim; a trailing slash would never equal Access's `iss`.
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.ends_with('/') => {
            Ok(team_domain.to_string())
        }
        Some(_) => Err(invalid()),
        None if team_domain.contains(['/', '@', '?', '#']) => Err(invalid()),
        None => Ok(format!("https://{team_domain}")),
    }
}

fn parse_allow_list(list: &str) -> Option<BTreeSet<String>> {
    let set: BTreeSet<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    (!set.is_empty()).then_some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEAM: &str = "paulp.cloudflareaccess.com";
    const ISSUER: &str = "https://paulp.cloudflareaccess.com";
    const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A compact JWT with the given header and claims and a placeholder signature: this layer
    /// never checks signatures, it only hands their bytes on.
    fn jwt(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(b"signature-bytes")
        )
    }

    fn header() -> Value {
        json!({"alg": "RS256", "kid": "key-1", "typ": "JWT"})
    }

    fn claims() -> Value {
        json!({
            "aud": [AUD],
            "email": "Alice@Example.com",
            "exp": NOW + 600,
            "iat": NOW - 10,
            "nbf": NOW - 10,
            "iss": ISSUER,
            "type": "app",
            "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
        })
    }

    fn config() -> AccessConfig {
        AccessConfig::new(TEAM, AUD, None).unwrap()
    }

    fn with(mut value: Value, key: &str, field: Value) -> Value {
        value[key] = field;
        value
    }

    fn without(mut value: Value, key: &str) -> Value {
        value.as_object_mut().unwrap().remove(key);
        value
    }

    fn check(claims: &Value) -> Result<UnverifiedAccessToken, AuthError> {
        config().check_claims(&jwt(&header(), claims), NOW)
    }

    fn check_header(header: &Value) -> Result<UnverifiedAccessToken, AuthError> {
        config().check_claims(&jwt(header, &claims()), NOW)
    }

    // --- the happy path and the signature gate --------------------------------------------

    #[test]
    fn valid_token_yields_signing_input_signature_and_kid() {
        let token = jwt(&header(), &claims());
        let unverified = config().check_claims(&token, NOW).unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(unverified.signing_input(), input.as_bytes());
        assert_eq!(unverified.signature(), b"signature-bytes");
        assert_eq!(unverified.kid(), "key-1");
    }

    #[test]
    fn identity_is_granted_only_after_a_successful_signature_check() {
        let unverified = check(&claims()).unwrap();
        let identity = unverified.verify_with(true).unwrap();
        assert_eq!(identity.operator(), "alice@example.com");
        assert_eq!(identity.method(), AuthMethod::Access);
        assert_eq!(
            check(&claims()).unwrap().verify_with(false),
            Err(AuthError::JwtSignatureInvalid)
        );
    }

    #[test]
    fn service_token_identity_is_common_name() {
        let claims = with(
            without(claims(), "email"),
            "common_name",
            json!("88bf3b6d86161464f6509f7219099e57.access"),
        );
        let identity = check(&claims).unwrap().verify_with(true).unwrap();
        assert_eq!(
            identity.operator(),
            "88bf3b6d86161464f6509f7219099e57.access"
        );
    }

    #[test]
    fn empty_email_falls_back_to_common_name() {
        let claims = with(
            with(claims(), "email", json!("")),
            "common_name",
            json!("svc.access"),
        );
        let identity = check(&claims).unwrap().verify_with(true).unwrap();
        assert_eq!(identity.operator(), "svc.access");
    }

    #[test]
    fn token_without_email_or_common_name_is_refused() {
        assert_eq!(
            check(&without(claims(), "email")).unwrap_err(),
            AuthError::JwtNoIdentity
        );
        assert_eq!(
            check(&with(claims(), "email", json!(42))).unwrap_err(),
            AuthError::JwtClaimInvalid { claim: "email" }
        );
    }

    #[test]
    fn debug_of_unverified_token_shows_no_bytes() {
        let printed = format!("{:?}", check(&claims()).unwrap());
        assert!(printed.contains("key-1"));
        assert!(!printed.contains("signature-bytes") && !printed.contains("alice"));
    }

    // --- header ------------------------------------------------------------------------------

    #[test]
    fn alg_none_is_refused() {
        let header = json!({"alg": "none", "kid": "key-1"});
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        assert_eq!(
            config().check_claims(&unsigned, NOW).unwrap_err(),
            AuthError::JwtAlgorithmRefused
        );
        assert_eq!(
            check_header(&with(header, "alg", json!("none"))).unwrap_err(),
            AuthError::JwtAlgorithmRefused
        );
    }

    #[test]
    fn alg_hs256_and_every_other_alg_are_refused() {
        for alg in [
            json!("HS256"),
            json!("RS384"),
            json!("PS256"),
            json!("ES256"),
            json!("rs256"),
            json!(null),
            json!(["RS256"]),
        ] {
            assert_eq!(
                check_header(&with(header(), "alg", alg.clone())).unwrap_err(),
                AuthError::JwtAlgorithmRefused,
                "{alg}"
            );
        }
        assert_eq!(
            check_header(&without(header(), "alg")).unwrap_err(),
            AuthError::JwtAlgorithmRefused
        );
    }

    #[test]
    fn missing_or_unusable_kid_is_refused() {
        assert_eq!(
            check_header(&without(header(), "kid")).unwrap_err(),
            AuthError::JwtKidMissing
        );
        for kid in [json!(""), json!(7), json!("a b"), json!("x".repeat(257))] {
            assert_eq!(
                check_header(&with(header(), "kid", kid.clone())).unwrap_err(),
                AuthError::JwtKidMissing,
                "{kid}"
            );
        }
    }

    #[test]
    fn crit_header_is_refused() {
        assert_eq!(
            check_header(&with(header(), "crit", json!(["exp"]))).unwrap_err(),
            AuthError::JwtCriticalHeader
        );
    }

    // --- structure ---------------------------------------------------------------------------

    fn malformed_part(token: &str) -> Option<JwtPart> {
        match config().check_claims(token, NOW) {
            Err(AuthError::JwtMalformed { part, .. }) => Some(part),
            _ => None,
        }
    }

    #[test]
    fn token_must_have_exactly_three_segments() {
        let token = jwt(&header(), &claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        for bad in [
            String::new(),
            input.to_string(),
            format!("{token}.x"),
            format!("{token}."),
        ] {
            assert_eq!(malformed_part(&bad), Some(JwtPart::Token), "{bad}");
        }
    }

    #[test]
    fn malformed_base64url_is_refused() {
        let token = jwt(&header(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let header_padded = format!("{}=", parts[0]);
        let cases = [
            // Padding, standard-alphabet characters and stray bytes are all refused.
            (
                format!("{header_padded}.{}.{}", parts[1], parts[2]),
                JwtPart::Header,
            ),
            (
                format!("{}.{}+/.{}", parts[0], parts[1], parts[2]),
                JwtPart::Payload,
            ),
            (
                format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
                JwtPart::Signature,
            ),
            (
                format!("{}.{} .{}", parts[0], parts[1], parts[2]),
                JwtPart::Payload,
            ),
            (format!("{}.{}.", parts[0], parts[1]), JwtPart::Signature),
            (format!(".{}.{}", parts[1], parts[2]), JwtPart::Header),
        ];
        for (bad, part) in cases {
            assert_eq!(malformed_part(&bad), Some(part), "{bad}");
        }
    }

    #[test]
    fn base64url_with_non_canonical_trailing_bits_is_refused() {
        // "_w" is the canonical encoding of 0xff; "_x" differs only in the unused trailing bits.
        let token = jwt(&header(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let signature = b64(&[0xff]); // "_w": 4 unused bits, all zero
        assert_eq!(signature, "_w");
        let bad = format!("{}.{}._x", parts[0], parts[1]);
        assert_eq!(malformed_part(&bad), Some(JwtPart::Signature));
    }

    #[test]
    fn header_or_payload_that_is_not_a_json_object_is_refused() {
        let good_header = b64(header().to_string().as_bytes());
        let good_claims = b64(claims().to_string().as_bytes());
        let sig = b64(b"sig");
        for (h, p, part) in [
            (b64(b"not json"), good_claims.clone(), JwtPart::Header),
            (b64(b"[\"RS256\"]"), good_claims.clone(), JwtPart::Header),
            (good_header.clone(), b64(b"{\"exp\":"), JwtPart::Payload),
            (good_header.clone(), b64(b"\"alice\""), JwtPart::Payload),
            (
                good_header.clone(),
                b64(br#"{"iss":"x","iss":"y"}"#),
                JwtPart::Payload,
            ),
        ] {
            assert_eq!(malformed_part(&format!("{h}.{p}.{sig}")), Some(part));
        }
    }

    #[test]
    fn oversized_token_is_refused_before_parsing() {
        let padding = "a".repeat(MAX_JWT_LEN);
        assert_eq!(
            malformed_part(&format!("{padding}.{padding}.{padding}")),
            Some(JwtPart::Token)
        );
    }

    // --- claims ------------------------------------------------------------------------------

    #[test]
    fn wrong_audience_is_refused() {
        for aud in [json!(["other-app"]), json!("other-app"), json!([])] {
            assert_eq!(
                check(&with(claims(), "aud", aud.clone())).unwrap_err(),
                AuthError::JwtWrongAudience,
                "{aud}"
            );
        }
        assert_eq!(
            check(&without(claims(), "aud")).unwrap_err(),
            AuthError::JwtClaimMissing { claim: "aud" }
        );
        assert_eq!(
            check(&with(claims(), "aud", json!([AUD, 1]))).unwrap_err(),
            AuthError::JwtClaimInvalid { claim: "aud" }
        );
    }

    #[test]
    fn audience_as_plain_string_or_among_several_is_accepted() {
        assert!(check(&with(claims(), "aud", json!(AUD))).is_ok());
        assert!(check(&with(claims(), "aud", json!(["other", AUD]))).is_ok());
    }

    #[test]
    fn wrong_issuer_is_refused() {
        for iss in [
            "https://evil.cloudflareaccess.com",
            "http://paulp.cloudflareaccess.com",
            "https://paulp.cloudflareaccess.com/",
            "paulp.cloudflareaccess.com",
        ] {
            assert_eq!(
                check(&with(claims(), "iss", json!(iss))).unwrap_err(),
                AuthError::JwtWrongIssuer,
                "{iss}"
            );
        }
        assert_eq!(
            check(&without(claims(), "iss")).unwrap_err(),
            AuthError::JwtClaimMissing { claim: "iss" }
        );
    }

    #[test]
    fn expired_token_is_refused_at_the_leeway_boundary() {
        let leeway = DEFAULT_LEEWAY_SECS;
        // Expired 60 s ago exactly: refused. 59 s ago: inside the leeway.
        let exp = NOW - leeway;
        assert_eq!(
            check(&with(claims(), "exp", json!(exp))).unwrap_err(),
            AuthError::JwtExpired {
                exp,
                now: NOW,
                leeway
            }
        );
        assert!(check(&with(claims(), "exp", json!(exp + 1))).is_ok());
        assert!(matches!(
            check(&with(claims(), "exp", json!(NOW - 3600))),
            Err(AuthError::JwtExpired { .. })
        ));
    }

    #[test]
    fn not_yet_valid_token_is_refused_beyond_the_leeway() {
        let leeway = DEFAULT_LEEWAY_SECS;
        assert!(check(&with(claims(), "nbf", json!(NOW + leeway))).is_ok());
        assert_eq!(
            check(&with(claims(), "nbf", json!(NOW + leeway + 1))).unwrap_err(),
            AuthError::JwtNotYetValid {
                nbf: NOW + leeway + 1,
                now: NOW,
                leeway
            }
        );
    }

    #[test]
    fn token_issued_in_the_future_is_refused_beyond_the_leeway() {
        let leeway = DEFAULT_LEEWAY_SECS;
        assert!(check(&with(claims(), "iat", json!(NOW + leeway))).is_ok());
        assert!(matches!(
            check(&with(claims(), "iat", json!(NOW + leeway + 1))),
            Err(AuthError::JwtIssuedInFuture { .. })
        ));
    }

    #[test]
    fn leeway_is_configurable_and_capped() {
        let strict = config().with_leeway_secs(0);
        let token = jwt(&header(), &with(claims(), "exp", json!(NOW)));
        assert!(matches!(
            strict.check_claims(&token, NOW),
            Err(AuthError::JwtExpired { leeway: 0, .. })
        ));
        assert!(strict.check_claims(&token, NOW - 1).is_ok());
        assert_eq!(
            config().with_leeway_secs(86_400).leeway_secs(),
            MAX_LEEWAY_SECS
        );
        assert_eq!(config().with_leeway_secs(-5).leeway_secs(), 0);
    }

    #[test]
    fn exp_is_required_and_times_must_be_integers() {
        assert_eq!(
            check(&without(claims(), "exp")).unwrap_err(),
            AuthError::JwtClaimMissing { claim: "exp" }
        );
        for (claim, value) in [
            ("exp", json!("1767226200")),
            ("exp", json!(1_767_226_200.5)),
            ("nbf", json!(null)),
            ("iat", json!(u64::MAX)),
        ] {
            let claim_name = claim;
            assert!(
                matches!(
                    check(&with(claims(), claim, value.clone())),
                    Err(AuthError::JwtClaimInvalid { claim }) if claim == claim_name
                ),
                "{claim}={value}"
            );
        }
    }

    #[test]
    fn nbf_and_iat_are_optional() {
        assert!(check(&without(without(claims(), "nbf"), "iat")).is_ok());
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        assert!(check(&with(claims(), "exp", json!(i64::MAX))).is_ok());
        assert!(matches!(
            check(&with(claims(), "exp", json!(i64::MIN))),
            Err(AuthError::JwtExpired { .. })
        ));
    }

    #[test]
    fn allow_list_restricts_identities_case_insensitively() {
        let token = jwt(&header(), &claims());
        let listed =
            AccessConfig::new(TEAM, AUD, Some(" bob@example.com, ALICE@example.COM ,")).unwrap();
        assert_eq!(
            listed
                .check_claims(&token, NOW)
                .unwrap()
                .verify_with(true)
                .unwrap()
                .operator(),
            "alice@example.com"
        );
        let others = AccessConfig::new(TEAM, AUD, Some("bob@example.com")).unwrap();
        assert_eq!(
            others.check_claims(&token, NOW).unwrap_err(),
            AuthError::IdentityNotAllowed
        );
        let blank = AccessConfig::new(TEAM, AUD, Some(" , ")).unwrap();
        assert!(blank.check_claims(&token, NOW).is_ok());
    }

    #[test]
    fn allow_list_applies_to_service_tokens_by_common_name() {
        let claims = with(
            without(claims(), "email"),
            "common_name",
            json!("Svc.access"),
        );
        let token = jwt(&header(), &claims);
        let config = AccessConfig::new(TEAM, AUD, Some("svc.access")).unwrap();
        assert!(config.check_claims(&token, NOW).is_ok());
        let config = AccessConfig::new(TEAM, AUD, Some("alice@example.com")).unwrap();
        assert_eq!(
            config.check_claims(&token, NOW).unwrap_err(),
            AuthError::IdentityNotAllowed
        );
    }

    #[test]
    fn refusals_never_quote_the_token() {
        let claims = with(claims(), "aud", json!(["other"]));
        let token = jwt(&header(), &claims);
        let err = config().check_claims(&token, NOW).unwrap_err();
        let printed = format!("{err} {err:?}");
        for segment in token.split('.') {
            assert!(!printed.contains(segment), "{printed}");
        }
        assert!(!printed.contains("alice"));
    }

    // --- configuration -----------------------------------------------------------------------

    #[test]
    fn issuer_is_https_team_domain() {
        let config = config();
        assert_eq!(config.issuer(), ISSUER);
        assert_eq!(
            config.certs_url(),
            "https://paulp.cloudflareaccess.com/cdn-cgi/access/certs"
        );
    }

    #[test]
    fn team_domain_with_scheme_is_the_issuer_verbatim() {
        let local = AccessConfig::new("http://127.0.0.1:8788", AUD, None).unwrap();
        assert_eq!(local.issuer(), "http://127.0.0.1:8788");
        assert_eq!(
            local.certs_url(),
            "http://127.0.0.1:8788/cdn-cgi/access/certs"
        );
        let token = jwt(
            &header(),
            &with(claims(), "iss", json!("http://127.0.0.1:8788")),
        );
        assert!(local.check_claims(&token, NOW).is_ok());
        let https = AccessConfig::new("https://team.example", AUD, None).unwrap();
        assert_eq!(https.issuer(), "https://team.example");
    }

    #[test]
    fn unusable_team_domains_or_audiences_are_misconfigured() {
        for domain in [
            "",
            "https://",
            "https://team.example/",
            "team.example/",
            "team example",
            "user@team.example",
            "ftp://team.example/x",
        ] {
            assert_eq!(
                AccessConfig::new(domain, AUD, None).unwrap_err(),
                Misconfiguration::AccessTeamDomainInvalid,
                "{domain:?}"
            );
        }
        assert_eq!(
            AccessConfig::new(TEAM, "a b", None).unwrap_err(),
            Misconfiguration::AccessAudienceInvalid
        );
        // Surrounding whitespace (a pasted newline) is trimmed.
        assert_eq!(
            AccessConfig::new(" paulp.cloudflareaccess.com\n", " x\n", None)
                .unwrap()
                .issuer(),
            ISSUER
        );
    }
}

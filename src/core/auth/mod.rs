//! Operator authentication for `/admin/*`: the pure decisions, with no clock and no crypto calls.
//!
//! Two credentials exist, and only these two:
//! - `Authorization: Bearer <token>`, matched in constant time against `ADMIN_TOKENS` /
//!   `ADMIN_TOKEN` ([`OperatorTokens`]);
//! - `Cf-Access-Jwt-Assertion`, a Cloudflare Access RS256 JWT ([`AccessConfig`]), whose
//!   signature the Worker checks with WebCrypto against the team's keys ([`JwksCache`]).
//!
//! The `cf-access-authenticated-user-email` header never authenticates: no function here takes
//! it, and [`Credential::from_headers`] looks only at the two headers above.
//!
//! The Worker layer, per request:
//! 1. [`AuthConfig::from_env`]; on `Err` answer 503 [`Misconfiguration::CLIENT_CODE`] and stop.
//! 2. [`Credential::from_headers`], then [`AuthConfig::authenticate`] with `now` (unix seconds).
//! 3. [`Authentication::Done`] carries the [`Identity`]. [`Authentication::NeedsSignature`]
//!    carries an [`UnverifiedAccessToken`]: look its `kid` up in the [`JwksCache`] (fetching
//!    [`AccessConfig::certs_url`] first if [`JwksCache::begin_refetch`] says so), verify the
//!    signature with WebCrypto, and pass the boolean to [`UnverifiedAccessToken::verify_with`].
//! 4. Any `Err` answers 401 [`AuthError::CLIENT_CODE`] with one fixed body; the error's code
//!    goes to the log only.

mod error;
mod json;
mod jwks;
mod jwt;
mod tokens;

pub use error::{AuthError, JwtPart, Misconfiguration};
pub use jwks::{Jwks, JwksCache, JwksError, JwksPolicy, RsaJwk, SkippedKey, MIN_MODULUS_BITS};
pub use jwt::{
    AccessConfig, UnverifiedAccessToken, ALG_RS256, DEFAULT_LEEWAY_SECS, MAX_JWT_LEN,
    MAX_LEEWAY_SECS,
};
pub use tokens::{parse_bearer, OperatorTokens, ADMIN_OPERATOR, MIN_TOKEN_LEN};

use serde::Serialize;
use std::fmt;

/// The header carrying the bearer token.
pub const AUTHORIZATION_HEADER: &str = "Authorization";
/// The header carrying the Cloudflare Access JWT. (Not the `CF_Authorization` cookie, and never
/// `cf-access-authenticated-user-email`.)
pub const ACCESS_JWT_HEADER: &str = "Cf-Access-Jwt-Assertion";

/// How an operator proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Bearer,
    Access,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Bearer => "bearer",
            AuthMethod::Access => "access",
        }
    }
}

/// An authenticated operator, serialised as `{"operator": "...", "method": "bearer"|"access"}`
/// into every record of an action they take.
///
/// Only this module constructs one, and only after a credential passed; it is deliberately not
/// `Deserialize`, so a request body can never supply an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    operator: String,
    method: AuthMethod,
}

impl Identity {
    fn new(operator: String, method: AuthMethod) -> Identity {
        Identity { operator, method }
    }

    /// The operator name (`ADMIN_TOKENS` key, `admin`, a lower-cased Access email, or a service
    /// token's common name).
    pub fn operator(&self) -> &str {
        &self.operator
    }

    pub fn method(&self) -> AuthMethod {
        self.method
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.operator, self.method.as_str())
    }
}

/// The raw settings, as read from the Worker's environment (`None` when not set).
#[derive(Clone, Copy, Default)]
pub struct AuthEnv<'a> {
    /// Secret `ADMIN_TOKENS`: JSON object of operator name → token.
    pub admin_tokens: Option<&'a str>,
    /// Secret `ADMIN_TOKEN`: the token of operator `admin`.
    pub admin_token: Option<&'a str>,
    /// `CF_ACCESS_TEAM_DOMAIN`, e.g. `myteam.cloudflareaccess.com` or, locally, an
    /// `http://127.0.0.1:…` origin.
    pub cf_access_team_domain: Option<&'a str>,
    /// `CF_ACCESS_AUD`: the Access application's AUD tag.
    pub cf_access_aud: Option<&'a str>,
    /// `ADMIN_ALLOWED_EMAILS`: optional comma-separated allow-list of Access identities.
    pub admin_allowed_emails: Option<&'a str>,
}

impl fmt::Debug for AuthEnv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The two secrets are reported as set or not, never shown.
        f.debug_struct("AuthEnv")
            .field("admin_tokens_set", &self.admin_tokens.is_some())
            .field("admin_token_set", &self.admin_token.is_some())
            .field("cf_access_team_domain", &self.cf_access_team_domain)
            .field("cf_access_aud", &self.cf_access_aud)
            .field("admin_allowed_emails", &self.admin_allowed_emails)
            .finish()
    }
}

/// The validated credential configuration: bearer tokens, Access, or both.
#[derive(Debug)]
pub struct AuthConfig {
    tokens: OperatorTokens,
    access: Option<AccessConfig>,
}

/// The outcome of checking a credential, short of the signature when there is one to check.
#[derive(Debug)]
pub enum Authentication {
    /// Authenticated (bearer token).
    Done(Identity),
    /// Every check but the signature passed; see [`UnverifiedAccessToken::verify_with`].
    NeedsSignature(UnverifiedAccessToken),
}

/// A set, non-blank value, trimmed.
fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl AuthConfig {
    /// Validates the whole configuration, or says why admin routes must answer 503.
    ///
    /// Bearer secrets follow [`OperatorTokens::from_secrets`]. Access is configured when both
    /// `CF_ACCESS_TEAM_DOMAIN` and `CF_ACCESS_AUD` are non-blank; one without the other is a
    /// misconfiguration. Blank Access variables and a blank allow-list count as unset (so
    /// `[vars]` may declare them empty). A non-blank allow-list without Access, or no
    /// credential at all, is a misconfiguration.
    pub fn from_env(env: &AuthEnv<'_>) -> Result<AuthConfig, Misconfiguration> {
        let tokens = OperatorTokens::from_secrets(env.admin_tokens, env.admin_token)?;
        let allowed = non_blank(env.admin_allowed_emails);
        let access = match (
            non_blank(env.cf_access_team_domain),
            non_blank(env.cf_access_aud),
        ) {
            (Some(domain), Some(aud)) => Some(AccessConfig::new(domain, aud, allowed)?),
            (Some(_), None) => {
                return Err(Misconfiguration::AccessIncomplete {
                    missing: "CF_ACCESS_AUD",
                })
            }
            (None, Some(_)) => {
                return Err(Misconfiguration::AccessIncomplete {
                    missing: "CF_ACCESS_TEAM_DOMAIN",
                })
            }
            (None, None) if allowed.is_some() => {
                return Err(Misconfiguration::AllowListWithoutAccess)
            }
            (None, None) => None,
        };
        if tokens.is_empty() && access.is_none() {
            return Err(Misconfiguration::NoCredential);
        }
        Ok(AuthConfig { tokens, access })
    }

    pub fn tokens(&self) -> &OperatorTokens {
        &self.tokens
    }

    /// The Access settings, when Access is configured.
    pub fn access(&self) -> Option<&AccessConfig> {
        self.access.as_ref()
    }

    /// Checks a credential at unix time `now` (seconds).
    pub fn authenticate(
        &self,
        credential: Credential<'_>,
        now: i64,
    ) -> Result<Authentication, AuthError> {
        match credential {
            Credential::Bearer(authorization) => self
                .tokens
                .authenticate(authorization)
                .map(Authentication::Done),
            Credential::AccessJwt(jwt) => {
                let access = self.access.as_ref().ok_or(AuthError::AccessNotConfigured)?;
                access
                    .check_claims(jwt, now)
                    .map(Authentication::NeedsSignature)
            }
        }
    }
}

/// The one credential a request is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// The `Authorization` header value.
    Bearer(&'a str),
    /// The `Cf-Access-Jwt-Assertion` header value.
    AccessJwt(&'a str),
}

impl<'a> Credential<'a> {
    /// Picks the credential from the `Authorization` and `Cf-Access-Jwt-Assertion` header
    /// values (`None` when absent).
    ///
    /// An `Authorization` header, even a malformed one, is the credential: behind Access every
    /// request also carries a JWT, and an explicit bearer states which operator is acting. A bad
    /// bearer is therefore never rescued by the JWT, and a request has exactly one identity.
    /// No other header (in particular `cf-access-authenticated-user-email`) is an input.
    pub fn from_headers(
        authorization: Option<&'a str>,
        access_jwt: Option<&'a str>,
    ) -> Result<Credential<'a>, AuthError> {
        match (authorization, access_jwt) {
            (Some(authorization), _) => Ok(Credential::Bearer(authorization)),
            (None, Some(jwt)) => Ok(Credential::AccessJwt(jwt)),
            (None, None) => Err(AuthError::NoCredential),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const TOKEN: &str = "operator-token-0123456789abcdefghijklmn";

    fn vector() -> Value {
        serde_json::from_str(include_str!("testdata/access_rs256.json")).unwrap()
    }

    fn bearer_env() -> AuthEnv<'static> {
        AuthEnv {
            admin_token: Some(TOKEN),
            ..AuthEnv::default()
        }
    }

    fn access_env(vector: &Value) -> AuthEnv<'_> {
        AuthEnv {
            cf_access_team_domain: vector["team_domain"].as_str(),
            cf_access_aud: vector["aud"].as_str(),
            ..AuthEnv::default()
        }
    }

    fn now_of(vector: &Value) -> i64 {
        vector["now"].as_i64().unwrap()
    }

    // --- configuration -------------------------------------------------------------------

    #[test]
    fn nothing_configured_is_misconfigured() {
        assert_eq!(
            AuthConfig::from_env(&AuthEnv::default()).unwrap_err(),
            Misconfiguration::NoCredential
        );
        let blank = AuthEnv {
            cf_access_team_domain: Some(" "),
            cf_access_aud: Some(""),
            admin_allowed_emails: Some(""),
            ..AuthEnv::default()
        };
        assert_eq!(
            AuthConfig::from_env(&blank).unwrap_err(),
            Misconfiguration::NoCredential
        );
    }

    #[test]
    fn empty_admin_tokens_object_alone_is_misconfigured() {
        let env = AuthEnv {
            admin_tokens: Some("{}"),
            ..AuthEnv::default()
        };
        assert_eq!(
            AuthConfig::from_env(&env).unwrap_err(),
            Misconfiguration::NoCredential
        );
    }

    #[test]
    fn short_admin_token_is_misconfigured_even_with_access_configured() {
        let v = vector();
        let env = AuthEnv {
            admin_token: Some("short"),
            ..access_env(&v)
        };
        let err = AuthConfig::from_env(&env).unwrap_err();
        assert!(matches!(err, Misconfiguration::TokenTooShort { .. }));
        assert_eq!(Misconfiguration::CLIENT_CODE, "AUTH_MISCONFIGURED");
        assert_eq!(Misconfiguration::HTTP_STATUS, 503);
        assert!(err
            .to_string()
            .starts_with("AUTH_MISCONFIGURED: AUTH_TOKEN_TOO_SHORT"));
    }

    #[test]
    fn access_alone_is_a_valid_configuration() {
        let v = vector();
        let config = AuthConfig::from_env(&access_env(&v)).unwrap();
        assert!(config.tokens().is_empty());
        assert_eq!(
            config.access().unwrap().issuer(),
            "https://paulp.cloudflareaccess.com"
        );
    }

    #[test]
    fn half_configured_access_is_misconfigured() {
        let domain_only = AuthEnv {
            cf_access_team_domain: Some("team.cloudflareaccess.com"),
            ..bearer_env()
        };
        assert_eq!(
            AuthConfig::from_env(&domain_only).unwrap_err(),
            Misconfiguration::AccessIncomplete {
                missing: "CF_ACCESS_AUD"
            }
        );
        let aud_only = AuthEnv {
            cf_access_aud: Some("aud"),
            ..bearer_env()
        };
        assert_eq!(
            AuthConfig::from_env(&aud_only).unwrap_err(),
            Misconfiguration::AccessIncomplete {
                missing: "CF_ACCESS_TEAM_DOMAIN"
            }
        );
    }

    #[test]
    fn allow_list_without_access_is_misconfigured() {
        let env = AuthEnv {
            admin_allowed_emails: Some("alice@example.com"),
            ..bearer_env()
        };
        assert_eq!(
            AuthConfig::from_env(&env).unwrap_err(),
            Misconfiguration::AllowListWithoutAccess
        );
    }

    #[test]
    fn env_debug_never_shows_secrets() {
        let printed = format!("{:?}", bearer_env());
        assert!(!printed.contains(TOKEN));
        let config = AuthConfig::from_env(&bearer_env()).unwrap();
        assert!(!format!("{config:?}").contains(TOKEN));
    }

    // --- credential selection ------------------------------------------------------------

    #[test]
    fn no_header_is_no_credential() {
        assert_eq!(
            Credential::from_headers(None, None),
            Err(AuthError::NoCredential)
        );
    }

    #[test]
    fn authorization_header_wins_over_access_jwt() {
        assert_eq!(
            Credential::from_headers(Some("Bearer x"), Some("a.b.c")),
            Ok(Credential::Bearer("Bearer x"))
        );
        // Even an empty one: a bad bearer is refused, never rescued by the JWT.
        assert_eq!(
            Credential::from_headers(Some(""), Some("a.b.c")),
            Ok(Credential::Bearer(""))
        );
        assert_eq!(
            Credential::from_headers(None, Some("a.b.c")),
            Ok(Credential::AccessJwt("a.b.c"))
        );
    }

    #[test]
    fn bad_bearer_with_valid_jwt_is_refused() {
        let v = vector();
        let env = AuthEnv {
            admin_token: Some(TOKEN),
            ..access_env(&v)
        };
        let config = AuthConfig::from_env(&env).unwrap();
        let jwt = v["tokens"][0]["jwt"].as_str().unwrap();
        let credential = Credential::from_headers(Some("bearer nope"), Some(jwt)).unwrap();
        assert_eq!(
            config.authenticate(credential, now_of(&v)).unwrap_err(),
            AuthError::BearerMalformed
        );
    }

    // --- end to end through the pure layer ------------------------------------------------

    #[test]
    fn bearer_token_authenticates_without_a_signature_step() {
        let config = AuthConfig::from_env(&bearer_env()).unwrap();
        let header = format!("Bearer {TOKEN}");
        let credential = Credential::from_headers(Some(&header), None).unwrap();
        let Authentication::Done(identity) = config.authenticate(credential, 0).unwrap() else {
            panic!("bearer needs no signature");
        };
        assert_eq!(identity.to_string(), "admin (bearer)");
    }

    #[test]
    fn jwt_without_access_configured_is_refused() {
        let config = AuthConfig::from_env(&bearer_env()).unwrap();
        let credential = Credential::from_headers(None, Some("a.b.c")).unwrap();
        assert_eq!(
            config.authenticate(credential, 0).unwrap_err(),
            AuthError::AccessNotConfigured
        );
    }

    /// Runs the Worker's steps with `signature_valid` standing in for WebCrypto's answer, after
    /// checking that the token names a key of the vector's real key set.
    fn access_flow(token: &Value, signature_valid: bool) -> Result<Identity, AuthError> {
        let v = vector();
        let now = now_of(&v);
        let config = AuthConfig::from_env(&access_env(&v)).unwrap();
        let jwt = token["jwt"].as_str().unwrap();
        let credential = Credential::from_headers(None, Some(jwt))?;
        let Authentication::NeedsSignature(unverified) = config.authenticate(credential, now)?
        else {
            panic!("an Access JWT always needs its signature checked");
        };
        let mut cache = JwksCache::new(JwksPolicy::default());
        assert!(cache.begin_refetch(unverified.kid(), now));
        let jwks = Jwks::parse(v["jwks"].to_string().as_bytes()).unwrap();
        cache.replace(jwks, now);
        let key = cache
            .key(unverified.kid(), now)
            .ok_or(AuthError::AccessKeyUnknown)?;
        assert_eq!(key.modulus_bits(), 2048);
        let (input, _) = jwt.rsplit_once('.').unwrap();
        assert_eq!(unverified.signing_input(), input.as_bytes());
        assert_eq!(unverified.signature().len(), 256);
        unverified.verify_with(signature_valid)
    }

    #[test]
    fn real_access_user_token_yields_its_email_once_the_signature_verifies() {
        let v = vector();
        let token = &v["tokens"][0];
        assert_eq!(token["valid"], json!(true));
        let identity = access_flow(token, true).unwrap();
        assert_eq!(identity.operator(), "alice@example.com");
        assert_eq!(
            serde_json::to_value(&identity).unwrap(),
            json!({"operator": "alice@example.com", "method": "access"})
        );
    }

    #[test]
    fn real_access_service_token_yields_its_common_name() {
        let v = vector();
        let identity = access_flow(&v["tokens"][1], true).unwrap();
        assert_eq!(
            identity.operator(),
            v["tokens"][1]["identity"].as_str().unwrap()
        );
    }

    #[test]
    fn forged_payload_passes_claims_but_is_refused_by_the_signature() {
        let v = vector();
        let forged = &v["tokens"][2];
        assert_eq!(forged["valid"], json!(false));
        assert_eq!(
            access_flow(forged, false).unwrap_err(),
            AuthError::JwtSignatureInvalid
        );
    }

    #[test]
    fn identity_serialises_method_in_lowercase() {
        let config = AuthConfig::from_env(&bearer_env()).unwrap();
        let identity = config
            .tokens()
            .authenticate(&format!("Bearer {TOKEN}"))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&identity).unwrap(),
            r#"{"operator":"admin","method":"bearer"}"#
        );
    }

    #[test]
    fn refusal_codes_are_distinct_and_all_answer_401_unauthenticated() {
        let all = [
            AuthError::NoCredential,
            AuthError::BearerMalformed,
            AuthError::BearerUnknown,
            AuthError::AccessNotConfigured,
            AuthError::JwtMalformed {
                part: JwtPart::Token,
                reason: "x",
            },
            AuthError::JwtAlgorithmRefused,
            AuthError::JwtCriticalHeader,
            AuthError::JwtKidMissing,
            AuthError::JwtClaimMissing { claim: "exp" },
            AuthError::JwtClaimInvalid { claim: "exp" },
            AuthError::JwtWrongAudience,
            AuthError::JwtWrongIssuer,
            AuthError::JwtExpired {
                exp: 0,
                now: 0,
                leeway: 0,
            },
            AuthError::JwtNotYetValid {
                nbf: 0,
                now: 0,
                leeway: 0,
            },
            AuthError::JwtIssuedInFuture {
                iat: 0,
                now: 0,
                leeway: 0,
            },
            AuthError::JwtNoIdentity,
            AuthError::IdentityNotAllowed,
            AuthError::AccessKeyUnknown,
            AuthError::AccessKeysUnavailable,
            AuthError::JwtSignatureInvalid,
        ];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(AuthError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.starts_with("AUTH_")));
        assert_eq!(
            (AuthError::CLIENT_CODE, AuthError::HTTP_STATUS),
            ("UNAUTHENTICATED", 401)
        );
    }
}

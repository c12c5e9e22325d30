//! Why a credential was refused, and why the credential configuration is unusable.
//!
//! Both enums are for logs and tests. A client only ever sees [`AuthError::CLIENT_CODE`] (401) or
//! [`Misconfiguration::CLIENT_CODE`] (503), with the same body for every variant. No variant holds
//! token bytes, JWT bytes, or any string taken from a presented credential: refusals happen before
//! the signature is checked, so such strings are attacker-controlled and have no place in a log.

use std::fmt;

/// The credential configuration cannot be used: admin routes answer 503 and never fall open.
///
/// Details (operator names, which variable) are for logs; no variant holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misconfiguration {
    /// Neither a bearer token nor Cloudflare Access is configured.
    NoCredential,
    /// `ADMIN_TOKENS` is not valid JSON.
    AdminTokensNotJson { line: usize, column: usize },
    /// `ADMIN_TOKENS` is JSON but not an object.
    AdminTokensNotObject,
    /// A value of `ADMIN_TOKENS` is not a string.
    AdminTokensValueNotString { operator: String },
    /// The same operator name appears twice (in `ADMIN_TOKENS`, or differing only in ASCII case).
    DuplicateOperator { operator: String },
    /// An operator name is empty, has surrounding whitespace or contains control characters.
    InvalidOperatorName { operator: String },
    /// `ADMIN_TOKEN` and `ADMIN_TOKENS["admin"]` both define `admin`, with different tokens.
    AdminDefinedTwice,
    /// A token is shorter than [`super::MIN_TOKEN_LEN`] characters.
    TokenTooShort { operator: String },
    /// A token contains bytes outside visible ASCII (`0x21..=0x7E`), e.g. a trailing newline.
    /// Such a token can never arrive intact in an `Authorization` header.
    TokenInvalidCharacters { operator: String },
    /// Two operators share one token (including `ADMIN_TOKEN` equal to another operator's token).
    SharedToken { first: String, second: String },
    /// Only one of `CF_ACCESS_TEAM_DOMAIN` / `CF_ACCESS_AUD` is set.
    AccessIncomplete { missing: &'static str },
    /// `CF_ACCESS_TEAM_DOMAIN` is neither a bare host nor an `http(s)://` origin without a
    /// trailing slash.
    AccessTeamDomainInvalid,
    /// `CF_ACCESS_AUD` contains whitespace.
    AccessAudienceInvalid,
    /// `ADMIN_ALLOWED_EMAILS` is set but Access is not configured: the restriction the operator
    /// asked for could not apply to anything.
    AllowListWithoutAccess,
}

impl Misconfiguration {
    /// The code every client sees, whatever the variant.
    pub const CLIENT_CODE: &'static str = "AUTH_MISCONFIGURED";
    /// The status every client sees.
    pub const HTTP_STATUS: u16 = 503;

    /// Stable code for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Misconfiguration::NoCredential => "AUTH_NO_CREDENTIAL_CONFIGURED",
            Misconfiguration::AdminTokensNotJson { .. } => "AUTH_ADMIN_TOKENS_NOT_JSON",
            Misconfiguration::AdminTokensNotObject => "AUTH_ADMIN_TOKENS_NOT_OBJECT",
            Misconfiguration::AdminTokensValueNotString { .. } => {
                "AUTH_ADMIN_TOKENS_VALUE_NOT_STRING"
            }
            Misconfiguration::DuplicateOperator { .. } => "AUTH_OPERATOR_DUPLICATE",
            Misconfiguration::InvalidOperatorName { .. } => "AUTH_OPERATOR_NAME_INVALID",
            Misconfiguration::AdminDefinedTwice => "AUTH_ADMIN_DEFINED_TWICE",
            Misconfiguration::TokenTooShort { .. } => "AUTH_TOKEN_TOO_SHORT",
            Misconfiguration::TokenInvalidCharacters { .. } => "AUTH_TOKEN_INVALID_CHARACTERS",
            Misconfiguration::SharedToken { .. } => "AUTH_TOKEN_SHARED",
            Misconfiguration::AccessIncomplete { .. } => "AUTH_ACCESS_INCOMPLETE",
            Misconfiguration::AccessTeamDomainInvalid => "AUTH_ACCESS_TEAM_DOMAIN_INVALID",
            Misconfiguration::AccessAudienceInvalid => "AUTH_ACCESS_AUD_INVALID",
            Misconfiguration::AllowListWithoutAccess => "AUTH_ALLOWLIST_WITHOUT_ACCESS",
        }
    }
}

impl fmt::Display for Misconfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Self::CLIENT_CODE, self.code())?;
        match self {
            Misconfiguration::AdminTokensNotJson { line, column } => {
                write!(f, " var=ADMIN_TOKENS line={line} column={column}")
            }
            Misconfiguration::AdminTokensNotObject => write!(f, " var=ADMIN_TOKENS"),
            Misconfiguration::AdminTokensValueNotString { operator }
            | Misconfiguration::DuplicateOperator { operator }
            | Misconfiguration::InvalidOperatorName { operator }
            | Misconfiguration::TokenTooShort { operator }
            | Misconfiguration::TokenInvalidCharacters { operator } => {
                write!(f, " operator={operator:?}")
            }
            Misconfiguration::SharedToken { first, second } => {
                write!(f, " operators={first:?},{second:?}")
            }
            Misconfiguration::AccessIncomplete { missing } => write!(f, " missing={missing}"),
            Misconfiguration::AccessTeamDomainInvalid => write!(f, " var=CF_ACCESS_TEAM_DOMAIN"),
            Misconfiguration::AccessAudienceInvalid => write!(f, " var=CF_ACCESS_AUD"),
            Misconfiguration::AllowListWithoutAccess => write!(f, " var=ADMIN_ALLOWED_EMAILS"),
            Misconfiguration::NoCredential | Misconfiguration::AdminDefinedTwice => Ok(()),
        }
    }
}

impl std::error::Error for Misconfiguration {}

/// Which segment of a compact JWT was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtPart {
    /// The token as a whole (wrong number of segments, too long).
    Token,
    Header,
    Payload,
    Signature,
}

impl JwtPart {
    fn as_str(self) -> &'static str {
        match self {
            JwtPart::Token => "token",
            JwtPart::Header => "header",
            JwtPart::Payload => "payload",
            JwtPart::Signature => "signature",
        }
    }
}

/// A presented credential was refused. The client sees 401 `UNAUTHENTICATED` for every variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Neither `Authorization` nor `Cf-Access-Jwt-Assertion` was sent.
    NoCredential,
    /// `Authorization` is not exactly `Bearer <token>`.
    BearerMalformed,
    /// The bearer token matches no configured operator.
    BearerUnknown,
    /// A JWT was presented but Access is not configured.
    AccessNotConfigured,
    /// The JWT is structurally broken: segment count, base64url, JSON object.
    JwtMalformed { part: JwtPart, reason: &'static str },
    /// `alg` is missing or anything other than `RS256` (`none`, `HS256`, …).
    JwtAlgorithmRefused,
    /// The header carries `crit`; we understand no JWS extensions, so we must refuse.
    JwtCriticalHeader,
    /// The header has no usable `kid`.
    JwtKidMissing,
    /// A required claim is absent.
    JwtClaimMissing { claim: &'static str },
    /// A claim has the wrong JSON type (e.g. `exp` not an integer).
    JwtClaimInvalid { claim: &'static str },
    /// `aud` does not contain the configured audience.
    JwtWrongAudience,
    /// `iss` is not the configured team issuer.
    JwtWrongIssuer,
    /// `now >= exp + leeway`.
    JwtExpired { exp: i64, now: i64, leeway: i64 },
    /// `nbf > now + leeway`.
    JwtNotYetValid { nbf: i64, now: i64, leeway: i64 },
    /// `iat > now + leeway`.
    JwtIssuedInFuture { iat: i64, now: i64, leeway: i64 },
    /// Neither `email` nor `common_name` names the caller.
    JwtNoIdentity,
    /// The identity is not in `ADMIN_ALLOWED_EMAILS`.
    IdentityNotAllowed,
    /// No key with the token's `kid` is in the (fresh) key cache, even after any refetch the
    /// rate limit allowed. Produced by the Worker layer.
    AccessKeyUnknown,
    /// The key set could not be fetched or parsed. Produced by the Worker layer.
    AccessKeysUnavailable,
    /// The RSASSA-PKCS1-v1_5/SHA-256 check failed.
    JwtSignatureInvalid,
}

impl AuthError {
    /// The code every client sees, whatever the variant.
    pub const CLIENT_CODE: &'static str = "UNAUTHENTICATED";
    /// The status every client sees.
    pub const HTTP_STATUS: u16 = 401;

    /// Stable code for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::NoCredential => "AUTH_NO_CREDENTIAL",
            AuthError::BearerMalformed => "AUTH_BEARER_MALFORMED",
            AuthError::BearerUnknown => "AUTH_BEARER_UNKNOWN",
            AuthError::AccessNotConfigured => "AUTH_ACCESS_NOT_CONFIGURED",
            AuthError::JwtMalformed { .. } => "AUTH_JWT_MALFORMED",
            AuthError::JwtAlgorithmRefused => "AUTH_JWT_ALG_REFUSED",
            AuthError::JwtCriticalHeader => "AUTH_JWT_CRIT_UNSUPPORTED",
            AuthError::JwtKidMissing => "AUTH_JWT_KID_MISSING",
            AuthError::JwtClaimMissing { .. } => "AUTH_JWT_CLAIM_MISSING",
            AuthError::JwtClaimInvalid { .. } => "AUTH_JWT_CLAIM_INVALID",
            AuthError::JwtWrongAudience => "AUTH_JWT_AUDIENCE",
            AuthError::JwtWrongIssuer => "AUTH_JWT_ISSUER",
            AuthError::JwtExpired { .. } => "AUTH_JWT_EXPIRED",
            AuthError::JwtNotYetValid { .. } => "AUTH_JWT_NOT_YET_VALID",
            AuthError::JwtIssuedInFuture { .. } => "AUTH_JWT_ISSUED_IN_FUTURE",
            AuthError::JwtNoIdentity => "AUTH_JWT_NO_IDENTITY",
            AuthError::IdentityNotAllowed => "AUTH_IDENTITY_NOT_ALLOWED",
            AuthError::AccessKeyUnknown => "AUTH_ACCESS_KEY_UNKNOWN",
            AuthError::AccessKeysUnavailable => "AUTH_ACCESS_KEYS_UNAVAILABLE",
            AuthError::JwtSignatureInvalid => "AUTH_JWT_SIGNATURE_INVALID",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        match self {
            AuthError::JwtMalformed { part, reason } => {
                write!(f, ": part={} reason={reason}", part.as_str())
            }
            AuthError::JwtClaimMissing { claim } | AuthError::JwtClaimInvalid { claim } => {
                write!(f, ": claim={claim}")
            }
            AuthError::JwtExpired { exp, now, leeway } => {
                write!(f, ": exp={exp} now={now} leeway={leeway}")
            }
            AuthError::JwtNotYetValid { nbf, now, leeway } => {
                write!(f, ": nbf={nbf} now={now} leeway={leeway}")
            }
            AuthError::JwtIssuedInFuture { iat, now, leeway } => {
                write!(f, ": iat={iat} now={now} leeway={leeway}")
            }
            _ => Ok(()),
        }
    }
}

impl std::error::Error for AuthError {}

//! Operator authentication for `/admin/*`: the pure decisions, with no clock and no crypto calls.

mod error;
mod json;
mod jwt;
mod tokens;

pub use error::{AuthError, JwtPart, Misconfiguration};
pub use jwt::{
    AccessConfig, UnverifiedAccessToken, ALG_RS256, DEFAULT_LEEWAY_SECS, MAX_JWT_LEN,
    MAX_LEEWAY_SECS,
};
pub use tokens::{parse_bearer, OperatorTokens, ADMIN_OPERATOR, MIN_TOKEN_LEN};

use serde::Serialize;
use std::fmt;

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

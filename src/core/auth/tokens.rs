//! Operator bearer tokens: configuration from `ADMIN_TOKENS` / `ADMIN_TOKEN`, and matching of an
//! `Authorization` header in constant time.
//!
//! Only SHA-256 digests of the tokens are kept after configuration, so no value of this module
//! can print a token. Matching hashes the presented token and compares its 32-byte digest with
//! every configured digest using `subtle`, without an early exit: the time taken depends on
//! neither the length nor the content of any configured token.

use super::error::{AuthError, Misconfiguration};
use super::json::{parse_object, ObjectError};
use super::{AuthMethod, Identity};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Shortest accepted token, in characters (tokens are ASCII, so also bytes).
pub const MIN_TOKEN_LEN: usize = 32;

/// The operator name under which `ADMIN_TOKEN` is accepted.
pub const ADMIN_OPERATOR: &str = "admin";

struct Entry {
    operator: String,
    digest: [u8; 32],
}

/// The configured operators and the digests of their tokens. Possibly empty, when only
/// Cloudflare Access is configured (see [`super::AuthConfig`], which refuses "nothing at all").
pub struct OperatorTokens {
    entries: Vec<Entry>,
}

impl fmt::Debug for OperatorTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorTokens")
            .field("operators", &self.operators().collect::<Vec<_>>())
            .finish()
    }
}

impl OperatorTokens {
    /// Builds the token table from the two secrets (`None` when a secret is not set).
    ///
    /// `ADMIN_TOKENS` is a JSON object of operator name → token; `ADMIN_TOKEN` is accepted as
    /// operator [`ADMIN_OPERATOR`]. A set-but-empty secret is not "unset": an empty
    /// `ADMIN_TOKEN` is too short and an empty `ADMIN_TOKENS` is not JSON. Refuses: malformed
    /// `ADMIN_TOKENS`, repeated or invalid names (names equal ignoring ASCII case count as
    /// repeated), tokens shorter than [`MIN_TOKEN_LEN`] or with bytes outside visible ASCII, one
    /// token shared by two operators, and `admin` defined by both secrets with different tokens
    /// (the same token in both places is accepted once).
    pub fn from_secrets(
        admin_tokens: Option<&str>,
        admin_token: Option<&str>,
    ) -> Result<OperatorTokens, Misconfiguration> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(json) = admin_tokens {
            let members = parse_object(json.as_bytes()).map_err(|e| match e {
                ObjectError::NotJson { line, column } => {
                    Misconfiguration::AdminTokensNotJson { line, column }
                }
                ObjectError::NotObject => Misconfiguration::AdminTokensNotObject,
                ObjectError::DuplicateKey(operator) => {
                    Misconfiguration::DuplicateOperator { operator }
                }
            })?;
            for (operator, value) in members {
                match value {
                    Value::String(token) => pairs.push((operator, token)),
                    _ => return Err(Misconfiguration::AdminTokensValueNotString { operator }),
                }
            }
        }
        if let Some(token) = admin_token {
            match pairs.iter().find(|(name, _)| name == ADMIN_OPERATOR) {
                Some((_, existing)) if existing == token => {}
                Some(_) => return Err(Misconfiguration::AdminDefinedTwice),
                None => pairs.push((ADMIN_OPERATOR.to_string(), token.to_string())),
            }
        }

        let mut entries: Vec<Entry> = Vec::with_capacity(pairs.len());
        for (operator, token) in pairs {
            validate_operator_name(&operator)?;
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(Misconfiguration::TokenTooShort { operator });
            }
            if !token.bytes().all(is_token_byte) {
                return Err(Misconfiguration::TokenInvalidCharacters { operator });
            }
            let digest = sha256(&token);
            for other in &entries {
                if other.operator.eq_ignore_ascii_case(&operator) {
                    return Err(Misconfiguration::DuplicateOperator { operator });
                }
                if other.digest == digest {
                    return Err(Misconfiguration::SharedToken {
                        first: other.operator.clone(),
                        second: operator,
                    });
                }
            }
            entries.push(Entry { operator, digest });
        }
        Ok(OperatorTokens { entries })
    }

    /// True when no bearer token is configured (Access only).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured operator names, for logs and `whoami`-style diagnostics.
    pub fn operators(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.operator.as_str())
    }

    /// The operator whose token is `token`, compared in constant time against every configured
    /// token (no early exit, no dependence on the configured tokens' lengths).
    pub fn operator_for(&self, token: &str) -> Option<&str> {
        let presented = sha256(token);
        // Index + 1 of the matching entry, 0 for none; tokens are unique, so at most one matches.
        let mut found: u32 = 0;
        for (index, entry) in self.entries.iter().enumerate() {
            let candidate = u32::try_from(index + 1).unwrap_or(u32::MAX);
            found.conditional_assign(&candidate, entry.digest.ct_eq(&presented));
        }
        let index = usize::try_from(found.checked_sub(1)?).ok()?;
        self.entries.get(index).map(|e| e.operator.as_str())
    }

    /// Authenticates an `Authorization` header value (see [`parse_bearer`] for the syntax).
    pub fn authenticate(&self, authorization: &str) -> Result<Identity, AuthError> {
        let token = parse_bearer(authorization).ok_or(AuthError::BearerMalformed)?;
        let operator = self.operator_for(token).ok_or(AuthError::BearerUnknown)?;
        Ok(Identity::new(operator.to_string(), AuthMethod::Bearer))
    }
}

/// The token of an `Authorization` header value that is exactly `Bearer <token>`: the scheme
/// spelled `Bearer` (case-sensitive), one space, then one or more visible ASCII bytes and
/// nothing else. Anything else (`bearer x`, `Bearer  x`, `Bearer x `, `Bearer `) is `None`.
pub fn parse_bearer(authorization: &str) -> Option<&str> {
    let token = authorization.strip_prefix("Bearer ")?;
    (!token.is_empty() && token.bytes().all(is_token_byte)).then_some(token)
}

fn is_token_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn validate_operator_name(operator: &str) -> Result<(), Misconfiguration> {
    let invalid = operator.is_empty()
        || operator.trim() != operator
        || operator.chars().any(char::is_control);
    if invalid {
        return Err(Misconfiguration::InvalidOperatorName {
            operator: operator.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice-token-0123456789abcdefghijklmnop";
    const BOB: &str = "bob-token-0123456789abcdefghijklmnopqrstuvwxyz-longer";
    const ADMIN: &str = "admin-token-0123456789abcdefghijklmn";

    fn table() -> OperatorTokens {
        let json = format!(r#"{{"alice":"{ALICE}","bob":"{BOB}"}}"#);
        OperatorTokens::from_secrets(Some(&json), Some(ADMIN)).unwrap()
    }

    fn operator(tokens: &OperatorTokens, header: &str) -> Result<String, AuthError> {
        tokens
            .authenticate(header)
            .map(|id| id.operator().to_string())
    }

    // --- bearer matching -----------------------------------------------------------------

    #[test]
    fn each_configured_token_authenticates_its_own_operator_as_bearer() {
        let tokens = table();
        for (token, name) in [(ALICE, "alice"), (BOB, "bob"), (ADMIN, "admin")] {
            let id = tokens.authenticate(&format!("Bearer {token}")).unwrap();
            assert_eq!(id.operator(), name);
            assert_eq!(id.method(), AuthMethod::Bearer);
        }
    }

    #[test]
    fn tokens_of_different_lengths_match_only_exactly() {
        let tokens = table();
        assert_ne!(ALICE.len(), BOB.len());
        // Prefixes and extensions of a configured token, across the other token's length.
        assert_eq!(tokens.operator_for(&ALICE[..ALICE.len() - 1]), None);
        assert_eq!(tokens.operator_for(&BOB[..ALICE.len()]), None);
        assert_eq!(
            tokens.operator_for(&format!("{ALICE}{}", &BOB[ALICE.len()..])),
            None
        );
        assert_eq!(tokens.operator_for(BOB), Some("bob"));
    }

    #[test]
    fn wrong_token_is_unknown() {
        assert_eq!(
            operator(&table(), "Bearer not-a-configured-token-0123456789abcdef"),
            Err(AuthError::BearerUnknown)
        );
    }

    #[test]
    fn correct_token_with_a_trailing_byte_is_unknown() {
        let tokens = table();
        assert_eq!(
            operator(&tokens, &format!("Bearer {ALICE}x")),
            Err(AuthError::BearerUnknown)
        );
        // A trailing space or control byte is not even a token.
        for suffix in [" ", "\t", "\0", "\r\n"] {
            assert_eq!(
                operator(&tokens, &format!("Bearer {ALICE}{suffix}")),
                Err(AuthError::BearerMalformed),
                "{suffix:?}"
            );
        }
    }

    #[test]
    fn empty_bearer_is_malformed() {
        let tokens = table();
        for header in ["", "Bearer", "Bearer ", "Bearer  "] {
            assert_eq!(
                operator(&tokens, header),
                Err(AuthError::BearerMalformed),
                "{header:?}"
            );
        }
    }

    #[test]
    fn scheme_is_case_sensitive_so_lowercase_bearer_is_malformed() {
        let tokens = table();
        for scheme in ["bearer", "BEARER", "BeArEr", "Basic", "Token"] {
            assert_eq!(
                operator(&tokens, &format!("{scheme} {ALICE}")),
                Err(AuthError::BearerMalformed),
                "{scheme}"
            );
        }
    }

    #[test]
    fn extra_spaces_or_tabs_around_the_token_are_malformed() {
        let tokens = table();
        for header in [
            format!("Bearer  {ALICE}"),
            format!(" Bearer {ALICE}"),
            format!("Bearer\t{ALICE}"),
            format!("Bearer {ALICE} "),
            format!("Bearer {ALICE}, Bearer {BOB}"),
        ] {
            assert_eq!(
                operator(&tokens, &header),
                Err(AuthError::BearerMalformed),
                "{header:?}"
            );
        }
    }

    #[test]
    fn parse_bearer_returns_exactly_the_token() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("Bearer a=b+c/d"), Some("a=b+c/d"));
        assert_eq!(parse_bearer("Bearer ab c"), None);
        assert_eq!(parse_bearer("Bearer é"), None);
    }

    #[test]
    fn empty_table_matches_nothing() {
        let tokens = OperatorTokens::from_secrets(None, None).unwrap();
        assert!(tokens.is_empty());
        assert_eq!(
            operator(&tokens, &format!("Bearer {ALICE}")),
            Err(AuthError::BearerUnknown)
        );
    }

    #[test]
    fn debug_output_names_operators_but_never_tokens() {
        let printed = format!("{:?}", table());
        assert!(printed.contains("alice") && printed.contains("admin"));
        for token in [ALICE, BOB, ADMIN] {
            assert!(!printed.contains(token));
        }
    }

    // --- configuration -------------------------------------------------------------------

    #[test]
    fn admin_token_alone_is_operator_admin() {
        let tokens = OperatorTokens::from_secrets(None, Some(ADMIN)).unwrap();
        assert_eq!(tokens.operators().collect::<Vec<_>>(), vec!["admin"]);
    }

    #[test]
    fn admin_token_equal_to_admin_tokens_admin_is_accepted_once() {
        let json = format!(r#"{{"admin":"{ADMIN}"}}"#);
        let tokens = OperatorTokens::from_secrets(Some(&json), Some(ADMIN)).unwrap();
        assert_eq!(tokens.operators().collect::<Vec<_>>(), vec!["admin"]);
    }

    #[test]
    fn admin_defined_twice_with_different_tokens_is_misconfigured() {
        let json = format!(r#"{{"admin":"{ALICE}"}}"#);
        assert_eq!(
            OperatorTokens::from_secrets(Some(&json), Some(ADMIN)).unwrap_err(),
            Misconfiguration::AdminDefinedTwice
        );
    }

    #[test]
    fn admin_token_colliding_with_another_operator_is_a_shared_token() {
        let json = format!(r#"{{"alice":"{ADMIN}"}}"#);
        assert_eq!(
            OperatorTokens::from_secrets(Some(&json), Some(ADMIN)).unwrap_err(),
            Misconfiguration::SharedToken {
                first: "alice".into(),
                second: "admin".into()
            }
        );
    }

    #[test]
    fn two_operators_sharing_a_token_is_misconfigured() {
        let json = format!(r#"{{"alice":"{ALICE}","bob":"{ALICE}"}}"#);
        assert!(matches!(
            OperatorTokens::from_secrets(Some(&json), None),
            Err(Misconfiguration::SharedToken { .. })
        ));
    }

    #[test]
    fn token_shorter_than_32_characters_is_misconfigured() {
        let short = "x".repeat(MIN_TOKEN_LEN - 1);
        assert_eq!(
            OperatorTokens::from_secrets(None, Some("short")).unwrap_err(),
            Misconfiguration::TokenTooShort {
                operator: "admin".into()
            }
        );
        assert_eq!(
            OperatorTokens::from_secrets(None, Some(&short)).unwrap_err(),
            Misconfiguration::TokenTooShort {
                operator: "admin".into()
            }
        );
        let json = format!(r#"{{"alice":"{ALICE}","bob":"{short}"}}"#);
        assert_eq!(
            OperatorTokens::from_secrets(Some(&json), None).unwrap_err(),
            Misconfiguration::TokenTooShort {
                operator: "bob".into()
            }
        );
        let exactly = "x".repeat(MIN_TOKEN_LEN);
        assert!(OperatorTokens::from_secrets(None, Some(&exactly)).is_ok());
    }

    #[test]
    fn set_but_empty_secrets_are_misconfigured_not_unset() {
        assert!(matches!(
            OperatorTokens::from_secrets(None, Some("")),
            Err(Misconfiguration::TokenTooShort { .. })
        ));
        assert!(matches!(
            OperatorTokens::from_secrets(Some(""), None),
            Err(Misconfiguration::AdminTokensNotJson { .. })
        ));
    }

    #[test]
    fn token_with_whitespace_or_non_ascii_is_misconfigured() {
        for token in [
            format!("{ADMIN}\n"),
            format!("{ADMIN} x"),
            format!("é{ADMIN}"),
        ] {
            assert_eq!(
                OperatorTokens::from_secrets(None, Some(&token)).unwrap_err(),
                Misconfiguration::TokenInvalidCharacters {
                    operator: "admin".into()
                },
                "{token:?}"
            );
        }
    }

    #[test]
    fn admin_tokens_must_be_a_json_object_of_strings() {
        assert!(matches!(
            OperatorTokens::from_secrets(Some(&format!(r#"["{ALICE}"]"#)), None),
            Err(Misconfiguration::AdminTokensNotObject)
        ));
        assert!(matches!(
            OperatorTokens::from_secrets(Some(r#"{"alice": 12345}"#), None),
            Err(Misconfiguration::AdminTokensValueNotString { .. })
        ));
        assert!(matches!(
            OperatorTokens::from_secrets(Some(r#"{"alice": ["x"]}"#), None),
            Err(Misconfiguration::AdminTokensValueNotString { .. })
        ));
        assert!(matches!(
            OperatorTokens::from_secrets(Some(&format!("{{alice: {ALICE}}}")), None),
            Err(Misconfiguration::AdminTokensNotJson { .. })
        ));
    }

    #[test]
    fn misconfiguration_details_never_contain_the_token() {
        let cases = [
            OperatorTokens::from_secrets(Some(&format!(r#""{ALICE}""#)), None),
            OperatorTokens::from_secrets(Some(&format!(r#"{{"a":"{ALICE}"#)), None),
            OperatorTokens::from_secrets(Some(&format!(r#"{{"a":["{ALICE}"]}}"#)), None),
            OperatorTokens::from_secrets(None, Some(&format!("{ALICE}\n"))),
            OperatorTokens::from_secrets(None, Some(&ALICE[..20])),
        ];
        for result in cases {
            let err = result.unwrap_err();
            let printed = format!("{err} {err:?}");
            assert!(!printed.contains(&ALICE[..20]), "{printed}");
        }
    }

    #[test]
    fn operator_names_must_be_non_empty_and_clean() {
        for name in ["", " alice", "alice ", "al\nice", "\u{7}"] {
            let mut members = serde_json::Map::new();
            members.insert(name.to_string(), ALICE.into());
            let json = Value::Object(members).to_string();
            assert!(
                matches!(
                    OperatorTokens::from_secrets(Some(&json), None),
                    Err(Misconfiguration::InvalidOperatorName { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn repeated_operator_names_are_misconfigured() {
        let json = format!(r#"{{"alice":"{ALICE}","alice":"{BOB}"}}"#);
        assert_eq!(
            OperatorTokens::from_secrets(Some(&json), None).unwrap_err(),
            Misconfiguration::DuplicateOperator {
                operator: "alice".into()
            }
        );
        let json = format!(r#"{{"alice":"{ALICE}","Alice":"{BOB}"}}"#);
        assert!(matches!(
            OperatorTokens::from_secrets(Some(&json), None),
            Err(Misconfiguration::DuplicateOperator { .. })
        ));
        let json = format!(r#"{{"Admin":"{ALICE}"}}"#);
        assert!(matches!(
            OperatorTokens::from_secrets(Some(&json), Some(ADMIN)),
            Err(Misconfiguration::DuplicateOperator { .. })
        ));
    }
}

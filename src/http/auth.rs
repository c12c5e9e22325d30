//! Operator authentication for `/admin/*`, the Worker half: reads the credentials' settings,
//! runs the pure checks of `core::auth`, fetches the Access signing keys through the outbound
//! port and checks JWT signatures with WebCrypto. This is the only module that reads the
//! operator tokens.

use super::error::ApiError;
use crate::audit_client::{self, AuditRecord};
use crate::core::auth::{
    AuthConfig, AuthEnv, AuthError, Authentication, Credential, Identity, Jwks, JwksCache,
    JwksPolicy, UnverifiedAccessToken, ACCESS_JWT_HEADER, AUTHORIZATION_HEADER,
};
use crate::obs::Logger;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use worker::{Env, Headers, Method, Request};

thread_local! {
    /// The team's signing keys, per isolate: cached by `kid`, refetched on an unknown `kid` at
    /// most once a minute, never used past an hour.
    static JWKS: RefCell<JwksCache> = RefCell::new(JwksCache::new(JwksPolicy::default()));

    /// Failed authentications not yet written to the audit log, per isolate.
    static AUTH_FAILURES: RefCell<FailureTally> = RefCell::new(FailureTally::default());
}

/// Failed authentications counted between audit records, so that a flood of bad credentials
/// costs the log at most one `AUTH_FAILED` record per minute per isolate: the first failure
/// is written at once, the ones after it are counted and written, with their count, by the
/// first failure at least a minute later. Counts are lost only if the isolate is evicted
/// before then.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FailureTally {
    pending: u64,
    codes: BTreeMap<String, u64>,
    first_at_ms: Option<i64>,
    last_written_ms: Option<i64>,
}

/// One `AUTH_FAILED` record's content: failures since the previous record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureBatch {
    pub count: u64,
    pub codes: BTreeMap<String, u64>,
    pub first_at_ms: i64,
    pub last_at_ms: i64,
    previous_written_ms: Option<i64>,
}

impl FailureBatch {
    /// The audit payload (codes only: never a credential).
    pub fn payload(&self) -> Value {
        json!({
            "count": self.count,
            "codes": self.codes,
            "first_at_ms": self.first_at_ms,
            "last_at_ms": self.last_at_ms,
        })
    }
}

impl FailureTally {
    /// Least time between two records.
    pub const INTERVAL_MS: i64 = 60_000;

    /// Counts a failure with `code` at `now`; the batch to write now, if it is time.
    pub fn count(&mut self, code: &str, now: i64) -> Option<FailureBatch> {
        self.pending += 1;
        *self.codes.entry(code.to_string()).or_default() += 1;
        self.first_at_ms.get_or_insert(now);
        let due = self
            .last_written_ms
            .is_none_or(|last| now - last >= Self::INTERVAL_MS);
        if !due {
            return None;
        }
        let batch = FailureBatch {
            count: self.pending,
            codes: std::mem::take(&mut self.codes),
            first_at_ms: self.first_at_ms.take().unwrap_or(now),
            last_at_ms: now,
            previous_written_ms: self.last_written_ms.replace(now),
        };
        self.pending = 0;
        Some(batch)
    }

    /// Takes back a batch whose append failed: its failures are written with the next one,
    /// which may come at the next failure.
    pub fn restore(&mut self, batch: FailureBatch) {
        self.pending += batch.count;
        for (code, n) in batch.codes {
            *self.codes.entry(code).or_default() += n;
        }
        self.first_at_ms = Some(
            self.first_at_ms
                .map_or(batch.first_at_ms, |f| f.min(batch.first_at_ms)),
        );
        self.last_written_ms = batch.previous_written_ms;
    }
}

/// Counts a failed authentication and, at most once a minute, appends `AUTH_FAILED` to the
/// audit log. The 401 does not depend on it: a refused caller is refused either way.
async fn record_failure(env: &Env, code: &str, log: &Logger) {
    let now = crate::clock::now_ms();
    let Some(batch) = AUTH_FAILURES.with(|t| t.borrow_mut().count(code, now)) else {
        return;
    };
    let record = AuditRecord {
        actor: "system".into(),
        kind: "AUTH_FAILED".into(),
        payload: batch.payload(),
        evidence_hash: None,
    };
    if let Err(e) = audit_client::append(env, vec![record]).await {
        log.warn(
            "auth_failure_unrecorded",
            json!({"code": e.code(), "count": batch.count}),
        );
        AUTH_FAILURES.with(|t| t.borrow_mut().restore(batch));
    }
}

/// How long the JWKS fetch may take.
const JWKS_TIMEOUT_MS: u64 = 5_000;

fn setting(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|v| v.to_string())
}

/// Builds the authentication settings from the environment; `Err` closes every admin route.
fn config(env: &Env) -> Result<AuthConfig, crate::core::auth::Misconfiguration> {
    let admin_tokens = setting(env, "ADMIN_TOKENS");
    let admin_token = setting(env, "ADMIN_TOKEN");
    let team = setting(env, "CF_ACCESS_TEAM_DOMAIN");
    let aud = setting(env, "CF_ACCESS_AUD");
    let allowed = setting(env, "ADMIN_ALLOWED_EMAILS");
    AuthConfig::from_env(&AuthEnv {
        admin_tokens: admin_tokens.as_deref(),
        admin_token: admin_token.as_deref(),
        cf_access_team_domain: team.as_deref(),
        cf_access_aud: aud.as_deref(),
        admin_allowed_emails: allowed.as_deref(),
    })
}

/// What authentication is configured with, for the go-live checklist: operator names, whether
/// Access is set up, and its allow-list. No token leaves this module; a configuration that
/// closes the admin routes is its misconfiguration code.
pub fn posture(env: &Env) -> Result<crate::core::checklist::AuthFacts, String> {
    let config = config(env).map_err(|m| m.code().to_string())?;
    Ok(crate::core::checklist::AuthFacts {
        bearer_operators: config.tokens().operators().map(String::from).collect(),
        access_configured: config.access().is_some(),
        access_identities: config
            .access()
            .map(|a| a.allowed_identities())
            .unwrap_or_default(),
    })
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Authenticates an admin request: the identity, or the fixed 401 / 503 envelope.
pub async fn authenticate(req: &Request, env: &Env, log: &Logger) -> Result<Identity, ApiError> {
    let config = match config(env) {
        Ok(c) => c,
        Err(m) => {
            log.error("auth_misconfigured", json!({"code": m.code()}));
            return Err(ApiError::auth_misconfigured());
        }
    };
    let authorization = header(req, AUTHORIZATION_HEADER);
    let access_jwt = header(req, ACCESS_JWT_HEADER);
    let now = crate::clock::now_ms() / 1000;
    let outcome = match Credential::from_headers(authorization.as_deref(), access_jwt.as_deref()) {
        Ok(credential) => match config.authenticate(credential, now) {
            Ok(Authentication::Done(identity)) => Ok(identity),
            Ok(Authentication::NeedsSignature(token)) => {
                verify_access_token(&config, env, token, now, log).await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(identity) => Ok(identity),
        Err(e) => {
            let e: AuthError = e;
            log.warn("auth_failed", json!({"code": e.code()}));
            record_failure(env, e.code(), log).await;
            Err(ApiError::unauthenticated())
        }
    }
}

async fn fetch_jwks(config: &AuthConfig, env: &Env, log: &Logger) -> Option<Jwks> {
    let access = config.access()?;
    let port = crate::outbound::Outbound::from_env(
        env,
        &[("CF_ACCESS_TEAM_DOMAIN", access.issuer().to_string())],
    )
    .ok()?;
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    match port
        .fetch(
            Method::Get,
            &access.certs_url(),
            headers,
            None,
            JWKS_TIMEOUT_MS,
        )
        .await
    {
        Ok(resp) if resp.status == 200 => match Jwks::parse(&resp.body) {
            Ok(jwks) => {
                for skipped in jwks.skipped() {
                    log.warn(
                        "jwks_key_skipped",
                        json!({"detail": format!("{skipped:?}")}),
                    );
                }
                Some(jwks)
            }
            Err(e) => {
                log.error("jwks_invalid", json!({"code": e.code()}));
                None
            }
        },
        Ok(resp) => {
            log.error("jwks_fetch_failed", json!({"status": resp.status}));
            None
        }
        Err(e) => {
            log.error("jwks_fetch_failed", json!({"code": e.code()}));
            None
        }
    }
}

async fn verify_access_token(
    config: &AuthConfig,
    env: &Env,
    token: UnverifiedAccessToken,
    now: i64,
    log: &Logger,
) -> Result<Identity, AuthError> {
    // Decide (and record) a refetch before awaiting, so concurrent requests in this isolate
    // respect the once-a-minute limit.
    let refetch = JWKS.with(|c| c.borrow_mut().begin_refetch(token.kid(), now));
    let mut fetch_failed = false;
    if refetch {
        match fetch_jwks(config, env, log).await {
            Some(jwks) => JWKS.with(|c| c.borrow_mut().replace(jwks, now)),
            None => fetch_failed = true,
        }
    }
    let key = JWKS.with(|c| {
        c.borrow()
            .key(token.kid(), now)
            .map(|k| (k.n().to_string(), k.e().to_string()))
    });
    let Some((n, e)) = key else {
        return Err(if fetch_failed {
            AuthError::AccessKeysUnavailable
        } else {
            AuthError::AccessKeyUnknown
        });
    };
    let valid = crate::webcrypto::verify_rs256(&n, &e, token.signing_input(), token.signature())
        .await
        .unwrap_or(false);
    token.verify_with(valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_225_600_000;

    #[test]
    fn first_failure_is_recorded_at_once_then_at_most_once_a_minute_with_a_count() {
        let mut tally = FailureTally::default();
        let first = tally.count("AUTH_TOKEN_UNKNOWN", T).unwrap();
        assert_eq!(first.count, 1);
        for i in 1..=500 {
            assert!(tally.count("AUTH_TOKEN_UNKNOWN", T + i * 100).is_none());
        }
        assert!(tally.count("AUTH_MALFORMED", T + 59_999).is_none());
        let next = tally.count("AUTH_MALFORMED", T + 60_000).unwrap();
        assert_eq!(next.count, 502);
        assert_eq!(next.codes["AUTH_TOKEN_UNKNOWN"], 500);
        assert_eq!(next.codes["AUTH_MALFORMED"], 2);
        assert_eq!((next.first_at_ms, next.last_at_ms), (T + 100, T + 60_000));
        assert_eq!(next.payload()["count"], 502);
    }

    #[test]
    fn a_batch_that_could_not_be_appended_is_retried_with_the_next_failure() {
        let mut tally = FailureTally::default();
        tally.count("A", T).unwrap();
        tally.count("A", T + 1_000);
        let batch = tally.count("A", T + 61_000).unwrap();
        assert_eq!(batch.count, 2);
        tally.restore(batch);
        let retried = tally.count("B", T + 61_500).unwrap();
        assert_eq!(retried.count, 3);
        assert_eq!(retried.first_at_ms, T + 1_000);
        assert_eq!(retried.codes.values().sum::<u64>(), 3);
    }
}

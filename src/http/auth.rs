//! Operator authentication for `/admin/*`, the Worker half: reads the credentials' settings,
//! runs the pure checks of `core::auth`, fetches the Access signing keys through the outbound
//! port and checks JWT signatures with WebCrypto. This is the only module that reads the
//! operator tokens.

use super::error::ApiError;
use crate::core::auth::{
    AuthConfig, AuthEnv, AuthError, Authentication, Credential, Identity, Jwks, JwksCache,
    JwksPolicy, UnverifiedAccessToken, ACCESS_JWT_HEADER, AUTHORIZATION_HEADER,
};
use crate::obs::Logger;
use serde_json::json;
use std::cell::RefCell;
use worker::{Env, Headers, Method, Request};

thread_local! {
    /// The team's signing keys, per isolate: cached by `kid`, refetched on an unknown `kid` at
    /// most once a minute, never used past an hour.
    static JWKS: RefCell<JwksCache> = RefCell::new(JwksCache::new(JwksPolicy::default()));
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
    outcome.map_err(|e: AuthError| {
        log.warn("auth_failed", json!({"code": e.code()}));
        ApiError::unauthenticated()
    })
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

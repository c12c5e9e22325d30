//! The Kalshi portfolio client: the ONE module that reads `KALSHI_API_KEY_ID` and
//! `KALSHI_PRIVATE_KEY` (see `scripts/check-least-authority.sh`).
//!
//! Every request goes through [`Outbound`] (base-URL policy, timeout) and carries the three
//! signed headers: RSA-PSS / SHA-256 / salt 32 through WebCrypto over
//! `timestamp_ms + METHOD + path` (`core::kalshi_sign` decides the message; the private key is
//! turned into PKCS#8 by `core::rsa_key` and imported non-extractable). What an answer means
//! is decided in `core::kalshi_http`:
//! - submission: 201 → accepted; timeout / no answer / 5xx / unreadable 2xx → `unknown` (the
//!   caller blocks the market until reconciliation); 409 → the order is read back by its
//!   client order id; 429 → bounded waits honouring `Retry-After`, then refused; 401/403 →
//!   credentials refused (the caller reports it to the breaker);
//! - reads (balance, orders, positions, fills, settlements) follow every cursor to the end
//!   and fail as a whole if any page fails or any record is rejected: a failed read is never
//!   an empty portfolio.
//!
//! Key material never leaves this module: errors carry codes, logs carry codes and key ids
//! are reported only as "configured".

use crate::core::kalshi_http::{
    classify_read, classify_submit, Answer, NoAnswer, ReadFailure, SubmitOutcome,
    MAX_RATE_LIMIT_RETRIES,
};
use crate::core::kalshi_sign::{auth_headers, signing_message, PSS_SALT_LEN};
use crate::core::reconcile::{PagedRead, ReadError, DEFAULT_MAX_PAGES};
use crate::core::risk::Approved;
use crate::core::rsa_key::{pkcs8_der_from_pem, KeyForm};
use crate::outbound::{FetchError, Outbound, RawResponse};
use crate::venues::kalshi::{
    create_order_body, parse_balance, parse_fills_page, parse_orders_page, parse_positions_page,
    parse_settlements_page, Balance, MarketPosition, TimeInForce, VenueFill, VenueOrder,
    VenueSettlement,
};
use crate::venues::{BodyError, PageParse};
use base64::Engine;
use std::fmt;
use std::time::Duration;
use web_sys::CryptoKey;
use worker::{Delay, Env, Headers, Method};

const SECRET_KEY_ID: &str = "KALSHI_API_KEY_ID";
const SECRET_PRIVATE_KEY: &str = "KALSHI_PRIVATE_KEY";

/// How long an order submission may take before its outcome is `unknown`.
pub const SUBMIT_TIMEOUT_MS: u64 = 10_000;
/// How long one read (one page) may take.
pub const READ_TIMEOUT_MS: u64 = 15_000;
/// Page sizes: the venue's maxima (fills allow 200, the others 1000).
const FILLS_PAGE_LIMIT: u32 = 200;
const PAGE_LIMIT: u32 = 1000;

/// Which credentials are present (never their values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialPresence {
    pub key_id: bool,
    pub private_key: bool,
}

impl CredentialPresence {
    pub fn configured(&self) -> bool {
        self.key_id && self.private_key
    }
}

fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .filter(|s| !s.trim().is_empty())
}

/// Whether both secrets are set (non-empty).
pub fn credentials_present(env: &Env) -> CredentialPresence {
    CredentialPresence {
        key_id: secret(env, SECRET_KEY_ID).is_some(),
        private_key: secret(env, SECRET_PRIVATE_KEY).is_some(),
    }
}

/// Why the client could not be built or a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// A secret is missing.
    CredentialsMissing(CredentialPresence),
    /// The private key is not a usable RSA private key (code from `core::rsa_key`).
    BadKey(String),
    /// `KALSHI_BASE_URL` is missing or refused by the outbound policy.
    NotConfigured(String),
    /// Signing failed (WebCrypto or the message).
    Sign(String),
    /// A read failed.
    Read(ReadFailure),
}

impl ClientError {
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::CredentialsMissing(_) => "KALSHI_CREDENTIALS_MISSING",
            ClientError::BadKey(_) => "KALSHI_PRIVATE_KEY_INVALID",
            ClientError::NotConfigured(_) => "KALSHI_NOT_CONFIGURED",
            ClientError::Sign(_) => "KALSHI_SIGNING_FAILED",
            ClientError::Read(r) => r.code(),
        }
    }

    /// True when the venue refused our credentials.
    pub fn credentials_refused(&self) -> bool {
        matches!(
            self,
            ClientError::Read(ReadFailure::CredentialsRefused { .. })
        )
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            ClientError::CredentialsMissing(p) => write!(
                f,
                "{code}: key_id_set={} private_key_set={}",
                p.key_id, p.private_key
            ),
            ClientError::BadKey(c) | ClientError::NotConfigured(c) | ClientError::Sign(c) => {
                write!(f, "{code}: {c}")
            }
            ClientError::Read(r) => write!(f, "{r}"),
        }
    }
}

/// Signs requests with an imported, non-extractable RSA-PSS key.
pub struct Signer {
    key_id: String,
    key: CryptoKey,
    form: KeyForm,
}

impl Signer {
    /// Imports `pem` (PKCS#1 or PKCS#8) for signing as `key_id`.
    pub async fn new(key_id: &str, pem: &str) -> Result<Signer, ClientError> {
        let (form, der) =
            pkcs8_der_from_pem(pem).map_err(|e| ClientError::BadKey(e.to_string()))?;
        let key = crate::webcrypto::import_rsa_pss_signing_key(&der)
            .await
            .map_err(|_| ClientError::BadKey("KALSHI_KEY_IMPORT_REFUSED".into()))?;
        Ok(Signer {
            key_id: key_id.trim().to_string(),
            key,
            form,
        })
    }

    /// The PEM form the key was given in.
    pub fn form(&self) -> KeyForm {
        self.form
    }

    /// The three authentication headers for `method url` at `timestamp_ms`.
    pub async fn headers(
        &self,
        method: &str,
        url: &str,
        timestamp_ms: i64,
    ) -> Result<[(&'static str, String); 3], ClientError> {
        let message = signing_message(timestamp_ms, method, url)
            .map_err(|e| ClientError::Sign(e.code().to_string()))?;
        let signature =
            crate::webcrypto::sign_rsa_pss(&self.key, PSS_SALT_LEN as u32, message.as_bytes())
                .await
                .map_err(ClientError::Sign)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
        Ok(auth_headers(&self.key_id, timestamp_ms, &b64))
    }
}

/// What a submission came to, after any 429 waits and any 409 read-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The final outcome. `Duplicate` never appears: it is resolved into `Accepted` (the order
    /// was found by client order id) or `Unknown` (it could not be read).
    pub outcome: SubmitOutcome,
    /// Requests sent (including retries and the read-back).
    pub requests: u32,
    /// True when the final answer was 409 and the order was read back.
    pub duplicate_resolved: bool,
}

/// The client, built per job or request.
pub struct KalshiClient {
    signer: Signer,
    base: String,
    outbound: Outbound,
}

impl KalshiClient {
    /// Reads the two secrets and `KALSHI_BASE_URL`; imports the key.
    pub async fn from_env(env: &Env) -> Result<KalshiClient, ClientError> {
        let presence = credentials_present(env);
        let (Some(key_id), Some(pem)) =
            (secret(env, SECRET_KEY_ID), secret(env, SECRET_PRIVATE_KEY))
        else {
            return Err(ClientError::CredentialsMissing(presence));
        };
        let base = crate::bindings::var(env, "KALSHI_BASE_URL")
            .ok_or_else(|| ClientError::NotConfigured("KALSHI_BASE_URL unset".into()))?;
        let outbound = Outbound::from_env(env, &[])
            .map_err(|e| ClientError::NotConfigured(e.code().to_string()))?;
        let signer = Signer::new(&key_id, &pem).await?;
        Ok(KalshiClient {
            signer,
            base: base.trim_end_matches('/').to_string(),
            outbound,
        })
    }

    pub fn key_form(&self) -> KeyForm {
        self.signer.form()
    }

    /// One signed request (`path` from the API base, e.g. `/portfolio/orders?limit=5`).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout_ms: u64,
    ) -> Result<Result<RawResponse, NoAnswer>, ClientError> {
        let url = format!("{}{path}", self.base);
        let headers = Headers::new();
        let now = crate::clock::now_ms();
        let signed = self.signer.headers(method.as_ref(), &url, now).await?;
        for (k, v) in signed.iter() {
            headers
                .set(k, v)
                .map_err(|_| ClientError::Sign(format!("header {k}")))?;
        }
        let _ = headers.set("accept", "application/json");
        if body.is_some() {
            let _ = headers.set("content-type", "application/json");
        }
        Ok(self
            .outbound
            .fetch(method, &url, headers, body, timeout_ms)
            .await
            .map_err(|e| match e {
                FetchError::Timeout => NoAnswer::Timeout,
                FetchError::Network(d) => NoAnswer::Network(d),
                FetchError::Refused(r) => NoAnswer::Refused(r.code().to_string()),
            }))
    }

    /// A signed GET of one resource, with bounded 429 retries; the 200 body.
    async fn get(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let mut attempt = 0;
        loop {
            let result = self.send(Method::Get, path, None, READ_TIMEOUT_MS).await?;
            let answer = result.as_ref().map(answer).map_err(Clone::clone);
            match classify_read(answer, attempt) {
                Ok(body) => return Ok(body.to_vec()),
                Err(Ok(failure)) => return Err(ClientError::Read(failure)),
                Err(Err(wait_ms)) => {
                    Delay::from(Duration::from_millis(wait_ms)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// `GET /portfolio/balance`.
    pub async fn balance(&self) -> Result<Balance, ClientError> {
        let body = self.get("/portfolio/balance").await?;
        parse_balance(&body).map_err(|e| ClientError::Read(ReadFailure::Body(e.code())))
    }

    /// `POST /portfolio/orders` for an approved order (the only way to get a body).
    pub async fn submit(&self, approved: &Approved, tif: TimeInForce) -> Submission {
        let body = create_order_body(approved, tif);
        let intent = approved.intent();
        let mut requests = 0;
        let mut attempt = 0;
        loop {
            requests += 1;
            let result = match self
                .send(
                    Method::Post,
                    "/portfolio/orders",
                    Some(body.clone()),
                    SUBMIT_TIMEOUT_MS,
                )
                .await
            {
                Ok(r) => r,
                // Nothing was sent: signing failed before the request existed.
                Err(e) => {
                    return Submission {
                        outcome: SubmitOutcome::NotSent {
                            reason: e.code().to_string(),
                        },
                        requests: requests - 1,
                        duplicate_resolved: false,
                    }
                }
            };
            let answer = result.as_ref().map(answer).map_err(Clone::clone);
            match classify_submit(answer, attempt) {
                SubmitOutcome::RateLimited { wait_ms } if attempt < MAX_RATE_LIMIT_RETRIES => {
                    Delay::from(Duration::from_millis(wait_ms)).await;
                    attempt += 1;
                }
                SubmitOutcome::RateLimited { .. } => {
                    return Submission {
                        outcome: SubmitOutcome::Rejected {
                            status: 429,
                            code: "RATE_LIMITED_RETRIES_EXHAUSTED".into(),
                        },
                        requests,
                        duplicate_resolved: false,
                    }
                }
                SubmitOutcome::Duplicate => {
                    requests += 1;
                    let outcome = match self
                        .order_by_client_id(intent.market.as_str(), &intent.client_order_id)
                        .await
                    {
                        Ok(Some(order)) => SubmitOutcome::Accepted(order),
                        Ok(None) => SubmitOutcome::Unknown {
                            reason: "SUBMIT_DUPLICATE_NOT_FOUND".into(),
                        },
                        Err(e) => SubmitOutcome::Unknown {
                            reason: format!("SUBMIT_DUPLICATE_UNREAD: {}", e.code()),
                        },
                    };
                    return Submission {
                        outcome,
                        requests,
                        duplicate_resolved: true,
                    };
                }
                outcome => {
                    return Submission {
                        outcome,
                        requests,
                        duplicate_resolved: false,
                    }
                }
            }
        }
    }

    /// Every page of a cursor-paged listing; fails as a whole (never a partial picture).
    async fn read_all<T>(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
        limit: u32,
        parse: fn(&[u8]) -> Result<PageParse<T>, BodyError>,
    ) -> Result<Vec<T>, ReadError> {
        let mut read = PagedRead::new(endpoint, DEFAULT_MAX_PAGES);
        let mut cursor: Option<String> = None;
        let venue = |detail: String| ReadError::Venue {
            endpoint: endpoint.to_string(),
            detail,
        };
        loop {
            let mut path = format!("{endpoint}?limit={limit}");
            for (k, v) in query {
                path.push_str(&format!("&{k}={}", encode(v)));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", encode(c)));
            }
            let body = self.get(&path).await.map_err(|e| venue(e.to_string()))?;
            let page = parse(&body).map_err(|e| venue(format!("body={}", e.code())))?;
            match read.push(page)? {
                None => return Ok(read.finish()),
                Some(next) => cursor = Some(next),
            }
        }
    }

    /// `GET /portfolio/orders`, all pages, optionally for one market.
    pub async fn orders(&self, ticker: Option<&str>) -> Result<Vec<VenueOrder>, ReadError> {
        let query: Vec<(&str, &str)> = ticker.map(|t| ("ticker", t)).into_iter().collect();
        self.read_all("/portfolio/orders", &query, PAGE_LIMIT, parse_orders_page)
            .await
    }

    /// The order with `client_order_id` on `ticker`, from a complete read of that market's
    /// orders (the venue has no lookup by client order id).
    pub async fn order_by_client_id(
        &self,
        ticker: &str,
        client_order_id: &str,
    ) -> Result<Option<VenueOrder>, ReadError> {
        Ok(self
            .orders(Some(ticker))
            .await?
            .into_iter()
            .find(|o| o.client_order_id == client_order_id))
    }

    /// `GET /portfolio/positions`, all pages.
    pub async fn positions(&self) -> Result<Vec<MarketPosition>, ReadError> {
        self.read_all(
            "/portfolio/positions",
            &[],
            PAGE_LIMIT,
            parse_positions_page,
        )
        .await
    }

    /// `GET /portfolio/fills`, all pages, optionally of one order.
    pub async fn fills(&self, order_id: Option<&str>) -> Result<Vec<VenueFill>, ReadError> {
        let query: Vec<(&str, &str)> = order_id.map(|o| ("order_id", o)).into_iter().collect();
        self.read_all(
            "/portfolio/fills",
            &query,
            FILLS_PAGE_LIMIT,
            parse_fills_page,
        )
        .await
    }

    /// `GET /portfolio/settlements`, all pages.
    pub async fn settlements(&self) -> Result<Vec<VenueSettlement>, ReadError> {
        self.read_all(
            "/portfolio/settlements",
            &[],
            PAGE_LIMIT,
            parse_settlements_page,
        )
        .await
    }
}

fn answer(r: &RawResponse) -> Answer<'_> {
    Answer {
        status: r.status,
        retry_after: r.retry_after.as_deref(),
        body: &r.body,
    }
}

/// Percent-encodes a query value (cursors are opaque and may hold `=`, `+`, `/`).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

//! The one outbound-fetch port. Venue, LLM and identity-provider calls all go through
//! [`Outbound::fetch`], which refuses URLs outside the configured base URLs, applies a timeout,
//! and hands back the raw bytes (so callers can store evidence before parsing anything).

use crate::bindings;
use crate::core::outbound::{OutboundError, OutboundPolicy};
use futures_util::future::{select, Either};
use worker::{AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// A raw response: status, selected headers and the body bytes, untouched.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// Why an outbound call produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Refused(OutboundError),
    Timeout,
    Network(String),
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Refused(e) => e.code(),
            FetchError::Timeout => "OUTBOUND_TIMEOUT",
            FetchError::Network(_) => "OUTBOUND_NETWORK_ERROR",
        }
    }
}

/// The port. Built per request/job from the environment.
pub struct Outbound {
    policy: OutboundPolicy,
}

impl Outbound {
    /// Reads every base URL setting (plus `extra`, e.g. the Access team origin) into the policy.
    pub fn from_env(env: &Env, extra: &[(&str, String)]) -> Result<Self, OutboundError> {
        let configured: Vec<(String, String)> = bindings::OUTBOUND_BASES
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    bindings::var(env, name).unwrap_or_default(),
                )
            })
            .chain(extra.iter().map(|(n, u)| (n.to_string(), u.clone())))
            .collect();
        let policy = OutboundPolicy::new(configured.iter().map(|(n, u)| (n.as_str(), u.as_str())))?;
        Ok(Outbound { policy })
    }

    /// The name of the configured base URL (`KALSHI_BASE_URL`, …) that `url` falls under.
    pub fn base_of(&self, url: &str) -> Result<&str, OutboundError> {
        self.policy.check(url)
    }

    /// Fetches `url` if the policy admits it, giving up after `timeout_ms`.
    pub async fn fetch(
        &self,
        method: Method,
        url: &str,
        headers: Headers,
        body: Option<Vec<u8>>,
        timeout_ms: u64,
    ) -> Result<RawResponse, FetchError> {
        let base = self
            .policy
            .check(url)
            .map_err(FetchError::Refused)?
            .to_string();
        let result = self.send(method, url, headers, body, timeout_ms).await;
        match &result {
            Ok(r) => crate::metrics::observe_fetch(&base, &r.status.to_string(), r.status >= 400),
            Err(e) => crate::metrics::observe_fetch(&base, e.code(), true),
        }
        result
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: Headers,
        body: Option<Vec<u8>>,
        timeout_ms: u64,
    ) -> Result<RawResponse, FetchError> {
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(b) = body {
            init.with_body(Some(js_sys::Uint8Array::from(b.as_slice()).into()));
        }
        let request =
            Request::new_with_init(url, &init).map_err(|e| FetchError::Network(e.to_string()))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let call = Box::pin(async move {
            let mut resp = Fetch::Request(request).send_with_signal(&signal).await?;
            let status = resp.status_code();
            let content_type = resp.headers().get("content-type").ok().flatten();
            let retry_after = resp.headers().get("retry-after").ok().flatten();
            let body = resp.bytes().await?;
            Ok::<RawResponse, worker::Error>(RawResponse {
                status,
                content_type,
                retry_after,
                body,
            })
        });
        let timer = Box::pin(Delay::from(std::time::Duration::from_millis(timeout_ms)));
        match select(call, timer).await {
            Either::Left((Ok(r), _)) => Ok(r),
            Either::Left((Err(e), _)) => Err(FetchError::Network(e.to_string())),
            Either::Right(_) => {
                controller.abort();
                Err(FetchError::Timeout)
            }
        }
    }
}

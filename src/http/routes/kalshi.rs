//! `GET /admin/venues/kalshi/account`: checks the Kalshi credentials without trading — a signed
//! `GET /portfolio/balance`. Reports whether the credentials are configured, which PEM form
//! the key is in, and the balance; never key material. Missing credentials are a state (200,
//! `configured: false`), not a failure: go-live reads it. A key that cannot be used is a 503;
//! a venue that refuses the credentials or cannot be read is a 502 with the venue's code.

use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::kalshi_client::{credentials_present, ClientError, KalshiClient};
use serde_json::json;
use worker::Response;

pub async fn account(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let presence = credentials_present(ctx.env);
    let base = json!({
        "configured": presence.configured(),
        "key_id_set": presence.key_id,
        "private_key_set": presence.private_key,
    });
    if !presence.configured() {
        let mut body = base;
        body["verified"] = json!(false);
        body["code"] = json!("KALSHI_CREDENTIALS_MISSING");
        return json_response(200, &body);
    }
    let fail = |e: ClientError| {
        let status = match e {
            ClientError::Read(_) => 502,
            _ => 503,
        };
        let message = if e.credentials_refused() {
            "Kalshi refused the configured credentials (key id or signature)"
        } else {
            "the Kalshi account could not be read"
        };
        ctx.log.warn(
            "kalshi_account_check_failed",
            json!({"code": e.code(), "detail": e.to_string()}),
        );
        let mut details = base.clone();
        details["detail"] = json!(e.to_string());
        ApiError::new(status, e.code(), message).with_details(details)
    };
    let client = KalshiClient::from_env(ctx.env).await.map_err(fail)?;
    let balance = client.balance().await.map_err(fail)?;
    let mut body = base;
    body["verified"] = json!(true);
    body["key_form"] = json!(client.key_form().as_str());
    body["balance_dollars"] = json!(balance.balance.to_dollars_string());
    body["portfolio_value_cents"] = json!(balance.portfolio_value_cents);
    json_response(200, &body)
}

//! `GET /health`: unauthenticated liveness. Says only that the Worker is up.

use crate::http::{error::ApiError, json_response, RequestCtx};
use serde_json::json;
use worker::Response;

pub fn get(_ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    json_response(200, &json!({"status": "ok"}))
}

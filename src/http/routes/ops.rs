//! Operator-experience routes: the OpenAPI description.

use crate::http::{error::ApiError, openapi, RequestCtx};
use worker::Response;

/// `GET /admin/openapi.yaml`: `docs/openapi.yaml`, compiled in.
pub fn openapi(_ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let mut resp = Response::ok(openapi::DOCUMENT).map_err(|_| ApiError::internal())?;
    let _ = resp
        .headers_mut()
        .set("content-type", "application/yaml; charset=utf-8");
    Ok(resp)
}

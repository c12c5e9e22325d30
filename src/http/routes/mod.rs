//! One file per route group; `call` maps a matched route to its handler.

mod health;
mod status;

use super::error::ApiError;
use super::router::Route;
use super::RequestCtx;
use worker::Response;

pub async fn call(route: Route, ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    match route {
        Route::Health => health::get(ctx),
        Route::AdminWhoami => status::whoami(ctx),
        Route::AdminStatus => status::status(ctx).await,
    }
}

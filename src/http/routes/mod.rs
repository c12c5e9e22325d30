//! One file per route group; `call` maps a matched route to its handler.

mod health;
mod risk;
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
        Route::BreakerGet => risk::get_breaker(ctx).await,
        Route::BreakerTransition => risk::transition(ctx).await,
        Route::RiskGet => risk::get_risk(ctx).await,
        Route::RiskLimitsPut => risk::put_limits(ctx).await,
        Route::RiskCheck => risk::check(ctx).await,
        Route::RiskDecisions => risk::decisions(ctx).await,
    }
}

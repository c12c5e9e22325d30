//! The `RiskGovernor` Durable Object (declared in wrangler.toml). Its behaviour is not built yet
//! (see the README's "not built yet" list); until then it refuses every call.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct RiskGovernor {
    _state: State,
    _env: Env,
}

impl DurableObject for RiskGovernor {
    fn new(state: State, env: Env) -> Self {
        RiskGovernor {
            _state: state,
            _env: env,
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::from_json(&serde_json::json!({"error": {"code": "NOT_BUILT", "message": "RiskGovernor is not built yet", "details": {}}}))
            .map(|r| r.with_status(503))
    }
}

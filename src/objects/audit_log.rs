//! The `AuditLog` Durable Object (declared in wrangler.toml). Its behaviour is not built yet
//! (see the README's "not built yet" list); until then it refuses every call.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct AuditLog {
    _state: State,
    _env: Env,
}

impl DurableObject for AuditLog {
    fn new(state: State, env: Env) -> Self {
        AuditLog {
            _state: state,
            _env: env,
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::from_json(&serde_json::json!({"error": {"code": "NOT_BUILT", "message": "AuditLog is not built yet", "details": {}}}))
            .map(|r| r.with_status(503))
    }
}

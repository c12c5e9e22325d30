//! The HTTP front door: request ids, authentication of `/admin/*`, routing, body limits, the
//! error envelope and one access-log line per request.

pub mod auth;
pub mod error;
pub mod openapi;
pub mod params;
pub mod router;
pub mod routes;

use crate::core::auth::Identity;
use crate::obs::Logger;
use error::ApiError;
use router::{match_route, needs_authentication, Body, RouteMatch};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a route handler gets.
pub struct RequestCtx<'a> {
    pub env: &'a Env,
    pub log: &'a Logger,
    /// Present on every admin route: who is acting.
    pub identity: Option<Identity>,
    pub params: Vec<(&'static str, String)>,
    pub query: Vec<(String, String)>,
    /// The parsed JSON body for routes that take one (`Value::Null` when absent).
    pub body: Value,
}

impl RequestCtx<'_> {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decodes the body into a typed request (types use `deny_unknown_fields`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(self.body.clone()).map_err(|e| error::from_body_error(&e))
    }

    /// Appends one record as the acting operator, before the change it describes; the seq of
    /// the record. When the log does not confirm the append, `log_event` is logged and the
    /// answer is `503 AUDIT_UNAVAILABLE`: the change must not happen.
    pub async fn audit_first(
        &self,
        kind: &str,
        payload: Value,
        log_event: &str,
    ) -> Result<u64, ApiError> {
        let record = crate::audit_client::AuditRecord {
            actor: self.actor(),
            kind: kind.to_string(),
            payload,
            evidence_hash: None,
        };
        match crate::audit_client::append(self.env, vec![record]).await {
            Ok(receipts) => Ok(receipts.first().map(|r| r.seq.get()).unwrap_or_default()),
            Err(e) => {
                self.log.error(
                    log_event,
                    json!({"kind": kind, "code": e.code(), "detail": e.detail()}),
                );
                Err(ApiError::unavailable(
                    crate::audit_client::AuditUnavailable::CODE,
                    "the audit log did not confirm the append; nothing was changed",
                )
                .with_details(json!({"cause": e.code()})))
            }
        }
    }

    /// The operator acting, for records. Admin handlers only run after authentication.
    pub fn actor(&self) -> String {
        self.identity
            .as_ref()
            .map(|i| i.operator().to_string())
            .unwrap_or_else(|| "anonymous".to_string())
    }
}

/// A JSON response with the given status.
pub fn json_response(status: u16, value: &Value) -> Result<Response, ApiError> {
    Response::from_json(value)
        .map(|r| r.with_status(status))
        .map_err(|_| ApiError::internal())
}

/// The response for an error: its envelope and status, with `Allow` on a 405 and
/// `WWW-Authenticate` on a 401.
pub fn error_response(err: &ApiError) -> Response {
    let resp = Response::from_json(&err.body())
        .unwrap_or_else(|_| Response::error("internal error", 500).expect("static response"));
    let mut resp = resp.with_status(err.status);
    if err.status == 405 {
        if let Some(allowed) = err.details.get("allowed").and_then(|a| a.as_array()) {
            let allow: Vec<&str> = allowed.iter().filter_map(|v| v.as_str()).collect();
            let _ = resp.headers_mut().set("allow", &allow.join(", "));
        }
    }
    if err.status == 401 {
        let _ = resp.headers_mut().set("www-authenticate", "Bearer");
    }
    resp
}

fn content_type_is_json(req: &Request) -> bool {
    req.headers()
        .get("content-type")
        .ok()
        .flatten()
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
        })
        .unwrap_or(false)
}

async fn read_body(req: &mut Request, kind: Body) -> Result<Value, ApiError> {
    if kind == Body::None {
        return Ok(Value::Null);
    }
    if let Some(len) = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if len > MAX_BODY_BYTES {
            return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
        }
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::invalid_json("unreadable body"))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    if bytes.is_empty() {
        return match kind {
            Body::OptionalJson => Ok(Value::Null),
            _ if content_type_is_json(req) => Err(ApiError::invalid_json("empty body")),
            _ => Err(ApiError::unsupported_media_type()),
        };
    }
    if !content_type_is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    error::parse_body(&bytes)
}

/// The request's method exactly as sent. `worker::Request::method()` maps every method it does
/// not know (e.g. `QUERY`, `PROPFIND`) to `GET`, which would serve such a request as a GET;
/// matched against the raw name, an unknown method is answered `405` like any other.
fn raw_method(req: &Request) -> String {
    req.inner().method()
}

fn parse_query(url: &worker::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn dispatch(
    mut req: Request,
    env: &Env,
    log: &Logger,
    identity_out: &mut Option<Identity>,
    group_out: &mut &'static str,
) -> Result<Response, ApiError> {
    let url = req.url().map_err(|_| ApiError::not_found())?;
    let path = url.path().to_string();
    let method = raw_method(&req);

    // Admin paths are authenticated before they are matched: an unauthenticated caller gets the
    // same 401 for an existing route and a made-up one. The one exception is the dashboard's
    // page shell (exactly `GET /admin/dashboard`), which holds no data.
    let identity = if needs_authentication(&method, &path) {
        let id = auth::authenticate(&req, env, log).await?;
        *identity_out = Some(id.clone());
        Some(id)
    } else {
        None
    };

    let (spec, params) = match match_route(&method, &path) {
        RouteMatch::Found { spec_index, params } => {
            let spec = &router::ROUTES[spec_index];
            *group_out = spec.group;
            (spec, params)
        }
        RouteMatch::MethodNotAllowed { allowed } => {
            return Err(ApiError::method_not_allowed(&allowed))
        }
        RouteMatch::NotFound => return Err(ApiError::not_found()),
    };

    audit_if_unguarded(env, log, spec, &method, &path, identity.as_ref()).await?;

    let body = read_body(&mut req, spec.body).await?;
    let ctx = RequestCtx {
        env,
        log,
        identity,
        params,
        query: parse_query(&url),
        body,
    };
    routes::call(spec.route, &ctx).await
}

/// While `SECURITY_DB_GUARDRAILS=0` (maintenance), every request is appended to the audit log
/// (`security.unguarded_request`: route, method, path, actor, request id) before its handler
/// runs; if the append fails the request is refused with the audit error and nothing is done.
/// Requests refused before routing (401, 404, 405) run no handler and touch no database.
async fn audit_if_unguarded(
    env: &Env,
    log: &Logger,
    spec: &router::RouteSpec,
    method: &str,
    path: &str,
    identity: Option<&Identity>,
) -> Result<(), ApiError> {
    let setting = crate::bindings::var(env, crate::store::d1::GUARDRAILS_SETTING);
    if crate::core::sql_guard::Guardrails::from_setting(setting.as_deref())
        == crate::core::sql_guard::Guardrails::On
    {
        return Ok(());
    }
    let actor = identity
        .map(|i| i.operator().to_string())
        .unwrap_or_else(|| "anonymous".to_string());
    let record = crate::audit_client::AuditRecord {
        actor: actor.clone(),
        kind: "security.unguarded_request".into(),
        payload: json!({
            "route": spec.pattern,
            "method": method,
            "path": path,
            "actor": actor,
            "request_id": log.request_id(),
            "setting": format!("{}=0", crate::store::d1::GUARDRAILS_SETTING),
        }),
        evidence_hash: None,
    };
    crate::audit_client::append(env, vec![record])
        .await
        .map(|_| ())
        .map_err(|e| {
            log.error("unguarded_request_unaudited", json!({"code": e.code()}));
            ApiError::unavailable(
                e.code().to_string(),
                "D1 guardrails are off and the audit log could not record this request; nothing was done",
            )
        })
}

/// Serves one request. Never fails: every error becomes the JSON envelope.
pub async fn handle(req: Request, env: Env) -> Response {
    let started = crate::clock::now_ms();
    let request_id = crate::ids::request_id();
    let log = Logger::new(request_id.clone(), crate::secrets_redactor(&env));
    let method = raw_method(&req);
    let path = req.path();
    let mut identity = None;
    let mut group = "unmatched";
    let result = dispatch(req, &env, &log, &mut identity, &mut group).await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            if e.status >= 500 {
                log.error(
                    "request_failed",
                    json!({"code": e.code, "status": e.status}),
                );
            }
            error_response(&e)
        }
    };
    let headers = resp.headers_mut();
    let _ = headers.set("x-request-id", &request_id);
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-content-type-options", "nosniff");
    let duration_ms = (crate::clock::now_ms() - started).max(0);
    crate::metrics::observe_request(group, resp.status_code(), duration_ms as u64);
    log.info(
        "request",
        json!({
            "method": method,
            "path": path,
            "status": resp.status_code(),
            "duration_ms": duration_ms,
            "operator": identity.as_ref().map(|i| i.operator().to_string()),
        }),
    );
    resp
}

//! The control API under `/__sim/`: faults, the request log, the Access JWKS, health.
//! No authentication: the simulator listens on loopback only and holds no secrets.

use serde_json::{json, Value};

use crate::faults::FaultSpec;
use crate::http::{Request, Response};
use crate::server::Sim;

const PREFIX: &str = "/__sim";

/// Whether `path` belongs to the control API.
pub fn owns(path: &str) -> bool {
    path == PREFIX || path.starts_with("/__sim/")
}

pub fn handle(sim: &Sim, req: &Request) -> Response {
    let rest = req.path.strip_prefix(PREFIX).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => health(sim),
        ("GET", ["faults"]) => {
            let faults = sim.faults.lock().expect("fault table lock").list();
            Response::json(200, &json!({ "faults": faults }))
        }
        ("POST", ["faults"]) => add_fault(sim, req),
        ("DELETE", ["faults"]) => {
            let cleared = sim.faults.lock().expect("fault table lock").clear();
            Response::json(200, &json!({ "cleared": cleared }))
        }
        ("DELETE", ["faults", id]) => match id.parse::<u64>() {
            Ok(id) if sim.faults.lock().expect("fault table lock").remove(id) => {
                Response::json(200, &json!({ "deleted": id }))
            }
            Ok(id) => error(
                404,
                "SIM_FAULT_NOT_FOUND",
                &format!("no fault with id {id}"),
            ),
            Err(_) => error(400, "SIM_BAD_REQUEST", "fault ids are integers"),
        },
        ("GET", ["requests"]) => {
            let prefix = req.query_param("path_prefix");
            let log = sim.requests.lock().expect("request log lock");
            Response::json(200, &log.snapshot(prefix.as_deref()))
        }
        ("DELETE", ["requests"]) => {
            let cleared = sim.requests.lock().expect("request log lock").clear();
            Response::json(200, &json!({ "cleared": cleared }))
        }
        ("PUT", ["jwks"]) => match sim.venues.access.install(&req.body) {
            Ok(keys) => Response::json(200, &json!({ "keys": keys })),
            Err(message) => error(400, "SIM_BAD_REQUEST", &message),
        },
        ("POST", ["reset"]) => {
            let faults = sim.faults.lock().expect("fault table lock").clear();
            let requests = sim.requests.lock().expect("request log lock").clear();
            sim.venues.access.reset();
            Response::json(
                200,
                &json!({ "faults_cleared": faults, "requests_cleared": requests }),
            )
        }
        (_, ["health"] | ["faults"] | ["faults", _] | ["requests"] | ["jwks"] | ["reset"]) => {
            error(
                405,
                "SIM_METHOD_NOT_ALLOWED",
                &format!("{} is not allowed on {}", req.method, req.path),
            )
        }
        _ => error(
            404,
            "SIM_ROUTE_NOT_FOUND",
            &format!("no control route {} {}", req.method, req.path),
        ),
    }
}

fn health(sim: &Sim) -> Response {
    let kalshi = &sim.venues.kalshi.universe;
    let poly = &sim.venues.polymarket.universe;
    Response::json(
        200,
        &json!({
            "status": "ok",
            "kalshi": {
                "markets": kalshi.markets.len(),
                "open_markets": kalshi.markets.iter().filter(|m| m.status == "active").count(),
                "recorded_markets": kalshi.markets.iter().filter(|m| m.recorded).count(),
                "events": kalshi.events.len(),
            },
            "polymarket": {
                "markets": poly.markets.len(),
                "open_markets": poly.markets.iter().filter(|m| !m.closed).count(),
                "recorded_markets": poly.markets.iter().filter(|m| m.recorded).count(),
            },
        }),
    )
}

fn add_fault(sim: &Sim, req: &Request) -> Response {
    let spec: FaultSpec = match serde_json::from_slice::<Value>(&req.body) {
        Err(e) => return error(400, "SIM_INVALID_JSON", &format!("body is not JSON: {e}")),
        Ok(value) => match serde_json::from_value(value) {
            Ok(spec) => spec,
            Err(e) => return error(400, "SIM_BAD_REQUEST", &format!("bad fault: {e}")),
        },
    };
    match sim.faults.lock().expect("fault table lock").add(spec) {
        Ok(id) => Response::json(201, &json!({ "id": id })),
        Err(message) => error(400, "SIM_BAD_REQUEST", &message),
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message, "details": {}}}),
    )
}

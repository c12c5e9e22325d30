//! The control API under `/__sim/`: faults, the request log, the Access JWKS, health.
//! No authentication: the simulator listens on loopback only and holds no secrets.

use serde_json::{json, Value};

use crate::chaos::ChaosSpec;
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
        ("PUT", ["chaos"]) => put_chaos(sim, req),
        ("GET", ["chaos"]) => {
            Response::json(200, &sim.chaos.lock().expect("chaos lock").describe())
        }
        ("DELETE", ["chaos"]) => {
            let cleared = sim.chaos.lock().expect("chaos lock").clear();
            Response::json(200, &json!({ "cleared": cleared }))
        }
        ("PUT", ["jwks"]) => match sim.venues.access.install(&req.body) {
            Ok(keys) => Response::json(200, &json!({ "keys": keys })),
            Err(message) => error(400, "SIM_BAD_REQUEST", &message),
        },
        ("POST", ["reset"]) => {
            let faults = sim.faults.lock().expect("fault table lock").clear();
            sim.chaos.lock().expect("chaos lock").clear();
            let requests = sim.requests.lock().expect("request log lock").clear();
            sim.venues.access.reset();
            sim.venues.kalshi.trading.reset();
            sim.venues.kalshi.auth.reset();
            let grades = sim.venues.anthropic.clear();
            Response::json(
                200,
                &json!({ "faults_cleared": faults, "requests_cleared": requests, "grades_cleared": grades }),
            )
        }
        ("PUT", ["kalshi", "key"]) => put_kalshi_key(sim, req),
        ("GET", ["kalshi", "key"]) => Response::json(200, &sim.venues.kalshi.auth.describe()),
        ("DELETE", ["kalshi", "key"]) => {
            sim.venues.kalshi.auth.remove();
            Response::json(200, &sim.venues.kalshi.auth.describe())
        }
        ("PUT", ["kalshi", "balance"]) => {
            let Some(micros) = body_field(req, "balance_dollars")
                .and_then(|v| v.as_str().and_then(|s| crate::decimal::parse_fixed(s, 6)))
                .filter(|m| *m >= 0)
            else {
                return error(
                    400,
                    "SIM_BAD_REQUEST",
                    "give {\"balance_dollars\": \"<non-negative decimal>\"}",
                );
            };
            sim.venues.kalshi.trading.set_balance(micros);
            Response::json(200, &sim.venues.kalshi.trading.summary())
        }
        ("PUT", ["kalshi", "drop_fills"]) => {
            let Some(n) = body_field(req, "orders").and_then(|v| v.as_u64()) else {
                return error(400, "SIM_BAD_REQUEST", "give {\"orders\": <count>}");
            };
            sim.venues.kalshi.trading.set_drop_fills(n);
            Response::json(200, &sim.venues.kalshi.trading.summary())
        }
        ("GET", ["kalshi", "portfolio"]) => {
            Response::json(200, &sim.venues.kalshi.trading.summary())
        }
        ("POST", ["kalshi", "markets", ticker, "settle"]) => {
            let Some(market) = sim.venues.kalshi.universe.market(ticker) else {
                return error(404, "SIM_MARKET_NOT_FOUND", &format!("no market {ticker}"));
            };
            let result = body_field(req, "result");
            let result = result.as_ref().and_then(Value::as_str).unwrap_or("");
            match sim.venues.kalshi.trading.settle(market, result) {
                Ok(v) => Response::json(200, &v),
                Err((409, m)) => error(409, "SIM_ALREADY_SETTLED", &m),
                Err((status, m)) => error(status, "SIM_BAD_REQUEST", &m),
            }
        }
        ("PUT", ["kalshi", "markets", ticker, "rules"]) => {
            if sim.venues.kalshi.universe.market(ticker).is_none() {
                return error(404, "SIM_MARKET_NOT_FOUND", &format!("no market {ticker}"));
            }
            let Some(text) = body_field(req, "rules_primary")
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|t| !t.is_empty())
            else {
                return error(
                    400,
                    "SIM_BAD_REQUEST",
                    "give {\"rules_primary\": \"<non-empty text>\"}",
                );
            };
            sim.venues.kalshi.trading.set_rules_primary(ticker, &text);
            Response::json(200, &json!({"ticker": ticker, "rules_primary": text}))
        }
        ("PUT", ["kalshi", "markets", ticker, "listing"]) => {
            if sim.venues.kalshi.universe.market(ticker).is_none() {
                return error(404, "SIM_MARKET_NOT_FOUND", &format!("no market {ticker}"));
            }
            let usage = "give {\"title\"?: \"<non-empty text>\", \"close_time\"?: \"<RFC 3339>\"}";
            let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
                return error(400, "SIM_BAD_REQUEST", usage);
            };
            let valid = !body.is_empty()
                && body.iter().all(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("title", Some(t)) => !t.is_empty(),
                    ("close_time", Some(t)) => is_utc_second(t),
                    _ => false,
                });
            if !valid {
                return error(400, "SIM_BAD_REQUEST", usage);
            }
            sim.venues.kalshi.trading.set_listing(ticker, body.clone());
            Response::json(200, &json!({"ticker": ticker, "listing": body}))
        }
        ("PUT", ["anthropic", "grades"]) => match sim.venues.anthropic.install(&req.body) {
            Ok(n) => Response::json(200, &json!({ "grades": n })),
            Err(message) => error(400, "SIM_BAD_REQUEST", &message),
        },
        ("GET", ["anthropic", "grades"]) => {
            Response::json(200, &json!({ "keys": sim.venues.anthropic.keys() }))
        }
        ("DELETE", ["anthropic", "grades"]) => {
            Response::json(200, &json!({ "cleared": sim.venues.anthropic.clear() }))
        }
        (
            _,
            ["health"]
            | ["faults"]
            | ["faults", _]
            | ["requests"]
            | ["chaos"]
            | ["jwks"]
            | ["reset"]
            | ["kalshi", "key"]
            | ["kalshi", "balance"]
            | ["kalshi", "drop_fills"]
            | ["kalshi", "portfolio"]
            | ["kalshi", "markets", _, "settle"]
            | ["kalshi", "markets", _, "rules"]
            | ["kalshi", "markets", _, "listing"]
            | ["anthropic", "grades"],
        ) => error(
            405,
            "SIM_METHOD_NOT_ALLOWED",
            &format!("{} is not allowed on {}", req.method, req.path),
        ),
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

fn put_chaos(sim: &Sim, req: &Request) -> Response {
    let spec: ChaosSpec = match serde_json::from_slice::<Value>(&req.body) {
        Err(e) => return error(400, "SIM_INVALID_JSON", &format!("body is not JSON: {e}")),
        Ok(value) => match serde_json::from_value(value) {
            Ok(spec) => spec,
            Err(e) => return error(400, "SIM_BAD_REQUEST", &format!("bad schedule: {e}")),
        },
    };
    let mut chaos = sim.chaos.lock().expect("chaos lock");
    match chaos.install(spec) {
        Ok(()) => Response::json(200, &chaos.describe()),
        Err(message) => error(400, "SIM_BAD_REQUEST", &message),
    }
}

fn body_field(req: &Request, field: &str) -> Option<Value> {
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.get(field).cloned())
}

fn put_kalshi_key(sim: &Sim, req: &Request) -> Response {
    use crate::venues::kalshi::auth::{parse_public_key, KeyConfig};
    let Some(pem) = body_field(req, "public_key_pem").and_then(|v| v.as_str().map(str::to_string))
    else {
        return error(
            400,
            "SIM_BAD_REQUEST",
            "give {\"public_key_pem\": \"-----BEGIN PUBLIC KEY-----…\", \"key_id\"?: …, \"max_skew_ms\"?: …}",
        );
    };
    let key = match parse_public_key(&pem) {
        Ok(k) => k,
        Err(message) => return error(400, "SIM_BAD_REQUEST", &message),
    };
    let key_id = body_field(req, "key_id").and_then(|v| v.as_str().map(str::to_string));
    let skew = body_field(req, "max_skew_ms").and_then(|v| v.as_i64());
    if skew.is_some_and(|s| s < 0) {
        return error(400, "SIM_BAD_REQUEST", "max_skew_ms must be non-negative");
    }
    sim.venues
        .kalshi
        .auth
        .install(KeyConfig { key_id, key }, skew);
    Response::json(200, &sim.venues.kalshi.auth.describe())
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message, "details": {}}}),
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the shape Kalshi prints times in.
fn is_utc_second(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

//! The simulated venues, one module each, behind one dispatcher. Each venue answers the
//! paths under its prefix and supplies the bodies the shared fault layer uses for it.

pub mod access;
pub mod anthropic;
pub mod kalshi;
pub mod polymarket;

use serde_json::json;

use crate::config::Config;
use crate::fixtures::Fixtures;
use crate::http::{Request, Response};

/// Which venue a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    Kalshi,
    Gamma,
    Clob,
    Access,
    Anthropic,
    /// A path no venue owns.
    Unknown,
}

impl Venue {
    pub fn of(path: &str) -> Venue {
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .map(|rest| rest.starts_with('/'))
                    .unwrap_or(false)
        };
        if under(kalshi::PREFIX) {
            Venue::Kalshi
        } else if under(polymarket::GAMMA_PREFIX) {
            Venue::Gamma
        } else if under(polymarket::CLOB_PREFIX) {
            Venue::Clob
        } else if under("/cdn-cgi") {
            Venue::Access
        } else if under(anthropic::PREFIX) {
            Venue::Anthropic
        } else {
            Venue::Unknown
        }
    }

    /// The body of an injected error status, in the venue's error layout.
    pub fn fault_response(self, status: u16, fault_id: u64) -> Response {
        let message = format!("injected fault {fault_id}: status {status}");
        match self {
            Venue::Kalshi => Response::json(
                status,
                &json!({"error": {"code": "injected_fault", "message": message, "details": "venue-sim"}}),
            ),
            Venue::Gamma | Venue::Clob => polymarket::error(status, &message),
            Venue::Anthropic => {
                anthropic::error(status, anthropic::error_type(status), &message, fault_id)
            }
            Venue::Access | Venue::Unknown => Response::json(status, &json!({"error": message})),
        }
    }

    /// A 429. Kalshi sends no `Retry-After` (and no 429 body was ever recorded; this one is
    /// in its nested layout).
    pub fn rate_limit_response(self) -> Response {
        match self {
            Venue::Kalshi => kalshi::error(429, "too_many_requests", "too many requests"),
            Venue::Gamma | Venue::Clob => polymarket::error(429, "Too Many Requests"),
            Venue::Anthropic => anthropic::error(429, "rate_limit_error", "rate limited", 0),
            Venue::Access | Venue::Unknown => {
                Response::json(429, &json!({"error": "too many requests"}))
            }
        }
    }
}

/// Every venue, built from the fixtures.
pub struct Venues {
    pub kalshi: kalshi::Kalshi,
    pub polymarket: polymarket::Polymarket,
    pub access: access::AccessCerts,
    pub anthropic: anthropic::Anthropic,
}

impl Venues {
    pub fn build(config: &Config) -> Result<Venues, String> {
        let fixtures = Fixtures::new(config.fixtures_dir.clone());
        let key = match &config.kalshi_public_key {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| format!("--kalshi-public-key {}: {e}", path.display()))?;
                Some(kalshi::auth::KeyConfig {
                    key_id: config.kalshi_key_id.clone(),
                    key: kalshi::auth::parse_public_key(&pem)
                        .map_err(|e| format!("--kalshi-public-key {}: {e}", path.display()))?,
                })
            }
        };
        Ok(Venues {
            kalshi: kalshi::Kalshi::build(&fixtures, config.kalshi_markets, config.seed, key)?,
            polymarket: polymarket::Polymarket::build(&fixtures, config.poly_markets, config.seed)?,
            access: access::AccessCerts::default(),
            anthropic: anthropic::Anthropic::default(),
        })
    }

    /// Serves a venue request normally (faults are applied by the caller).
    pub fn handle(&self, req: &Request) -> Response {
        let answer = match Venue::of(&req.path) {
            Venue::Kalshi => self.kalshi.handle(req),
            Venue::Gamma => self.polymarket.handle_gamma(req),
            Venue::Clob => self.polymarket.handle_clob(req),
            Venue::Access => self.access.handle(req),
            Venue::Anthropic => self.anthropic.handle(req),
            Venue::Unknown => None,
        };
        answer.unwrap_or_else(|| route_not_found(req))
    }
}

/// The simulator's own 404 for paths it does not simulate, in the project's error envelope
/// (it also parses as Kalshi's nested layout). Unsimulated venue routes get it too, so a
/// missing simulation is never mistaken for a venue answer.
pub fn route_not_found(req: &Request) -> Response {
    Response::json(
        404,
        &json!({"error": {
            "code": "SIM_ROUTE_NOT_FOUND",
            "message": format!("venue-sim does not simulate {} {}", req.method, req.path),
            "details": {"method": req.method, "path": req.path},
        }}),
    )
}

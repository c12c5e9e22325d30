//! Polymarket: Gamma `GET /markets` (offset paging) and CLOB `GET /book`.

pub mod universe;

use serde_json::json;

use crate::fixtures::Fixtures;
use crate::http::{Request, Response};
use universe::{GammaMarket, Universe};

/// Path prefix standing in for `https://gamma-api.polymarket.com`.
pub const GAMMA_PREFIX: &str = "/gamma";
/// Path prefix standing in for `https://clob.polymarket.com`.
pub const CLOB_PREFIX: &str = "/clob";

/// Page size when `limit` is absent (a simulator choice; the venue does not document one).
const GAMMA_DEFAULT_LIMIT: usize = 20;

const JSON_UTF8: &str = "application/json; charset=utf-8";

pub struct Polymarket {
    pub universe: Universe,
}

impl Polymarket {
    pub fn build(
        fixtures: &Fixtures,
        open_markets: usize,
        seed: u64,
    ) -> Result<Polymarket, String> {
        Ok(Polymarket {
            universe: Universe::build(fixtures, open_markets, seed)?,
        })
    }

    /// Answers a Gamma request; `None` when no simulated route matches.
    pub fn handle_gamma(&self, req: &Request) -> Option<Response> {
        let rest = req.path.strip_prefix(GAMMA_PREFIX)?;
        if rest.trim_end_matches('/') != "/markets" {
            return None;
        }
        if req.method != "GET" {
            return Some(error(405, "method not allowed"));
        }
        Some(self.list_markets(req))
    }

    /// Answers a CLOB request; `None` when no simulated route matches.
    pub fn handle_clob(&self, req: &Request) -> Option<Response> {
        let rest = req.path.strip_prefix(CLOB_PREFIX)?;
        if rest.trim_end_matches('/') != "/book" {
            return None;
        }
        if req.method != "GET" {
            return Some(error(405, "method not allowed"));
        }
        let token = req.query_param("token_id").unwrap_or_default();
        if token.is_empty() {
            return Some(error(400, "Invalid payload"));
        }
        // Unknown tokens and tokens of closed markets have no book, as on the venue.
        Some(match self.universe.book(&token) {
            Some(book) => Response::new(200, JSON_UTF8, book.to_json().into_bytes()),
            None => error(404, "No orderbook exists for the requested token id"),
        })
    }

    fn list_markets(&self, req: &Request) -> Response {
        let number = |name: &str, default: usize| -> Result<usize, Response> {
            match req.query_param(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .map_err(|_| error(422, &format!("invalid {name}: {v}"))),
            }
        };
        let boolean = |name: &str| -> Result<Option<bool>, Response> {
            match req.query_param(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
                Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
                Some(v) => Err(error(422, &format!("invalid {name}: {v}"))),
            }
        };
        let parsed = (|| {
            Ok::<_, Response>((
                number("limit", GAMMA_DEFAULT_LIMIT)?,
                number("offset", 0)?,
                boolean("closed")?,
                boolean("active")?,
            ))
        })();
        let (limit, offset, closed, active) = match parsed {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        // Without `closed`, Gamma lists open markets only.
        let closed = closed.unwrap_or(false);
        let selected: Vec<&GammaMarket> = self
            .universe
            .markets
            .iter()
            .filter(|m| m.closed == closed)
            .filter(|m| active.map(|a| m.active == a).unwrap_or(true))
            .skip(offset)
            .take(limit)
            .collect();
        let mut body = String::with_capacity(selected.len() * 6000 + 2);
        body.push('[');
        for (i, market) in selected.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&market.json);
        }
        body.push(']');
        Response::new(200, JSON_UTF8, body.into_bytes())
    }
}

/// Polymarket's error layout: `{"error": "<message>"}`.
pub fn error(status: u16, message: &str) -> Response {
    Response::new(
        status,
        JSON_UTF8,
        json!({ "error": message }).to_string().into_bytes(),
    )
}

//! Cloudflare Access: the team's signing keys at `/cdn-cgi/access/certs`. Tests install the
//! JWKS document (keys they generated) through `PUT /__sim/jwks`.

use std::sync::Mutex;

use serde_json::Value;

use crate::http::{Request, Response};

/// The certs path on the team domain (`https://<team>.cloudflareaccess.com`).
pub const CERTS_PATH: &str = "/cdn-cgi/access/certs";

const EMPTY_JWKS: &[u8] = br#"{"keys":[]}"#;

/// The JWKS document currently served.
pub struct AccessCerts {
    document: Mutex<Vec<u8>>,
}

impl Default for AccessCerts {
    fn default() -> AccessCerts {
        AccessCerts {
            document: Mutex::new(EMPTY_JWKS.to_vec()),
        }
    }
}

impl AccessCerts {
    /// Installs `body` (served byte for byte) after checking it is a JSON object with a
    /// `keys` array; returns the number of keys.
    pub fn install(&self, body: &[u8]) -> Result<usize, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("a JWKS document is an object with a \"keys\" array")?;
        if keys.iter().any(|k| !k.is_object()) {
            return Err("every entry of \"keys\" must be an object".into());
        }
        let n = keys.len();
        *self.document.lock().expect("jwks lock") = body.to_vec();
        Ok(n)
    }

    /// Goes back to the empty key set.
    pub fn reset(&self) {
        *self.document.lock().expect("jwks lock") = EMPTY_JWKS.to_vec();
    }

    /// Answers a request on the team domain; `None` when no simulated route matches.
    pub fn handle(&self, req: &Request) -> Option<Response> {
        if req.path != CERTS_PATH {
            return None;
        }
        if req.method != "GET" {
            return Some(Response::json(
                405,
                &serde_json::json!({"error": "method not allowed"}),
            ));
        }
        let body = self.document.lock().expect("jwks lock").clone();
        Some(Response::new(200, "application/json", body))
    }
}

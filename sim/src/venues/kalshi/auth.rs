//! Kalshi request authentication: `KALSHI-ACCESS-KEY`, `KALSHI-ACCESS-TIMESTAMP` (ms) and
//! `KALSHI-ACCESS-SIGNATURE` = base64 RSA-PSS (SHA-256, MGF1-SHA-256, salt length 32) over
//! `timestamp + METHOD + path`, where the path is the request path from `/trade-api/…` without
//! the query string, and the body is not signed.
//!
//! Refusals answer with the recorded 401 bodies (demo session 2026-06-11):
//! - signature header missing → `auth__missing_signature_header.json`;
//! - timestamp outside the accepted window → `auth__skew_minus30s.json`
//!   (`header_timestamp_expired`). The recordings accepted ±5 s and refused −30 s and ±5 min,
//!   so the window is somewhere in (5 s, 30 s); the simulator uses ±10 s by default;
//! - key id not the configured one, or no key configured → `auth__unknown_key_id.json`;
//! - signature that does not verify → `auth__bad_signature.json`.
//!
//! A missing key id or timestamp header was never recorded; those get bodies in the same nested
//! layout with codes named like the recorded one (`key_id_is_missing_from_headers`,
//! `timestamp_is_missing_from_headers`).
//!
//! Only a public key is held here. RUSTSEC-2023-0071 (the `rsa` crate's Marvin timing side
//! channel) concerns private-key operations, which the simulator never performs.

use std::sync::Mutex;

use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::pss::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::json;
use sha2::Sha256;

use crate::fixtures::Fixtures;
use crate::http::{Request, Response};

/// Default accepted clock difference, either way.
pub const DEFAULT_MAX_SKEW_MS: i64 = 10_000;
/// The PSS salt length Kalshi uses (the SHA-256 digest length).
pub const SALT_LEN: usize = 32;

const DIR: &str = "kalshi/fortuna_demo_2026-06/";

/// The configured key.
#[derive(Clone)]
pub struct KeyConfig {
    /// `None` accepts any key id (the public key still has to verify the signature).
    pub key_id: Option<String>,
    pub key: RsaPublicKey,
}

/// Parses a PEM public key: SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
pub fn parse_public_key(pem: &str) -> Result<RsaPublicKey, String> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| format!("not an RSA public key in PEM (SPKI or PKCS#1): {e}"))
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingKeyId,
    MissingTimestamp,
    MissingSignature,
    UnknownKey,
    Expired,
    BadSignature,
}

pub struct KalshiAuth {
    key: Mutex<Option<KeyConfig>>,
    initial: Option<KeyConfig>,
    max_skew_ms: Mutex<i64>,
    missing_signature: Vec<u8>,
    expired: Vec<u8>,
    unknown_key: Vec<u8>,
    bad_signature: Vec<u8>,
}

impl KalshiAuth {
    pub fn build(fixtures: &Fixtures, initial: Option<KeyConfig>) -> Result<KalshiAuth, String> {
        let read = |name: &str| fixtures.bytes(&format!("{DIR}{name}"));
        Ok(KalshiAuth {
            key: Mutex::new(initial.clone()),
            initial,
            max_skew_ms: Mutex::new(DEFAULT_MAX_SKEW_MS),
            missing_signature: read("auth__missing_signature_header.json")?,
            expired: read("auth__skew_minus30s.json")?,
            unknown_key: read("auth__unknown_key_id.json")?,
            bad_signature: read("auth__bad_signature.json")?,
        })
    }

    /// Installs a key (control API).
    pub fn install(&self, key: KeyConfig, max_skew_ms: Option<i64>) {
        *self.key.lock().expect("key lock") = Some(key);
        if let Some(ms) = max_skew_ms {
            *self.max_skew_ms.lock().expect("skew lock") = ms;
        }
    }

    /// Removes the key: every signed route then answers the unknown-key 401.
    pub fn remove(&self) {
        *self.key.lock().expect("key lock") = None;
    }

    /// Back to the key given on the command line (if any) and the default window.
    pub fn reset(&self) {
        *self.key.lock().expect("key lock") = self.initial.clone();
        *self.max_skew_ms.lock().expect("skew lock") = DEFAULT_MAX_SKEW_MS;
    }

    pub fn describe(&self) -> serde_json::Value {
        let key = self.key.lock().expect("key lock");
        json!({
            "configured": key.is_some(),
            "key_id": key.as_ref().and_then(|k| k.key_id.clone()),
            "max_skew_ms": *self.max_skew_ms.lock().expect("skew lock"),
        })
    }

    /// Checks a request's signature at `now_ms`.
    pub fn verify(&self, req: &Request, now_ms: i64) -> Result<(), AuthFailure> {
        let key_id = req
            .header("kalshi-access-key")
            .ok_or(AuthFailure::MissingKeyId)?;
        let timestamp = req
            .header("kalshi-access-timestamp")
            .ok_or(AuthFailure::MissingTimestamp)?;
        let signature = req
            .header("kalshi-access-signature")
            .ok_or(AuthFailure::MissingSignature)?;
        let key = self.key.lock().expect("key lock").clone();
        let key = key.ok_or(AuthFailure::UnknownKey)?;
        if key.key_id.as_deref().is_some_and(|id| id != key_id) {
            return Err(AuthFailure::UnknownKey);
        }
        let ts: i64 = timestamp.parse().map_err(|_| AuthFailure::Expired)?;
        let max_skew = *self.max_skew_ms.lock().expect("skew lock");
        if (now_ms - ts).abs() > max_skew {
            return Err(AuthFailure::Expired);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| AuthFailure::BadSignature)?;
        let signature =
            Signature::try_from(raw.as_slice()).map_err(|_| AuthFailure::BadSignature)?;
        let message = format!("{timestamp}{}{}", req.method, req.path);
        VerifyingKey::<Sha256>::new_with_salt_len(key.key, SALT_LEN)
            .verify(message.as_bytes(), &signature)
            .map_err(|_| AuthFailure::BadSignature)
    }

    /// The 401 for a refusal.
    pub fn refusal(&self, failure: AuthFailure) -> Response {
        let body = match failure {
            AuthFailure::MissingSignature => self.missing_signature.clone(),
            AuthFailure::Expired => self.expired.clone(),
            AuthFailure::UnknownKey => self.unknown_key.clone(),
            AuthFailure::BadSignature => self.bad_signature.clone(),
            AuthFailure::MissingKeyId => json!({"error": {"code": "key_id_is_missing_from_headers", "message": "key id is missing from headers"}})
                .to_string()
                .into_bytes(),
            AuthFailure::MissingTimestamp => json!({"error": {"code": "timestamp_is_missing_from_headers", "message": "timestamp is missing from headers"}})
                .to_string()
                .into_bytes(),
        };
        Response::new(401, "application/json", body)
    }
}

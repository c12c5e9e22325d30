//! Thin WebCrypto (SubtleCrypto) calls for what the pure crates leave to the platform: RSA
//! signature checks. Only argument marshalling lives here; decisions stay in `core`.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

fn subtle() -> Result<SubtleCrypto, String> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(|_| "no crypto global".to_string())?;
    if crypto.is_undefined() {
        return Err("no crypto global".into());
    }
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

fn object(pairs: &[(&str, JsValue)]) -> Result<Object, String> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v)
            .map_err(|_| "object build failed".to_string())?;
    }
    Ok(o)
}

fn rs256() -> Result<Object, String> {
    object(&[
        ("name", "RSASSA-PKCS1-v1_5".into()),
        ("hash", object(&[("name", "SHA-256".into())])?.into()),
    ])
}

/// Verifies an RSASSA-PKCS1-v1_5 / SHA-256 signature with the public key given as JWK
/// modulus `n` and exponent `e` (base64url). `Ok(false)` for a wrong signature; `Err` when the
/// key cannot be imported (callers treat both as a refusal).
pub async fn verify_rs256(n: &str, e: &str, data: &[u8], signature: &[u8]) -> Result<bool, String> {
    let subtle = subtle()?;
    let jwk = object(&[
        ("kty", "RSA".into()),
        ("n", n.into()),
        ("e", e.into()),
        ("alg", "RS256".into()),
        ("ext", true.into()),
    ])?;
    let algorithm = rs256()?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let key = subtle
        .import_key_with_object("jwk", &jwk, &algorithm, false, &usages)
        .map_err(|_| "importKey threw".to_string())?;
    let key: CryptoKey = JsFuture::from(key)
        .await
        .map_err(|_| "importKey rejected".to_string())?
        .unchecked_into();
    let verdict = subtle
        .verify_with_object_and_u8_array_and_u8_array(&algorithm, &key, signature, data)
        .map_err(|_| "verify threw".to_string())?;
    let ok = JsFuture::from(verdict)
        .await
        .map_err(|_| "verify rejected".to_string())?;
    Ok(ok.as_bool() == Some(true))
}

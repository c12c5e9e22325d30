//! Thin WebCrypto (SubtleCrypto) calls for what the pure crates leave to the platform: RSA
//! signature checks (Access JWTs) and RSA-PSS signing (Kalshi requests). Only argument
//! marshalling lives here; decisions stay in `core`.

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

fn rsa_pss(salt_length: u32) -> Result<Object, String> {
    object(&[
        ("name", "RSA-PSS".into()),
        ("saltLength", salt_length.into()),
        ("hash", object(&[("name", "SHA-256".into())])?.into()),
    ])
}

/// Imports an RSA private key (PKCS#8 DER, see `core::rsa_key`) for RSA-PSS / SHA-256 signing.
/// The key is not extractable: once imported its bytes cannot be read back out.
pub async fn import_rsa_pss_signing_key(pkcs8_der: &[u8]) -> Result<CryptoKey, String> {
    let subtle = subtle()?;
    let algorithm = object(&[
        ("name", "RSA-PSS".into()),
        ("hash", object(&[("name", "SHA-256".into())])?.into()),
    ])?;
    let usages = Array::of1(&JsValue::from_str("sign"));
    let data = js_sys::Uint8Array::from(pkcs8_der);
    let key = subtle
        .import_key_with_object("pkcs8", &data, &algorithm, false, &usages)
        .map_err(|_| "importKey threw".to_string())?;
    Ok(JsFuture::from(key)
        .await
        .map_err(|_| "importKey rejected the key".to_string())?
        .unchecked_into())
}

/// RSA-PSS (SHA-256, MGF1-SHA-256, salt length `salt_length`) signature of `data`.
pub async fn sign_rsa_pss(
    key: &CryptoKey,
    salt_length: u32,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let subtle = subtle()?;
    let algorithm = rsa_pss(salt_length)?;
    let signature = subtle
        .sign_with_object_and_u8_array(&algorithm, key, data)
        .map_err(|_| "sign threw".to_string())?;
    let signature = JsFuture::from(signature)
        .await
        .map_err(|_| "sign rejected".to_string())?;
    Ok(js_sys::Uint8Array::new(&signature).to_vec())
}

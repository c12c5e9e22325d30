//! wasm-bindgen tests of the WebCrypto glue, run under Node by `scripts/test.sh` (Node 20's
//! global `crypto.subtle` is the same API workerd exposes). Known answers come from the
//! recorded-style Access vector in `core/auth/testdata`.

use crate::core::auth::{AccessConfig, Jwks};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

const VECTOR: &str = include_str!("core/auth/testdata/access_rs256.json");

#[wasm_bindgen_test]
async fn rs256_signatures_of_the_access_vector_verify_only_when_genuine() {
    let v: Value = serde_json::from_str(VECTOR).unwrap();
    let jwks = Jwks::parse(v["jwks"].to_string().as_bytes()).unwrap();
    let config = AccessConfig::new(
        v["team_domain"].as_str().unwrap(),
        v["aud"].as_str().unwrap(),
        None,
    )
    .unwrap();
    let now = v["now"].as_i64().unwrap();
    let tokens = v["tokens"].as_array().unwrap();
    assert!(tokens.len() >= 3);
    for t in tokens {
        let token = config
            .check_claims(t["jwt"].as_str().unwrap(), now)
            .unwrap();
        let key = jwks
            .keys()
            .iter()
            .find(|k| k.kid() == token.kid())
            .expect("kid in JWKS");
        let ok = super::webcrypto::verify_rs256(
            key.n(),
            key.e(),
            token.signing_input(),
            token.signature(),
        )
        .await
        .unwrap();
        assert_eq!(ok, t["valid"].as_bool().unwrap(), "{}", t["name"]);
        let identity = token.verify_with(ok);
        if ok {
            assert_eq!(
                identity.unwrap().operator(),
                t["identity"].as_str().unwrap()
            );
        } else {
            assert!(identity.is_err());
        }
    }
}

#[wasm_bindgen_test]
async fn a_key_that_is_not_rsa_material_is_an_error_not_an_approval() {
    let result = super::webcrypto::verify_rs256("not-base64!", "AQAB", b"data", b"sig").await;
    assert!(result.is_err() || result == Ok(false));
}

#[wasm_bindgen_test]
fn outbound_policy_and_money_behave_the_same_in_wasm() {
    use crate::core::money::{kalshi_taker_fee, Price, Qty, Usd};
    use crate::core::outbound::OutboundPolicy;
    let p = OutboundPolicy::new([("K", "https://api.elections.kalshi.com/trade-api/v2")]).unwrap();
    assert!(p
        .check("https://api.elections.kalshi.com/trade-api/v2/markets")
        .is_ok());
    assert!(p
        .check("https://evil.example/trade-api/v2/markets")
        .is_err());
    assert_eq!(
        kalshi_taker_fee(Price::from_cents(50).unwrap(), Qty::contracts(100).unwrap()),
        Usd::from_cents(175).unwrap()
    );
}

/// Node's built-in modules, reached through `process.getBuiltinModule` (Node ≥ 20.16), so the
/// test can run the `openssl` command line tool — an implementation independent of WebCrypto.
mod node {
    use js_sys::{Array, Function, Reflect};
    use wasm_bindgen::{JsCast, JsValue};

    pub fn module(name: &str) -> JsValue {
        let process = Reflect::get(&js_sys::global(), &"process".into()).expect("process");
        let get: Function = Reflect::get(&process, &"getBuiltinModule".into())
            .expect("getBuiltinModule")
            .dyn_into()
            .expect("Node ≥ 20.16 has process.getBuiltinModule");
        get.call1(&process, &name.into()).expect("builtin module")
    }

    pub fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
        let f: Function = Reflect::get(target, &method.into())?.dyn_into()?;
        f.apply(target, &args.iter().cloned().collect::<Array>())
    }

    /// Runs `openssl args…` in `dir`; `Ok(stdout)` when it exits 0.
    pub fn openssl(dir: &str, args: &[&str]) -> Result<Vec<u8>, String> {
        let cp = module("child_process");
        let argv: Array = args.iter().map(|a| JsValue::from_str(a)).collect();
        let opts = js_sys::Object::new();
        Reflect::set(&opts, &"cwd".into(), &dir.into()).unwrap();
        Reflect::set(&opts, &"stdio".into(), &"pipe".into()).unwrap();
        call(
            &cp,
            "execFileSync",
            &["openssl".into(), argv.into(), opts.into()],
        )
        .map(|out| js_sys::Uint8Array::new(&out).to_vec())
        .map_err(|e| format!("openssl {args:?} failed: {e:?}"))
    }

    pub fn temp_dir() -> String {
        let fs = module("fs");
        let os = module("os");
        let tmp = call(&os, "tmpdir", &[]).unwrap().as_string().unwrap();
        call(&fs, "mkdtempSync", &[format!("{tmp}/paulp-pss-").into()])
            .unwrap()
            .as_string()
            .unwrap()
    }

    pub fn read(path: &str) -> Vec<u8> {
        let out = call(&module("fs"), "readFileSync", &[path.into()]).expect("read file");
        js_sys::Uint8Array::new(&out).to_vec()
    }

    pub fn write(path: &str, bytes: &[u8]) {
        call(
            &module("fs"),
            "writeFileSync",
            &[path.into(), js_sys::Uint8Array::from(bytes).into()],
        )
        .expect("write file");
    }

    pub fn remove(dir: &str) {
        let opts = js_sys::Object::new();
        Reflect::set(&opts, &"recursive".into(), &true.into()).unwrap();
        Reflect::set(&opts, &"force".into(), &true.into()).unwrap();
        let _ = call(&module("fs"), "rmSync", &[dir.into(), opts.into()]);
    }
}

/// The acceptance's unit test: a Kalshi signature made through WebCrypto (the Worker's own
/// `Signer`, from a PKCS#1 and from a PKCS#8 PEM) verifies with `openssl` as RSA-PSS /
/// SHA-256 / MGF1-SHA-256 / salt 32 over `timestamp + METHOD + path`, and does not verify over
/// the message with the query string or under another salt length.
#[wasm_bindgen_test]
async fn kalshi_signatures_made_through_webcrypto_verify_with_openssl() {
    use crate::core::kalshi_sign::{signing_message, HEADER_SIGNATURE, HEADER_TIMESTAMP};
    use base64::Engine;

    let dir = node::temp_dir();
    node::openssl(
        &dir,
        &["genrsa", "-traditional", "-out", "pkcs1.pem", "2048"],
    )
    .unwrap();
    node::openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "pkcs8.pem",
        ],
    )
    .unwrap();
    let url = "http://127.0.0.1:8788/trade-api/v2/portfolio/orders?limit=5&cursor=abc";
    let ts = 1_781_159_383_478;
    let message = signing_message(ts, "POST", url).unwrap();
    assert_eq!(message, "1781159383478POST/trade-api/v2/portfolio/orders");
    node::write(&format!("{dir}/msg.txt"), message.as_bytes());
    node::write(
        &format!("{dir}/with_query.txt"),
        b"1781159383478POST/trade-api/v2/portfolio/orders?limit=5&cursor=abc",
    );
    let verify = |key: &str, salt: &str, data: &str| {
        node::openssl(
            &dir,
            &[
                "dgst",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{salt}"),
                "-sigopt",
                "rsa_mgf1_md:sha256",
                "-verify",
                &format!("{key}.pub"),
                "-signature",
                "sig.bin",
                data,
            ],
        )
        .is_ok()
    };
    for (key, label) in [
        ("pkcs1", "BEGIN RSA PRIVATE KEY"),
        ("pkcs8", "BEGIN PRIVATE KEY"),
    ] {
        let pem = String::from_utf8(node::read(&format!("{dir}/{key}.pem"))).unwrap();
        assert!(pem.contains(label), "{key}");
        node::openssl(
            &dir,
            &[
                "pkey",
                "-in",
                &format!("{key}.pem"),
                "-pubout",
                "-out",
                &format!("{key}.pub"),
            ],
        )
        .unwrap();
        let signer = crate::kalshi_client::Signer::new("key-1", &pem)
            .await
            .unwrap();
        assert_eq!(signer.form().as_str(), key);
        let headers = signer.headers("POST", url, ts).await.unwrap();
        assert_eq!(headers[1], (HEADER_TIMESTAMP, ts.to_string()));
        assert_eq!(headers[2].0, HEADER_SIGNATURE);
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&headers[2].1)
            .unwrap();
        assert_eq!(sig.len(), 256);
        node::write(&format!("{dir}/sig.bin"), &sig);
        assert!(
            verify(key, "32", "msg.txt"),
            "{key}: openssl verifies the signature"
        );
        assert!(
            !verify(key, "32", "with_query.txt"),
            "{key}: the query string is not covered"
        );
        assert!(
            !verify(key, "20", "msg.txt"),
            "{key}: salt length 32 is pinned"
        );
        // PSS is randomised: signing again gives other bytes that verify too.
        let again = signer.headers("POST", url, ts).await.unwrap();
        assert_ne!(again[2].1, headers[2].1);
    }
    node::remove(&dir);
}

#[wasm_bindgen_test]
async fn a_key_webcrypto_cannot_use_is_refused_without_echoing_it() {
    // Structurally valid PKCS#1 DER with nonsense numbers: core accepts the shape, WebCrypto
    // cannot sign with it.
    let mut fields = vec![0x02, 0x01, 0x00];
    for v in 1..=8u8 {
        fields.extend_from_slice(&[0x02, 0x01, v]);
    }
    let mut der = vec![0x30, fields.len() as u8];
    der.extend(fields);
    use base64::Engine;
    let (d, label) = ("-".repeat(5), "RSA PRIVATE KEY");
    let pem = format!(
        "{d}BEGIN {label}{d}\n{}\n{d}END {label}{d}",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    // Node imports such a key lazily; either the import or the signature must fail.
    let err = match crate::kalshi_client::Signer::new("key-1", &pem).await {
        Err(e) => e,
        Ok(signer) => signer
            .headers("GET", "/trade-api/v2/portfolio/balance", 1)
            .await
            .expect_err("a nonsense key never produces a signature"),
    };
    assert!(
        ["KALSHI_PRIVATE_KEY_INVALID", "KALSHI_SIGNING_FAILED"].contains(&err.code()),
        "{err}"
    );
    assert!(!err.to_string().contains("MA"), "{err}");
    let err = crate::kalshi_client::Signer::new("key-1", "not a key")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "KALSHI_PRIVATE_KEY_INVALID: KALSHI_KEY_NOT_PEM"
    );
}

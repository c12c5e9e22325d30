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

//! Operator authentication, end to end: the full refusal matrix on every admin route, valid
//! bearer tokens and Access JWTs, and misconfigurations that must close the admin routes.

use paul_p::http::router::{Access, ROUTES};
use paul_p_e2e::jwt::{self, now_s, TestKey};
use paul_p_e2e::{send, shared, Resp, Stack, StackConfig};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// Every admin route of the router, with path parameters filled in, plus a made-up admin path
/// (which must look exactly like a real one to an unauthenticated caller).
fn admin_targets() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Admin)
        .map(|r| {
            let path = r
                .pattern
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            (r.method, path)
        })
        .collect();
    out.push(("GET", "/admin/no-such-route".to_string()));
    out.push(("DELETE", "/admin".to_string()));
    assert!(out.len() >= 3, "the router has admin routes");
    out
}

struct Keys {
    good: TestKey,
    rogue: TestKey,
}

/// The signing keys of this run; the stack's simulator serves only `good` in its JWKS.
fn keys(stack: &Stack) -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = Keys {
            good: TestKey::generate("kid-good"),
            rogue: TestKey::generate("kid-rogue"),
        };
        let r = stack.sim("PUT", "/__sim/jwks", Some(&jwt::jwks(&[&keys.good])));
        assert_eq!(r.status, 200, "install JWKS: {}", r.text());
        keys
    })
}

fn claims(stack: &Stack, email: &str) -> Value {
    let now = now_s();
    json!({
        "aud": [stack.access_aud],
        "iss": stack.sim_base,
        "email": email,
        "type": "app",
        "sub": "user-1",
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + 600,
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn call(stack: &Stack, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let body = if method == "GET" || method == "DELETE" {
        None
    } else {
        Some(&b"{}"[..])
    };
    let mut all = headers.to_vec();
    if body.is_some() {
        all.push(("content-type", "application/json"));
    }
    send(method, &stack.url(path), &all, body)
}

#[test]
fn every_bad_credential_gets_the_same_401_on_every_admin_route() {
    let stack = shared();
    let k = keys(stack);
    let good_claims = claims(stack, "ops@example.com");
    let bearer_wrong = format!("Bearer {}", paul_p_e2e::random_token());
    let bearer_trailing = format!("Bearer {}x", stack.tokens.admin);
    let bearer_lower = format!("bearer {}", stack.tokens.admin);
    let bearer_two_spaces = format!("Bearer  {}", stack.tokens.admin);
    let expired = k.good.sign(
        &k.good.header(),
        &with(
            with(good_claims.clone(), "exp", json!(now_s() - 3600)),
            "iat",
            json!(now_s() - 7200),
        ),
    );
    let not_yet = k.good.sign(
        &k.good.header(),
        &with(good_claims.clone(), "nbf", json!(now_s() + 3600)),
    );
    let other_aud = k.good.sign(
        &k.good.header(),
        &with(good_claims.clone(), "aud", json!(["someone-else"])),
    );
    let other_iss = k.good.sign(
        &k.good.header(),
        &with(
            good_claims.clone(),
            "iss",
            json!("https://evil.cloudflareaccess.com"),
        ),
    );
    let unknown_key = k.rogue.sign(&k.rogue.header(), &good_claims);
    // Signed by the rogue key but claiming the good key's kid: the signature must not verify.
    let forged = k.rogue.sign(&k.good.header(), &good_claims);
    let alg_none = jwt::unsigned(&good_claims, &k.good.kid);
    let alg_hs256 = jwt::hs256(&good_claims, &k.good.kid, "AQAB");

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no header", vec![]),
        ("empty bearer", vec![("authorization", "Bearer ")]),
        ("wrong token", vec![("authorization", &bearer_wrong)]),
        ("trailing byte", vec![("authorization", &bearer_trailing)]),
        ("lowercase bearer", vec![("authorization", &bearer_lower)]),
        ("two spaces", vec![("authorization", &bearer_two_spaces)]),
        (
            "spoofed access email",
            vec![("cf-access-authenticated-user-email", "ops@example.com")],
        ),
        ("expired jwt", vec![("cf-access-jwt-assertion", &expired)]),
        (
            "not yet valid jwt",
            vec![("cf-access-jwt-assertion", &not_yet)],
        ),
        (
            "other audience",
            vec![("cf-access-jwt-assertion", &other_aud)],
        ),
        (
            "other issuer",
            vec![("cf-access-jwt-assertion", &other_iss)],
        ),
        (
            "unknown key",
            vec![("cf-access-jwt-assertion", &unknown_key)],
        ),
        (
            "forged signature",
            vec![("cf-access-jwt-assertion", &forged)],
        ),
        ("alg none", vec![("cf-access-jwt-assertion", &alg_none)]),
        ("alg HS256", vec![("cf-access-jwt-assertion", &alg_hs256)]),
        ("garbage jwt", vec![("cf-access-jwt-assertion", "a.b.c")]),
    ];

    let mut reference: Option<Vec<u8>> = None;
    for (method, path) in admin_targets() {
        for (name, headers) in &cases {
            let r = call(stack, method, &path, headers);
            assert_eq!(r.status, 401, "{name} on {method} {path}: {}", r.text());
            assert_eq!(
                r.error_code(),
                "UNAUTHENTICATED",
                "{name} on {method} {path}"
            );
            match &reference {
                None => reference = Some(r.body.clone()),
                Some(body) => assert_eq!(
                    &r.body, body,
                    "{name} on {method} {path}: 401 bodies must be identical"
                ),
            }
        }
    }
}

#[test]
fn valid_bearer_tokens_reach_every_admin_route_as_their_operator() {
    let stack = shared();
    for (token, operator) in [
        (&stack.tokens.admin, "admin"),
        (&stack.tokens.alice, "alice"),
        (&stack.tokens.bob, "bob"),
    ] {
        let r = stack.get("/admin/whoami", Some(token));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["identity"]["operator"], operator);
        assert_eq!(v["identity"]["method"], "bearer");
    }
    let auth = format!("Bearer {}", stack.tokens.alice);
    for (method, path) in admin_targets() {
        let r = call(stack, method, &path, &[("authorization", &auth)]);
        assert!(
            r.status != 401 && r.status != 503 && r.status < 500,
            "{method} {path} with a valid token: {} {}",
            r.status,
            r.text()
        );
    }
}

#[test]
fn valid_access_jwt_authenticates_with_its_email() {
    let stack = shared();
    let k = keys(stack);
    let token = k
        .good
        .sign(&k.good.header(), &claims(stack, "ops@example.com"));
    let r = send(
        "GET",
        &stack.url("/admin/whoami"),
        &[("cf-access-jwt-assertion", &token)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["identity"]["operator"], "ops@example.com");
    assert_eq!(v["identity"]["method"], "access");

    // A service token carries common_name instead of email.
    let mut service = claims(stack, "");
    service.as_object_mut().unwrap().remove("email");
    service["common_name"] = json!("deploy-bot.access");
    let token = k.good.sign(&k.good.header(), &service);
    let r = send(
        "GET",
        &stack.url("/admin/whoami"),
        &[("cf-access-jwt-assertion", &token)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["identity"]["operator"], "deploy-bot.access");
}

fn assert_closed(stack: &Stack, token: &str) {
    for (method, path) in admin_targets() {
        let auth = format!("Bearer {token}");
        for headers in [vec![], vec![("authorization", auth.as_str())]] {
            let r = call(stack, method, &path, &headers);
            assert_eq!(r.status, 503, "{method} {path}: {}", r.text());
            assert_eq!(r.error_code(), "AUTH_MISCONFIGURED");
            assert!(!r.text().contains(token), "the body must not echo a token");
        }
    }
    // Public routes still work.
    assert_eq!(stack.get("/health", None).status, 200);
}

#[test]
fn a_short_admin_token_closes_every_admin_route() {
    let stack = Stack::start(StackConfig {
        vars: vec![("ADMIN_TOKEN".into(), "short".into())],
        unset: vec!["ADMIN_TOKENS".into()],
    });
    assert_closed(&stack, "short");
}

#[test]
fn two_operators_sharing_a_token_close_every_admin_route() {
    let shared_token = paul_p_e2e::random_token();
    let stack = Stack::start(StackConfig {
        vars: vec![(
            "ADMIN_TOKENS".into(),
            json!({"alice": shared_token, "bob": shared_token}).to_string(),
        )],
        unset: vec!["ADMIN_TOKEN".into()],
    });
    assert_closed(&stack, &shared_token);
}

#[test]
fn no_credential_configured_closes_every_admin_route() {
    let stack = Stack::start(StackConfig {
        vars: vec![],
        unset: vec![
            "ADMIN_TOKEN".into(),
            "ADMIN_TOKENS".into(),
            "CF_ACCESS_TEAM_DOMAIN".into(),
            "CF_ACCESS_AUD".into(),
        ],
    });
    assert_closed(&stack, "none");
}

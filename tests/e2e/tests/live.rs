//! Live Kalshi execution end to end, against wrangler dev and the venue simulator: the
//! Worker signs every portfolio request through WebCrypto with a key pair generated here by
//! `openssl` (never committed), and the simulator verifies each signature with the public key
//! registered through `PUT /__sim/kalshi/key`, answering its recorded 401 bodies otherwise.

use paul_p_e2e::{Stack, StackConfig};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::OnceLock;

/// A fresh RSA key pair: (private PEM in `form` — "pkcs1" or "pkcs8" —, public SPKI PEM).
fn key_pair(form: &str) -> (String, String) {
    let dir = std::env::temp_dir().join(format!(
        "paulp-e2e-kalshi-{}-{}",
        std::process::id(),
        paul_p_e2e::random_token()[..8].to_ascii_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    match form {
        "pkcs1" => run(&["genrsa", "-traditional", "-out", "key.pem", "2048"]),
        _ => run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ]),
    }
    run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let private = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    let public = std::fs::read_to_string(dir.join("pub.pem")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (private, public)
}

const KEY_ID: &str = "e2e-kalshi-key-0001";

struct Live {
    stack: Stack,
    public_pem: String,
    private_pem: String,
}

/// One stack for this file, holding a PKCS#1 key (the form Kalshi's dashboard downloads). The
/// PEM's line breaks are written as literal `\n` escapes, as secret stores often hand them.
fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let (private_pem, public_pem) = key_pair("pkcs1");
        let stack = Stack::start(StackConfig {
            vars: vec![
                ("KALSHI_API_KEY_ID".into(), KEY_ID.into()),
                (
                    "KALSHI_PRIVATE_KEY".into(),
                    private_pem.trim().replace('\n', "\\n"),
                ),
            ],
            unset: vec![],
        });
        let live = Live {
            stack,
            public_pem,
            private_pem,
        };
        register(&live, &live.public_pem, Some(KEY_ID));
        live
    })
}

fn register(live: &Live, public_pem: &str, key_id: Option<&str>) {
    let mut body = json!({"public_key_pem": public_pem});
    if let Some(id) = key_id {
        body["key_id"] = json!(id);
    }
    let r = live.stack.sim("PUT", "/__sim/kalshi/key", Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn portfolio_requests(stack: &Stack) -> Vec<Value> {
    let r = stack.sim(
        "GET",
        "/__sim/requests?path_prefix=/trade-api/v2/portfolio",
        None,
    );
    r.json()["requests"].as_array().cloned().unwrap_or_default()
}

fn account(stack: &Stack) -> paul_p_e2e::Resp {
    stack.get("/admin/venues/kalshi/account", Some(&stack.tokens.alice))
}

/// Tests that change the simulator's key run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_account_check_signs_a_balance_read_that_the_simulator_verifies() {
    let _g = serial();
    let live = live();
    let stack = &live.stack;
    stack.sim("DELETE", "/__sim/requests", None);
    let r = account(stack);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["configured"], true);
    assert_eq!(v["verified"], true);
    assert_eq!(v["key_form"], "pkcs1");
    assert_eq!(v["balance_dollars"], "10000.000000");
    // Exactly one signed request reached the venue, and it carried all three headers.
    let reqs = portfolio_requests(stack);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["path"], "/trade-api/v2/portfolio/balance");
    assert_eq!(reqs[0]["status"], 200);
    let present: Vec<&str> = reqs[0]["auth_headers_present"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for h in [
        "kalshi-access-key",
        "kalshi-access-signature",
        "kalshi-access-timestamp",
    ] {
        assert!(present.contains(&h), "{h} missing: {present:?}");
    }
    // A changed balance is read, not cached.
    let r = stack.sim(
        "PUT",
        "/__sim/kalshi/balance",
        Some(&json!({"balance_dollars": "250.00"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(account(stack).json()["balance_dollars"], "250.000000");
    stack.sim(
        "PUT",
        "/__sim/kalshi/balance",
        Some(&json!({"balance_dollars": "10000.00"})),
    );
}

#[test]
fn a_key_the_venue_does_not_know_is_refused_with_its_recorded_401_and_nothing_leaks() {
    let _g = serial();
    let live = live();
    let stack = &live.stack;
    // The venue holds another public key: our signatures no longer verify.
    let (_, other_public) = key_pair("pkcs8");
    register(live, &other_public, Some(KEY_ID));
    let r = account(stack);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.error_code(), "KALSHI_CREDENTIALS_REFUSED");
    let detail = r.json()["error"]["details"]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    // The recorded bad-signature body's code reached the operator.
    assert!(detail.contains("authentication_error"), "{detail}");
    assert_eq!(r.json()["error"]["details"]["configured"], true);

    // Another key id: the recorded unknown-key 401.
    register(live, &live.public_pem, Some("someone-else"));
    let r = account(stack);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.error_code(), "KALSHI_CREDENTIALS_REFUSED");

    // No key at the venue at all.
    assert_eq!(stack.sim("DELETE", "/__sim/kalshi/key", None).status, 200);
    let r = account(stack);
    assert_eq!(r.error_code(), "KALSHI_CREDENTIALS_REFUSED");

    // Key material is never echoed, in answers or logs.
    let body_line = live
        .private_pem
        .lines()
        .nth(3)
        .expect("a PEM body line")
        .to_string();
    assert!(body_line.len() >= 60);
    assert!(!r.text().contains(&body_line));
    assert!(!stack.worker_logs().contains(&body_line));

    register(live, &live.public_pem, Some(KEY_ID));
    assert_eq!(account(stack).status, 200);
}

#[test]
fn without_credentials_the_account_check_says_so_without_calling_the_venue() {
    let stack = paul_p_e2e::shared();
    stack.sim("DELETE", "/__sim/requests", None);
    let r = account(stack);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (
            &v["configured"],
            &v["key_id_set"],
            &v["private_key_set"],
            &v["verified"]
        ),
        (&json!(false), &json!(false), &json!(false), &json!(false))
    );
    assert_eq!(v["code"], "KALSHI_CREDENTIALS_MISSING");
    assert!(portfolio_requests(stack).is_empty());
    // Operators only.
    assert_eq!(stack.get("/admin/venues/kalshi/account", None).status, 401);
}

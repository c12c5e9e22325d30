//! Kalshi orders and portfolio over HTTP, signed the way the Worker signs: RSA-PSS / SHA-256 /
//! salt 32 over `timestamp + METHOD + path`, produced here by the `openssl` command line tool
//! (an implementation independent of the simulator's verifier).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{get, request, request_timeout, send, start, Resp};
use paul_p_sim::decimal::{parse_fixed, COUNT_SCALE, ONE_DOLLAR, PRICE_SCALE};
use serde_json::{json, Value};

const DIR: &str = "kalshi/fortuna_demo_2026-06/";

fn fixture(name: &str) -> Vec<u8> {
    let root = paul_p_sim::config::default_fixtures_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shared fixtures");
    std::fs::read(root.join(DIR).join(name)).unwrap()
}

/// A throwaway RSA key pair in a temp directory, and signing with `openssl`.
struct Signer {
    dir: PathBuf,
    key_id: String,
}

impl Signer {
    fn new(tag: &str) -> Signer {
        let dir = std::env::temp_dir().join(format!("venue-sim-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl is installed");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ]);
        run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
        Signer {
            dir,
            key_id: format!("key-{tag}"),
        }
    }

    fn public_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join("pub.pem")).unwrap()
    }

    fn sign_with_salt(&self, message: &str, salt: &str) -> String {
        let mut child = Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{salt}"),
                "-sigopt",
                "rsa_mgf1_md:sha256",
                "-sign",
                "key.pem",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(message.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        base64::engine::general_purpose::STANDARD.encode(out.stdout)
    }

    /// Headers for `method target` at `now + skew_ms`, signing the path without the query.
    fn headers(&self, method: &str, target: &str, skew_ms: i64) -> Vec<(String, String)> {
        let ts = now_ms() + skew_ms;
        let path = target.split('?').next().unwrap();
        let sig = self.sign_with_salt(&format!("{ts}{method}{path}"), "32");
        vec![
            ("KALSHI-ACCESS-KEY".into(), self.key_id.clone()),
            ("KALSHI-ACCESS-TIMESTAMP".into(), ts.to_string()),
            ("KALSHI-ACCESS-SIGNATURE".into(), sig),
        ]
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn install(addr: SocketAddr, signer: &Signer) {
    let resp = send(
        addr,
        "PUT",
        "/__sim/kalshi/key",
        &json!({"public_key_pem": signer.public_pem(), "key_id": signer.key_id}),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
}

fn signed(
    addr: SocketAddr,
    signer: &Signer,
    method: &str,
    target: &str,
    body: Option<&Value>,
) -> Resp {
    let headers = signer.headers(method, target, 0);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let bytes = body.map(|b| b.to_string().into_bytes());
    request(addr, method, target, &headers, bytes.as_deref()).expect("answered")
}

fn price(v: &Value) -> i64 {
    parse_fixed(v.as_str().unwrap(), PRICE_SCALE).unwrap()
}
fn count(v: &Value) -> i64 {
    parse_fixed(v.as_str().unwrap(), COUNT_SCALE).unwrap()
}
fn micros(v: &Value) -> i64 {
    parse_fixed(v.as_str().unwrap(), 6).unwrap()
}

/// An open market whose book has bids on both sides, with its YES asks (best first).
fn two_sided_market(addr: SocketAddr) -> (String, Vec<(i64, i64)>) {
    // Synthetic copies (listed after the recorded markets) have generated books several levels
    // deep; most recorded open markets have thin ones.
    let markets = get(addr, "/trade-api/v2/markets?status=open&limit=1000").json();
    for m in markets["markets"].as_array().unwrap().iter().rev() {
        let ticker = m["ticker"].as_str().unwrap();
        let book = get(addr, &format!("/trade-api/v2/markets/{ticker}/orderbook")).json();
        let no = book["orderbook_fp"]["no_dollars"].as_array().unwrap();
        let yes = book["orderbook_fp"]["yes_dollars"].as_array().unwrap();
        if no.len() >= 2 && !yes.is_empty() {
            let asks = no
                .iter()
                .rev()
                .map(|l| (ONE_DOLLAR - price(&l[0]), count(&l[1])))
                .collect();
            return (ticker.to_string(), asks);
        }
    }
    panic!("no two-sided market in the universe");
}

fn fee(price: i64, qty: i64) -> i64 {
    let num = 7 * i128::from(qty) * i128::from(price) * i128::from(ONE_DOLLAR - price);
    (((num + 9_999_999_999) / 10_000_000_000) as i64) * 10_000
}

fn balance(addr: SocketAddr, signer: &Signer) -> i64 {
    let b = signed(addr, signer, "GET", "/trade-api/v2/portfolio/balance", None).json();
    parse_fixed(b["balance_dollars"].as_str().unwrap(), 4).unwrap() * 100
}

#[test]
fn signatures_verify_and_bad_missing_expired_or_foreign_ones_get_the_recorded_401s() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("auth");
    let path = "/trade-api/v2/portfolio/balance";

    // No key configured yet: the unknown-key body.
    let resp = signed(addr, &signer, "GET", path, None);
    assert_eq!(
        (resp.status, resp.body.clone()),
        (401, fixture("auth__unknown_key_id.json"))
    );

    install(addr, &signer);
    let ok = signed(addr, &signer, "GET", path, None);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["balance_dollars"], "10000.0000");
    assert_eq!(ok.json()["balance"], 1_000_000);
    // The query string is not part of the signed message.
    let with_query = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/fills?limit=5",
        None,
    );
    assert_eq!(with_query.status, 200);

    let send_with = |headers: Vec<(String, String)>| {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request(addr, "GET", path, &h, None).unwrap()
    };
    let mut missing = signer.headers("GET", path, 0);
    missing.retain(|(k, _)| k != "KALSHI-ACCESS-SIGNATURE");
    let resp = send_with(missing);
    assert_eq!(
        (resp.status, resp.body),
        (401, fixture("auth__missing_signature_header.json"))
    );

    for skew in [-30_000, 30_000, -300_000] {
        let resp = send_with(signer.headers("GET", path, skew));
        assert_eq!(
            (resp.status, resp.body),
            (401, fixture("auth__skew_minus30s.json")),
            "{skew}"
        );
    }
    for skew in [-5_000, 5_000] {
        assert_eq!(
            send_with(signer.headers("GET", path, skew)).status,
            200,
            "{skew}"
        );
    }

    // The reference implementation's bug: signing the query string.
    let ts = now_ms();
    let sig = signer.sign_with_salt(&format!("{ts}GET{path}?limit=5"), "32");
    let resp = send_with(vec![
        ("KALSHI-ACCESS-KEY".into(), signer.key_id.clone()),
        ("KALSHI-ACCESS-TIMESTAMP".into(), ts.to_string()),
        ("KALSHI-ACCESS-SIGNATURE".into(), sig),
    ]);
    assert_eq!(
        (resp.status, resp.body),
        (401, fixture("auth__bad_signature.json"))
    );
    // The right message with the wrong salt length.
    let sig = signer.sign_with_salt(&format!("{ts}GET{path}"), "20");
    let resp = send_with(vec![
        ("KALSHI-ACCESS-KEY".into(), signer.key_id.clone()),
        ("KALSHI-ACCESS-TIMESTAMP".into(), ts.to_string()),
        ("KALSHI-ACCESS-SIGNATURE".into(), sig),
    ]);
    assert_eq!(resp.status, 401);

    // Another key pair under the right key id: refused.
    let other = Signer::new("other");
    let mut forged = other.headers("GET", path, 0);
    forged[0].1 = signer.key_id.clone();
    let resp = send_with(forged);
    assert_eq!(
        (resp.status, resp.body),
        (401, fixture("auth__bad_signature.json"))
    );
    // The right key under another key id: unknown key.
    let mut wrong_id = signer.headers("GET", path, 0);
    wrong_id[0].1 = "someone-else".into();
    let resp = send_with(wrong_id);
    assert_eq!(
        (resp.status, resp.body),
        (401, fixture("auth__unknown_key_id.json"))
    );

    // Requests never record the signature itself.
    let log = get(addr, "/__sim/requests?path_prefix=/trade-api/v2/portfolio").json();
    assert!(!log
        .to_string()
        .contains(&signer.headers("GET", path, 0)[2].1[..20]));
}

#[test]
fn a_crossing_order_takes_the_book_level_by_level_and_pays_the_fee_per_fill() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("cross");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    let (p1, q1) = asks[0];
    let (p2, _) = asks[1];
    // Generated levels can hold thousands of contracts: be rich enough to take one.
    let rich = send(
        addr,
        "PUT",
        "/__sim/kalshi/balance",
        &json!({"balance_dollars": "1000000.00"}),
    );
    assert_eq!(rich.status, 200);
    // Buy the whole best level plus one contract of the next, at the second level's price.
    let qty = q1 + 100;
    let before = balance(addr, &signer);
    let resp = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(&json!({
            "ticker": ticker, "side": "yes", "action": "buy", "type": "limit",
            "count_fp": format!("{}.{:02}", qty / 100, qty % 100),
            "yes_price_dollars": format!("0.{p2:04}"),
            "client_order_id": "cid-cross-1", "time_in_force": "immediate_or_cancel",
        })),
    );
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    let order = &resp.json()["order"];
    assert_eq!(order["status"], "executed");
    assert_eq!(count(&order["fill_count_fp"]), qty);
    assert_eq!(count(&order["remaining_count_fp"]), 0);
    let fees = fee(p1, q1) + fee(p2, 100);
    assert_eq!(micros(&order["taker_fees_dollars"]), fees);
    assert_eq!(
        micros(&order["taker_fill_cost_dollars"]),
        p1 * q1 + p2 * 100
    );
    assert_eq!(order["client_order_id"], "cid-cross-1");

    let fills = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/fills", None).json();
    let fills = fills["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 2);
    // Newest first; both carry the order id, their level's price and fee.
    let mut by_price: Vec<(i64, i64, i64)> = fills
        .iter()
        .map(|f| {
            (
                price(&f["yes_price_dollars"]),
                count(&f["count_fp"]),
                micros(&f["fee_cost"]),
            )
        })
        .collect();
    by_price.sort();
    assert_eq!(
        by_price,
        vec![(p1, q1, fee(p1, q1)), (p2, 100, fee(p2, 100))]
    );
    assert!(fills.iter().all(|f| f["order_id"] == order["order_id"]));

    let positions = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/positions",
        None,
    )
    .json();
    let pos = &positions["market_positions"][0];
    assert_eq!(pos["ticker"], ticker.as_str());
    assert_eq!(count(&pos["position_fp"]), qty);
    assert_eq!(micros(&pos["fees_paid_dollars"]), fees);
    assert_eq!(before - balance(addr, &signer), p1 * q1 + p2 * 100 + fees);

    // The same client order id again: the recorded 409, and no second order.
    let again = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count": 1,
                      "yes_price_dollars": "0.0100", "client_order_id": "cid-cross-1"}),
        ),
    );
    assert_eq!(
        (again.status, again.body),
        (409, fixture("orders__duplicate_client_order_id.json"))
    );
    let orders = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/orders", None).json();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
}

#[test]
fn a_non_crossing_order_rests_and_cancels_once() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("rest");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    let below = asks[0].0 - 100;
    let resp = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count": 2,
                      "yes_price": below / 100, "client_order_id": "cid-rest"}),
        ),
    );
    assert_eq!(resp.status, 201);
    let order = resp.json()["order"].clone();
    assert_eq!(order["status"], "resting");
    assert_eq!(count(&order["remaining_count_fp"]), 200);
    let id = order["order_id"].as_str().unwrap();
    let read = signed(
        addr,
        &signer,
        "GET",
        &format!("/trade-api/v2/portfolio/orders/{id}"),
        None,
    );
    assert_eq!(read.json()["order"]["status"], "resting");
    let cancel = signed(
        addr,
        &signer,
        "DELETE",
        &format!("/trade-api/v2/portfolio/orders/{id}"),
        None,
    );
    assert_eq!(cancel.status, 200);
    assert_eq!(cancel.json()["order"]["status"], "canceled");
    assert_eq!(cancel.json()["reduced_by_fp"], "2.00");
    let twice = signed(
        addr,
        &signer,
        "DELETE",
        &format!("/trade-api/v2/portfolio/orders/{id}"),
        None,
    );
    assert_eq!(
        (twice.status, twice.body),
        (404, fixture("orders__cancel_unknown_id.json"))
    );
    let filtered = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/orders?status=canceled",
        None,
    );
    assert_eq!(filtered.json()["orders"].as_array().unwrap().len(), 1);
    // Bad requests use the venue's layouts.
    let bad_price = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count": 1, "yes_price_dollars": "1.0000"}),
        ),
    );
    assert_eq!(
        (bad_price.status, bad_price.body),
        (400, fixture("orders__invalid_price_structure.json"))
    );
    let numeric = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count_fp": 1, "yes_price_dollars": "0.5000"}),
        ),
    );
    assert_eq!(numeric.status, 400);
    assert_eq!(numeric.json()["code"], "bad_request");
    let unknown = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": "NOPE", "side": "yes", "action": "buy", "count": 1, "yes_price_dollars": "0.5000"}),
        ),
    );
    assert_eq!(unknown.status, 404);
    let poor = send(
        addr,
        "PUT",
        "/__sim/kalshi/balance",
        &json!({"balance_dollars": "0.10"}),
    );
    assert_eq!(poor.status, 200);
    let broke = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count": 50,
                      "yes_price_dollars": "0.9900", "time_in_force": "immediate_or_cancel"}),
        ),
    );
    assert_eq!(
        (broke.status, broke.body),
        (400, fixture("orders__insufficient_balance.json"))
    );
}

#[test]
fn settling_a_market_pays_winners_records_a_settlement_and_shows_the_result() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("settle");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    let (p1, _) = asks[0];
    let resp = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count_fp": "1.00",
                      "yes_price_dollars": format!("0.{p1:04}"), "time_in_force": "immediate_or_cancel"}),
        ),
    );
    assert_eq!(resp.json()["order"]["status"], "executed");
    let before = balance(addr, &signer);
    let settle = send(
        addr,
        "POST",
        &format!("/__sim/kalshi/markets/{ticker}/settle"),
        &json!({"result": "yes"}),
    );
    assert_eq!(
        settle.status,
        200,
        "{}",
        String::from_utf8_lossy(&settle.body)
    );
    assert_eq!(settle.json()["settlements"], 1);
    assert_eq!(
        balance(addr, &signer) - before,
        1_000_000,
        "one winning contract pays $1"
    );
    let rows = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/settlements",
        None,
    )
    .json();
    let row = &rows["settlements"][0];
    assert_eq!(row["ticker"], ticker.as_str());
    assert_eq!(row["market_result"], "yes");
    assert_eq!(row["yes_count_fp"], "1.00");
    assert_eq!(row["revenue"], 100);
    let pos = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/positions",
        None,
    )
    .json();
    assert_eq!(pos["market_positions"][0]["position_fp"], "0.00");
    let open_only = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/positions?count_filter=position",
        None,
    )
    .json();
    assert!(open_only["market_positions"].as_array().unwrap().is_empty());
    // Market data shows the resolution, the book is gone, new orders are refused.
    let market = get(addr, &format!("/trade-api/v2/markets/{ticker}")).json();
    assert_eq!(market["market"]["result"], "yes");
    assert_eq!(market["market"]["status"], "finalized");
    let settled_list = get(
        addr,
        &format!("/trade-api/v2/markets?status=settled&tickers={ticker}"),
    )
    .json();
    assert_eq!(settled_list["markets"].as_array().unwrap().len(), 1);
    let book = get(addr, &format!("/trade-api/v2/markets/{ticker}/orderbook")).json();
    assert_eq!(book["orderbook_fp"]["no_dollars"], json!([]));
    let late = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count": 1, "yes_price_dollars": "0.5000"}),
        ),
    );
    assert_eq!(late.status, 400);
    let again = send(
        addr,
        "POST",
        &format!("/__sim/kalshi/markets/{ticker}/settle"),
        &json!({"result": "no"}),
    );
    assert_eq!(again.status, 409);
}

#[test]
fn a_dropped_fill_is_missing_from_the_ack_but_booked_at_the_venue() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("drop");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    assert_eq!(
        send(
            addr,
            "PUT",
            "/__sim/kalshi/drop_fills",
            &json!({"orders": 1})
        )
        .status,
        200
    );
    let resp = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count_fp": "1.00",
                      "yes_price_dollars": format!("0.{:04}", asks[0].0),
                      "client_order_id": "cid-drop", "time_in_force": "immediate_or_cancel"}),
        ),
    );
    let ack = &resp.json()["order"];
    assert_eq!(ack["fill_count_fp"], "0.00");
    assert_eq!(ack["status"], "canceled");
    let fills = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/fills", None).json();
    assert_eq!(fills["fills"].as_array().unwrap().len(), 1);
    let pos = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/positions",
        None,
    )
    .json();
    assert_eq!(pos["market_positions"][0]["position_fp"], "1.00");
    let list = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/orders", None).json();
    assert_eq!(
        list["orders"][0]["status"], "executed",
        "the order list tells the truth"
    );
    assert_eq!(
        get(addr, "/__sim/kalshi/portfolio").json()["dropped_fill_orders"],
        1
    );
}

#[test]
fn fills_page_with_a_cursor_and_refuse_limits_over_200() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("pages");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    for i in 0..3 {
        let resp = signed(
            addr,
            &signer,
            "POST",
            "/trade-api/v2/portfolio/orders",
            Some(
                &json!({"ticker": ticker, "side": "yes", "action": "buy", "count_fp": "0.01",
                          "yes_price_dollars": format!("0.{:04}", asks[0].0),
                          "client_order_id": format!("cid-page-{i}"), "time_in_force": "immediate_or_cancel"}),
            ),
        );
        assert_eq!(resp.status, 201);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let target = if cursor.is_empty() {
            "/trade-api/v2/portfolio/fills?limit=2".to_string()
        } else {
            format!("/trade-api/v2/portfolio/fills?limit=2&cursor={cursor}")
        };
        let page = signed(addr, &signer, "GET", &target, None).json();
        for f in page["fills"].as_array().unwrap() {
            seen.push(f["fill_id"].as_str().unwrap().to_string());
        }
        cursor = page["cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 3);
    let over = signed(
        addr,
        &signer,
        "GET",
        "/trade-api/v2/portfolio/fills?limit=201",
        None,
    );
    assert_eq!(over.status, 400);
    assert!(over.json()["msg"].as_str().unwrap().contains("lte"));
}

#[test]
fn a_timeout_on_submission_leaves_an_order_that_a_retry_with_the_same_id_finds() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("timeout");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    let fault = send(
        addr,
        "POST",
        "/__sim/faults",
        &json!({"method": "POST", "path": "/trade-api/v2/portfolio/orders", "match": "exact",
                "kind": "delay", "delay_ms": 1500, "times": 1}),
    );
    assert_eq!(fault.status, 201);
    let body = json!({"ticker": ticker, "side": "yes", "action": "buy", "count_fp": "1.00",
                      "yes_price_dollars": format!("0.{:04}", asks[0].0),
                      "client_order_id": "cid-timeout", "time_in_force": "immediate_or_cancel"});
    let headers = signer.headers("POST", "/trade-api/v2/portfolio/orders", 0);
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let timed_out = request_timeout(
        addr,
        "POST",
        "/trade-api/v2/portfolio/orders",
        &h,
        Some(body.to_string().as_bytes()),
        Duration::from_millis(300),
    );
    assert!(timed_out.is_err(), "the client gave up");
    std::thread::sleep(Duration::from_millis(1_600));
    // The retry with the same client order id is refused, and the read shows the one order.
    let retry = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(&body),
    );
    assert_eq!(retry.status, 409);
    let orders = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/orders", None).json();
    let orders = orders["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["client_order_id"], "cid-timeout");
    assert_eq!(orders[0]["status"], "executed");
    // A 5xx fault answers without placing anything.
    send(
        addr,
        "POST",
        "/__sim/faults",
        &json!({"method": "POST", "path": "/trade-api/v2/portfolio/orders", "status": 503, "times": 1}),
    );
    let failed = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count": 1,
                      "yes_price_dollars": "0.0100", "client_order_id": "cid-503"}),
        ),
    );
    assert_eq!(failed.status, 503);
    let orders = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/orders", None).json();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
}

#[test]
fn a_replayed_order_create_is_booked_once_and_answered_with_the_recorded_409() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let signer = Signer::new("replay");
    install(addr, &signer);
    let (ticker, asks) = two_sided_market(addr);
    let fault = send(
        addr,
        "POST",
        "/__sim/faults",
        &json!({"method": "POST", "path": "/trade-api/v2/portfolio/orders", "match": "exact",
                "kind": "replay", "times": 1}),
    );
    assert_eq!(fault.status, 201);
    let resp = signed(
        addr,
        &signer,
        "POST",
        "/trade-api/v2/portfolio/orders",
        Some(
            &json!({"ticker": ticker, "side": "yes", "action": "buy", "count_fp": "1.00",
                      "yes_price_dollars": format!("0.{:04}", asks[0].0),
                      "client_order_id": "cid-replay", "time_in_force": "immediate_or_cancel"}),
        ),
    );
    assert_eq!(resp.status, 409);
    assert_eq!(resp.json()["error"]["code"], "order_already_exists");
    let list = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/orders", None).json();
    let orders = list["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "booked once: {list}");
    assert_eq!(orders[0]["client_order_id"], "cid-replay");
    assert_eq!(orders[0]["status"], "executed");
    let fills = signed(addr, &signer, "GET", "/trade-api/v2/portfolio/fills", None).json();
    assert_eq!(fills["fills"].as_array().unwrap().len(), 1);
}

#[test]
fn a_market_can_be_retitled_and_rescheduled_through_the_control_api() {
    let sim = start(400, 10);
    let addr = sim.addr();
    let (ticker, _) = two_sided_market(addr);
    let path = format!("/__sim/kalshi/markets/{ticker}/listing");
    let resp = send(
        addr,
        "PUT",
        &path,
        &json!({"title": "Will it rain in Paris?", "close_time": "2030-01-02T03:04:05Z"}),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let one = get(addr, &format!("/trade-api/v2/markets/{ticker}")).json();
    assert_eq!(one["market"]["title"], "Will it rain in Paris?");
    assert_eq!(one["market"]["close_time"], "2030-01-02T03:04:05Z");
    let list = get(addr, "/trade-api/v2/markets?status=open&limit=1000").json();
    let listed = list["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ticker"] == ticker.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["title"], "Will it rain in Paris?");
    for bad in [
        json!({}),
        json!({"title": ""}),
        json!({"close_time": "tomorrow"}),
        json!({"status": "closed"}),
    ] {
        assert_eq!(send(addr, "PUT", &path, &bad).status, 400, "{bad}");
    }
    assert_eq!(
        send(
            addr,
            "PUT",
            "/__sim/kalshi/markets/NOPE/listing",
            &json!({"title": "x"})
        )
        .status,
        404
    );
}

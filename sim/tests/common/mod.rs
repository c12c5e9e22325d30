//! Shared helpers: start a simulator in-process on an ephemeral port, and a minimal HTTP
//! client that reports exactly what came over the socket.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use paul_p_sim::{Config, RunningSim};
use serde_json::Value;

/// A simulator with `kalshi` open Kalshi markets and `poly` open Polymarket markets.
pub fn start(kalshi: usize, poly: usize) -> RunningSim {
    start_seeded(kalshi, poly, 1)
}

pub fn start_seeded(kalshi: usize, poly: usize, seed: u64) -> RunningSim {
    let fixtures = paul_p_sim::config::default_fixtures_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shared fixtures beside the repository");
    let mut config = Config::with_fixtures(fixtures);
    config.port = 0;
    config.kalshi_markets = kalshi;
    config.poly_markets = poly;
    config.seed = seed;
    paul_p_sim::start(&config).expect("simulator starts")
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection. An error means the connection closed (or failed)
/// without a complete response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Resp> {
    request_timeout(addr, method, target, headers, body, Duration::from_secs(20))
}

/// Like [`request`], giving up (with an error) after `timeout` without a full response.
pub fn request_timeout(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Resp> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: sim-tests/1\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(b) = body {
        stream.write_all(b)?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let resp = Resp {
        status,
        headers,
        body,
    };
    let length: usize = resp
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("every response has a Content-Length");
    assert_eq!(length, resp.body.len(), "Content-Length matches the body");
    Ok(resp)
}

pub fn get(addr: SocketAddr, target: &str) -> Resp {
    request(addr, "GET", target, &[], None).expect("GET answered")
}

pub fn send(addr: SocketAddr, method: &str, target: &str, body: &Value) -> Resp {
    request(addr, method, target, &[], Some(body.to_string().as_bytes())).expect("answered")
}

pub fn delete(addr: SocketAddr, target: &str) -> Resp {
    request(addr, "DELETE", target, &[], None).expect("DELETE answered")
}

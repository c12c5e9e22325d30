//! The `venue-sim` binary as the scripts start it: one "listening" line on stdout, then
//! serving; a bad command line exits non-zero.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn prints_the_listening_line_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_venue-sim"))
        .args([
            "--port",
            "0",
            "--kalshi-markets",
            "30",
            "--poly-markets",
            "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("venue-sim listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    assert!(url.starts_with("127.0.0.1:"));

    let mut stream = TcpStream::connect(&url).unwrap();
    stream
        .write_all(b"GET /__sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn refuses_a_non_loopback_host() {
    let output = Command::new(env!("CARGO_BIN_EXE_venue-sim"))
        .args(["--host", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}

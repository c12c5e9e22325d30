//! The running simulator: shared state, the per-request pipeline (control API, or fault
//! layer → venue → request log) and the thread-per-connection TCP server.

use std::io::BufReader;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::chaos::{Chaos, Chosen};
use crate::config::Config;
use crate::control;
use crate::faults::{FaultKind, FaultTable};
use crate::http::{self, ReadError, Request, Response};
use crate::request_log::{Outcome, RequestLog};
use crate::venues::{Venue, Venues};

/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Non-JSON bytes served by `garbage` faults without a body: an HTML error page from a
/// proxy, with invalid UTF-8 at the end.
const GARBAGE: &[u8] =
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>upstream sent garbage</body>\r\n</html>\r\n\xff\xfe\x00";

/// What to do with a request.
#[derive(Debug)]
pub enum Reply {
    Respond(Response),
    /// Close the connection without answering.
    Drop,
}

/// How a faulted request is answered (an installed fault's settings, or the schedule's pick).
struct Action {
    kind: FaultKind,
    status: Option<u16>,
    body: Option<String>,
    delay_ms: u64,
    /// The installed fault's id (0 for the schedule), named in venue error bodies.
    fault_id: u64,
}

/// All simulator state.
pub struct Sim {
    pub venues: Venues,
    pub faults: Mutex<FaultTable>,
    pub chaos: Mutex<Chaos>,
    pub requests: Mutex<RequestLog>,
}

impl Sim {
    pub fn build(config: &Config) -> Result<Sim, String> {
        Ok(Sim {
            venues: Venues::build(config)?,
            faults: Mutex::new(FaultTable::default()),
            chaos: Mutex::new(Chaos::default()),
            requests: Mutex::new(RequestLog::default()),
        })
    }

    /// Handles one request end to end, including logging.
    pub fn handle(&self, req: &Request) -> Reply {
        let started = Instant::now();
        if control::owns(&req.path) {
            let resp = control::handle(self, req);
            log_line(req, Some(resp.status), None, None, started, true);
            return Reply::Respond(resp);
        }

        let fault = self
            .faults
            .lock()
            .expect("fault table lock")
            .take(&req.method, &req.path);
        // An installed fault wins; otherwise the seeded schedule, if any, may pick a failure.
        let chaos = match fault {
            Some(_) => None,
            None => self
                .chaos
                .lock()
                .expect("chaos lock")
                .take(&req.method, &req.path, &req.query),
        };
        let action = match (&fault, chaos) {
            (Some(f), _) => Some(Action {
                kind: f.kind,
                status: f.status,
                body: f.body.clone(),
                delay_ms: f.delay_ms,
                fault_id: f.id,
            }),
            (None, Some(c)) => {
                let (kind, delay_ms) = c.kind();
                Some(Action {
                    kind,
                    status: match c {
                        Chosen::Status(s) => Some(s),
                        _ => None,
                    },
                    body: None,
                    delay_ms,
                    fault_id: 0,
                })
            }
            (None, None) => None,
        };
        let venue = Venue::of(&req.path);
        let reply = match &action {
            None => Reply::Respond(self.venues.handle(req)),
            Some(f) => {
                if f.delay_ms > 0 {
                    thread::sleep(Duration::from_millis(f.delay_ms));
                }
                match f.kind {
                    FaultKind::Delay => Reply::Respond(self.venues.handle(req)),
                    FaultKind::Status => {
                        let status = f.status.unwrap_or(500);
                        Reply::Respond(match &f.body {
                            Some(body) => {
                                Response::new(status, "application/json", body.clone().into_bytes())
                            }
                            None => venue.fault_response(status, f.fault_id),
                        })
                    }
                    FaultKind::RateLimit => Reply::Respond(match &f.body {
                        Some(body) => {
                            Response::new(429, "application/json", body.clone().into_bytes())
                        }
                        None => venue.rate_limit_response(),
                    }),
                    FaultKind::Garbage => Reply::Respond(Response::new(
                        200,
                        "application/json",
                        f.body
                            .as_ref()
                            .map(|b| b.clone().into_bytes())
                            .unwrap_or_else(|| GARBAGE.to_vec()),
                    )),
                    FaultKind::Truncated => {
                        let mut resp = self.venues.handle(req);
                        let half = resp.body.len() / 2;
                        resp.body.truncate(half);
                        Reply::Respond(resp)
                    }
                    FaultKind::Drop => Reply::Drop,
                    FaultKind::Replay => {
                        let _first = self.venues.handle(req);
                        Reply::Respond(self.venues.handle(req))
                    }
                }
            }
        };

        let (status, bytes) = match &reply {
            Reply::Respond(r) => (Some(r.status), r.body.len()),
            Reply::Drop => (None, 0),
        };
        let fault_id = fault.as_ref().map(|f| f.id);
        let duration_ms = started.elapsed().as_millis() as u64;
        let seq = self.requests.lock().expect("request log lock").record(
            req,
            now_ms(),
            &Outcome {
                status,
                response_bytes: bytes,
                fault_id,
                chaos: chaos.map(Chosen::name),
                duration_ms,
            },
        );
        log_line(req, status, fault_id, Some(seq), started, false);
        reply
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One JSON line per request on stderr.
fn log_line(
    req: &Request,
    status: Option<u16>,
    fault_id: Option<u64>,
    seq: Option<u64>,
    started: Instant,
    control: bool,
) {
    eprintln!(
        "{}",
        json!({
            "ts_ms": now_ms(),
            "seq": seq,
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "status": status,
            "fault_id": fault_id,
            "control": control,
            "duration_ms": started.elapsed().as_millis() as u64,
        })
    );
}

/// A simulator listening on a socket.
pub struct RunningSim {
    addr: SocketAddr,
    sim: Arc<Sim>,
    accept_thread: JoinHandle<()>,
}

impl RunningSim {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state, for in-process inspection.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// Blocks while the server runs (it runs until the process ends).
    pub fn wait(self) {
        let _ = self.accept_thread.join();
    }
}

/// Builds the universe, binds `config.host:config.port` and serves on background threads.
pub fn start(config: &Config) -> Result<RunningSim, String> {
    let sim = Arc::new(Sim::build(config)?);
    let listener = TcpListener::bind((config.host, config.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let state = Arc::clone(&sim);
    let accept_thread = thread::Builder::new()
        .name("venue-sim-accept".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&state);
                let _ = thread::Builder::new()
                    .name("venue-sim-conn".into())
                    .spawn(move || serve_connection(stream, &state));
            }
        })
        .map_err(|e| format!("cannot start the accept thread: {e}"))?;
    Ok(RunningSim {
        addr,
        sim,
        accept_thread,
    })
}

fn serve_connection(stream: TcpStream, sim: &Sim) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let req = match http::read_request(&mut reader, &mut writer) {
            Ok(Some(req)) => req,
            Ok(None) | Err(ReadError::Io) => return,
            Err(ReadError::Bad(status, message)) => {
                let resp = Response::json(
                    status,
                    &json!({"error": {"code": "SIM_BAD_HTTP", "message": message, "details": {}}}),
                );
                let _ = http::write_response(&mut writer, &resp, false);
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
        };
        let keep_alive = req.keep_alive();
        match sim.handle(&req) {
            Reply::Drop => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Respond(resp) => {
                if http::write_response(&mut writer, &resp, keep_alive).is_err() || !keep_alive {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}

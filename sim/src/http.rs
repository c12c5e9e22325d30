//! A deliberately small HTTP/1.1 implementation: enough for workerd's `fetch`, curl and the
//! tests, with full control over the bytes on the wire (a fault must be able to cut a body
//! short or close the socket without answering, which general-purpose servers do not allow).

use std::io::{self, BufRead, Read, Write};

use serde_json::Value;

/// Longest request head (request line plus headers) accepted.
const MAX_HEAD_BYTES: u64 = 64 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 100;
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One parsed request. Header names are lower-cased; the path is not percent-decoded (routes
/// are matched on the raw path, which is what the venues sign and what faults match).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string without the `?` (empty when absent).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    http_1_0: bool,
}

impl Request {
    /// Builds a request directly (used by tests of routing code).
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = split_target(target);
        Request {
            method: method.to_string(),
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
            http_1_0: false,
        }
    }

    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query pairs in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(part), String::new()),
            })
            .collect()
    }

    /// The first decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Whether the connection may carry another request after this one.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(|v| v.to_ascii_lowercase());
        match connection.as_deref() {
            Some(v) if v.contains("close") => false,
            Some(v) if v.contains("keep-alive") => true,
            _ => !self.http_1_0,
        }
    }
}

/// One response. `Content-Length` and `Connection` are added when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the given content type and body.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body,
        }
    }

    /// A JSON response (`application/json`) serialised compactly.
    pub fn json(status: u16, value: &Value) -> Response {
        Response::new(status, "application/json", value.to_string().into_bytes())
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer sent something that is not acceptable HTTP; answer with this status.
    Bad(u16, &'static str),
    /// The socket failed or timed out; just close it.
    Io,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Io
    }
}

/// Reads one request. `Ok(None)` means the peer closed the connection cleanly between
/// requests. `interim` receives `100 Continue` when the client asks for it.
pub fn read_request<R: BufRead, W: Write>(
    reader: &mut R,
    interim: &mut W,
) -> Result<Option<Request>, ReadError> {
    let mut budget = MAX_HEAD_BYTES;
    let request_line = loop {
        match read_line(reader, &mut budget)? {
            None => return Ok(None),
            // Tolerate stray blank lines between requests (RFC 9112 §2.2).
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(ReadError::Bad(400, "malformed request line")),
    };
    let http_1_0 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Bad(505, "unsupported HTTP version")),
    };

    let mut headers = Vec::new();
    loop {
        let line = match read_line(reader, &mut budget)? {
            Some(line) => line,
            None => return Err(ReadError::Io),
        };
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ReadError::Bad(431, "too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(ReadError::Bad(400, "malformed header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }

    let (path, query) = split_target(target);
    let mut request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
        http_1_0,
    };

    let chunked = request
        .header("transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    let length = match request.header("content-length") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| ReadError::Bad(400, "bad content-length"))?,
        ),
        None => None,
    };
    if length.unwrap_or(0) > MAX_BODY_BYTES {
        return Err(ReadError::Bad(413, "body too large"));
    }
    if (chunked || length.unwrap_or(0) > 0)
        && request
            .header("expect")
            .map(|v| v.eq_ignore_ascii_case("100-continue"))
            .unwrap_or(false)
    {
        interim.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        interim.flush()?;
    }
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(n) = length {
        let mut body = vec![0u8; n];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_line<R: BufRead>(reader: &mut R, budget: &mut u64) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(*budget).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    *budget -= n as u64;
    if !buf.ends_with(b"\n") {
        return Err(if *budget == 0 {
            ReadError::Bad(431, "request head too large")
        } else {
            ReadError::Io
        });
    }
    buf.pop();
    if buf.ends_with(b"\r") {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ReadError::Bad(400, "request head is not UTF-8"))
}

fn read_chunked<R: BufRead>(reader: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD_BYTES;
    loop {
        let line = read_line(reader, &mut budget)?.ok_or(ReadError::Io)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad(400, "bad chunk size"))?;
        if size == 0 {
            // Trailer section, ended by an empty line.
            while !read_line(reader, &mut budget)?
                .ok_or(ReadError::Io)?
                .is_empty()
            {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(ReadError::Bad(413, "body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(ReadError::Bad(400, "bad chunk terminator"));
        }
    }
}

/// Writes `response` with an exact `Content-Length`.
pub fn write_response<W: Write>(
    writer: &mut W,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}

fn split_target(target: &str) -> (String, String) {
    match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target.to_string(), String::new()),
    }
}

/// Decodes `%XX` escapes and `+` (as a space, the form encoding clients use for queries).
/// Invalid escapes are kept literally.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        529 => "Site Overloaded",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &[u8]) -> Result<Option<Request>, ReadError> {
        let mut reader = BufReader::new(raw);
        let mut sink = Vec::new();
        read_request(&mut reader, &mut sink)
    }

    #[test]
    fn parses_request_line_headers_and_query() {
        let req = parse(b"GET /trade-api/v2/markets?limit=5&cursor=a%2Bb+c HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/trade-api/v2/markets");
        assert_eq!(req.query_param("limit").as_deref(), Some("5"));
        assert_eq!(req.query_param("cursor").as_deref(), Some("a+b c"));
        assert_eq!(req.header("user-agent"), Some("t"));
        assert!(req.keep_alive());
    }

    #[test]
    fn reads_content_length_and_chunked_bodies() {
        let req = parse(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(req.body, b"abc");
        let req = parse(
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(req.body, b"abcde");
    }

    #[test]
    fn rejects_garbage_and_reports_clean_close() {
        assert!(matches!(parse(b""), Ok(None)));
        assert!(matches!(
            parse(b"NOT HTTP\r\n\r\n"),
            Err(ReadError::Bad(400, _))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/2\r\n\r\n"),
            Err(ReadError::Bad(505, _))
        ));
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn writes_exact_content_length() {
        let mut out = Vec::new();
        let resp = Response::new(200, "application/json", b"{}".to_vec());
        write_response(&mut out, &resp, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\n{}"));
    }
}

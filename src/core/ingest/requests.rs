//! The venue requests ingestion makes, as URLs under a configured base URL, and the paging
//! rules that decide when a listing is finished.

use std::collections::HashSet;

/// Kalshi's largest `GET /markets` page.
pub const KALSHI_MARKETS_PAGE_LIMIT: u32 = 1_000;
/// Kalshi's largest `GET /events` page.
pub const KALSHI_EVENTS_PAGE_LIMIT: u32 = 200;

/// Percent-encodes a query value or path segment: RFC 3986 unreserved characters pass, every
/// other byte becomes `%XX` (cursors are base64 and may hold `+`, `/`, `=`).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// `GET {base}/markets?status=open&limit=…[&cursor=…]`.
pub fn kalshi_markets_url(base: &str, limit: u32, cursor: Option<&str>) -> String {
    let mut url = join(base, &format!("/markets?status=open&limit={limit}"));
    if let Some(c) = cursor {
        url.push_str("&cursor=");
        url.push_str(&encode_component(c));
    }
    url
}

/// `GET {base}/markets?tickers=A,B&limit=…[&cursor=…]`: the named markets whatever their
/// status (held markets, whose `result` settles positions).
pub fn kalshi_markets_by_ticker_url(
    base: &str,
    tickers: &[String],
    limit: u32,
    cursor: Option<&str>,
) -> String {
    let list: Vec<String> = tickers.iter().map(|t| encode_component(t)).collect();
    let mut url = join(
        base,
        &format!("/markets?tickers={}&limit={limit}", list.join(",")),
    );
    if let Some(c) = cursor {
        url.push_str("&cursor=");
        url.push_str(&encode_component(c));
    }
    url
}

/// `GET {base}/events?status=open&limit=…[&cursor=…]`.
pub fn kalshi_events_url(base: &str, limit: u32, cursor: Option<&str>) -> String {
    let mut url = join(base, &format!("/events?status=open&limit={limit}"));
    if let Some(c) = cursor {
        url.push_str("&cursor=");
        url.push_str(&encode_component(c));
    }
    url
}

/// `GET {base}/markets/{ticker}/orderbook`.
pub fn kalshi_orderbook_url(base: &str, ticker: &str) -> String {
    join(
        base,
        &format!("/markets/{}/orderbook", encode_component(ticker)),
    )
}

/// `GET {base}/markets?closed=false&limit=…&offset=…` (Gamma).
pub fn gamma_markets_url(base: &str, limit: u32, offset: u64) -> String {
    join(
        base,
        &format!("/markets?closed=false&limit={limit}&offset={offset}"),
    )
}

/// Cursor paging (Kalshi): follow cursors until the venue sends none, refusing a cursor seen
/// before (a venue that restarts on an unknown cursor would otherwise loop forever).
#[derive(Debug, Default)]
pub struct CursorPaging {
    seen: HashSet<String>,
    next: Option<String>,
    done: bool,
}

/// What to do after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStep {
    /// Fetch the next page (with this cursor / offset).
    Next,
    /// The listing is complete.
    Done,
    /// The venue sent a cursor it sent before.
    Loop { cursor: String },
}

impl CursorPaging {
    /// The cursor for the next request (`None` for the first page).
    pub fn cursor(&self) -> Option<&str> {
        self.next.as_deref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Records the cursor a page returned.
    pub fn advance(&mut self, cursor: Option<String>) -> PageStep {
        match cursor {
            None => {
                self.done = true;
                PageStep::Done
            }
            Some(c) => {
                if !self.seen.insert(c.clone()) {
                    self.done = true;
                    return PageStep::Loop { cursor: c };
                }
                self.next = Some(c);
                PageStep::Next
            }
        }
    }
}

/// Offset paging (Gamma): a page shorter than the limit is the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPaging {
    pub limit: u32,
    pub offset: u64,
    done: bool,
}

impl OffsetPaging {
    pub fn new(limit: u32) -> OffsetPaging {
        OffsetPaging {
            limit: limit.max(1),
            offset: 0,
            done: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Records how many items (kept and rejected alike) the page held.
    pub fn advance(&mut self, items: usize) -> PageStep {
        self.offset += items as u64;
        if (items as u64) < u64::from(self.limit) {
            self.done = true;
            PageStep::Done
        } else {
            PageStep::Next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_under_their_base_and_encode_cursors() {
        assert_eq!(
            kalshi_markets_by_ticker_url(
                "http://127.0.0.1:8788/trade-api/v2",
                &["KX-A".to_string(), "KX B".to_string()],
                1000,
                Some("c/1")
            ),
            "http://127.0.0.1:8788/trade-api/v2/markets?tickers=KX-A,KX%20B&limit=1000&cursor=c%2F1"
        );
        assert_eq!(
            kalshi_markets_url("https://api.elections.kalshi.com/trade-api/v2/", 1000, None),
            "https://api.elections.kalshi.com/trade-api/v2/markets?status=open&limit=1000"
        );
        assert_eq!(
            kalshi_markets_url("http://127.0.0.1:8788/trade-api/v2", 1000, Some("dmVu+a/b=")),
            "http://127.0.0.1:8788/trade-api/v2/markets?status=open&limit=1000&cursor=dmVu%2Ba%2Fb%3D"
        );
        assert_eq!(
            kalshi_events_url("https://k/trade-api/v2", 200, Some("c")),
            "https://k/trade-api/v2/events?status=open&limit=200&cursor=c"
        );
        assert_eq!(
            kalshi_orderbook_url("https://k/trade-api/v2", "KX-26/../X"),
            "https://k/trade-api/v2/markets/KX-26%2F..%2FX/orderbook"
        );
        assert_eq!(
            gamma_markets_url("https://gamma-api.polymarket.com", 500, 1500),
            "https://gamma-api.polymarket.com/markets?closed=false&limit=500&offset=1500"
        );
    }

    #[test]
    fn cursor_paging_ends_on_an_empty_cursor_and_refuses_a_loop() {
        let mut p = CursorPaging::default();
        assert_eq!(p.cursor(), None);
        assert_eq!(p.advance(Some("a".into())), PageStep::Next);
        assert_eq!(p.cursor(), Some("a"));
        assert_eq!(p.advance(Some("b".into())), PageStep::Next);
        assert_eq!(
            p.advance(Some("a".into())),
            PageStep::Loop { cursor: "a".into() }
        );
        assert!(p.is_done());
        let mut q = CursorPaging::default();
        assert_eq!(q.advance(None), PageStep::Done);
        assert!(q.is_done());
    }

    #[test]
    fn offset_paging_ends_on_a_short_page() {
        let mut p = OffsetPaging::new(500);
        assert_eq!(p.advance(500), PageStep::Next);
        assert_eq!(p.offset, 500);
        assert_eq!(p.advance(499), PageStep::Done);
        assert_eq!(p.offset, 999);
        let mut empty = OffsetPaging::new(500);
        assert_eq!(empty.advance(0), PageStep::Done);
    }
}

//! The outbound allow-list: every venue, LLM and identity-provider call goes through one port,
//! and that port admits only URLs under a configured base URL. Anything else is refused before a
//! byte leaves the Worker.

use std::fmt;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// Not `http(s)://host[:port]/…`, or has user-info, a fragment, or dot segments.
    MalformedUrl,
    /// Well-formed but not under any configured base URL.
    HostNotAllowed,
    /// A configured base URL is itself unusable (misconfiguration).
    BadBaseUrl(String),
}

impl OutboundError {
    pub fn code(&self) -> &'static str {
        match self {
            OutboundError::MalformedUrl => "OUTBOUND_URL_MALFORMED",
            OutboundError::HostNotAllowed => "OUTBOUND_HOST_NOT_ALLOWED",
            OutboundError::BadBaseUrl(_) => "OUTBOUND_BASE_URL_INVALID",
        }
    }
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundError::MalformedUrl => f.write_str("malformed outbound URL"),
            OutboundError::HostNotAllowed => {
                f.write_str("outbound URL not under a configured base URL")
            }
            OutboundError::BadBaseUrl(name) => {
                write!(f, "base URL {name} is not a valid http(s) URL")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedUrl {
    scheme: String,
    authority: String,
    path: String,
}

fn parse(url: &str) -> Option<ParsedUrl> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return None;
    }
    let after = &rest[authority_end..];
    let path = match after.find('?') {
        Some(q) => &after[..q],
        None => after,
    };
    let lowered = path.to_ascii_lowercase();
    if path.split('/').any(|seg| seg == ".." || seg == ".")
        || lowered.contains("%2e")
        || lowered.contains("%2f")
    {
        return None;
    }
    Some(ParsedUrl {
        scheme,
        authority: authority.to_ascii_lowercase(),
        path: path.trim_end_matches('/').to_string(),
    })
}

/// A named base URL (`KALSHI_BASE_URL`, …) the Worker may call under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedBase {
    pub name: String,
    base: ParsedUrl,
}

/// The set of base URLs outbound calls may go to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    bases: Vec<AllowedBase>,
}

impl OutboundPolicy {
    /// Builds the policy from `(name, url)` pairs; an empty URL means "not configured" and is
    /// skipped; a malformed one is an error (we never guess what an operator meant).
    pub fn new<'a>(
        bases: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, OutboundError> {
        let mut out = Vec::new();
        for (name, url) in bases {
            if url.is_empty() {
                continue;
            }
            let parsed = parse(url).ok_or_else(|| OutboundError::BadBaseUrl(name.to_string()))?;
            if url.contains('?') {
                return Err(OutboundError::BadBaseUrl(name.to_string()));
            }
            out.push(AllowedBase {
                name: name.to_string(),
                base: parsed,
            });
        }
        Ok(OutboundPolicy { bases: out })
    }

    /// Admits `url` only if scheme and authority equal a base's, and its path is the base path or
    /// below it on a segment boundary. Returns the name of the base it falls under.
    pub fn check(&self, url: &str) -> Result<&str, OutboundError> {
        let target = parse(url).ok_or(OutboundError::MalformedUrl)?;
        for allowed in &self.bases {
            let b = &allowed.base;
            if b.scheme != target.scheme || b.authority != target.authority {
                continue;
            }
            let under = target.path == b.path
                || (target.path.starts_with(&b.path)
                    && target.path[b.path.len()..].starts_with('/'));
            if under {
                return Ok(&allowed.name);
            }
        }
        Err(OutboundError::HostNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutboundPolicy {
        OutboundPolicy::new([
            (
                "KALSHI_BASE_URL",
                "https://api.elections.kalshi.com/trade-api/v2",
            ),
            ("POLYMARKET_GAMMA_URL", "http://127.0.0.1:8788/gamma"),
            ("ANTHROPIC_BASE_URL", ""),
        ])
        .unwrap()
    }

    #[test]
    fn urls_under_a_base_are_admitted_with_its_name() {
        let p = policy();
        assert_eq!(
            p.check("https://api.elections.kalshi.com/trade-api/v2/markets?limit=1000"),
            Ok("KALSHI_BASE_URL")
        );
        assert_eq!(
            p.check("https://API.elections.kalshi.com/trade-api/v2"),
            Ok("KALSHI_BASE_URL")
        );
        assert_eq!(
            p.check("http://127.0.0.1:8788/gamma/markets"),
            Ok("POLYMARKET_GAMMA_URL")
        );
    }

    #[test]
    fn other_hosts_ports_schemes_and_sibling_paths_are_refused() {
        let p = policy();
        for url in [
            "https://evil.example/trade-api/v2/markets",
            "http://api.elections.kalshi.com/trade-api/v2/markets",
            "https://api.elections.kalshi.com:8443/trade-api/v2/markets",
            "https://api.elections.kalshi.com/trade-api/v2x/markets",
            "https://api.elections.kalshi.com/other",
            "http://127.0.0.1:8789/gamma/markets",
            "http://127.0.0.1:8788/trade-api/v2/markets",
        ] {
            assert_eq!(p.check(url), Err(OutboundError::HostNotAllowed), "{url}");
        }
    }

    #[test]
    fn tricks_are_malformed() {
        let p = policy();
        for url in [
            "https://api.elections.kalshi.com@evil.example/trade-api/v2/markets",
            "https://api.elections.kalshi.com/trade-api/v2/../../admin",
            "https://api.elections.kalshi.com/trade-api/v2/%2e%2e/x",
            "https://api.elections.kalshi.com/trade-api/v2/markets#frag",
            "ftp://api.elections.kalshi.com/trade-api/v2",
            "https:///trade-api/v2",
            "api.elections.kalshi.com/trade-api/v2",
        ] {
            assert_eq!(p.check(url), Err(OutboundError::MalformedUrl), "{url}");
        }
    }

    #[test]
    fn an_unconfigured_base_admits_nothing() {
        assert_eq!(
            policy().check("https://api.anthropic.com/v1/messages"),
            Err(OutboundError::HostNotAllowed)
        );
    }

    #[test]
    fn a_malformed_base_is_a_configuration_error() {
        assert_eq!(
            OutboundPolicy::new([("X", "not a url")]),
            Err(OutboundError::BadBaseUrl("X".into()))
        );
        assert_eq!(
            OutboundPolicy::new([("X", "https://h/p?q=1")]),
            Err(OutboundError::BadBaseUrl("X".into()))
        );
    }
}

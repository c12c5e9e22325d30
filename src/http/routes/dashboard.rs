//! `GET /admin/dashboard`: the operators' page. One HTML document with its own CSS and JS
//! (`assets/dashboard/`, compiled in), no external assets, a strict Content-Security-Policy that
//! admits exactly the inline `<style>` and `<script>` blocks by their SHA-256.
//!
//! The shell is served without authentication (a browser cannot send a bearer header when it
//! navigates) and holds no data: the page asks for a token, keeps it in `sessionStorage`, and
//! every number it shows comes from an authenticated JSON admin route.

use crate::http::{error::ApiError, RequestCtx};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use worker::Response;

const TEMPLATE: &str = include_str!("../../../assets/dashboard/index.html");
const CSS: &str = include_str!("../../../assets/dashboard/app.css");
const JS: &str = include_str!("../../../assets/dashboard/app.js");

/// The served page and its Content-Security-Policy, built once per isolate.
pub struct Page {
    pub html: String,
    pub csp: String,
}

fn sha256_source(block: &str) -> String {
    let digest = Sha256::digest(block.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The template with the stylesheet and script inlined, and the policy naming their hashes.
pub fn build() -> Page {
    let html = TEMPLATE
        .replacen("/*@APP_CSS@*/", CSS, 1)
        .replacen("/*@APP_JS@*/", JS, 1);
    let csp = [
        "default-src 'none'".to_string(),
        format!("script-src {}", sha256_source(JS)),
        format!("style-src {}", sha256_source(CSS)),
        "connect-src 'self'".to_string(),
        "img-src 'self' data:".to_string(),
        "base-uri 'none'".to_string(),
        "form-action 'none'".to_string(),
        "frame-ancestors 'none'".to_string(),
    ]
    .join("; ");
    Page { html, csp }
}

pub fn page_once() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(build)
}

/// `GET /admin/dashboard`
pub fn page(_ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let page = page_once();
    let mut resp = Response::from_html(&page.html).map_err(|_| ApiError::internal())?;
    let headers = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", page.csp.as_str()),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
    ] {
        headers.set(name, value).map_err(|_| ApiError::internal())?;
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contents of every `<tag …>…</tag>` block of `html`.
    fn blocks<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
        let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find(&open) {
            let after = &rest[start..];
            let body_start = after.find('>').expect("tag closes") + 1;
            let body_end = after.find(&close).expect("block closes");
            out.push(&after[body_start..body_end]);
            rest = &after[body_end + close.len()..];
        }
        out
    }

    fn directive<'a>(csp: &'a str, name: &str) -> Vec<&'a str> {
        csp.split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).filter(|v| v.starts_with(' ')))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
            .split_whitespace()
            .collect()
    }

    #[test]
    fn policy_hashes_are_exactly_the_inline_blocks() {
        let page = build();
        let scripts = blocks(&page.html, "script");
        let styles = blocks(&page.html, "style");
        assert_eq!(scripts.len(), 1, "one inline script");
        assert_eq!(styles.len(), 1, "one inline stylesheet");
        assert_eq!(scripts[0], JS);
        assert_eq!(styles[0], CSS);
        // Hashes computed here independently: base64(sha256(block)).
        for (name, block) in [("script-src", scripts[0]), ("style-src", styles[0])] {
            let want = format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(block.as_bytes()))
            );
            assert_eq!(directive(&page.csp, name), vec![want.as_str()], "{name}");
        }
    }

    #[test]
    fn policy_is_strict() {
        let csp = build().csp;
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        for d in [
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.split("; ").any(|x| x == d), "{d} in {csp}");
        }
        for weak in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
            assert!(!csp.contains(weak), "{weak} in {csp}");
        }
    }

    #[test]
    fn page_has_no_external_assets_or_inline_handlers() {
        let page = build();
        let html = &page.html;
        assert!(!html.contains("/*@APP_"), "placeholders replaced");
        for bad in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "<link rel=\"stylesheet\"",
            "<script src",
            " onclick=",
            " onload=",
            " style=\"",
            "@import",
            "url(",
        ] {
            assert!(!html.contains(bad), "{bad} in the dashboard page");
        }
        assert!(
            !JS.contains("localStorage"),
            "the token is kept in sessionStorage only"
        );
        assert!(JS.contains("sessionStorage"));
    }
}

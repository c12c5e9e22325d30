//! Monitoring, pure: the counters the Worker persists, the latency buckets, and the Prometheus
//! text exposition format (version 0.0.4) the metrics route renders.
//!
//! Counters are kept as `(name, labels)` → integer, where `labels` is a JSON object of label
//! names to values (canonical: keys sorted). The Worker buffers increments for the life of one
//! invocation ([`Pending`]) and adds them to D1 in one batch at its end.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Every exported metric name starts with this.
pub const PREFIX: &str = "paulp_";

/// Upper bounds (milliseconds) of the request-latency histogram buckets; `+Inf` follows.
pub const LATENCY_BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// The `le` label of the bucket an observation of `ms` falls in (non-cumulative).
pub fn bucket_for(ms: u64) -> String {
    LATENCY_BUCKETS_MS
        .iter()
        .find(|b| ms <= **b)
        .map(|b| b.to_string())
        .unwrap_or_else(|| "+Inf".into())
}

/// Canonical label text: a JSON object with sorted keys.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// Increments waiting to be persisted, summed per `(name, labels)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    counts: BTreeMap<(String, String), i64>,
}

impl Pending {
    pub fn add(&mut self, name: &str, labels: String, by: i64) {
        *self.counts.entry((name.to_string(), labels)).or_insert(0) += by;
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Takes everything out, leaving the buffer empty.
    pub fn drain(&mut self) -> Vec<(String, String, i64)> {
        std::mem::take(&mut self.counts)
            .into_iter()
            .map(|((n, l), v)| (n, l, v))
            .collect()
    }

    /// Puts increments back (after a failed write), adding to whatever arrived meanwhile.
    pub fn restore(&mut self, items: Vec<(String, String, i64)>) {
        for (n, l, v) in items {
            *self.counts.entry((n, l)).or_insert(0) += v;
        }
    }
}

/// Records one served request: its count by route group and status, and its latency.
pub fn observe_request(p: &mut Pending, group: &str, status: u16, ms: u64) {
    let status = status.to_string();
    p.add(
        "http_requests_total",
        labels(&[("group", group), ("status", &status)]),
        1,
    );
    p.add(
        "http_request_duration_ms_bucket",
        labels(&[("group", group), ("le", &bucket_for(ms))]),
        1,
    );
    p.add(
        "http_request_duration_ms_sum",
        labels(&[("group", group)]),
        ms as i64,
    );
}

/// Records one outbound call: the venue and the HTTP status or failure code.
pub fn observe_fetch(p: &mut Pending, venue: &str, outcome: &str, is_error: bool) {
    let l = labels(&[("venue", venue), ("status", outcome)]);
    p.add("venue_requests_total", l.clone(), 1);
    if is_error {
        p.add("venue_errors_total", l, 1);
    }
}

/// The venue label of an outbound base-URL setting: `KALSHI_BASE_URL` → `kalshi`,
/// `POLYMARKET_GAMMA_URL` → `polymarket_gamma`.
pub fn venue_of(base_setting: &str) -> String {
    base_setting
        .trim_end_matches("_URL")
        .trim_end_matches("_BASE")
        .to_ascii_lowercase()
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Builds a text exposition: families in the order added, each with `# HELP` and `# TYPE` once.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<(String, &'static str, String, Vec<String>)>,
}

impl Exposition {
    /// Declares a family (`kind`: counter, gauge, histogram). Name without [`PREFIX`].
    pub fn family(&mut self, name: &str, kind: &'static str, help: &str) -> &mut Self {
        let full = format!("{PREFIX}{name}");
        debug_assert!(valid_name(&full), "{full}");
        if !self.families.iter().any(|f| f.0 == full) {
            self.families
                .push((full, kind, help.replace('\n', " "), Vec::new()));
        }
        self
    }

    /// Adds a sample to the family `family` (declared before); `suffix` is `""`, `_bucket`,
    /// `_sum` or `_count`.
    pub fn sample(&mut self, family: &str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let full = format!("{PREFIX}{family}");
        let Some(f) = self.families.iter_mut().find(|f| f.0 == full) else {
            debug_assert!(false, "undeclared family {full}");
            return;
        };
        let mut line = format!("{full}{suffix}");
        if !labels.is_empty() {
            let rendered: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(line, "{{{}}}", rendered.join(","));
        }
        let value = if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
            format!("{}", value as i64)
        } else if value.is_nan() {
            "NaN".into()
        } else {
            format!("{value}")
        };
        let _ = write!(line, " {value}");
        f.3.push(line);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, samples) in &self.families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for s in samples {
                out.push_str(s);
                out.push('\n');
            }
        }
        out
    }
}

/// One stored counter row.
#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: i64,
}

impl Counter {
    /// Parses the stored label text (a JSON object of strings); anything else is no labels.
    pub fn new(name: &str, labels: &str, value: i64) -> Counter {
        let labels = serde_json::from_str::<Map<String, Value>>(labels)
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Counter {
            name: name.to_string(),
            labels,
            value,
        }
    }

    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }
}

/// Adds the request-latency histogram (cumulative buckets, `_sum`, `_count`) per route group
/// from the stored non-cumulative bucket counters and sums.
pub fn latency_histogram(exp: &mut Exposition, counters: &[Counter]) {
    let family = "http_request_duration_ms";
    exp.family(
        family,
        "histogram",
        "Request latency in milliseconds at the Worker, by route group.",
    );
    let mut groups: BTreeMap<&str, (BTreeMap<String, i64>, i64)> = BTreeMap::new();
    for c in counters {
        match c.name.as_str() {
            "http_request_duration_ms_bucket" => {
                let g = groups.entry(c.label("group")).or_default();
                *g.0.entry(c.label("le").to_string()).or_insert(0) += c.value;
            }
            "http_request_duration_ms_sum" => {
                groups.entry(c.label("group")).or_default().1 += c.value;
            }
            _ => {}
        }
    }
    for (group, (buckets, sum)) in groups {
        let mut cumulative = 0;
        for le in LATENCY_BUCKETS_MS.iter().map(|b| b.to_string()) {
            cumulative += buckets.get(&le).copied().unwrap_or(0);
            exp.sample(
                family,
                "_bucket",
                &[("group", group), ("le", &le)],
                cumulative as f64,
            );
        }
        cumulative += buckets.get("+Inf").copied().unwrap_or(0);
        exp.sample(
            family,
            "_bucket",
            &[("group", group), ("le", "+Inf")],
            cumulative as f64,
        );
        exp.sample(family, "_sum", &[("group", group)], sum as f64);
        exp.sample(family, "_count", &[("group", group)], cumulative as f64);
    }
}

/// Adds a counter family whose samples are every stored counter named `stored`, labelled as
/// stored.
pub fn counter_family(
    exp: &mut Exposition,
    family: &str,
    help: &str,
    stored: &str,
    counters: &[Counter],
) {
    exp.family(family, "counter", help);
    for c in counters.iter().filter(|c| c.name == stored) {
        let labels: Vec<(&str, &str)> = c
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        exp.sample(family, "", &labels, c.value as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_upper_bounds_inclusive() {
        assert_eq!(bucket_for(0), "5");
        assert_eq!(bucket_for(5), "5");
        assert_eq!(bucket_for(6), "10");
        assert_eq!(bucket_for(10_000), "10000");
        assert_eq!(bucket_for(10_001), "+Inf");
    }

    #[test]
    fn pending_sums_per_key_and_drains() {
        let mut p = Pending::default();
        observe_request(&mut p, "risk", 200, 7);
        observe_request(&mut p, "risk", 200, 30);
        observe_fetch(&mut p, "kalshi", "500", true);
        let items = p.drain();
        assert!(p.is_empty());
        let find = |n: &str, l: &str| items.iter().find(|(a, b, _)| a == n && b == l).map(|x| x.2);
        assert_eq!(
            find("http_requests_total", r#"{"group":"risk","status":"200"}"#),
            Some(2)
        );
        assert_eq!(
            find("http_request_duration_ms_sum", r#"{"group":"risk"}"#),
            Some(37)
        );
        assert_eq!(
            find("venue_errors_total", r#"{"status":"500","venue":"kalshi"}"#),
            Some(1)
        );
        p.restore(items.clone());
        p.restore(items);
        assert_eq!(p.drain().len(), 6);
    }

    #[test]
    fn venue_names_come_from_base_settings() {
        assert_eq!(venue_of("KALSHI_BASE_URL"), "kalshi");
        assert_eq!(venue_of("POLYMARKET_GAMMA_URL"), "polymarket_gamma");
        assert_eq!(venue_of("ANTHROPIC_BASE_URL"), "anthropic");
    }

    #[test]
    fn histogram_is_cumulative_with_sum_and_count() {
        let counters = vec![
            Counter::new(
                "http_request_duration_ms_bucket",
                r#"{"group":"risk","le":"5"}"#,
                2,
            ),
            Counter::new(
                "http_request_duration_ms_bucket",
                r#"{"group":"risk","le":"100"}"#,
                1,
            ),
            Counter::new(
                "http_request_duration_ms_bucket",
                r#"{"group":"risk","le":"+Inf"}"#,
                1,
            ),
            Counter::new(
                "http_request_duration_ms_sum",
                r#"{"group":"risk"}"#,
                20_080,
            ),
        ];
        let mut exp = Exposition::default();
        latency_histogram(&mut exp, &counters);
        let text = exp.render();
        assert!(text.contains("# TYPE paulp_http_request_duration_ms histogram\n"));
        assert!(text.contains("paulp_http_request_duration_ms_bucket{group=\"risk\",le=\"5\"} 2\n"));
        assert!(
            text.contains("paulp_http_request_duration_ms_bucket{group=\"risk\",le=\"50\"} 2\n")
        );
        assert!(
            text.contains("paulp_http_request_duration_ms_bucket{group=\"risk\",le=\"100\"} 3\n")
        );
        assert!(
            text.contains("paulp_http_request_duration_ms_bucket{group=\"risk\",le=\"+Inf\"} 4\n")
        );
        assert!(text.contains("paulp_http_request_duration_ms_count{group=\"risk\"} 4\n"));
        assert!(text.contains("paulp_http_request_duration_ms_sum{group=\"risk\"} 20080\n"));
    }

    #[test]
    fn label_values_are_escaped_and_help_declared_once() {
        let mut exp = Exposition::default();
        exp.family("x", "gauge", "an x");
        exp.family("x", "gauge", "an x");
        exp.sample("x", "", &[("a", "q\"b\\c\nd")], 1.5);
        let text = exp.render();
        assert_eq!(text.matches("# HELP paulp_x").count(), 1);
        assert!(text.contains(r#"paulp_x{a="q\"b\\c\nd"} 1.5"#), "{text}");
    }

    #[test]
    fn malformed_stored_labels_are_no_labels() {
        assert!(Counter::new("n", "not json", 1).labels.is_empty());
        assert_eq!(Counter::new("n", r#"{"a":"b"}"#, 1).label("a"), "b");
    }
}

//! A seeded, randomised fault schedule (`PUT /__sim/chaos`): each request under the chosen
//! path prefixes fails with a given probability per kind — 5xx, 429, garbage, slow, dropped.
//!
//! The decision for a request is a pure function of the seed, the request's method, path and
//! query, and how many identical requests came before it (`occurrence`, 0-based). So the same
//! seed gives the same schedule whatever order unrelated requests arrive in (a retry is the
//! next occurrence of its request and draws afresh), and a test can recompute any decision
//! with [`decide`].

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::FaultKind;
use crate::rng::Rng;

/// Probabilities are held in parts per million.
const PPM: u64 = 1_000_000;
/// Salt of the schedule's random stream.
const SALT_CHAOS: u64 = 0xC4A0_5EED;

/// Per-request probabilities of each failure, each in `0..=1`, summing to at most 1.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Probabilities {
    #[serde(default)]
    pub status: f64,
    #[serde(default)]
    pub rate_limit: f64,
    #[serde(default)]
    pub garbage: f64,
    #[serde(default)]
    pub slow: f64,
    #[serde(default)]
    pub drop: f64,
}

/// The body of `PUT /__sim/chaos`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSpec {
    pub seed: u64,
    /// Path prefixes the schedule applies to (the control API never).
    pub paths: Vec<String>,
    pub probabilities: Probabilities,
    /// The status of `status` failures (default 503).
    pub status: Option<u16>,
    /// How long `slow` requests are held before they are served normally (default 2000).
    pub slow_ms: Option<u64>,
}

/// One failure the schedule chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Status(u16),
    RateLimit,
    Garbage,
    Slow(u64),
    Drop,
}

impl Chosen {
    pub fn name(self) -> &'static str {
        match self {
            Chosen::Status(_) => "status",
            Chosen::RateLimit => "rate_limit",
            Chosen::Garbage => "garbage",
            Chosen::Slow(_) => "slow",
            Chosen::Drop => "drop",
        }
    }

    /// The fault kind that carries it out, and the delay before it.
    pub fn kind(self) -> (FaultKind, u64) {
        match self {
            Chosen::Status(_) => (FaultKind::Status, 0),
            Chosen::RateLimit => (FaultKind::RateLimit, 0),
            Chosen::Garbage => (FaultKind::Garbage, 0),
            Chosen::Slow(ms) => (FaultKind::Delay, ms),
            Chosen::Drop => (FaultKind::Drop, 0),
        }
    }
}

/// A validated schedule: thresholds in parts per million.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    seed: u64,
    paths: Vec<String>,
    /// (cumulative upper bound in ppm, failure) in a fixed order.
    bands: Vec<(u64, Chosen)>,
    spec: Value,
}

impl Schedule {
    pub fn new(spec: ChaosSpec) -> Result<Schedule, String> {
        if spec.paths.is_empty() {
            return Err("give at least one path prefix".into());
        }
        for p in &spec.paths {
            if !p.starts_with('/') {
                return Err(format!("path {p:?} must start with '/'"));
            }
            if p.starts_with("/__sim") {
                return Err("the control API cannot be faulted".into());
            }
        }
        let status = spec.status.unwrap_or(503);
        if !(500..=599).contains(&status) {
            return Err("status must be within 500..=599".into());
        }
        let slow_ms = spec.slow_ms.unwrap_or(2_000);
        if slow_ms > 120_000 {
            return Err("slow_ms must be at most 120000".into());
        }
        let p = spec.probabilities;
        let parts = [
            (p.status, Chosen::Status(status)),
            (p.rate_limit, Chosen::RateLimit),
            (p.garbage, Chosen::Garbage),
            (p.slow, Chosen::Slow(slow_ms)),
            (p.drop, Chosen::Drop),
        ];
        let mut bands = Vec::new();
        let mut upper = 0u64;
        for (prob, chosen) in parts {
            if !(0.0..=1.0).contains(&prob) {
                return Err(format!(
                    "probability of {} must be within 0..=1",
                    chosen.name()
                ));
            }
            upper += (prob * PPM as f64).round() as u64;
            bands.push((upper, chosen));
        }
        if upper > PPM {
            return Err("the probabilities add up to more than 1".into());
        }
        let described = json!({
            "seed": spec.seed,
            "paths": spec.paths,
            "probabilities": {"status": p.status, "rate_limit": p.rate_limit,
                              "garbage": p.garbage, "slow": p.slow, "drop": p.drop},
            "status": status,
            "slow_ms": slow_ms,
        });
        Ok(Schedule {
            seed: spec.seed,
            paths: spec.paths,
            bands,
            spec: described,
        })
    }

    fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// What the schedule does to occurrence `occurrence` of this request (pure).
    pub fn decide(&self, method: &str, path: &str, query: &str, occurrence: u64) -> Option<Chosen> {
        if !self.covers(path) {
            return None;
        }
        let draw = draw_ppm(self.seed, &request_key(method, path, query), occurrence);
        self.bands
            .iter()
            .find(|(upper, _)| draw < *upper)
            .map(|(_, c)| *c)
    }
}

/// The identity of a request for the schedule: method, path and query.
pub fn request_key(method: &str, path: &str, query: &str) -> String {
    format!("{} {path}?{query}", method.to_ascii_uppercase())
}

/// A uniform draw in `0..1_000_000` for occurrence `occurrence` of request `key`.
pub fn draw_ppm(seed: u64, key: &str, occurrence: u64) -> u64 {
    // FNV-1a names the request; the simulator's SplitMix stream draws for its occurrence.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    Rng::for_item(seed ^ SALT_CHAOS, h, occurrence).next_u64() % PPM
}

/// The installed schedule with its counters.
#[derive(Debug, Default)]
pub struct Chaos {
    schedule: Option<Schedule>,
    occurrences: HashMap<String, u64>,
    requests: u64,
    chosen: BTreeMap<&'static str, u64>,
}

impl Chaos {
    /// Installs (replaces) the schedule and zeroes the counters.
    pub fn install(&mut self, spec: ChaosSpec) -> Result<(), String> {
        let schedule = Schedule::new(spec)?;
        *self = Chaos {
            schedule: Some(schedule),
            ..Chaos::default()
        };
        Ok(())
    }

    /// Removes the schedule; returns whether one was installed.
    pub fn clear(&mut self) -> bool {
        let had = self.schedule.is_some();
        *self = Chaos::default();
        had
    }

    /// Counts the request and returns the failure the schedule chose for it, if any.
    pub fn take(&mut self, method: &str, path: &str, query: &str) -> Option<Chosen> {
        let schedule = self.schedule.as_ref()?;
        if !schedule.covers(path) {
            return None;
        }
        let key = request_key(method, path, query);
        let occurrence = self.occurrences.entry(key).or_insert(0);
        let chosen = schedule.decide(method, path, query, *occurrence);
        *occurrence += 1;
        self.requests += 1;
        if let Some(c) = chosen {
            *self.chosen.entry(c.name()).or_default() += 1;
        }
        chosen
    }

    /// `GET /__sim/chaos`.
    pub fn describe(&self) -> Value {
        match &self.schedule {
            None => json!({"enabled": false}),
            Some(s) => json!({
                "enabled": true,
                "schedule": s.spec,
                "requests": self.requests,
                "chosen": self.chosen,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> ChaosSpec {
        serde_json::from_value(v).unwrap()
    }

    fn day(seed: u64) -> Chaos {
        let mut c = Chaos::default();
        c.install(spec(
            json!({"seed": seed, "paths": ["/trade-api/v2", "/gamma"],
            "probabilities": {"status": 0.05, "rate_limit": 0.05, "garbage": 0.05,
                              "slow": 0.05, "drop": 0.05}, "slow_ms": 300}),
        ))
        .unwrap();
        c
    }

    fn requests() -> Vec<(&'static str, &'static str, &'static str)> {
        let mut v = Vec::new();
        for _ in 0..200 {
            v.push(("GET", "/trade-api/v2/markets", "limit=1000&status=open"));
            v.push(("GET", "/gamma/markets", "limit=500&offset=0"));
            v.push(("POST", "/trade-api/v2/portfolio/orders", ""));
        }
        v
    }

    #[test]
    fn same_seed_same_schedule_whatever_the_interleaving() {
        let run = |order: &[(&str, &str, &str)], seed| {
            let mut c = day(seed);
            let mut per_key: BTreeMap<String, Vec<Option<Chosen>>> = BTreeMap::new();
            for (m, p, q) in order {
                per_key
                    .entry(request_key(m, p, q))
                    .or_default()
                    .push(c.take(m, p, q));
            }
            per_key
        };
        let reqs = requests();
        let mut reversed = reqs.clone();
        reversed.reverse();
        assert_eq!(run(&reqs, 7), run(&reqs, 7));
        assert_eq!(run(&reqs, 7), run(&reversed, 7));
        assert_ne!(run(&reqs, 7), run(&reqs, 8));
        // The pure decision is what the table applied.
        let schedule = day(7).schedule.unwrap();
        let applied = run(&reqs, 7);
        for (key, decisions) in &applied {
            let (m, rest) = key.split_once(' ').unwrap();
            let (p, q) = rest.split_once('?').unwrap();
            for (n, d) in decisions.iter().enumerate() {
                assert_eq!(*d, schedule.decide(m, p, q, n as u64), "{key} #{n}");
            }
        }
    }

    #[test]
    fn frequencies_follow_the_probabilities_and_other_paths_are_untouched() {
        let mut c = day(11);
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for i in 0..20_000 {
            let q = format!("cursor={i}");
            if let Some(x) = c.take("GET", "/trade-api/v2/markets", &q) {
                *counts.entry(x.name()).or_default() += 1;
            }
        }
        for kind in ["status", "rate_limit", "garbage", "slow", "drop"] {
            let n = counts.get(kind).copied().unwrap_or(0);
            assert!((800..1_200).contains(&n), "{kind}: {n} of 20000 at 5%");
        }
        assert_eq!(c.take("GET", "/clob/book", "token_id=1"), None);
        assert_eq!(c.describe()["requests"], 20_000);
        assert!(c.clear());
        assert_eq!(c.take("GET", "/trade-api/v2/markets", "cursor=1"), None);
        assert_eq!(c.describe(), json!({"enabled": false}));
    }

    #[test]
    fn rejects_bad_schedules() {
        for bad in [
            json!({"seed": 1, "paths": [], "probabilities": {}}),
            json!({"seed": 1, "paths": ["gamma"], "probabilities": {}}),
            json!({"seed": 1, "paths": ["/__sim"], "probabilities": {}}),
            json!({"seed": 1, "paths": ["/gamma"], "probabilities": {"drop": 1.5}}),
            json!({"seed": 1, "paths": ["/gamma"], "probabilities": {"drop": 0.6, "slow": 0.6}}),
            json!({"seed": 1, "paths": ["/gamma"], "probabilities": {}, "status": 429}),
        ] {
            assert!(Schedule::new(spec(bad.clone())).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<ChaosSpec>(
            json!({"seed": 1, "paths": ["/gamma"], "probabilities": {"nope": 0.1}})
        )
        .is_err());
    }
}

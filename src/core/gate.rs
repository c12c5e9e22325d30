//! The production profitability gate (runbook §5): may this system trade real money yet?
//!
//! Pure: the caller gathers closed trades, resolved forecasts and unresolved integrity
//! violations (through [`GateSource`]), this module judges them. Rules, in order:
//!
//! 1. **Integrity first.** Any unresolved violation (reconciliation drift, orphaned position,
//!    close without entry, duplicate close, P&L arithmetic mismatch) → `FAIL`
//!    (`GATE_INTEGRITY_VIOLATIONS`), whatever the numbers say.
//! 2. **Proof.** Closed round trips ≥ `min_closed_trades` (30), counting neither zero-P&L closes
//!    nor synthetic (replay) trades; trading days ≥ `min_trading_days` (21), the distinct UTC
//!    close dates of the trades that count. Both are required: short → `FAIL`
//!    (`GATE_INSUFFICIENT_TRADES`, `GATE_INSUFFICIENT_TRADING_DAYS`) — the runbook clears the
//!    gate only by accumulating them.
//! 3. **Forecast lift.** Resolved, non-synthetic forecasts are grouped by the UTC day of the
//!    signal; a day with ≥ `min_signals_per_window` (5) is a window. Its ratio is the Brier score
//!    of the strategy's probabilities over the Brier score of the market's at signal time.
//!    Ratio > `violation_ratio` (1.10) is a violation, < `lift_ratio` (0.98) is lift. Fewer than
//!    `min_windows` (20) windows → `INCONCLUSIVE` (`GATE_INSUFFICIENT_WINDOWS`). Otherwise the
//!    violation rate must be ≤ `max_violation_rate` (0.35) over all windows
//!    (`GATE_LIFT_VIOLATION_RATE`) and over the newest `recent_windows` (10)
//!    (`GATE_LIFT_RECENT_VIOLATION_RATE`), else `FAIL`.
//!
//! `PASS` only when every check passes. Ratios and rates are compared exactly, as integers in
//! parts per million (`ratio > 1.10` is `strategy · 10⁶ > market · 1 100 000`), so a boundary
//! case never depends on floating-point rounding. Every threshold is configurable
//! ([`GateThresholds::from_vars`]).

use crate::core::money::Usd;
use crate::core::prob::{Prob, PPM};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Parts per million in 1 (ratios and rates).
pub const RATIO_ONE: i64 = 1_000_000;

/// Every threshold of the gate. Ratios and rates are parts per million.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateThresholds {
    pub min_closed_trades: u32,
    pub min_trading_days: u32,
    pub min_signals_per_window: u32,
    pub min_windows: u32,
    /// A window whose ratio is strictly above this is a violation.
    pub violation_ratio_ppm: i64,
    /// A window whose ratio is strictly below this is lift.
    pub lift_ratio_ppm: i64,
    /// Violation rate allowed (inclusive), over all windows and over the newest ones.
    pub max_violation_rate_ppm: i64,
    pub recent_windows: u32,
}

impl Default for GateThresholds {
    fn default() -> Self {
        GateThresholds {
            min_closed_trades: 30,
            min_trading_days: 21,
            min_signals_per_window: 5,
            min_windows: 20,
            violation_ratio_ppm: 1_100_000,
            lift_ratio_ppm: 980_000,
            max_violation_rate_ppm: 350_000,
            recent_windows: 10,
        }
    }
}

/// The variables that set the thresholds, with their meaning.
pub const THRESHOLD_VARS: [&str; 8] = [
    "GATE_MIN_CLOSED_TRADES",
    "GATE_MIN_TRADING_DAYS",
    "GATE_MIN_SIGNALS_PER_WINDOW",
    "GATE_MIN_WINDOWS",
    "GATE_VIOLATION_RATIO",
    "GATE_LIFT_RATIO",
    "GATE_MAX_VIOLATION_RATE",
    "GATE_RECENT_WINDOWS",
];

/// A decimal like `1.10` or `0.35` as parts per million (at most 6 decimals, non-negative).
pub fn parse_ppm(text: &str) -> Option<i64> {
    let text = text.trim();
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() || frac.len() > 6 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && frac.is_empty()) {
        return None;
    }
    let whole: i64 = int.parse().ok().filter(|w: &i64| *w <= 1_000_000)?;
    let mut f = frac.to_string();
    while f.len() < 6 {
        f.push('0');
    }
    let part: i64 = f.parse().ok()?;
    Some(whole * RATIO_ONE + part)
}

/// Parts per million as a decimal (`1100000` → `"1.100000"`).
pub fn format_ppm(ppm: i64) -> String {
    let sign = if ppm < 0 { "-" } else { "" };
    let a = ppm.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

impl GateThresholds {
    /// From the environment (`var(name)` is the variable's value if set). Unset or empty means
    /// the default; a malformed value is an error naming the variable (a typo must not relax
    /// the gate).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<GateThresholds, String> {
        let d = GateThresholds::default();
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let count = |name: &str, default: u32, min: u32| -> Result<u32, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or_else(|| format!("{name} must be an integer >= {min}, got {v:?}")),
            }
        };
        let ratio = |name: &str, default: i64, max: i64| -> Result<i64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => parse_ppm(&v).filter(|p| *p <= max).ok_or_else(|| {
                    format!(
                        "{name} must be a decimal in 0..={}, got {v:?}",
                        format_ppm(max)
                    )
                }),
            }
        };
        let t = GateThresholds {
            min_closed_trades: count(THRESHOLD_VARS[0], d.min_closed_trades, 1)?,
            min_trading_days: count(THRESHOLD_VARS[1], d.min_trading_days, 1)?,
            min_signals_per_window: count(THRESHOLD_VARS[2], d.min_signals_per_window, 1)?,
            min_windows: count(THRESHOLD_VARS[3], d.min_windows, 1)?,
            violation_ratio_ppm: ratio(THRESHOLD_VARS[4], d.violation_ratio_ppm, 100 * RATIO_ONE)?,
            lift_ratio_ppm: ratio(THRESHOLD_VARS[5], d.lift_ratio_ppm, 100 * RATIO_ONE)?,
            max_violation_rate_ppm: ratio(THRESHOLD_VARS[6], d.max_violation_rate_ppm, RATIO_ONE)?,
            recent_windows: count(THRESHOLD_VARS[7], d.recent_windows, 1)?,
        };
        if t.lift_ratio_ppm > t.violation_ratio_ppm {
            return Err("GATE_LIFT_RATIO must not exceed GATE_VIOLATION_RATIO".into());
        }
        Ok(t)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "min_closed_trades": self.min_closed_trades,
            "min_trading_days": self.min_trading_days,
            "min_signals_per_window": self.min_signals_per_window,
            "min_windows": self.min_windows,
            "violation_ratio": format_ppm(self.violation_ratio_ppm),
            "lift_ratio": format_ppm(self.lift_ratio_ppm),
            "max_violation_rate": format_ppm(self.max_violation_rate_ppm),
            "recent_windows": self.recent_windows,
        })
    }
}

/// One closed round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTradeRecord {
    pub trade_id: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub closed_at: DateTime<Utc>,
    pub realised_pnl: Usd,
    /// From a replay, never real evidence.
    pub synthetic: bool,
}

/// One signal whose market has resolved: what the strategy and the market said, and what
/// happened (did the signalled side win).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastRecord {
    pub signal_id: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
    pub model_prob: Prob,
    pub market_prob: Prob,
    pub won: bool,
    pub synthetic: bool,
}

/// An integrity violation nobody has resolved yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenViolation {
    pub id: String,
    /// `INTEGRITY_ORPHAN_POSITION`, `RECONCILIATION_DRIFT`, …
    pub code: String,
    /// `integrity` or `reconciliation`.
    pub source: String,
}

/// Everything the gate judges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateInput {
    pub trades: Vec<ClosedTradeRecord>,
    pub forecasts: Vec<ForecastRecord>,
    pub violations: Vec<OpenViolation>,
}

/// Where the gate's input comes from (the trading tables; a fixture in tests).
#[allow(async_fn_in_trait)]
pub trait GateSource {
    type Error;
    async fn gate_input(&self) -> Result<GateInput, Self::Error>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GateStatus {
    Pass,
    Fail,
    Inconclusive,
}

impl GateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GateStatus::Pass => "PASS",
            GateStatus::Fail => "FAIL",
            GateStatus::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// How one window scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowClass {
    Violation,
    Lift,
    Neutral,
}

/// One UTC day with enough resolved signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub day: NaiveDate,
    pub signals: u32,
    /// Sum of squared errors, ppm² (the Brier score times `signals`).
    pub strategy_sse: i128,
    pub market_sse: i128,
    /// strategy ÷ market in ppm; `None` when both are perfect (0 ÷ 0).
    pub ratio_ppm: Option<i64>,
    pub class: WindowClass,
}

impl Window {
    pub fn to_json(&self) -> Value {
        let n = i128::from(self.signals.max(1));
        let brier = |sse: i128| format_ppm(((sse / n) / i128::from(PPM)) as i64);
        json!({
            "day": self.day.to_string(),
            "signals": self.signals,
            "brier_strategy": brier(self.strategy_sse),
            "brier_market": brier(self.market_sse),
            "ratio": self.ratio_ppm.map(format_ppm),
            "class": self.class,
        })
    }
}

/// One named check, pass or not, with the value and threshold it compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub pass: bool,
    pub value: Value,
    pub threshold: Value,
}

/// The gate's verdict and everything it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub status: GateStatus,
    /// Reason codes, in rule order; empty for PASS.
    pub reasons: Vec<&'static str>,
    pub checks: Vec<Check>,
    pub metrics: Value,
    pub windows: Vec<Window>,
    pub violations: Vec<OpenViolation>,
}

fn sq_err(p: Prob, won: bool) -> i128 {
    let o = if won { PPM } else { 0 };
    let d = i128::from(p.ppm() - o);
    d * d
}

/// `a ÷ b` in ppm, rounded down; `None` for 0 ÷ 0, `i64::MAX` for x ÷ 0.
fn ratio_ppm(a: i128, b: i128) -> Option<i64> {
    match (a, b) {
        (0, 0) => None,
        (_, 0) => Some(i64::MAX),
        _ => Some(i64::try_from(a * i128::from(RATIO_ONE) / b).unwrap_or(i64::MAX)),
    }
}

/// Classifies a window exactly: `strategy/market > v` ⇔ `strategy·10⁶ > market·v`.
fn classify(strategy: i128, market: i128, t: &GateThresholds) -> WindowClass {
    let one = i128::from(RATIO_ONE);
    if strategy * one > market * i128::from(t.violation_ratio_ppm) {
        WindowClass::Violation
    } else if strategy * one < market * i128::from(t.lift_ratio_ppm) {
        WindowClass::Lift
    } else {
        WindowClass::Neutral
    }
}

/// The forecast windows of `forecasts` (synthetic ones included only if `synthetic` says so),
/// oldest first.
pub fn windows(forecasts: &[ForecastRecord], t: &GateThresholds, synthetic: bool) -> Vec<Window> {
    let mut days: BTreeMap<NaiveDate, (u32, i128, i128)> = BTreeMap::new();
    for f in forecasts.iter().filter(|f| f.synthetic == synthetic) {
        let e = days.entry(f.at.date_naive()).or_default();
        e.0 += 1;
        e.1 += sq_err(f.model_prob, f.won);
        e.2 += sq_err(f.market_prob, f.won);
    }
    days.into_iter()
        .filter(|(_, (n, _, _))| *n >= t.min_signals_per_window)
        .map(|(day, (signals, s, m))| Window {
            day,
            signals,
            strategy_sse: s,
            market_sse: m,
            ratio_ppm: ratio_ppm(s, m),
            class: classify(s, m, t),
        })
        .collect()
}

/// `violations / total ≤ max` exactly.
fn rate_ok(violations: usize, total: usize, max_ppm: i64) -> bool {
    (violations as i128) * i128::from(RATIO_ONE) <= (total as i128) * i128::from(max_ppm)
}

fn rate_ppm(violations: usize, total: usize) -> i64 {
    if total == 0 {
        return 0;
    }
    ((violations as i128) * i128::from(RATIO_ONE) / (total as i128)) as i64
}

/// Judges `input` against `t`.
pub fn evaluate(input: &GateInput, t: &GateThresholds) -> GateReport {
    let mut reasons = Vec::new();
    let mut checks = Vec::new();
    let mut fail = false;

    // 1. Integrity first.
    let integrity_ok = input.violations.is_empty();
    checks.push(Check {
        name: "integrity",
        pass: integrity_ok,
        value: json!(input.violations.len()),
        threshold: json!(0),
    });
    if !integrity_ok {
        fail = true;
        reasons.push("GATE_INTEGRITY_VIOLATIONS");
    }

    // 2. Proof.
    let synthetic_trades = input.trades.iter().filter(|x| x.synthetic).count();
    let real: Vec<&ClosedTradeRecord> = input.trades.iter().filter(|x| !x.synthetic).collect();
    let zero_pnl = real.iter().filter(|x| x.realised_pnl.micros() == 0).count();
    let counted: Vec<&&ClosedTradeRecord> = real
        .iter()
        .filter(|x| x.realised_pnl.micros() != 0)
        .collect();
    let days: BTreeSet<NaiveDate> = counted.iter().map(|x| x.closed_at.date_naive()).collect();
    let net_pnl: i64 = counted.iter().map(|x| x.realised_pnl.micros()).sum();
    let wins = counted
        .iter()
        .filter(|x| x.realised_pnl.micros() > 0)
        .count();
    let trades_ok = counted.len() >= t.min_closed_trades as usize;
    let days_ok = days.len() >= t.min_trading_days as usize;
    checks.push(Check {
        name: "closed_round_trips",
        pass: trades_ok,
        value: json!(counted.len()),
        threshold: json!(t.min_closed_trades),
    });
    checks.push(Check {
        name: "trading_days",
        pass: days_ok,
        value: json!(days.len()),
        threshold: json!(t.min_trading_days),
    });
    if !trades_ok {
        fail = true;
        reasons.push("GATE_INSUFFICIENT_TRADES");
    }
    if !days_ok {
        fail = true;
        reasons.push("GATE_INSUFFICIENT_TRADING_DAYS");
    }

    // 3. Forecast lift.
    let ws = windows(&input.forecasts, t, false);
    let violations = ws
        .iter()
        .filter(|w| w.class == WindowClass::Violation)
        .count();
    let lifts = ws.iter().filter(|w| w.class == WindowClass::Lift).count();
    let recent: Vec<&Window> = ws.iter().rev().take(t.recent_windows as usize).collect();
    let recent_violations = recent
        .iter()
        .filter(|w| w.class == WindowClass::Violation)
        .count();
    let enough = ws.len() >= t.min_windows as usize;
    checks.push(Check {
        name: "forecast_windows",
        pass: enough,
        value: json!(ws.len()),
        threshold: json!(t.min_windows),
    });
    let all_ok = rate_ok(violations, ws.len(), t.max_violation_rate_ppm);
    let recent_ok = rate_ok(recent_violations, recent.len(), t.max_violation_rate_ppm);
    checks.push(Check {
        name: "violation_rate_all",
        pass: enough && all_ok,
        value: json!(format_ppm(rate_ppm(violations, ws.len()))),
        threshold: json!(format_ppm(t.max_violation_rate_ppm)),
    });
    checks.push(Check {
        name: "violation_rate_recent",
        pass: enough && recent_ok,
        value: json!(format_ppm(rate_ppm(recent_violations, recent.len()))),
        threshold: json!(format_ppm(t.max_violation_rate_ppm)),
    });
    let mut inconclusive = false;
    if !enough {
        inconclusive = true;
        reasons.push("GATE_INSUFFICIENT_WINDOWS");
    } else {
        if !all_ok {
            fail = true;
            reasons.push("GATE_LIFT_VIOLATION_RATE");
        }
        if !recent_ok {
            fail = true;
            reasons.push("GATE_LIFT_RECENT_VIOLATION_RATE");
        }
    }

    let status = if fail {
        GateStatus::Fail
    } else if inconclusive {
        GateStatus::Inconclusive
    } else {
        GateStatus::Pass
    };
    let synthetic_forecasts = input.forecasts.iter().filter(|f| f.synthetic).count();
    let (s_all, m_all) = ws.iter().fold((0i128, 0i128), |(s, m), w| {
        (s + w.strategy_sse, m + w.market_sse)
    });
    let metrics = json!({
        "closed_round_trips": counted.len(),
        "zero_pnl_closes_excluded": zero_pnl,
        "synthetic_trades_excluded": synthetic_trades,
        "trading_days": days.len(),
        "first_trading_day": days.iter().next().map(|d| d.to_string()),
        "last_trading_day": days.iter().next_back().map(|d| d.to_string()),
        "winning_round_trips": wins,
        "net_realised_pnl_usd_micros": net_pnl,
        "resolved_forecasts": input.forecasts.len() - synthetic_forecasts,
        "synthetic_forecasts_excluded": synthetic_forecasts,
        "windows": ws.len(),
        "violation_windows": violations,
        "lift_windows": lifts,
        "recent_windows": recent.len(),
        "recent_violation_windows": recent_violations,
        "violation_rate_all": format_ppm(rate_ppm(violations, ws.len())),
        "violation_rate_recent": format_ppm(rate_ppm(recent_violations, recent.len())),
        "pooled_ratio": ratio_ppm(s_all, m_all).map(format_ppm),
        "open_violations": input.violations.len(),
    });
    GateReport {
        status,
        reasons,
        checks,
        metrics,
        windows: ws,
        violations: input.violations.clone(),
    }
}

impl GateReport {
    pub fn to_json(&self) -> Value {
        json!({
            "status": self.status.as_str(),
            "reasons": self.reasons,
            "checks": self.checks,
            "metrics": self.metrics,
            "windows": self.windows.iter().map(Window::to_json).collect::<Vec<_>>(),
            "violations": self.violations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + chrono::TimeDelta::days(n)
    }

    fn trade(i: usize, d: i64, pnl: i64) -> ClosedTradeRecord {
        ClosedTradeRecord {
            trade_id: format!("t{i}"),
            closed_at: day(d),
            realised_pnl: Usd(pnl),
            synthetic: false,
        }
    }

    /// `n` trades over `days` distinct days, all winning $1.
    fn trades(n: usize, days: i64) -> Vec<ClosedTradeRecord> {
        (0..n)
            .map(|i| trade(i, i as i64 % days, 1_000_000))
            .collect()
    }

    fn p(ppm: i64) -> Prob {
        Prob::from_ppm(ppm).unwrap()
    }

    /// One forecast on day `d`: the signalled side won.
    fn forecast(d: i64, model: i64, market: i64) -> ForecastRecord {
        ForecastRecord {
            signal_id: format!("s{d}-{model}-{market}"),
            at: day(d),
            model_prob: p(model),
            market_prob: p(market),
            won: true,
            synthetic: false,
        }
    }

    /// `n` windows of 5 signals; window `i` has class `class(i)`: lift (model 0.8 vs market
    /// 0.6), violation (0.5 vs 0.6: ratio 0.25/0.16 = 1.5625) or neutral (equal).
    fn windows_of(n: i64, class: impl Fn(i64) -> WindowClass) -> Vec<ForecastRecord> {
        let mut out = Vec::new();
        for d in 0..n {
            let model = match class(d) {
                WindowClass::Lift => 800_000,
                WindowClass::Violation => 500_000,
                WindowClass::Neutral => 600_000,
            };
            for _ in 0..5 {
                out.push(forecast(d, model, 600_000));
            }
        }
        out
    }

    fn passing() -> GateInput {
        GateInput {
            trades: trades(30, 21),
            forecasts: windows_of(20, |_| WindowClass::Lift),
            violations: vec![],
        }
    }

    fn run(input: &GateInput) -> GateReport {
        evaluate(input, &GateThresholds::default())
    }

    #[test]
    fn a_full_clean_history_passes_with_every_check_green() {
        let r = run(&passing());
        assert_eq!(r.status, GateStatus::Pass, "{:?}", r.reasons);
        assert!(r.reasons.is_empty());
        assert!(r.checks.iter().all(|c| c.pass), "{:?}", r.checks);
        assert_eq!(r.metrics["closed_round_trips"], 30);
        assert_eq!(r.metrics["trading_days"], 21);
        assert_eq!(r.metrics["windows"], 20);
        assert_eq!(r.metrics["lift_windows"], 20);
    }

    #[test]
    fn closed_round_trips_boundary_29_fails_30_passes() {
        let mut input = passing();
        input.trades = trades(29, 21);
        let r = run(&input);
        assert_eq!(r.status, GateStatus::Fail);
        assert_eq!(r.reasons, vec!["GATE_INSUFFICIENT_TRADES"]);
        input.trades = trades(30, 21);
        assert_eq!(run(&input).status, GateStatus::Pass);
    }

    #[test]
    fn zero_pnl_closes_do_not_count() {
        let mut input = passing();
        input.trades = trades(29, 21);
        input.trades.push(trade(99, 3, 0));
        let r = run(&input);
        assert_eq!(r.reasons, vec!["GATE_INSUFFICIENT_TRADES"]);
        assert_eq!(r.metrics["zero_pnl_closes_excluded"], 1);
        // A losing close counts: it is a real round trip.
        input.trades.push(trade(100, 3, -1));
        assert_eq!(run(&input).status, GateStatus::Pass);
    }

    #[test]
    fn trading_days_boundary_20_fails_21_passes() {
        let mut input = passing();
        input.trades = trades(40, 20);
        let r = run(&input);
        assert_eq!(r.reasons, vec!["GATE_INSUFFICIENT_TRADING_DAYS"]);
        input.trades = trades(40, 21);
        assert_eq!(run(&input).status, GateStatus::Pass);
    }

    #[test]
    fn synthetic_trades_and_forecasts_are_excluded() {
        let mut input = passing();
        input.trades = trades(29, 21);
        let mut replayed = trade(500, 30, 5_000_000);
        replayed.synthetic = true;
        input.trades.push(replayed);
        let r = run(&input);
        assert_eq!(r.reasons, vec!["GATE_INSUFFICIENT_TRADES"]);
        assert_eq!(r.metrics["synthetic_trades_excluded"], 1);

        // Synthetic windows neither fill the window count nor dilute violations.
        let mut input = passing();
        input.forecasts = windows_of(19, |_| WindowClass::Lift);
        let mut synth = windows_of(40, |_| WindowClass::Lift);
        for f in &mut synth {
            f.at += chrono::TimeDelta::days(100);
            f.synthetic = true;
        }
        input.forecasts.extend(synth);
        let r = run(&input);
        assert_eq!(r.status, GateStatus::Inconclusive);
        assert_eq!(r.metrics["windows"], 19);
        assert_eq!(r.metrics["synthetic_forecasts_excluded"], 200);
    }

    #[test]
    fn an_integrity_violation_fails_whatever_the_numbers() {
        let mut input = passing();
        input.violations.push(OpenViolation {
            id: "v1".into(),
            code: "INTEGRITY_ORPHAN_POSITION".into(),
            source: "integrity".into(),
        });
        let r = run(&input);
        assert_eq!(r.status, GateStatus::Fail);
        assert_eq!(r.reasons, vec!["GATE_INTEGRITY_VIOLATIONS"]);
        assert!(!r.checks[0].pass);
        assert_eq!(r.violations.len(), 1);
    }

    #[test]
    fn fewer_than_20_windows_is_inconclusive_and_days_below_5_signals_are_not_windows() {
        let mut input = passing();
        input.forecasts = windows_of(19, |_| WindowClass::Lift);
        // A 20th day with only 4 signals is not a window.
        for _ in 0..4 {
            input.forecasts.push(forecast(40, 800_000, 600_000));
        }
        let r = run(&input);
        assert_eq!(r.status, GateStatus::Inconclusive);
        assert_eq!(r.reasons, vec!["GATE_INSUFFICIENT_WINDOWS"]);
        assert_eq!(r.metrics["windows"], 19);
        input.forecasts.push(forecast(40, 800_000, 600_000));
        assert_eq!(run(&input).status, GateStatus::Pass);
        // Failing proof with too few windows is FAIL, not INCONCLUSIVE.
        input.forecasts = windows_of(3, |_| WindowClass::Lift);
        input.trades = trades(3, 3);
        let r = run(&input);
        assert_eq!(r.status, GateStatus::Fail);
        assert!(r.reasons.contains(&"GATE_INSUFFICIENT_WINDOWS"));
    }

    /// A window of 5 signals whose ratio is exactly `num/den` of the market's Brier.
    fn window_with_sse(d: i64, strategy_err: i64, market_err: i64) -> Vec<ForecastRecord> {
        (0..5)
            .map(|_| forecast(d, PPM - strategy_err, PPM - market_err))
            .collect()
    }

    #[test]
    fn ratio_boundaries_1_10_is_not_a_violation_1_1001_is_and_0_98_is_not_lift() {
        let t = GateThresholds::default();
        // market error 0.1 → sse 0.01; strategy error e → e². Choose errors whose squares
        // make exact ratios: 0.1² · 1.10 = 0.011 ⇒ not a perfect square, so use sse directly.
        let w = |s: i128, m: i128| classify(s, m, &t);
        assert_eq!(w(1_100, 1_000), WindowClass::Neutral, "ratio 1.10 exactly");
        assert_eq!(w(11_001, 10_000), WindowClass::Violation, "ratio 1.1001");
        assert_eq!(w(980, 1_000), WindowClass::Neutral, "ratio 0.98 exactly");
        assert_eq!(w(9_799, 10_000), WindowClass::Lift, "ratio 0.9799");
        assert_eq!(
            w(1, 0),
            WindowClass::Violation,
            "a perfect market beats any error"
        );
        assert_eq!(w(0, 0), WindowClass::Neutral);

        // Through real forecasts: strategy error 0.11 vs market 0.1 → ratio 1.21 > 1.10.
        let ws = windows(&window_with_sse(0, 110_000, 100_000), &t, false);
        assert_eq!(ws[0].class, WindowClass::Violation);
        assert_eq!(ws[0].ratio_ppm, Some(1_210_000));
        // 0.1049 vs 0.1 → 1.10040… > 1.10; 0.1048 vs 0.1 → 1.09830… ≤ 1.10.
        let ws = windows(&window_with_sse(0, 104_900, 100_000), &t, false);
        assert_eq!(ws[0].class, WindowClass::Violation);
        let ws = windows(&window_with_sse(0, 104_880, 100_000), &t, false);
        assert_eq!(ws[0].class, WindowClass::Neutral, "{:?}", ws[0].ratio_ppm);
    }

    /// 20 windows, `bad` of them violations at the given days (others lift).
    fn with_violations(days: &[i64]) -> GateInput {
        let mut input = passing();
        input.forecasts = windows_of(20, |d| {
            if days.contains(&d) {
                WindowClass::Violation
            } else {
                WindowClass::Lift
            }
        });
        input
    }

    #[test]
    fn violation_rate_0_35_passes_above_fails_over_all_windows() {
        // 7 of 20 = 0.35 exactly: allowed (spread so the newest 10 hold 3).
        let seven = [0, 1, 2, 3, 12, 15, 18];
        let r = run(&with_violations(&seven));
        assert_eq!(r.status, GateStatus::Pass, "{:?} {}", r.reasons, r.metrics);
        assert_eq!(r.metrics["violation_rate_all"], "0.350000");
        // 8 of 20 = 0.40.
        let eight = [0, 1, 2, 3, 4, 12, 15, 18];
        let r = run(&with_violations(&eight));
        assert_eq!(r.status, GateStatus::Fail);
        assert_eq!(r.reasons, vec!["GATE_LIFT_VIOLATION_RATE"]);
    }

    #[test]
    fn the_newest_10_windows_are_held_to_the_same_rate() {
        // 4 of the newest 10 (0.40) while 4 of 20 overall (0.20).
        let r = run(&with_violations(&[10, 12, 14, 19]));
        assert_eq!(r.status, GateStatus::Fail);
        assert_eq!(r.reasons, vec!["GATE_LIFT_RECENT_VIOLATION_RATE"]);
        assert_eq!(r.metrics["violation_rate_recent"], "0.400000");
        // The same four among the oldest ten pass.
        assert_eq!(
            run(&with_violations(&[0, 2, 4, 9])).status,
            GateStatus::Pass
        );
        // Rate boundary on the recent set with a custom rate of 0.30: 3 of 10 passes.
        let t = GateThresholds {
            max_violation_rate_ppm: 300_000,
            ..GateThresholds::default()
        };
        let r = evaluate(&with_violations(&[10, 12, 14]), &t);
        assert_eq!(r.status, GateStatus::Pass, "{:?}", r.reasons);
    }

    #[test]
    fn thresholds_come_from_vars_and_typos_are_errors() {
        let none = |_: &str| None;
        assert_eq!(
            GateThresholds::from_vars(none).unwrap(),
            GateThresholds::default()
        );
        let vars = |name: &str| match name {
            "GATE_MIN_CLOSED_TRADES" => Some("10".to_string()),
            "GATE_VIOLATION_RATIO" => Some("1.25".to_string()),
            "GATE_MAX_VIOLATION_RATE" => Some("0.2".to_string()),
            "GATE_MIN_WINDOWS" => Some("".to_string()),
            _ => None,
        };
        let t = GateThresholds::from_vars(vars).unwrap();
        assert_eq!(t.min_closed_trades, 10);
        assert_eq!(t.violation_ratio_ppm, 1_250_000);
        assert_eq!(t.max_violation_rate_ppm, 200_000);
        assert_eq!(t.min_windows, 20);
        for (name, bad) in [
            ("GATE_MIN_CLOSED_TRADES", "thirty"),
            ("GATE_MIN_TRADING_DAYS", "0"),
            ("GATE_VIOLATION_RATIO", "1,1"),
            ("GATE_MAX_VIOLATION_RATE", "1.5"),
            ("GATE_LIFT_RATIO", "-0.9"),
            ("GATE_LIFT_RATIO", "2.0"),
        ] {
            let err =
                GateThresholds::from_vars(|n| (n == name).then(|| bad.to_string())).unwrap_err();
            assert!(
                err.contains(name) || err.contains("GATE_LIFT_RATIO"),
                "{err}"
            );
        }
        assert_eq!(parse_ppm("1.10"), Some(1_100_000));
        assert_eq!(parse_ppm("1.1001"), Some(1_100_100));
        assert_eq!(parse_ppm("0.98"), Some(980_000));
        assert_eq!(parse_ppm("1."), None);
        assert_eq!(parse_ppm("0.1234567"), None);
        assert_eq!(format_ppm(350_000), "0.350000");
    }

    #[test]
    fn the_report_renders_status_checks_and_windows() {
        let r = run(&passing());
        let v = r.to_json();
        assert_eq!(v["status"], "PASS");
        assert_eq!(v["windows"].as_array().unwrap().len(), 20);
        assert_eq!(v["windows"][0]["class"], "lift");
        assert_eq!(v["windows"][0]["brier_market"], "0.160000");
        assert_eq!(v["windows"][0]["brier_strategy"], "0.040000");
        assert_eq!(v["checks"][0]["name"], "integrity");
    }
}

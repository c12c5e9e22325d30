//! Gate-lift replay (runbook §8), off by default: recorded Kalshi candlesticks are replayed day
//! by day through the strategy with an **as-of** time, so that a day's evaluation sees only the
//! candles that had closed by then; the forecasts it produces are tagged synthetic (the
//! production gate never counts them) and scored into per-day windows like real ones.
//!
//! For each replayed day `D` (as-of = the end of `D`, UTC) and each market:
//! - the **book** is the last visible candle's `yes_bid`/`yes_ask` close (a one-level book of
//!   [`REPLAY_DEPTH`] contracts a side: candles carry no depth);
//! - the **model** is the mean of the visible candles' mid over the [`MODEL_LOOKBACK_SECS`]
//!   before that last candle (at least one such candle is needed), as the quote the fair-value
//!   strategy compares the book with (`core::strategy::evaluate`, unchanged);
//! - the **outcome** a signal is scored against is the market's result: the recorded series'
//!   final quote (`yes_bid ≥ 0.95` → YES, `yes_ask ≤ 0.05` → NO, else unresolved and skipped).
//!   Only the label looks past the as-of time; the strategy never does.
//!
//! A day fails when no market had enough visible history to be evaluated (`REPLAY_NO_DATA`);
//! strict mode (`GATE_LIFT_REPLAY_STRICT=1`) fails the run on any failed day.

use crate::core::gate::{windows, ForecastRecord, GateThresholds, Window};
use crate::core::money::{Price, Qty, Usd, PRICE_SCALE};
use crate::core::pairs::PairId;
use crate::core::risk::MarketId;
use crate::core::strategy::{evaluate, Decision, ModelQuote, SignalInput, StrategyConfig};
use crate::venues::kalshi::{Level, Orderbook};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Contracts assumed on each side of a replayed book.
pub const REPLAY_DEPTH: i64 = 1_000;
/// How far back the replay model averages.
pub const MODEL_LOOKBACK_SECS: i64 = 24 * 3600;
/// Bankroll the replayed strategy sizes against.
pub const REPLAY_BANKROLL_USD: i64 = 10_000;

/// One hourly candle: when it closed and its closing quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    /// Unix seconds at the end of the period.
    pub end_ts: i64,
    pub yes_bid: Option<Price>,
    pub yes_ask: Option<Price>,
}

/// Parses the recorded candlesticks file: `{ticker: [{end_period_ts, yes_bid:{close}, yes_ask:
/// {close}, …}, …]}`, prices as dollar strings. Candles come back sorted by time.
pub fn parse_candles(bytes: &[u8]) -> Result<BTreeMap<String, Vec<Candle>>, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not an object of tickers")?;
    let price = |c: &Value, side: &str| -> Result<Option<Price>, String> {
        match &c[side]["close"] {
            Value::Null => Ok(None),
            Value::String(s) => Price::parse_dollars(s)
                .map(Some)
                .map_err(|e| format!("{side}.close {s:?}: {}", e.code())),
            other => Err(format!("{side}.close is not a string: {other}")),
        }
    };
    let mut out = BTreeMap::new();
    for (ticker, candles) in obj {
        let list = candles
            .as_array()
            .ok_or_else(|| format!("{ticker}: not an array"))?;
        let mut parsed = Vec::with_capacity(list.len());
        for c in list {
            parsed.push(Candle {
                end_ts: c["end_period_ts"]
                    .as_i64()
                    .ok_or_else(|| format!("{ticker}: end_period_ts"))?,
                yes_bid: price(c, "yes_bid").map_err(|e| format!("{ticker}: {e}"))?,
                yes_ask: price(c, "yes_ask").map_err(|e| format!("{ticker}: {e}"))?,
            });
        }
        parsed.sort_by_key(|c| c.end_ts);
        out.insert(ticker.clone(), parsed);
    }
    Ok(out)
}

/// The candles visible at `as_of`: those that had closed by then.
pub fn visible(candles: &[Candle], as_of: DateTime<Utc>) -> &[Candle] {
    let cut = candles.partition_point(|c| c.end_ts <= as_of.timestamp());
    &candles[..cut]
}

/// The market's result from its recorded final quote (see the module doc).
pub fn outcome(candles: &[Candle]) -> Option<bool> {
    let last = candles
        .iter()
        .rev()
        .find(|c| c.yes_bid.is_some() || c.yes_ask.is_some())?;
    if last.yes_bid.is_some_and(|b| b.units() >= 9_500) {
        Some(true)
    } else if last.yes_ask.is_some_and(|a| a.units() <= 500) {
        Some(false)
    } else {
        None
    }
}

fn mid(c: &Candle) -> Option<i64> {
    Some((c.yes_bid?.units() + c.yes_ask?.units()) / 2)
}

/// What the strategy is given for one market as of a time, or `None` without enough history.
fn inputs(candles: &[Candle]) -> Option<(Orderbook, ModelQuote)> {
    let (last, before) = candles.split_last()?;
    let (bid, ask) = (last.yes_bid?, last.yes_ask?);
    if bid.units() <= 0 || ask.units() >= PRICE_SCALE || bid >= ask {
        return None;
    }
    let since = last.end_ts - MODEL_LOOKBACK_SECS;
    let mids: Vec<i64> = before
        .iter()
        .filter(|c| c.end_ts > since)
        .filter_map(mid)
        .collect();
    if mids.is_empty() {
        return None;
    }
    let m = mids.iter().sum::<i64>() / mids.len() as i64;
    // A one-tick model spread around the mean mid.
    let model = ModelQuote {
        bid: Price::new((m - 50).clamp(1, PRICE_SCALE - 2))?,
        ask: Price::new((m + 50).clamp(2, PRICE_SCALE - 1))?,
    };
    let depth = Qty::contracts(REPLAY_DEPTH)?;
    // YES ask = 1 − best NO bid.
    let book = Orderbook {
        yes_bids: vec![Level {
            price: bid,
            qty: depth,
        }],
        no_bids: vec![Level {
            price: ask.complement(),
            qty: depth,
        }],
    };
    Some((book, model))
}

/// One replayed day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayResult {
    pub day: NaiveDate,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub as_of: DateTime<Utc>,
    /// Markets with enough visible history to evaluate.
    pub evaluated: u32,
    pub signals: u32,
    /// Signals on markets with a known outcome (scored).
    pub scored: u32,
    /// `None` when the day passed, else the failure code.
    pub failure: Option<&'static str>,
    #[serde(skip)]
    pub forecasts: Vec<ForecastRecord>,
}

/// Replays one day: every market as of `as_of`, through `strategy`.
pub fn replay_day(
    candles: &BTreeMap<String, Vec<Candle>>,
    strategy: &StrategyConfig,
    as_of: DateTime<Utc>,
) -> DayResult {
    let mut day = DayResult {
        day: as_of.date_naive(),
        as_of,
        evaluated: 0,
        signals: 0,
        scored: 0,
        failure: None,
        forecasts: Vec::new(),
    };
    let bankroll = Usd::from_dollars(REPLAY_BANKROLL_USD).unwrap_or(Usd::ZERO);
    for (ticker, series) in candles {
        let seen = visible(series, as_of);
        let Some((book, model)) = inputs(seen) else {
            continue;
        };
        day.evaluated += 1;
        let pair = PairId(format!("replay:{ticker}"));
        let market = MarketId::new(ticker.clone());
        let input = SignalInput {
            pair_id: &pair,
            market: &market,
            book: &book,
            model,
            bankroll,
            evidence: Vec::new(),
            now: as_of,
        };
        let Ok(Decision::Signal(signal)) = evaluate(strategy, &input) else {
            continue;
        };
        day.signals += 1;
        if let Some(yes_won) = outcome(series) {
            day.scored += 1;
            let won = match signal.side {
                crate::core::risk::Side::Yes => yes_won,
                crate::core::risk::Side::No => !yes_won,
            };
            day.forecasts.push(ForecastRecord {
                signal_id: signal.client_order_id.clone(),
                at: as_of,
                model_prob: signal.model_prob,
                market_prob: signal.market_prob,
                won,
                synthetic: true,
            });
        }
    }
    if day.evaluated == 0 {
        day.failure = Some("REPLAY_NO_DATA");
    }
    day
}

/// The replay settings (`ENABLE_GATE_LIFT_REPLAY`, `GATE_LIFT_REPLAY_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReplayConfig {
    pub enabled: bool,
    pub days: u32,
    pub start_offset_days: u32,
    pub interval_days: u32,
    pub strict: bool,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            enabled: false,
            days: 0,
            start_offset_days: 1,
            interval_days: 1,
            strict: false,
        }
    }
}

impl ReplayConfig {
    /// From the variables; unset means the default, a malformed value is an error.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ReplayConfig, String> {
        let d = ReplayConfig::default();
        let get = |n: &str| {
            var(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let flag = |n: &str, default: bool| match get(n).as_deref() {
            None => Ok(default),
            Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(v) => Err(format!("{n} must be 0 or 1, got {v:?}")),
        };
        let count = |n: &str, default: u32, max: u32| match get(n) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|x| *x <= max)
                .ok_or_else(|| format!("{n} must be an integer in 0..={max}, got {v:?}")),
        };
        let interval = match get("GATE_LIFT_REPLAY_INTERVAL") {
            None => d.interval_days,
            Some(v) => v
                .strip_suffix('d')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| (1..=30).contains(n))
                .ok_or_else(|| {
                    format!("GATE_LIFT_REPLAY_INTERVAL must be like 1d (1d..30d), got {v:?}")
                })?,
        };
        Ok(ReplayConfig {
            enabled: flag("ENABLE_GATE_LIFT_REPLAY", d.enabled)?,
            days: count("GATE_LIFT_REPLAY_DAYS", d.days, 366)?,
            start_offset_days: count(
                "GATE_LIFT_REPLAY_START_OFFSET_DAYS",
                d.start_offset_days,
                3660,
            )?,
            interval_days: interval,
            strict: flag("GATE_LIFT_REPLAY_STRICT", d.strict)?,
        })
    }

    /// The as-of times to replay, oldest first: `days` days ending `start_offset_days` before
    /// `anchor`'s day, every `interval_days`, each at the end of its UTC day.
    pub fn as_of_times(&self, anchor: NaiveDate) -> Vec<DateTime<Utc>> {
        let last = anchor - TimeDelta::days(i64::from(self.start_offset_days));
        let mut out: Vec<DateTime<Utc>> = (0..self.days)
            .map(|i| last - TimeDelta::days(i64::from(i * self.interval_days)))
            .filter_map(|d| d.and_hms_milli_opt(23, 59, 59, 999))
            .map(|t| t.and_utc())
            .collect();
        out.reverse();
        out
    }
}

/// A whole replay: its days, their forecasts' windows, and whether it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub days: Vec<DayResult>,
    pub windows: Vec<Window>,
    pub failed_days: u32,
    /// `FAIL` in strict mode when a day failed, else `OK`.
    pub status: &'static str,
}

/// Replays every as-of time of `config` anchored at `anchor` (for the fixtures: the day after
/// the last recorded candle).
pub fn replay(
    candles: &BTreeMap<String, Vec<Candle>>,
    strategy: &StrategyConfig,
    config: &ReplayConfig,
    thresholds: &GateThresholds,
    anchor: NaiveDate,
) -> ReplayReport {
    let days: Vec<DayResult> = config
        .as_of_times(anchor)
        .into_iter()
        .map(|t| replay_day(candles, strategy, t))
        .collect();
    let forecasts: Vec<ForecastRecord> = days.iter().flat_map(|d| d.forecasts.clone()).collect();
    let failed_days = days.iter().filter(|d| d.failure.is_some()).count() as u32;
    ReplayReport {
        windows: windows(&forecasts, thresholds, true),
        status: if config.strict && failed_days > 0 {
            "FAIL"
        } else {
            "OK"
        },
        failed_days,
        days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const H: i64 = 3600;

    fn p(units: i64) -> Option<Price> {
        Price::new(units)
    }

    fn c(end_ts: i64, bid: i64, ask: i64) -> Candle {
        Candle {
            end_ts,
            yes_bid: p(bid),
            yes_ask: p(ask),
        }
    }

    fn strategy() -> StrategyConfig {
        StrategyConfig::fair_value("replay")
    }

    fn t0() -> i64 {
        Utc.with_ymd_and_hms(2025, 2, 27, 0, 0, 0)
            .unwrap()
            .timestamp()
    }

    #[test]
    fn the_recorded_fixture_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/kalshi/paulp_candlesticks_2026-03/candlesticks-2026-03-02T23-11-55-535Z.json"
        );
        let bytes = std::fs::read(path).expect("fixture");
        let all = parse_candles(&bytes).unwrap();
        assert_eq!(all.len(), 82);
        assert_eq!(all.values().map(Vec::len).sum::<usize>(), 368);
        for series in all.values() {
            assert!(series.windows(2).all(|w| w[0].end_ts <= w[1].end_ts));
        }
    }

    #[test]
    fn an_as_of_date_never_sees_a_later_candle() {
        // History: mid ~0.60 for a day. At 12:00 the book is 0.40/0.42 (cheap against the
        // model: a YES signal). A later candle (13:00) moves the book to 0.70/0.72 — had the
        // replay seen it, there would be no YES signal (and a NO one instead).
        let t = t0();
        let series = vec![
            c(t + H, 5_900, 6_100),
            c(t + 2 * H, 5_900, 6_100),
            c(t + 12 * H, 4_000, 4_200),
            c(t + 13 * H, 7_000, 7_200),
            c(t + 30 * H, 9_900, 9_990), // settles YES
        ];
        let mut all = BTreeMap::new();
        all.insert("KXTEST-1".to_string(), series.clone());
        let at_noon = Utc.timestamp_opt(t + 12 * H + 30 * 60, 0).unwrap();
        assert_eq!(visible(&series, at_noon).len(), 3);
        let day = replay_day(&all, &strategy(), at_noon);
        assert_eq!((day.evaluated, day.signals, day.scored), (1, 1, 1));
        let f = &day.forecasts[0];
        assert!(f.synthetic);
        assert_eq!(
            f.market_prob.ppm(),
            420_000,
            "the 12:00 ask, not the 13:00 one"
        );
        assert!(f.won, "YES bought, YES won");

        // One second after the later candle closed, the result differs: it was unseen before.
        let after = Utc.timestamp_opt(t + 13 * H, 0).unwrap();
        let later = replay_day(&all, &strategy(), after);
        assert_ne!(
            later.forecasts.first().map(|f| f.market_prob),
            Some(f.market_prob)
        );
        // Exactly at a candle's close it is visible; a second before it is not.
        assert_eq!(
            visible(&series, Utc.timestamp_opt(t + 13 * H - 1, 0).unwrap()).len(),
            3
        );
        assert_eq!(visible(&series, after).len(), 4);
    }

    #[test]
    fn a_day_without_history_fails_and_strict_mode_fails_the_run() {
        let t = t0();
        let mut all = BTreeMap::new();
        all.insert(
            "KXTEST-2".to_string(),
            vec![c(t + 40 * H, 5_000, 5_200), c(t + 41 * H, 5_000, 5_200)],
        );
        let anchor = Utc.timestamp_opt(t + 48 * H, 0).unwrap().date_naive();
        let config = ReplayConfig {
            enabled: true,
            days: 2,
            start_offset_days: 1,
            interval_days: 1,
            strict: false,
        };
        let times = config.as_of_times(anchor);
        assert_eq!(times.len(), 2);
        assert!(times[0] < times[1]);
        let r = replay(
            &all,
            &strategy(),
            &config,
            &GateThresholds::default(),
            anchor,
        );
        assert_eq!(
            r.days[0].failure,
            Some("REPLAY_NO_DATA"),
            "the first day has no candles yet"
        );
        assert_eq!(r.days[1].failure, None);
        assert_eq!((r.failed_days, r.status), (1, "OK"));
        let strict = ReplayConfig {
            strict: true,
            ..config
        };
        assert_eq!(
            replay(
                &all,
                &strategy(),
                &strict,
                &GateThresholds::default(),
                anchor
            )
            .status,
            "FAIL"
        );
    }

    #[test]
    fn settings_default_off_and_typos_are_errors() {
        let d = ReplayConfig::from_vars(|_| None).unwrap();
        assert_eq!(d, ReplayConfig::default());
        assert!(!d.enabled);
        assert_eq!(
            (d.days, d.start_offset_days, d.interval_days, d.strict),
            (0, 1, 1, false)
        );
        assert!(d
            .as_of_times(NaiveDate::from_ymd_opt(2025, 3, 2).unwrap())
            .is_empty());
        let on = ReplayConfig::from_vars(|n| match n {
            "ENABLE_GATE_LIFT_REPLAY" => Some("1".into()),
            "GATE_LIFT_REPLAY_DAYS" => Some("5".into()),
            "GATE_LIFT_REPLAY_INTERVAL" => Some("2d".into()),
            "GATE_LIFT_REPLAY_STRICT" => Some("1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (on.enabled, on.days, on.interval_days, on.strict),
            (true, 5, 2, true)
        );
        for (n, v) in [
            ("ENABLE_GATE_LIFT_REPLAY", "yes"),
            ("GATE_LIFT_REPLAY_DAYS", "-1"),
            ("GATE_LIFT_REPLAY_INTERVAL", "1h"),
            ("GATE_LIFT_REPLAY_STRICT", "2"),
        ] {
            let e = ReplayConfig::from_vars(|x| (x == n).then(|| v.to_string())).unwrap_err();
            assert!(e.contains(n), "{e}");
        }
    }

    #[test]
    fn outcomes_come_from_the_final_recorded_quote() {
        assert_eq!(outcome(&[c(1, 9_600, 9_900)]), Some(true));
        assert_eq!(outcome(&[c(1, 100, 400)]), Some(false));
        assert_eq!(outcome(&[c(1, 4_000, 6_000)]), None);
        assert_eq!(outcome(&[]), None);
    }
}

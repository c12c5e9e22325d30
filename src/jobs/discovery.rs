//! The cycle's `discovery` step: candidate pairs by text similarity
//! (`core::pairs::discovery`) between the active Kalshi and Polymarket markets ingestion
//! stored (per venue the 10,000 most recently listed or changed). At most `DISCOVERY_MAX_PER_CYCLE` new candidates per cycle (best first), never a
//! pair that exists in any status (a rejected pair is not proposed again). Each candidate is
//! proposed as discovery (`Proposer::Discovery`, audited before it is stored) and graded by the
//! LLM exactly as an operator's proposal is (`routes::pairs::assess_as`); it lands in review.
//! Discovery never approves: only an operator does.
//!
//! Settings: `DISCOVERY_MIN_SCORE_BPS` (title similarity, default 5000 = Jaccard 0.5),
//! `DISCOVERY_MAX_PER_CYCLE` (default 3; 0 turns discovery off), `DISCOVERY_MAX_CLOSE_GAP_HOURS`
//! (default 72).

use super::cycle::{self, Cx};
use super::StepEnd;
use crate::bindings;
use crate::core::pairs::discovery::{self, DiscoveryConfig, Listing};
use crate::core::pairs::{Pair, PairStatus, Proposer};
use crate::core::time::{format_utc, parse_utc};
use crate::store::pairs as pair_store;
use serde_json::json;
use std::collections::HashSet;

/// Most active markets per venue read for discovery: the most recently listed or changed ones,
/// so a new market is compared in the cycle after ingestion first stores it.
const MAX_LISTINGS: i64 = 10_000;

/// Discovery's settings from the environment.
pub fn config(env: &worker::Env) -> Result<(DiscoveryConfig, usize), String> {
    let d = DiscoveryConfig::default();
    let min = bindings::var_i64(env, "DISCOVERY_MIN_SCORE_BPS", i64::from(d.min_score_bps))?;
    if !(1..=10_000).contains(&min) {
        return Err("DISCOVERY_MIN_SCORE_BPS must be in 1..=10000".into());
    }
    let per_cycle = bindings::var_i64(env, "DISCOVERY_MAX_PER_CYCLE", 3)?;
    if !(0..=50).contains(&per_cycle) {
        return Err("DISCOVERY_MAX_PER_CYCLE must be in 0..=50".into());
    }
    let gap_hours = bindings::var_i64(
        env,
        "DISCOVERY_MAX_CLOSE_GAP_HOURS",
        d.max_close_gap_secs / 3_600,
    )?;
    if !(0..=24 * 366).contains(&gap_hours) {
        return Err("DISCOVERY_MAX_CLOSE_GAP_HOURS must be in 0..=8784".into());
    }
    Ok((
        DiscoveryConfig {
            min_score_bps: min as u32,
            max_close_gap_secs: gap_hours * 3_600,
            per_kalshi_market: d.per_kalshi_market,
        },
        per_cycle as usize,
    ))
}

fn listings(rows: Vec<pair_store::ListingRow>) -> Vec<Listing> {
    rows.into_iter()
        .filter_map(|r| {
            Some(Listing {
                closes_at: parse_utc(&r.close_time)?,
                id: r.market_id,
                title: r.title,
            })
        })
        .collect()
}

/// Proposes and assesses up to the configured number of new candidate pairs.
pub async fn step(cx: &Cx<'_>) -> StepEnd {
    let (config, per_cycle) = match config(cx.env) {
        Ok(c) => c,
        Err(detail) => return StepEnd::fail(json!({}), "CONFIG_INVALID", detail),
    };
    if per_cycle == 0 {
        return StepEnd::skipped("DISCOVERY_OFF", "DISCOVERY_MAX_PER_CYCLE is 0");
    }
    let read = async {
        let k = pair_store::listings(cx.db, "kalshi", MAX_LISTINGS).await?;
        let p = pair_store::listings(cx.db, "polymarket", MAX_LISTINGS).await?;
        let known = pair_store::known(cx.db).await?;
        Ok::<_, crate::store::d1::DbError>((k, p, known))
    };
    let (k, p, known) = match read.await {
        Ok(v) => v,
        Err(e) => return StepEnd::fail(json!({}), e.code(), "database read failed"),
    };
    let known: HashSet<(String, String)> = known.into_iter().collect();
    let (kalshi, polymarket) = (listings(k), listings(p));
    let found = discovery::candidates(&kalshi, &polymarket, &known, &config);
    let (mut proposed, mut assessed, mut not_assessed, mut failures) = (0, 0, 0, 0);
    let mut pairs = Vec::new();
    for c in found.iter().take(per_cycle) {
        match propose(cx, c).await {
            Ok(pair) => {
                proposed += 1;
                match pair.status {
                    PairStatus::Assessed => assessed += 1,
                    _ => not_assessed += 1,
                }
                pairs.push(json!({"pair_id": pair.id, "kalshi_ticker": c.kalshi_ticker,
                                  "polymarket_condition_id": c.polymarket_condition_id,
                                  "score_bps": c.score_bps, "status": pair.status.as_str()}));
            }
            Err(code) => {
                cx.log.error(
                    "discovery_candidate_failed",
                    json!({"kalshi_ticker": c.kalshi_ticker,
                           "polymarket_condition_id": c.polymarket_condition_id, "code": code}),
                );
                failures += 1;
            }
        }
    }
    let counts = json!({"kalshi_markets": kalshi.len(), "polymarket_markets": polymarket.len(),
                        "candidates": found.len(), "proposed": proposed, "assessed": assessed,
                        "not_assessed": not_assessed, "failures": failures,
                        "min_score_bps": config.min_score_bps, "max_per_cycle": per_cycle,
                        "pairs": pairs});
    if failures > 0 {
        return StepEnd::fail(
            counts,
            "DISCOVERY_INCOMPLETE",
            "some candidates could not be proposed",
        );
    }
    StepEnd::success(counts)
}

/// Proposes one candidate (audited, stored) and has it graded; the stored pair.
async fn propose(cx: &Cx<'_>, c: &discovery::Candidate) -> Result<Pair, String> {
    let pair = Pair::propose(
        &c.kalshi_ticker,
        &c.polymarket_condition_id,
        0,
        Proposer::Discovery {
            score_bps: c.score_bps,
        },
        cx.now,
    )
    .map_err(|e| e.code().to_string())?;
    cycle::audit(cx, "PAIR_PROPOSED", json!({"pair": pair})).await?;
    let at = format_utc(cx.now);
    if !pair_store::insert(cx.db, &pair, &at)
        .await
        .map_err(|e| e.code().to_string())?
    {
        return Err("PAIR_EXISTS".into());
    }
    // A failed or unparseable LLM answer is stored as `not_assessed` by `assess_as`; an error
    // here (evidence unreadable, audit down) leaves the pair `proposed`, in review too.
    crate::http::routes::pairs::assess_as(cx.env, cx.db, cx.log, cx.actor.clone(), pair, cx.now)
        .await
        .map_err(|e| e.code)
}

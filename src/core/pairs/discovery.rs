//! Candidate pairs by title similarity: the cheap first filter before an LLM assessment.
//!
//! Similarity is the Jaccard index of the two titles' token sets, in basis points
//! (`|A ∩ B| · 10⁴ / |A ∪ B|`, rounded down). Tokens are maximal runs of alphanumeric
//! characters, lower-cased, without a short list of English stop words and single characters.
//! Everything is integer and order-independent, so the same markets always give the same
//! candidates in the same order.
//!
//! Only pairs sharing at least one token are ever scored (an inverted index over the Polymarket
//! titles), so a cycle with 10,000 × 2,000 markets does not compare 20 million pairs.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on", "or",
    "the", "to", "vs", "will", "with",
];

/// A market as discovery sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Kalshi ticker or Polymarket condition id.
    pub id: String,
    pub title: String,
    /// Close (Kalshi) or end date (Polymarket).
    pub closes_at: DateTime<Utc>,
}

/// Discovery settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Minimum similarity, inclusive.
    pub min_score_bps: u32,
    /// Markets whose close dates differ by more than this cannot be the same event.
    pub max_close_gap_secs: i64,
    /// At most this many candidates per Kalshi market (the best ones).
    pub per_kalshi_market: usize,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            min_score_bps: 5_000,
            max_close_gap_secs: 3 * 86_400,
            per_kalshi_market: 3,
        }
    }
}

/// A proposed pair and its similarity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub kalshi_ticker: String,
    pub polymarket_condition_id: String,
    pub score_bps: u32,
}

/// The title's token set.
pub fn tokens(title: &str) -> BTreeSet<String> {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.chars().count() > 1)
        .map(str::to_lowercase)
        .filter(|t| !STOP_WORDS.contains(&t.as_str()))
        .collect()
}

/// Jaccard similarity of two token sets in basis points; 0 when either is empty.
pub fn jaccard_bps(a: &BTreeSet<String>, b: &BTreeSet<String>) -> u32 {
    let inter = a.intersection(b).count();
    similarity(inter, a.len(), b.len())
}

fn similarity(inter: usize, a: usize, b: usize) -> u32 {
    let union = a + b - inter;
    if union == 0 || inter == 0 {
        return 0;
    }
    (inter as u64 * 10_000 / union as u64) as u32
}

/// Candidates among `kalshi` × `polymarket`, excluding pairs in `known` (kalshi ticker,
/// condition id). Sorted by score (highest first), then Kalshi ticker, then condition id.
pub fn candidates(
    kalshi: &[Listing],
    polymarket: &[Listing],
    known: &HashSet<(String, String)>,
    config: &DiscoveryConfig,
) -> Vec<Candidate> {
    let poly_tokens: Vec<BTreeSet<String>> = polymarket.iter().map(|m| tokens(&m.title)).collect();
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, set) in poly_tokens.iter().enumerate() {
        for t in set {
            index.entry(t.as_str()).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for k in kalshi {
        let k_tokens = tokens(&k.title);
        let mut shared: BTreeMap<usize, usize> = BTreeMap::new();
        for t in &k_tokens {
            for &i in index.get(t.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
                *shared.entry(i).or_default() += 1;
            }
        }
        let mut mine: Vec<Candidate> = shared
            .into_iter()
            .filter_map(|(i, inter)| {
                let p = &polymarket[i];
                let score = similarity(inter, k_tokens.len(), poly_tokens[i].len());
                let gap = (k.closes_at - p.closes_at).num_seconds().abs();
                (score >= config.min_score_bps
                    && gap <= config.max_close_gap_secs
                    && !known.contains(&(k.id.clone(), p.id.clone())))
                .then(|| Candidate {
                    kalshi_ticker: k.id.clone(),
                    polymarket_condition_id: p.id.clone(),
                    score_bps: score,
                })
            })
            .collect();
        mine.sort_by(|a, b| {
            b.score_bps
                .cmp(&a.score_bps)
                .then_with(|| a.polymarket_condition_id.cmp(&b.polymarket_condition_id))
        });
        mine.truncate(config.per_kalshi_market);
        out.extend(mine);
    }
    out.sort_by(|a, b| {
        b.score_bps
            .cmp(&a.score_bps)
            .then_with(|| a.kalshi_ticker.cmp(&b.kalshi_ticker))
            .then_with(|| a.polymarket_condition_id.cmp(&b.polymarket_condition_id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + days * 86_400, 0).unwrap()
    }

    fn listing(id: &str, title: &str, day: i64) -> Listing {
        Listing {
            id: id.into(),
            title: title.into(),
            closes_at: at(day),
        }
    }

    #[test]
    fn tokens_drop_case_punctuation_stop_words_and_single_characters() {
        let t = tokens("Will the Fed cut rates in June 2026? (A 25bp cut)");
        let expected: BTreeSet<String> = ["fed", "cut", "rates", "june", "2026", "25bp"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(t, expected);
    }

    #[test]
    fn jaccard_is_exact_in_basis_points() {
        let a = tokens("fed cut june");
        let b = tokens("fed cut july");
        // 2 shared of 4 distinct.
        assert_eq!(jaccard_bps(&a, &b), 5_000);
        assert_eq!(jaccard_bps(&a, &a), 10_000);
        assert_eq!(jaccard_bps(&a, &tokens("")), 0);
        // 1 of 3 rounds down.
        assert_eq!(jaccard_bps(&tokens("x1 y1"), &tokens("x1 z1")), 3_333);
    }

    #[test]
    fn candidates_are_thresholded_date_filtered_deduplicated_and_ordered() {
        let kalshi = [
            listing("K-FED", "Fed cuts rates in June 2026", 10),
            listing("K-NBA", "Lakers win the 2026 NBA Finals", 40),
        ];
        let poly = [
            listing("0xfed", "Will the Fed cut rates in June 2026?", 11),
            listing("0xfed-late", "Fed cuts rates in June 2026", 30),
            listing("0xnba", "Lakers win 2026 NBA Finals", 40),
            listing("0xother", "Bitcoin above 100k in June", 10),
        ];
        let config = DiscoveryConfig::default();
        let found = candidates(&kalshi, &poly, &HashSet::new(), &config);
        let ids: Vec<(&str, &str, u32)> = found
            .iter()
            .map(|c| {
                (
                    c.kalshi_ticker.as_str(),
                    c.polymarket_condition_id.as_str(),
                    c.score_bps,
                )
            })
            .collect();
        // K-FED vs 0xfed: {fed,cuts,rates,june,2026} vs {fed,cut,rates,june,2026}: 4/6.
        // 0xfed-late is identical text but closes 20 days later: not the same event.
        assert_eq!(
            ids,
            vec![("K-NBA", "0xnba", 10_000), ("K-FED", "0xfed", 6_666)]
        );

        let known: HashSet<(String, String)> = [("K-NBA".to_string(), "0xnba".to_string())]
            .into_iter()
            .collect();
        let again = candidates(&kalshi, &poly, &known, &config);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].kalshi_ticker, "K-FED");

        let strict = DiscoveryConfig {
            min_score_bps: 6_667,
            ..config
        };
        assert_eq!(
            candidates(&kalshi, &poly, &HashSet::new(), &strict).len(),
            1
        );
    }

    #[test]
    fn per_market_cap_keeps_the_best_and_is_deterministic() {
        let kalshi = [listing("K", "alpha beta gamma delta", 0)];
        let poly = [
            listing("p3", "alpha beta", 0),
            listing("p1", "alpha beta gamma", 0),
            listing("p2", "alpha beta gamma", 0),
        ];
        let config = DiscoveryConfig {
            min_score_bps: 1,
            per_kalshi_market: 2,
            ..DiscoveryConfig::default()
        };
        let found = candidates(&kalshi, &poly, &HashSet::new(), &config);
        let ids: Vec<&str> = found
            .iter()
            .map(|c| c.polymarket_condition_id.as_str())
            .collect();
        assert_eq!(ids, vec!["p1", "p2"]);
    }
}

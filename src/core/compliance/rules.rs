//! Entity rules: what operators have blocked, and the matcher that drops such entities.
//!
//! Matching (all case-insensitive; a rule's `venue` limits it to one venue or `any`):
//! - `ticker`: equals one of the entity's identifiers (a Kalshi market ticker; a Polymarket
//!   condition id, slug or numeric id).
//! - `series`: equals the entity's Kalshi series ticker.
//! - `event_ticker`: equals the entity's Kalshi event ticker.
//! - `category`: equals one of the entity's categories (its own, or its event's).
//! - `title_keyword`: is a substring of one of the entity's titles (a keyword `war` also matches
//!   `Warriors`: rules err on the side of dropping).

use super::{check_text, ComplianceError, Venue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Most rules a set may hold.
pub const MAX_RULES: usize = 1_000;
/// Longest rule value.
pub const MAX_RULE_VALUE_CHARS: usize = 200;
/// Longest rule reason.
pub const MAX_RULE_REASON_CHARS: usize = 500;
/// Prefix of the rule-set version hash input; bump it if the canonical form changes.
pub const RULES_VERSION_DOMAIN: &str = "paulp.compliance.rules.v1";

/// What a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    Ticker,
    Series,
    EventTicker,
    Category,
    TitleKeyword,
}

impl RuleKind {
    pub const ALL: [RuleKind; 5] = [
        RuleKind::Ticker,
        RuleKind::Series,
        RuleKind::EventTicker,
        RuleKind::Category,
        RuleKind::TitleKeyword,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Ticker => "ticker",
            RuleKind::Series => "series",
            RuleKind::EventTicker => "event_ticker",
            RuleKind::Category => "category",
            RuleKind::TitleKeyword => "title_keyword",
        }
    }

    pub fn parse(s: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which venue's entities a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleVenue {
    Only(Venue),
    Any,
}

impl RuleVenue {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleVenue::Only(v) => v.as_str(),
            RuleVenue::Any => "any",
        }
    }

    pub fn parse(s: &str) -> Option<RuleVenue> {
        match s {
            "any" => Some(RuleVenue::Any),
            other => Venue::parse(other).map(RuleVenue::Only),
        }
    }

    fn covers(self, venue: Venue) -> bool {
        match self {
            RuleVenue::Any => true,
            RuleVenue::Only(v) => v == venue,
        }
    }
}

/// One rule as an operator writes it (`PUT /admin/compliance/rules`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub kind: String,
    /// `kalshi`, `polymarket` or `any` (the default).
    #[serde(default)]
    pub venue: Option<String>,
    pub value: String,
    pub reason: String,
}

/// A stored `compliance_rules` row, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuleRow {
    pub id: String,
    pub kind: String,
    pub venue: String,
    pub value: String,
    pub reason: String,
}

/// A checked rule. `id` is derived from kind, venue and the normalised value, so the same rule
/// keeps its id across rule-set replacements and drops stay comparable over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: String,
    #[serde(serialize_with = "ser_kind")]
    pub kind: RuleKind,
    #[serde(serialize_with = "ser_venue")]
    pub venue: RuleVenue,
    pub value: String,
    pub reason: String,
}

fn ser_kind<S: serde::Serializer>(k: &RuleKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

fn ser_venue<S: serde::Serializer>(v: &RuleVenue, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn normalise(kind: RuleKind, value: &str) -> String {
    match kind {
        // Venue identifiers are ASCII; keywords and categories may not be.
        RuleKind::Ticker | RuleKind::Series | RuleKind::EventTicker => value.to_ascii_uppercase(),
        RuleKind::Category | RuleKind::TitleKeyword => value.to_lowercase(),
    }
}

fn rule_id(kind: RuleKind, venue: RuleVenue, normalised: &str) -> String {
    let digest = Sha256::digest(format!(
        "{}\n{}\n{}",
        kind.as_str(),
        venue.as_str(),
        normalised
    ));
    hex::encode(&digest[..8])
}

impl Rule {
    fn new(kind: RuleKind, venue: RuleVenue, value: String, reason: String) -> Rule {
        Rule {
            id: rule_id(kind, venue, &normalise(kind, &value)),
            kind,
            venue,
            value,
            reason,
        }
    }
}

/// Checks an operator's rule list: each kind and venue known, value 1..=200 and reason
/// 1..=500 characters without control characters, no two rules alike, at most [`MAX_RULES`].
pub fn validate_rules(inputs: &[RuleInput]) -> Result<Vec<Rule>, ComplianceError> {
    if inputs.len() > MAX_RULES {
        return Err(ComplianceError::TooManyRules {
            count: inputs.len(),
        });
    }
    let mut out = Vec::with_capacity(inputs.len());
    let mut seen = HashSet::new();
    for input in inputs {
        let kind = RuleKind::parse(&input.kind).ok_or_else(|| ComplianceError::InvalidField {
            field: "kind",
            reason: format!("unknown kind {:?}", input.kind),
        })?;
        let venue = match input.venue.as_deref() {
            None => RuleVenue::Any,
            Some(v) => RuleVenue::parse(v).ok_or_else(|| ComplianceError::InvalidField {
                field: "venue",
                reason: format!("unknown venue {v:?}"),
            })?,
        };
        let value = check_text("value", &input.value, 1, MAX_RULE_VALUE_CHARS)?;
        let reason = check_text("reason", &input.reason, 1, MAX_RULE_REASON_CHARS)?;
        let rule = Rule::new(kind, venue, value, reason);
        if !seen.insert(rule.id.clone()) {
            return Err(ComplianceError::DuplicateRule {
                kind,
                value: rule.value,
            });
        }
        out.push(rule);
    }
    Ok(out)
}

/// The version of a rule set: SHA-256 (hex) over its rules' ids, kinds, venues and normalised
/// values in order. Drops record it, so an audit reader knows which rules were in force.
pub fn rules_version(rules: &[Rule]) -> String {
    let mut h = Sha256::new();
    h.update(RULES_VERSION_DOMAIN.as_bytes());
    h.update(b"\n");
    for r in rules {
        let norm = normalise(r.kind, &r.value);
        for part in [
            r.id.as_str(),
            r.kind.as_str(),
            r.venue.as_str(),
            norm.as_str(),
        ] {
            h.update(part.len().to_string().as_bytes());
            h.update(b":");
            h.update(part.as_bytes());
        }
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Is the entity a market or an event?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Market,
    Event,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Market => "market",
            EntityKind::Event => "event",
        }
    }
}

/// What the matcher knows about one entity. Empty lists and `None` simply match nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity<'a> {
    pub venue: Venue,
    pub kind: EntityKind,
    /// The identity recorded with a drop (a Kalshi ticker, a Polymarket condition id, …).
    pub key: &'a str,
    /// Identifiers `ticker` rules compare with.
    pub ids: Vec<&'a str>,
    pub series: Option<&'a str>,
    pub event: Option<&'a str>,
    pub categories: Vec<&'a str>,
    pub titles: Vec<&'a str>,
}

/// A usable rule set with lookup tables. Never "empty because unreadable": building one from
/// stored rows fails if any row does not parse.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    version: String,
    exact: HashMap<(RuleKind, String), Vec<usize>>,
    keywords: Vec<(usize, String)>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let version = rules_version(&rules);
        let mut exact: HashMap<(RuleKind, String), Vec<usize>> = HashMap::new();
        let mut keywords = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let norm = normalise(r.kind, &r.value);
            match r.kind {
                RuleKind::TitleKeyword => keywords.push((i, norm)),
                kind => exact.entry((kind, norm)).or_default().push(i),
            }
        }
        RuleSet {
            rules,
            version,
            exact,
            keywords,
        }
    }

    /// Builds the set from stored rows, refusing the whole set if one row does not parse or
    /// its id does not match its content (a hand-edited row).
    pub fn from_rows(rows: &[RuleRow]) -> Result<RuleSet, ComplianceError> {
        let mut rules = Vec::with_capacity(rows.len());
        for row in rows {
            let invalid = |reason: &str| ComplianceError::StoredRuleInvalid {
                id: row.id.clone(),
                reason: reason.to_string(),
            };
            let kind = RuleKind::parse(&row.kind).ok_or_else(|| invalid("unknown kind"))?;
            let venue = RuleVenue::parse(&row.venue).ok_or_else(|| invalid("unknown venue"))?;
            if row.value.trim().is_empty() {
                return Err(invalid("empty value"));
            }
            let rule = Rule::new(kind, venue, row.value.clone(), row.reason.clone());
            if rule.id != row.id {
                return Err(invalid("id does not match kind, venue and value"));
            }
            rules.push(rule);
        }
        Ok(RuleSet::new(rules))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule (in set order) that matches `e`, if any.
    pub fn check(&self, e: &Entity<'_>) -> Option<&Rule> {
        if self.rules.is_empty() {
            return None;
        }
        let mut best: Option<usize> = None;
        let mut consider = |i: usize| {
            if self.rules[i].venue.covers(e.venue) && best.is_none_or(|b| i < b) {
                best = Some(i);
            }
        };
        let mut exact = |kind: RuleKind, value: &str| {
            if let Some(hits) = self.exact.get(&(kind, normalise(kind, value))) {
                hits.iter().for_each(|&i| consider(i));
            }
        };
        for id in &e.ids {
            exact(RuleKind::Ticker, id);
        }
        if let Some(s) = e.series {
            exact(RuleKind::Series, s);
        }
        if let Some(ev) = e.event {
            exact(RuleKind::EventTicker, ev);
        }
        for c in &e.categories {
            exact(RuleKind::Category, c.trim());
        }
        if !self.keywords.is_empty() {
            let titles: Vec<String> = e.titles.iter().map(|t| t.to_lowercase()).collect();
            for (i, kw) in &self.keywords {
                if titles.iter().any(|t| t.contains(kw.as_str())) {
                    consider(*i);
                }
            }
        }
        best.map(|i| &self.rules[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str, venue: Option<&str>, value: &str) -> RuleInput {
        RuleInput {
            kind: kind.to_string(),
            venue: venue.map(String::from),
            value: value.to_string(),
            reason: "test".to_string(),
        }
    }

    fn set(inputs: &[RuleInput]) -> RuleSet {
        RuleSet::new(validate_rules(inputs).unwrap())
    }

    fn kalshi_market<'a>(ticker: &'a str, event: &'a str, series: &'a str) -> Entity<'a> {
        Entity {
            venue: Venue::Kalshi,
            kind: EntityKind::Market,
            key: ticker,
            ids: vec![ticker],
            series: Some(series),
            event: Some(event),
            categories: vec!["Sports"],
            titles: vec!["Dallas at Tampa Bay: Dallas wins?"],
        }
    }

    #[test]
    fn each_kind_matches_its_field_case_insensitively() {
        let m = kalshi_market(
            "KXNFLGAME-26OCT08TBDAL-DAL",
            "KXNFLGAME-26OCT08TBDAL",
            "KXNFLGAME",
        );
        for (kind, value) in [
            ("ticker", "kxnflgame-26oct08tbdal-dal"),
            ("series", "KXNFLGAME"),
            ("event_ticker", "KXNFLGAME-26OCT08TBDAL"),
            ("category", "sports"),
            ("title_keyword", "TAMPA"),
        ] {
            let rules = set(&[input(kind, None, value)]);
            let hit = rules.check(&m).unwrap_or_else(|| panic!("{kind} {value}"));
            assert_eq!(hit.kind.as_str(), kind);
        }
        for (kind, value) in [
            ("ticker", "KXNFLGAME-26OCT08TBDAL"),
            ("series", "KXNFL"),
            ("event_ticker", "KXNFLGAME"),
            ("category", "Sport"),
            ("title_keyword", "Miami"),
        ] {
            assert!(
                set(&[input(kind, None, value)]).check(&m).is_none(),
                "{kind} {value}"
            );
        }
    }

    #[test]
    fn a_rule_for_one_venue_leaves_the_other_alone() {
        let rules = set(&[input("category", Some("polymarket"), "Sports")]);
        let m = kalshi_market("A-1-X", "A-1", "A");
        assert!(rules.check(&m).is_none());
        let p = Entity {
            venue: Venue::Polymarket,
            kind: EntityKind::Market,
            key: "0xabc",
            ids: vec!["0xabc", "will-it-rain", "540817"],
            series: None,
            event: None,
            categories: vec!["Sports"],
            titles: vec!["Will it rain?"],
        };
        assert_eq!(rules.check(&p).map(|r| r.kind), Some(RuleKind::Category));
        let by_slug = set(&[input("ticker", Some("any"), "will-it-rain")]);
        assert!(by_slug.check(&p).is_some());
    }

    #[test]
    fn the_first_matching_rule_in_set_order_is_reported() {
        let rules = set(&[
            input("title_keyword", None, "dallas"),
            input("series", None, "KXNFLGAME"),
        ]);
        let m = kalshi_market("KXNFLGAME-1-DAL", "KXNFLGAME-1", "KXNFLGAME");
        assert_eq!(rules.check(&m).unwrap().kind, RuleKind::TitleKeyword);
    }

    #[test]
    fn bad_rule_lists_are_refused_whole() {
        let code = |inputs: &[RuleInput]| validate_rules(inputs).unwrap_err().code();
        assert_eq!(code(&[input("tickers", None, "X")]), "INVALID_REQUEST");
        assert_eq!(
            code(&[input("ticker", Some("kalshi.com"), "X")]),
            "INVALID_REQUEST"
        );
        assert_eq!(code(&[input("ticker", None, "  ")]), "INVALID_REQUEST");
        assert_eq!(
            code(&[input("ticker", None, &"X".repeat(201))]),
            "INVALID_REQUEST"
        );
        assert_eq!(
            code(&[
                input("ticker", None, "abc"),
                input("ticker", Some("any"), "ABC")
            ]),
            "COMPLIANCE_RULE_DUPLICATE"
        );
        let many: Vec<RuleInput> = (0..=MAX_RULES)
            .map(|i| input("ticker", None, &format!("T{i}")))
            .collect();
        assert_eq!(code(&many), "COMPLIANCE_TOO_MANY_RULES");
        // The same value for two venues is two rules.
        assert_eq!(
            validate_rules(&[
                input("ticker", Some("kalshi"), "X"),
                input("ticker", None, "X")
            ])
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn stored_rows_that_do_not_parse_make_the_set_unusable() {
        let good = validate_rules(&[input("series", Some("kalshi"), "KXA")]).unwrap();
        let row = |r: &Rule| RuleRow {
            id: r.id.clone(),
            kind: r.kind.as_str().to_string(),
            venue: r.venue.as_str().to_string(),
            value: r.value.clone(),
            reason: r.reason.clone(),
        };
        let rows = vec![row(&good[0])];
        let loaded = RuleSet::from_rows(&rows).unwrap();
        assert_eq!(loaded.version(), rules_version(&good));
        let mut bad_kind = rows.clone();
        bad_kind[0].kind = "serie".into();
        let mut edited = rows.clone();
        edited[0].value = "KXB".into();
        let mut bad_venue = rows.clone();
        bad_venue[0].venue = "".into();
        for bad in [bad_kind, edited, bad_venue] {
            assert_eq!(
                RuleSet::from_rows(&bad).unwrap_err().code(),
                "COMPLIANCE_RULES_INVALID"
            );
        }
    }

    #[test]
    fn rule_ids_and_versions_are_stable_and_content_derived() {
        let a = validate_rules(&[input("series", None, "kxa")]).unwrap();
        let b = validate_rules(&[input("series", Some("any"), "KXA")]).unwrap();
        assert_eq!(a[0].id, b[0].id);
        assert_eq!(a[0].id.len(), 16);
        assert_eq!(rules_version(&a), rules_version(&b));
        assert_ne!(rules_version(&a), rules_version(&[]));
        assert!(RuleSet::new(vec![])
            .check(&kalshi_market("A", "B", "C"))
            .is_none());
    }
}

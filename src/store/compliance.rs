//! Compliance data in D1: sources (with their change history), the entity rules in force (with
//! the history of rule sets) and recorded drops. Reads fail closed: an error here is returned as
//! an error, never as "no rules" or "approved".

use crate::core::compliance::{Rule, RuleRow, RuleSet, SourceRow, ValidSourceUpdate};
use crate::core::time::format_utc;
use crate::store::d1::{Db, DbError, Param};
use crate::store::opt_text;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const SOURCES: &str = "SELECT name, status, tos_version, next_review_at FROM compliance_sources";
const SOURCES_FULL: &str = "SELECT name, host, base_url_var, status, tos_version, \
     next_review_at, note, updated_by, updated_at FROM compliance_sources ORDER BY name";
const SOURCE_STATUS: &str = "SELECT status FROM compliance_sources WHERE name = ?";
const UPDATE_SOURCE: &str = "UPDATE compliance_sources SET status = ?, tos_version = ?, \
     next_review_at = ?, note = ?, updated_by = ?, updated_at = ? WHERE name = ?";
const INSERT_SOURCE_CHANGE: &str = "INSERT INTO compliance_source_changes (name, from_status, \
     to_status, tos_version, next_review_at, note, actor, request_id, at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
const RULES: &str = "SELECT id, kind, venue, value, reason FROM compliance_rules ORDER BY position";
const RULES_FULL: &str = "SELECT id, position, kind, venue, value, reason, created_by, \
     created_at FROM compliance_rules ORDER BY position";
const DELETE_RULES: &str = "DELETE FROM compliance_rules";
const INSERT_RULE: &str = "INSERT INTO compliance_rules (id, position, kind, venue, value, \
     reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_RULE_SET: &str = "INSERT INTO compliance_rule_sets (version, rules, actor, \
     request_id, at) VALUES (?, ?, ?, ?, ?)";
const LATEST_RULE_SET: &str = "SELECT version, rules, actor, at FROM compliance_rule_sets \
     ORDER BY id DESC LIMIT 1";
const DROPS_RECORDED: &str = "SELECT entity_key, rule_id FROM compliance_drops \
     WHERE evidence_hash = ? AND venue = ? \
     AND entity_key IN (SELECT value FROM json_each(?))";
const INSERT_DROP: &str = "INSERT INTO compliance_drops (evidence_hash, venue, entity_kind, \
     entity_key, rule_id, rules_version, run_id, audit_seq, dropped_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (evidence_hash, venue, entity_key, rule_id) DO NOTHING";

/// Every source row, for the gate.
pub async fn source_rows(db: &Db) -> Result<Vec<SourceRow>, DbError> {
    db.all::<SourceRow>(SOURCES, &[]).await
}

/// A source as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceView {
    pub name: String,
    pub host: String,
    pub base_url_var: String,
    pub status: String,
    pub tos_version: Option<String>,
    pub next_review_at: Option<String>,
    pub note: String,
    pub updated_by: String,
    pub updated_at: String,
}

pub async fn source_views(db: &Db) -> Result<Vec<SourceView>, DbError> {
    db.all::<SourceView>(SOURCES_FULL, &[]).await
}

#[derive(Deserialize)]
struct StatusOnly {
    status: String,
}

/// The stored status of `name`, if the source exists.
pub async fn source_status(db: &Db, name: &str) -> Result<Option<String>, DbError> {
    Ok(db
        .first::<StatusOnly>(SOURCE_STATUS, &[Param::Text(name)])
        .await?
        .map(|r| r.status))
}

/// Applies a checked update and records it in the change history, atomically.
pub async fn update_source(
    db: &Db,
    update: &ValidSourceUpdate,
    from_status: &str,
    actor: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let at = format_utc(now);
    let review = update.next_review.map(|d| d.format("%Y-%m-%d").to_string());
    let name = update.source.as_str();
    let status = update.status.as_str();
    let statements = vec![
        db.prepare(
            UPDATE_SOURCE,
            &[
                Param::Text(status),
                opt_text(update.tos_version.as_deref()),
                opt_text(review.as_deref()),
                Param::Text(&update.note),
                Param::Text(actor),
                Param::Text(&at),
                Param::Text(name),
            ],
        )?,
        db.prepare(
            INSERT_SOURCE_CHANGE,
            &[
                Param::Text(name),
                Param::Text(from_status),
                Param::Text(status),
                opt_text(update.tos_version.as_deref()),
                opt_text(review.as_deref()),
                Param::Text(&update.note),
                Param::Text(actor),
                Param::Text(request_id),
                Param::Text(&at),
            ],
        )?,
    ];
    db.batch(statements).await.map(|_| ())
}

/// Why the rules could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum RulesUnavailable {
    Db(DbError),
    /// A stored row does not parse (code `COMPLIANCE_RULES_INVALID`).
    Invalid(String),
}

impl RulesUnavailable {
    pub fn detail(&self) -> String {
        match self {
            RulesUnavailable::Db(e) => format!("rules unreadable cause={}", e.code()),
            RulesUnavailable::Invalid(d) => d.clone(),
        }
    }
}

/// The rule set in force. Any failure — D1 unreachable, a row that does not parse — is an
/// error: the caller denies the batch.
pub async fn rule_set(db: &Db) -> Result<RuleSet, RulesUnavailable> {
    let rows = db
        .all::<RuleRow>(RULES, &[])
        .await
        .map_err(RulesUnavailable::Db)?;
    RuleSet::from_rows(&rows).map_err(|e| RulesUnavailable::Invalid(e.to_string()))
}

/// A stored rule as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleView {
    pub id: String,
    pub position: i64,
    pub kind: String,
    pub venue: String,
    pub value: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

pub async fn rule_views(db: &Db) -> Result<Vec<RuleView>, DbError> {
    db.all::<RuleView>(RULES_FULL, &[]).await
}

/// The latest rule set put in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleSetView {
    pub version: String,
    pub rules: i64,
    pub actor: String,
    pub at: String,
}

pub async fn latest_rule_set(db: &Db) -> Result<Option<RuleSetView>, DbError> {
    db.first::<RuleSetView>(LATEST_RULE_SET, &[]).await
}

/// Replaces the rules in force with `rules`, atomically (one D1 batch: delete, inserts, and
/// the rule-set record).
pub async fn replace_rules(
    db: &Db,
    rules: &[Rule],
    version: &str,
    actor: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let at = format_utc(now);
    let mut statements = vec![db.prepare(DELETE_RULES, &[])?];
    for (position, r) in rules.iter().enumerate() {
        statements.push(db.prepare(
            INSERT_RULE,
            &[
                Param::Text(&r.id),
                Param::Int(position as i64),
                Param::Text(r.kind.as_str()),
                Param::Text(r.venue.as_str()),
                Param::Text(&r.value),
                Param::Text(&r.reason),
                Param::Text(actor),
                Param::Text(&at),
            ],
        )?);
    }
    statements.push(db.prepare(
        INSERT_RULE_SET,
        &[
            Param::Text(version),
            Param::Int(rules.len() as i64),
            Param::Text(actor),
            Param::Text(request_id),
            Param::Text(&at),
        ],
    )?);
    db.batch(statements).await.map(|_| ())
}

#[derive(Deserialize)]
struct DropKey {
    entity_key: String,
    rule_id: String,
}

/// Which of `entity_keys` already have a drop recorded for this response and venue, as
/// `(entity_key, rule_id)` pairs.
pub async fn recorded_drops(
    db: &Db,
    evidence_hash: &str,
    venue: &str,
    entity_keys: &[&str],
) -> Result<Vec<(String, String)>, DbError> {
    let keys = serde_json::to_string(entity_keys).unwrap_or_else(|_| "[]".into());
    Ok(db
        .all::<DropKey>(
            DROPS_RECORDED,
            &[
                Param::Text(evidence_hash),
                Param::Text(venue),
                Param::Text(&keys),
            ],
        )
        .await?
        .into_iter()
        .map(|d| (d.entity_key, d.rule_id))
        .collect())
}

/// One drop to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRecord {
    pub evidence_hash: String,
    pub venue: &'static str,
    pub entity_kind: &'static str,
    pub entity_key: String,
    pub rule_id: String,
    pub rules_version: String,
    pub run_id: String,
    pub audit_seq: Option<u64>,
}

/// Records drops (idempotent per response, entity and rule), in one atomic batch.
pub async fn record_drops(
    db: &Db,
    drops: &[DropRecord],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    if drops.is_empty() {
        return Ok(());
    }
    let at = format_utc(now);
    let mut statements = Vec::with_capacity(drops.len());
    for d in drops {
        statements.push(
            db.prepare(
                INSERT_DROP,
                &[
                    Param::Text(&d.evidence_hash),
                    Param::Text(d.venue),
                    Param::Text(d.entity_kind),
                    Param::Text(&d.entity_key),
                    Param::Text(&d.rule_id),
                    Param::Text(&d.rules_version),
                    Param::Text(&d.run_id),
                    d.audit_seq
                        .map(|s| Param::Int(s as i64))
                        .unwrap_or(Param::Null),
                    Param::Text(&at),
                ],
            )?,
        );
    }
    db.batch(statements).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_passes_the_d1_gate_with_its_parameter_count() {
        for (sql, bound) in [
            (SOURCES, 0),
            (SOURCES_FULL, 0),
            (SOURCE_STATUS, 1),
            (UPDATE_SOURCE, 7),
            (INSERT_SOURCE_CHANGE, 9),
            (RULES, 0),
            (RULES_FULL, 0),
            (DELETE_RULES, 0),
            (INSERT_RULE, 8),
            (INSERT_RULE_SET, 5),
            (LATEST_RULE_SET, 0),
            (DROPS_RECORDED, 3),
            (INSERT_DROP, 9),
        ] {
            if let Err(e) = crate::core::sql_guard::check_bound(sql, bound) {
                panic!("{e}: {sql}");
            }
        }
    }
}

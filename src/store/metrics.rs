//! D1 adapter of the monitoring counters (`metric_counters`, migration 0007).

use crate::core::metrics::Counter;
use crate::store::d1::{Db, DbError, Param};
use serde::Deserialize;

const UPSERT: &str = "INSERT INTO metric_counters (name, labels, value) VALUES (?1, ?2, ?3) \
     ON CONFLICT (name, labels) DO UPDATE SET value = metric_counters.value + excluded.value";
const ALL: &str = "SELECT name, labels, value FROM metric_counters ORDER BY name, labels";
const RUN_COUNTS: &str = "SELECT job, status, COUNT(*) AS n FROM runs GROUP BY job, status";
const LAST_SUCCESS: &str = "SELECT job, MAX(ended_at) AS ended_at FROM runs \
     WHERE status = 'SUCCESS' AND ended_at IS NOT NULL GROUP BY job";

/// Adds every increment in one atomic batch.
pub async fn add(db: &Db, items: &[(String, String, i64)]) -> Result<(), DbError> {
    if items.is_empty() {
        return Ok(());
    }
    let statements = items
        .iter()
        .map(|(name, labels, by)| {
            db.prepare(
                UPSERT,
                &[Param::Text(name), Param::Text(labels), Param::Int(*by)],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    db.batch(statements).await.map(|_| ())
}

#[derive(Deserialize)]
struct Row {
    name: String,
    labels: String,
    value: i64,
}

/// Every stored counter.
pub async fn all(db: &Db) -> Result<Vec<Counter>, DbError> {
    let rows: Vec<Row> = db.all(ALL, &[]).await?;
    Ok(rows
        .into_iter()
        .map(|r| Counter::new(&r.name, &r.labels, r.value))
        .collect())
}

#[derive(Deserialize)]
pub struct RunCount {
    pub job: String,
    pub status: String,
    pub n: i64,
}

/// Runs of every job by status.
pub async fn run_counts(db: &Db) -> Result<Vec<RunCount>, DbError> {
    db.all(RUN_COUNTS, &[]).await
}

#[derive(Deserialize)]
pub struct LastSuccess {
    pub job: String,
    pub ended_at: Option<String>,
}

/// When each job last ended successfully (RFC 3339).
pub async fn last_successes(db: &Db) -> Result<Vec<LastSuccess>, DbError> {
    db.all(LAST_SUCCESS, &[]).await
}

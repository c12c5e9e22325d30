//! The `AuditLog` Durable Object's SQLite tables, behind the core's storage traits
//! ([`LogStore`] for appends, [`TreeStore`] for proofs) plus the object's bookkeeping (R2
//! mirror position, verification runs and results).
//!
//! Every method is synchronous (`sql.exec` is), so a caller that runs several of them without
//! an `await` in between runs them as one unit. Integers stay below 2^53 (sequence numbers,
//! milliseconds); hashes are 32-byte blobs, never integers.

use crate::core::audit::sequencer::{AppendBatch, LogStore, WriterState};
use crate::core::audit::verify::VerifyReport;
use crate::core::audit::verify_run::VerifyRun;
use crate::core::audit::{AuditError, Hash32, LeafRecord, LogHead, Seq, TreeStore};
use serde::Serialize;
use worker::{SqlStorage, SqlStorageValue};

/// The schema, one statement per entry, idempotent. Triggers make the event rows
/// append-only inside the object too: nothing in this code updates or deletes them, and the
/// database refuses if anything tries.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_events (
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        body BLOB NOT NULL,
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
        chain_hash BLOB NOT NULL CHECK (length(chain_hash) = 32)
    )",
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TABLE IF NOT EXISTS audit_subtrees (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        size INTEGER NOT NULL,
        last_at_ms INTEGER NOT NULL,
        head TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS audit_mirror (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        high_water INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        last_error TEXT,
        last_error_at_ms INTEGER
    )",
    "CREATE TABLE IF NOT EXISTS audit_mirror_conflicts (
        seq INTEGER PRIMARY KEY,
        detected_at_ms INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS audit_verify_runs (
        id TEXT PRIMARY KEY,
        run TEXT NOT NULL,
        version INTEGER NOT NULL,
        by_alarm INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS audit_verify_results (
        id TEXT PRIMARY KEY,
        trigger TEXT NOT NULL,
        full INTEGER NOT NULL,
        from_seq INTEGER NOT NULL,
        to_seq INTEGER NOT NULL,
        valid INTEGER NOT NULL,
        checked INTEGER NOT NULL,
        first_bad_seq INTEGER,
        report TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        finished_at_ms INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS audit_verify_results_by_time
        ON audit_verify_results (full, finished_at_ms)",
];

/// How many finished-or-abandoned operator runs are kept besides the running ones.
const MAX_STORED_RUNS: i64 = 32;

fn store_err(e: impl std::fmt::Display) -> AuditError {
    AuditError::StoreUnavailable {
        detail: e.to_string(),
    }
}

fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(n as i64)
}

fn as_u64(v: &SqlStorageValue) -> Result<u64, AuditError> {
    match v {
        SqlStorageValue::Integer(i) if *i >= 0 => Ok(*i as u64),
        SqlStorageValue::Float(f) if *f >= 0.0 && f.fract() == 0.0 => Ok(*f as u64),
        other => Err(store_err(format!("expected an integer, got {other:?}"))),
    }
}

fn as_i64(v: &SqlStorageValue) -> Result<i64, AuditError> {
    match v {
        SqlStorageValue::Integer(i) => Ok(*i),
        SqlStorageValue::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(store_err(format!("expected an integer, got {other:?}"))),
    }
}

fn as_opt_i64(v: &SqlStorageValue) -> Result<Option<i64>, AuditError> {
    match v {
        SqlStorageValue::Null => Ok(None),
        other => as_i64(other).map(Some),
    }
}

fn as_text(v: &SqlStorageValue) -> Result<String, AuditError> {
    match v {
        SqlStorageValue::String(s) => Ok(s.clone()),
        other => Err(store_err(format!("expected text, got {other:?}"))),
    }
}

fn as_opt_text(v: &SqlStorageValue) -> Result<Option<String>, AuditError> {
    match v {
        SqlStorageValue::Null => Ok(None),
        other => as_text(other).map(Some),
    }
}

fn as_blob(v: &SqlStorageValue) -> Result<Vec<u8>, AuditError> {
    match v {
        SqlStorageValue::Blob(b) => Ok(b.clone()),
        other => Err(store_err(format!("expected a blob, got {other:?}"))),
    }
}

fn as_hash(v: &SqlStorageValue) -> Result<Hash32, AuditError> {
    Hash32::from_slice(&as_blob(v)?)
}

fn as_seq(v: &SqlStorageValue) -> Result<Seq, AuditError> {
    Seq::new(as_u64(v)?).ok_or_else(|| store_err("seq 0 in storage"))
}

/// The mirror's position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorState {
    /// Every event up to this seq is in R2.
    pub high_water: u64,
    /// Consecutive failed attempts.
    pub failures: u64,
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
    /// Events whose R2 key already held different bytes (never overwritten).
    pub conflicts: u64,
}

/// A finished verification, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredResult {
    pub id: String,
    pub trigger: String,
    pub full: bool,
    pub from: u64,
    pub to: u64,
    pub valid: bool,
    pub checked: u64,
    pub first_bad_seq: Option<u64>,
    pub problems: usize,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
}

/// The object's SQLite database.
#[derive(Clone, Debug)]
pub struct SqlLog {
    sql: SqlStorage,
}

impl SqlLog {
    pub fn new(sql: SqlStorage) -> Self {
        SqlLog { sql }
    }

    /// Runs a statement to completion; the number of rows it wrote.
    fn run(&self, query: &str, params: Vec<SqlStorageValue>) -> Result<usize, AuditError> {
        let cursor = self.sql.exec(query, params).map_err(store_err)?;
        for row in cursor.raw() {
            row.map_err(store_err)?;
        }
        Ok(cursor.rows_written())
    }

    /// All rows of a query, as raw values.
    fn rows(
        &self,
        query: &str,
        params: Vec<SqlStorageValue>,
    ) -> Result<Vec<Vec<SqlStorageValue>>, AuditError> {
        let cursor = self.sql.exec(query, params).map_err(store_err)?;
        cursor
            .raw()
            .map(|r| r.map_err(store_err))
            .collect::<Result<Vec<_>, _>>()
    }

    fn one(
        &self,
        query: &str,
        params: Vec<SqlStorageValue>,
    ) -> Result<Option<Vec<SqlStorageValue>>, AuditError> {
        Ok(self.rows(query, params)?.into_iter().next())
    }

    /// Creates the tables (idempotent).
    pub fn ensure_schema(&self) -> Result<(), AuditError> {
        for statement in SCHEMA {
            self.run(statement, Vec::new())?;
        }
        Ok(())
    }

    /// Number of events.
    pub fn size(&self) -> Result<u64, AuditError> {
        match self.one("SELECT size FROM audit_head WHERE id = 1", Vec::new())? {
            Some(row) => as_u64(&row[0]),
            None => Ok(0),
        }
    }

    /// The records (seq, leaf, chain) of `first..=last`, in order.
    pub fn records(&self, first: u64, last: u64) -> Result<Vec<LeafRecord>, AuditError> {
        self.rows(
            "SELECT seq, leaf_hash, chain_hash FROM audit_events
             WHERE seq >= ? AND seq <= ? ORDER BY seq",
            vec![int(first), int(last)],
        )?
        .iter()
        .map(|row| {
            Ok(LeafRecord {
                seq: as_seq(&row[0])?,
                leaf_hash: as_hash(&row[1])?,
                chain_hash: as_hash(&row[2])?,
            })
        })
        .collect()
    }

    /// Records and canonical bytes of up to `limit` events from `from` on.
    pub fn events(&self, from: u64, limit: u64) -> Result<Vec<(LeafRecord, Vec<u8>)>, AuditError> {
        self.rows(
            "SELECT seq, leaf_hash, chain_hash, body FROM audit_events
             WHERE seq >= ? ORDER BY seq LIMIT ?",
            vec![int(from), int(limit)],
        )?
        .iter()
        .map(|row| {
            Ok((
                LeafRecord {
                    seq: as_seq(&row[0])?,
                    leaf_hash: as_hash(&row[1])?,
                    chain_hash: as_hash(&row[2])?,
                },
                as_blob(&row[3])?,
            ))
        })
        .collect()
    }

    /// The chain value after event `seq`.
    pub fn chain_at(&self, seq: u64) -> Result<Hash32, AuditError> {
        let row = self
            .one(
                "SELECT chain_hash FROM audit_events WHERE seq = ?",
                vec![int(seq)],
            )?
            .ok_or_else(|| store_err(format!("no event {seq}")))?;
        as_hash(&row[0])
    }

    // --- R2 mirror ---------------------------------------------------------------------------

    /// The mirror's position and last error.
    pub fn mirror_state(&self) -> Result<MirrorState, AuditError> {
        let conflicts = match self.one("SELECT COUNT(*) FROM audit_mirror_conflicts", Vec::new())? {
            Some(row) => as_u64(&row[0])?,
            None => 0,
        };
        Ok(
            match self.one(
                "SELECT high_water, failures, last_error, last_error_at_ms FROM audit_mirror
                 WHERE id = 1",
                Vec::new(),
            )? {
                Some(row) => MirrorState {
                    high_water: as_u64(&row[0])?,
                    failures: as_u64(&row[1])?,
                    last_error: as_opt_text(&row[2])?,
                    last_error_at_ms: as_opt_i64(&row[3])?,
                    conflicts,
                },
                None => MirrorState {
                    high_water: 0,
                    failures: 0,
                    last_error: None,
                    last_error_at_ms: None,
                    conflicts,
                },
            },
        )
    }

    /// Records that every event up to `high_water` is in R2, and clears the error.
    pub fn mirror_advanced(&self, high_water: u64) -> Result<(), AuditError> {
        self.run(
            "INSERT INTO audit_mirror (id, high_water, failures) VALUES (1, ?, 0)
             ON CONFLICT (id) DO UPDATE SET high_water = max(high_water, excluded.high_water),
                 failures = 0, last_error = NULL, last_error_at_ms = NULL",
            vec![int(high_water)],
        )?;
        Ok(())
    }

    /// Records a failed mirror attempt.
    pub fn mirror_failed(&self, error: &str, at_ms: i64) -> Result<(), AuditError> {
        self.run(
            "INSERT INTO audit_mirror (id, high_water, failures, last_error, last_error_at_ms)
             VALUES (1, 0, 1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET failures = failures + 1,
                 last_error = excluded.last_error, last_error_at_ms = excluded.last_error_at_ms",
            vec![error.into(), SqlStorageValue::Integer(at_ms)],
        )?;
        Ok(())
    }

    /// Records that R2 already held different bytes under an event's key.
    pub fn mirror_conflict(&self, seq: u64, at_ms: i64) -> Result<(), AuditError> {
        self.run(
            "INSERT OR IGNORE INTO audit_mirror_conflicts (seq, detected_at_ms) VALUES (?, ?)",
            vec![int(seq), SqlStorageValue::Integer(at_ms)],
        )?;
        Ok(())
    }

    // --- verification runs -------------------------------------------------------------------

    /// Stores a new run (version 0).
    pub fn insert_run(&self, run: &VerifyRun, by_alarm: bool, now: i64) -> Result<(), AuditError> {
        self.run(
            "INSERT INTO audit_verify_runs (id, run, version, by_alarm, updated_at_ms)
             VALUES (?, ?, 0, ?, ?)",
            vec![
                run.id.clone().into(),
                serde_json::to_string(run).map_err(store_err)?.into(),
                SqlStorageValue::Integer(by_alarm as i64),
                SqlStorageValue::Integer(now),
            ],
        )?;
        // Keep the table small: operator runs nobody continued are dropped, oldest first.
        self.run(
            "DELETE FROM audit_verify_runs WHERE by_alarm = 0 AND id NOT IN (
                SELECT id FROM audit_verify_runs WHERE by_alarm = 0
                ORDER BY updated_at_ms DESC LIMIT ?)",
            vec![SqlStorageValue::Integer(MAX_STORED_RUNS)],
        )?;
        Ok(())
    }

    /// A stored run and its version.
    pub fn load_run(&self, id: &str) -> Result<Option<(VerifyRun, u64)>, AuditError> {
        self.one(
            "SELECT run, version FROM audit_verify_runs WHERE id = ?",
            vec![id.into()],
        )?
        .map(|row| {
            let run = serde_json::from_str(&as_text(&row[0])?).map_err(store_err)?;
            Ok((run, as_u64(&row[1])?))
        })
        .transpose()
    }

    /// The oldest run the alarm drives, if any.
    pub fn next_alarm_run(&self) -> Result<Option<(VerifyRun, u64)>, AuditError> {
        let row = self.one(
            "SELECT id FROM audit_verify_runs WHERE by_alarm = 1 ORDER BY updated_at_ms LIMIT 1",
            Vec::new(),
        )?;
        match row {
            Some(row) => self.load_run(&as_text(&row[0])?),
            None => Ok(None),
        }
    }

    /// Saves a run if nobody saved it since `version` was loaded; `false` if someone did.
    pub fn save_run(&self, run: &VerifyRun, version: u64, now: i64) -> Result<bool, AuditError> {
        let written = self.run(
            "UPDATE audit_verify_runs SET run = ?, version = version + 1, updated_at_ms = ?
             WHERE id = ? AND version = ?",
            vec![
                serde_json::to_string(run).map_err(store_err)?.into(),
                SqlStorageValue::Integer(now),
                run.id.clone().into(),
                int(version),
            ],
        )?;
        Ok(written == 1)
    }

    /// Replaces a finished run by its result, if nobody touched the run since `version`.
    pub fn finish_run(
        &self,
        run: &VerifyRun,
        version: u64,
        report: &VerifyReport,
        now: i64,
    ) -> Result<bool, AuditError> {
        let deleted = self.run(
            "DELETE FROM audit_verify_runs WHERE id = ? AND version = ?",
            vec![run.id.clone().into(), int(version)],
        )?;
        if deleted != 1 {
            return Ok(false);
        }
        self.run(
            "INSERT INTO audit_verify_results (id, trigger, full, from_seq, to_seq, valid,
                 checked, first_bad_seq, report, started_at_ms, finished_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                run.id.clone().into(),
                run.trigger.clone().into(),
                SqlStorageValue::Integer(run.is_full() as i64),
                int(run.from),
                int(run.to),
                SqlStorageValue::Integer(report.valid as i64),
                int(report.checked),
                report.first_bad_seq.map(|s| s.get() as i64).into(),
                serde_json::to_string(report).map_err(store_err)?.into(),
                SqlStorageValue::Integer(run.started_at),
                SqlStorageValue::Integer(now),
            ],
        )?;
        Ok(true)
    }

    /// Whether a run or result with this id exists.
    pub fn run_known(&self, id: &str) -> Result<bool, AuditError> {
        Ok(self
            .one(
                "SELECT 1 FROM audit_verify_runs WHERE id = ?
                 UNION ALL SELECT 1 FROM audit_verify_results WHERE id = ?",
                vec![id.into(), id.into()],
            )?
            .is_some())
    }

    /// The latest finished verification (of the whole log if `full_only`).
    pub fn last_result(&self, full_only: bool) -> Result<Option<StoredResult>, AuditError> {
        let query = if full_only {
            "SELECT id, trigger, full, from_seq, to_seq, valid, checked, first_bad_seq, report,
                 started_at_ms, finished_at_ms
             FROM audit_verify_results WHERE full = 1 ORDER BY finished_at_ms DESC LIMIT 1"
        } else {
            "SELECT id, trigger, full, from_seq, to_seq, valid, checked, first_bad_seq, report,
                 started_at_ms, finished_at_ms
             FROM audit_verify_results ORDER BY finished_at_ms DESC LIMIT 1"
        };
        self.one(query, Vec::new())?
            .map(|row| {
                let report: VerifyReport =
                    serde_json::from_str(&as_text(&row[8])?).map_err(store_err)?;
                Ok(StoredResult {
                    id: as_text(&row[0])?,
                    trigger: as_text(&row[1])?,
                    full: as_i64(&row[2])? == 1,
                    from: as_u64(&row[3])?,
                    to: as_u64(&row[4])?,
                    valid: as_i64(&row[5])? == 1,
                    checked: as_u64(&row[6])?,
                    first_bad_seq: as_opt_i64(&row[7])?.map(|s| s as u64),
                    problems: report.problems.len() + report.problems_omitted as usize,
                    started_at_ms: as_i64(&row[9])?,
                    finished_at_ms: as_i64(&row[10])?,
                })
            })
            .transpose()
    }

    /// Runs in progress: (id, trigger, next seq, to, driven by the alarm).
    pub fn running(&self) -> Result<Vec<serde_json::Value>, AuditError> {
        self.rows(
            "SELECT run, by_alarm FROM audit_verify_runs ORDER BY updated_at_ms",
            Vec::new(),
        )?
        .iter()
        .map(|row| {
            let run: VerifyRun = serde_json::from_str(&as_text(&row[0])?).map_err(store_err)?;
            Ok(serde_json::json!({
                "id": run.id,
                "trigger": run.trigger,
                "from": run.from,
                "to": run.to,
                "next_seq": run.verifier.next_seq(),
                "by_alarm": as_i64(&row[1])? == 1,
            }))
        })
        .collect()
    }
}

impl LogStore for SqlLog {
    fn load(&self) -> Result<WriterState, AuditError> {
        let head = self.one(
            "SELECT size, last_at_ms, head FROM audit_head WHERE id = 1",
            Vec::new(),
        )?;
        let last_seq = match self.one("SELECT MAX(seq) FROM audit_events", Vec::new())? {
            Some(row) if row[0] != SqlStorageValue::Null => as_u64(&row[0])?,
            _ => 0,
        };
        let state = match head {
            None => WriterState::genesis(),
            Some(row) => {
                let size = as_u64(&row[0])?;
                let head: LogHead = serde_json::from_str(&as_text(&row[2])?).map_err(|e| {
                    AuditError::LogCorrupt {
                        detail: format!("stored head unreadable: {e}"),
                    }
                })?;
                if head.size() != size {
                    return Err(AuditError::LogCorrupt {
                        detail: format!("head row says {size}, its frontier {}", head.size()),
                    });
                }
                WriterState {
                    head,
                    last_at: as_i64(&row[1])?,
                }
            }
        };
        if state.head.size() != last_seq {
            return Err(AuditError::LogCorrupt {
                detail: format!(
                    "head size {} but the last stored event is {last_seq}",
                    state.head.size()
                ),
            });
        }
        Ok(state)
    }

    fn commit(&self, batch: &AppendBatch) -> Result<(), AuditError> {
        for event in &batch.events {
            self.run(
                "INSERT INTO audit_events (seq, at_ms, kind, body, leaf_hash, chain_hash)
                 VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    int(event.record.seq.get()),
                    SqlStorageValue::Integer(event.at),
                    event.kind.clone().into(),
                    event.bytes.clone().into(),
                    event.record.leaf_hash.as_bytes().to_vec().into(),
                    event.record.chain_hash.as_bytes().to_vec().into(),
                ],
            )?;
        }
        for subtree in &batch.subtrees {
            self.run(
                "INSERT INTO audit_subtrees (level, idx, hash) VALUES (?, ?, ?)",
                vec![
                    SqlStorageValue::Integer(subtree.level as i64),
                    int(subtree.index),
                    subtree.hash.as_bytes().to_vec().into(),
                ],
            )?;
        }
        // Compare-and-swap on the size: the head only moves forward from where it was loaded.
        let written = self.run(
            "INSERT INTO audit_head (id, size, last_at_ms, head) VALUES (1, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET size = excluded.size,
                 last_at_ms = excluded.last_at_ms, head = excluded.head
             WHERE audit_head.size = ?",
            vec![
                int(batch.state.head.size()),
                SqlStorageValue::Integer(batch.state.last_at),
                serde_json::to_string(&batch.state.head)
                    .map_err(store_err)?
                    .into(),
                int(batch.before),
            ],
        )?;
        if written != 1 {
            return Err(AuditError::LogCorrupt {
                detail: format!("head moved away from size {}", batch.before),
            });
        }
        Ok(())
    }
}

impl TreeStore for SqlLog {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash32>, AuditError> {
        let rows = self.rows(
            "SELECT leaf_hash FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq",
            vec![int(start), int(end)],
        )?;
        if rows.len() as u64 != end.saturating_sub(start) {
            return Err(store_err(format!(
                "leaves {start}..{end} are not all stored"
            )));
        }
        rows.iter().map(|row| as_hash(&row[0])).collect()
    }

    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash32, AuditError> {
        let row = if level == 0 {
            self.one(
                "SELECT leaf_hash FROM audit_events WHERE seq = ?",
                vec![int(index + 1)],
            )?
        } else {
            self.one(
                "SELECT hash FROM audit_subtrees WHERE level = ? AND idx = ?",
                vec![SqlStorageValue::Integer(level as i64), int(index)],
            )?
        };
        let row = row.ok_or_else(|| store_err(format!("no subtree {index} at level {level}")))?;
        as_hash(&row[0])
    }
}

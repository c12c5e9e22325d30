//! Multi-row upserts that respect D1's limit of 100 bound parameters per statement.
//!
//! A [`Table`] names its columns, its conflict key and the columns an upsert refreshes. Its
//! statement texts (one per row count, `1..=rows_per_statement`) are built once from those
//! constants and live for the life of the isolate, so they are `&'static str` like every other
//! statement the Worker runs: no text is ever assembled from data, every value is bound.

use std::sync::OnceLock;

/// D1's limit on bound parameters per statement.
pub const MAX_BOUND_PARAMS: usize = 100;

/// A value to bind. Integers must stay within ±2^53 (D1 carries numbers as doubles); the
/// store refuses any that do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl SqlValue {
    pub fn text(s: impl Into<String>) -> SqlValue {
        SqlValue::Text(s.into())
    }

    pub fn opt_text(s: Option<impl Into<String>>) -> SqlValue {
        s.map(|v| SqlValue::Text(v.into()))
            .unwrap_or(SqlValue::Null)
    }

    pub fn opt_int(v: Option<i64>) -> SqlValue {
        v.map(SqlValue::Int).unwrap_or(SqlValue::Null)
    }
}

/// One row: values in the table's column order.
pub type Row = Vec<SqlValue>;

/// An upsert target.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// The conflict target (a primary key or unique index).
    pub key: &'static [&'static str],
    /// Columns refreshed on conflict; the others (e.g. `first_seen_at`) keep their first value.
    pub update: &'static [&'static str],
    /// If set, a conflicting row is rewritten only when this column differs, so re-ingesting
    /// the same evidence writes nothing.
    pub changed_when: Option<&'static str>,
    texts: OnceLock<Vec<String>>,
}

impl Table {
    pub const fn new(
        name: &'static str,
        columns: &'static [&'static str],
        key: &'static [&'static str],
        update: &'static [&'static str],
        changed_when: Option<&'static str>,
    ) -> Table {
        Table {
            name,
            columns,
            key,
            update,
            changed_when,
            texts: OnceLock::new(),
        }
    }

    /// How many rows fit one statement.
    pub fn rows_per_statement(&self) -> usize {
        (MAX_BOUND_PARAMS / self.columns.len()).max(1)
    }

    fn build(&self, rows: usize) -> String {
        let tuple = format!("({})", vec!["?"; self.columns.len()].join(", "));
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.name,
            self.columns.join(", "),
            vec![tuple; rows].join(", ")
        );
        sql.push_str(&format!(" ON CONFLICT ({}) DO ", self.key.join(", ")));
        if self.update.is_empty() {
            sql.push_str("NOTHING");
        } else {
            let sets: Vec<String> = self
                .update
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            sql.push_str(&format!("UPDATE SET {}", sets.join(", ")));
            if let Some(c) = self.changed_when {
                sql.push_str(&format!(
                    " WHERE {t}.{c} IS NOT excluded.{c}",
                    t = self.name
                ));
            }
        }
        sql
    }

    /// The statement for `rows` rows (`1..=rows_per_statement`).
    pub fn sql(&'static self, rows: usize) -> &'static str {
        let texts = self.texts.get_or_init(|| {
            (1..=self.rows_per_statement())
                .map(|n| self.build(n))
                .collect()
        });
        assert!(
            (1..=texts.len()).contains(&rows),
            "{}: {rows} rows do not fit one statement",
            self.name
        );
        texts[rows - 1].as_str()
    }

    /// Splits `rows` into statements of at most `rows_per_statement` rows, in order.
    ///
    /// Panics if a row's width differs from the column count: that is a bug in a row builder,
    /// caught by the builders' tests, never a property of the data.
    pub fn statements(&'static self, rows: &[Row]) -> Vec<Statement> {
        let width = self.columns.len();
        rows.chunks(self.rows_per_statement())
            .map(|chunk| {
                let mut params = Vec::with_capacity(chunk.len() * width);
                for row in chunk {
                    assert_eq!(row.len(), width, "{}: row width", self.name);
                    params.extend(row.iter().cloned());
                }
                Statement {
                    sql: self.sql(chunk.len()),
                    params,
                }
            })
            .collect()
    }
}

/// One statement ready to bind: at most [`MAX_BOUND_PARAMS`] values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: Table = Table::new(
        "things",
        &["venue", "id", "name", "evidence_hash", "first_seen_at"],
        &["venue", "id"],
        &["name", "evidence_hash"],
        Some("evidence_hash"),
    );

    static WIDE: Table = Table::new(
        "wide",
        &[
            "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13",
        ],
        &["c0"],
        &[],
        None,
    );

    fn row(i: i64) -> Row {
        vec![
            SqlValue::text("kalshi"),
            SqlValue::Int(i),
            SqlValue::Null,
            SqlValue::text("h"),
            SqlValue::text("t"),
        ]
    }

    #[test]
    fn no_statement_binds_more_than_one_hundred_parameters() {
        for (table, n) in [(&T, 0usize), (&T, 1), (&T, 20), (&T, 21), (&T, 1001)] {
            let rows: Vec<Row> = (0..n as i64).map(row).collect();
            let stmts = table.statements(&rows);
            assert_eq!(stmts.len(), n.div_ceil(20), "{n} rows");
            for s in &stmts {
                assert!(s.params.len() <= MAX_BOUND_PARAMS);
                assert_eq!(s.sql.matches('?').count(), s.params.len());
            }
            let flat: Vec<SqlValue> = stmts.into_iter().flat_map(|s| s.params).collect();
            assert_eq!(flat, rows.concat(), "rows keep their order");
        }
        assert_eq!(WIDE.rows_per_statement(), 7);
        let rows: Vec<Row> = (0..15).map(|_| vec![SqlValue::Null; 14]).collect();
        let sizes: Vec<usize> = WIDE
            .statements(&rows)
            .iter()
            .map(|s| s.params.len())
            .collect();
        assert_eq!(sizes, [98, 98, 14]);
    }

    #[test]
    fn the_upsert_refreshes_only_named_columns_and_only_on_new_evidence() {
        assert_eq!(
            T.sql(2),
            "INSERT INTO things (venue, id, name, evidence_hash, first_seen_at) VALUES \
             (?, ?, ?, ?, ?), (?, ?, ?, ?, ?) ON CONFLICT (venue, id) DO UPDATE SET \
             name = excluded.name, evidence_hash = excluded.evidence_hash \
             WHERE things.evidence_hash IS NOT excluded.evidence_hash"
        );
        assert!(WIDE.sql(1).ends_with("ON CONFLICT (c0) DO NOTHING"));
        // The same text each time: built once.
        assert!(std::ptr::eq(T.sql(3), T.sql(3)));
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn asking_for_too_many_rows_in_one_statement_is_a_bug() {
        T.sql(21);
    }
}

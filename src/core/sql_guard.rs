//! D1 statement guardrails: the one check every operational D1 statement passes before it is
//! prepared. It admits exactly one `SELECT`, `INSERT`, `UPDATE` or `DELETE` (with `WITH …` CTEs,
//! `INSERT … ON CONFLICT … DO UPDATE` upserts, `INSERT OR IGNORE` and `RETURNING`) whose values
//! arrive as bound parameters (`?` or `?NNN`), and refuses everything else with
//! `DB_STATEMENT_FORBIDDEN` and a reason. Schema changes happen only through migrations.
//!
//! The check tokenises the text the way SQLite does (string literals, quoted identifiers and
//! comments are opaque), so a keyword inside a string literal never causes a refusal, while a
//! keyword smuggled behind a comment, a second statement after a `;`, or a look-alike character
//! never gets through:
//!
//! - Forbidden keywords anywhere outside literals and quoted identifiers: `PRAGMA`, `ATTACH`,
//!   `DETACH`, `CREATE`, `ALTER`, `DROP`, `VACUUM`, `REINDEX`, `ANALYZE`, `BEGIN`, `COMMIT`,
//!   `ROLLBACK`, `SAVEPOINT`, `RELEASE`, `LOAD_EXTENSION`. (SQLite accepts several of these as
//!   bare column names; ours must quote such a column.)
//! - At most one `;`, and only at the end: after it, nothing but whitespace and comments.
//! - Comments are whitespace, as in SQLite, but one that contains a `;` or a forbidden keyword is
//!   refused (nobody documents a query with `DROP`), and an unterminated `/*` is refused (SQLite
//!   would accept it silently; here it means truncated or smuggled text).
//! - Outside literals only ASCII is accepted: SQLite treats every byte ≥ 0x80 as part of an
//!   identifier, so a no-break space or a full-width letter would change how a statement splits
//!   into words. Whitespace is exactly SQLite's (space, tab, newline, vertical tab, form feed,
//!   carriage return); any other control character, and NUL anywhere, is refused.
//! - Named parameters (`:name`, `@name`, `$name`, `#name`) are refused: D1 binds only positional
//!   ones. `?0` and indexes above [`MAX_PARAMETERS`] are refused, as is a statement needing more
//!   than [`MAX_PARAMETERS`] values (D1's limit).
//! - SQLite's and D1's internal tables (`sqlite_*`, `_cf_*`) are not for operational queries.
//!
//! Literals: numeric and string literals in the text are admitted. The Worker's adapter
//! (`store::d1`) accepts statement text only as `&'static str`, so any literal is a constant
//! written in the code (a status name, a `0`), never data; every value that varies is bound.

use std::fmt;

/// The stable code of every refusal.
pub const CODE: &str = "DB_STATEMENT_FORBIDDEN";

/// D1 refuses statements longer than 100 KB.
pub const MAX_STATEMENT_BYTES: usize = 100_000;

/// D1 binds at most 100 parameters per statement.
pub const MAX_PARAMETERS: usize = 100;

/// Keywords that may not appear outside literals or quoted identifiers.
const FORBIDDEN_KEYWORDS: &[&str] = &[
    "PRAGMA",
    "ATTACH",
    "DETACH",
    "CREATE",
    "ALTER",
    "DROP",
    "VACUUM",
    "REINDEX",
    "ANALYZE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "LOAD_EXTENSION",
];

/// Prefixes of SQLite's and D1's internal table names.
const INTERNAL_PREFIXES: &[&str] = &["SQLITE_", "_CF_"];

/// What an admitted statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
}

impl StatementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Select => "SELECT",
            StatementKind::Insert => "INSERT",
            StatementKind::Update => "UPDATE",
            StatementKind::Delete => "DELETE",
        }
    }
}

/// An admitted statement: what it does and how many values it must be bound with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub kind: StatementKind,
    /// The number of values to bind: the highest parameter index (`?` takes the next index).
    pub parameters: usize,
}

/// Why a statement was refused. Offsets are byte offsets into the statement text. The text is
/// always a constant of the code, so echoing a word of it in a log is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlGuardError {
    /// Nothing but whitespace and comments.
    Empty,
    /// Longer than [`MAX_STATEMENT_BYTES`].
    TooLong { bytes: usize },
    /// Something other than whitespace or comments follows a `;`.
    MultipleStatements { offset: usize },
    /// A forbidden keyword outside literals and quoted identifiers.
    ForbiddenKeyword {
        keyword: &'static str,
        offset: usize,
    },
    /// A comment contains a `;` or a forbidden keyword.
    HiddenInComment { what: &'static str, offset: usize },
    /// The statement is not a SELECT/INSERT/UPDATE/DELETE (`REPLACE`, `VALUES`, `EXPLAIN`, …).
    NotAdmitted { first: String },
    /// `/*` without its `*/`.
    UnterminatedComment { offset: usize },
    /// A string literal, blob or quoted identifier without its closing quote.
    UnterminatedLiteral { offset: usize },
    /// A byte ≥ 0x80 outside literals (Unicode spaces, look-alike letters, …).
    NonAsciiOutsideLiteral { offset: usize },
    /// NUL anywhere, or a control character other than SQLite's whitespace outside literals.
    ControlCharacter { offset: usize },
    /// `:name`, `@name`, `$name`, `#name`: D1 binds positional parameters only.
    NamedParameter { offset: usize },
    /// `?0`, or `?NNN` above [`MAX_PARAMETERS`].
    ParameterIndexInvalid { offset: usize },
    /// The statement needs more than [`MAX_PARAMETERS`] values.
    TooManyParameters { count: usize },
    /// The statement needs `expected` values but `given` were supplied.
    ParameterCountMismatch { expected: usize, given: usize },
    /// A `sqlite_*` or `_cf_*` table.
    InternalTable { name: String, offset: usize },
}

impl SqlGuardError {
    /// The stable code of every refusal.
    pub fn code(&self) -> &'static str {
        CODE
    }

    /// Which rule refused the statement.
    pub fn reason(&self) -> &'static str {
        match self {
            SqlGuardError::Empty => "empty",
            SqlGuardError::TooLong { .. } => "too_long",
            SqlGuardError::MultipleStatements { .. } => "multiple_statements",
            SqlGuardError::ForbiddenKeyword { .. } => "forbidden_keyword",
            SqlGuardError::HiddenInComment { .. } => "hidden_in_comment",
            SqlGuardError::NotAdmitted { .. } => "not_admitted",
            SqlGuardError::UnterminatedComment { .. } => "unterminated_comment",
            SqlGuardError::UnterminatedLiteral { .. } => "unterminated_literal",
            SqlGuardError::NonAsciiOutsideLiteral { .. } => "non_ascii_outside_literal",
            SqlGuardError::ControlCharacter { .. } => "control_character",
            SqlGuardError::NamedParameter { .. } => "named_parameter",
            SqlGuardError::ParameterIndexInvalid { .. } => "parameter_index_invalid",
            SqlGuardError::TooManyParameters { .. } => "too_many_parameters",
            SqlGuardError::ParameterCountMismatch { .. } => "parameter_count_mismatch",
            SqlGuardError::InternalTable { .. } => "internal_table",
        }
    }
}

impl fmt::Display for SqlGuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CODE}: reason={}", self.reason())?;
        match self {
            SqlGuardError::Empty => Ok(()),
            SqlGuardError::TooLong { bytes } => write!(f, " bytes={bytes}"),
            SqlGuardError::ForbiddenKeyword { keyword, offset } => {
                write!(f, " keyword={keyword} offset={offset}")
            }
            SqlGuardError::HiddenInComment { what, offset } => {
                write!(f, " what={what} offset={offset}")
            }
            SqlGuardError::NotAdmitted { first } => write!(f, " first={first:?}"),
            SqlGuardError::TooManyParameters { count } => write!(f, " count={count}"),
            SqlGuardError::ParameterCountMismatch { expected, given } => {
                write!(f, " expected={expected} given={given}")
            }
            SqlGuardError::InternalTable { name, offset } => {
                write!(f, " table={name:?} offset={offset}")
            }
            SqlGuardError::MultipleStatements { offset }
            | SqlGuardError::UnterminatedComment { offset }
            | SqlGuardError::UnterminatedLiteral { offset }
            | SqlGuardError::NonAsciiOutsideLiteral { offset }
            | SqlGuardError::ControlCharacter { offset }
            | SqlGuardError::NamedParameter { offset }
            | SqlGuardError::ParameterIndexInvalid { offset } => write!(f, " offset={offset}"),
        }
    }
}

impl std::error::Error for SqlGuardError {}

/// Whether the gate refuses statements (`SECURITY_DB_GUARDRAILS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guardrails {
    /// Every statement is checked; a refused one never reaches D1. The default.
    On,
    /// Maintenance only: statements are checked and a would-be refusal is logged, but they run.
    Off,
}

impl Guardrails {
    /// Only the exact value `0` turns the gate off; absent, `1`, or anything else (a typo such as
    /// `false` or `off` included) keeps it on, so a mistake fails closed.
    pub fn from_setting(value: Option<&str>) -> Guardrails {
        match value.map(str::trim) {
            Some("0") => Guardrails::Off,
            _ => Guardrails::On,
        }
    }
}

/// Admits exactly one SELECT/INSERT/UPDATE/DELETE statement; see the module documentation for
/// every rule.
pub fn check_statement(sql: &str) -> Result<StatementKind, SqlGuardError> {
    check(sql).map(|c| c.kind)
}

/// [`check_statement`], and the statement must take exactly `bound` values.
pub fn check_bound(sql: &str, bound: usize) -> Result<Checked, SqlGuardError> {
    let checked = check(sql)?;
    if checked.parameters != bound {
        return Err(SqlGuardError::ParameterCountMismatch {
            expected: checked.parameters,
            given: bound,
        });
    }
    Ok(checked)
}

/// [`check_statement`], also returning how many values the statement must be bound with.
pub fn check(sql: &str) -> Result<Checked, SqlGuardError> {
    if sql.len() > MAX_STATEMENT_BYTES {
        return Err(SqlGuardError::TooLong { bytes: sql.len() });
    }
    let tokens = tokenize(sql)?;
    let Some(first) = tokens.first() else {
        return Err(SqlGuardError::Empty);
    };
    if let Some(semi) = tokens.iter().position(|t| t.kind == Kind::Semicolon) {
        if let Some(next) = tokens.get(semi + 1) {
            return Err(SqlGuardError::MultipleStatements {
                offset: next.offset,
            });
        }
    }
    for t in &tokens {
        match t.kind {
            Kind::Word => {
                let upper = t.text.to_ascii_uppercase();
                if let Some(keyword) = forbidden_keyword(&upper) {
                    return Err(SqlGuardError::ForbiddenKeyword {
                        keyword,
                        offset: t.offset,
                    });
                }
                if is_internal(&upper) {
                    return Err(internal_table(t));
                }
            }
            Kind::QuotedIdentifier => {
                let inner = &t.text[1..t.text.len() - 1];
                if is_internal(&inner.to_ascii_uppercase()) {
                    return Err(internal_table(t));
                }
            }
            _ => {}
        }
    }
    let kind = statement_kind(first, &tokens)?;
    let parameters = parameter_count(&tokens)?;
    Ok(Checked { kind, parameters })
}

fn forbidden_keyword(upper: &str) -> Option<&'static str> {
    FORBIDDEN_KEYWORDS.iter().copied().find(|k| *k == upper)
}

fn is_internal(upper: &str) -> bool {
    INTERNAL_PREFIXES.iter().any(|p| upper.starts_with(p))
}

fn internal_table(t: &Token<'_>) -> SqlGuardError {
    SqlGuardError::InternalTable {
        name: t.text.chars().take(64).collect(),
        offset: t.offset,
    }
}

fn admitted(upper: &str) -> Option<StatementKind> {
    match upper {
        "SELECT" => Some(StatementKind::Select),
        "INSERT" => Some(StatementKind::Insert),
        "UPDATE" => Some(StatementKind::Update),
        "DELETE" => Some(StatementKind::Delete),
        _ => None,
    }
}

fn not_admitted(t: &Token<'_>) -> SqlGuardError {
    SqlGuardError::NotAdmitted {
        first: t.text.chars().take(32).collect(),
    }
}

/// The kind is the first word, or for `WITH …` the first statement word outside the CTEs'
/// parentheses.
fn statement_kind(first: &Token<'_>, tokens: &[Token<'_>]) -> Result<StatementKind, SqlGuardError> {
    if first.kind != Kind::Word {
        return Err(not_admitted(first));
    }
    let upper = first.text.to_ascii_uppercase();
    if let Some(kind) = admitted(&upper) {
        return Ok(kind);
    }
    if upper != "WITH" {
        return Err(not_admitted(first));
    }
    let mut depth = 0usize;
    for t in &tokens[1..] {
        match t.kind {
            Kind::OpenParen => depth += 1,
            Kind::CloseParen => depth = depth.saturating_sub(1),
            Kind::Word if depth == 0 => {
                let upper = t.text.to_ascii_uppercase();
                if let Some(kind) = admitted(&upper) {
                    return Ok(kind);
                }
                if upper == "REPLACE" || upper == "VALUES" {
                    return Err(not_admitted(t));
                }
            }
            _ => {}
        }
    }
    Err(not_admitted(first))
}

/// SQLite numbering: `?NNN` has index NNN, a bare `?` takes one more than the largest so far;
/// the statement needs as many values as the largest index.
fn parameter_count(tokens: &[Token<'_>]) -> Result<usize, SqlGuardError> {
    let mut largest = 0usize;
    for t in tokens.iter().filter(|t| t.kind == Kind::Parameter) {
        let index = if t.text.len() == 1 {
            largest + 1
        } else {
            match t.text[1..].parse::<usize>() {
                Ok(n) if (1..=MAX_PARAMETERS).contains(&n) => n,
                _ => return Err(SqlGuardError::ParameterIndexInvalid { offset: t.offset }),
            }
        };
        largest = largest.max(index);
    }
    if largest > MAX_PARAMETERS {
        return Err(SqlGuardError::TooManyParameters { count: largest });
    }
    Ok(largest)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Number,
    /// A string or blob literal.
    Literal,
    /// `"…"`, `` `…` `` or `[…]`.
    QuotedIdentifier,
    Parameter,
    Semicolon,
    OpenParen,
    CloseParen,
    Punctuation,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    offset: usize,
}

/// SQLite's whitespace: space, \t, \n, \v, \f, \r.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Splits `sql` into tokens, dropping whitespace and (checked) comments.
fn tokenize(sql: &str) -> Result<Vec<Token<'_>>, SqlGuardError> {
    let bytes = sql.as_bytes();
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(SqlGuardError::ControlCharacter { offset });
    }
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            _ if is_space(b) => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                check_comment(&sql[i + 2..end], start)?;
                i = end;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // SQLite's block comments do not nest: the first `*/` ends it.
                let Some(p) = sql[i + 2..].find("*/") else {
                    return Err(SqlGuardError::UnterminatedComment { offset: start });
                };
                check_comment(&sql[i + 2..i + 2 + p], start)?;
                i += 2 + p + 2;
                continue;
            }
            b'\'' => {
                i = quoted_end(bytes, i, b'\'')?;
                Kind::Literal
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                i = quoted_end(bytes, i + 1, b'\'')?;
                Kind::Literal
            }
            b'"' | b'`' => {
                i = quoted_end(bytes, i, b)?;
                Kind::QuotedIdentifier
            }
            b'[' => {
                let Some(p) = bytes[i..].iter().position(|&c| c == b']') else {
                    return Err(SqlGuardError::UnterminatedLiteral { offset: start });
                };
                i += p + 1;
                Kind::QuotedIdentifier
            }
            b'?' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Kind::Parameter
            }
            b':' | b'@' | b'$' | b'#' if bytes.get(i + 1).is_some_and(|&c| is_ident_char(c)) => {
                return Err(SqlGuardError::NamedParameter { offset: start });
            }
            _ if b.is_ascii_digit()
                || (b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                // Digits, hex digits, `.`, `_` separators and an exponent sign. Whatever else
                // SQLite would make of a malformed number, it is one token and not a keyword.
                i += 1;
                while i < bytes.len() {
                    let c = bytes[i];
                    let exponent_sign = (c == b'+' || c == b'-')
                        && matches!(bytes[i - 1], b'e' | b'E')
                        && !sql[start..i].starts_with("0x")
                        && !sql[start..i].starts_with("0X");
                    if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Kind::Number
            }
            _ if is_ident_start(b) => {
                while i < bytes.len() && is_ident_char(bytes[i]) {
                    i += 1;
                }
                Kind::Word
            }
            b';' => {
                i += 1;
                Kind::Semicolon
            }
            b'(' => {
                i += 1;
                Kind::OpenParen
            }
            b')' => {
                i += 1;
                Kind::CloseParen
            }
            _ if b >= 0x80 => return Err(SqlGuardError::NonAsciiOutsideLiteral { offset: i }),
            _ if b.is_ascii_control() => return Err(SqlGuardError::ControlCharacter { offset: i }),
            _ => {
                i += 1;
                Kind::Punctuation
            }
        };
        tokens.push(Token {
            kind,
            text: &sql[start..i],
            offset: start,
        });
    }
    Ok(tokens)
}

/// The index just past the closing `quote` of the quoted run starting at `open` (a doubled
/// quote inside is an escaped one).
fn quoted_end(bytes: &[u8], open: usize, quote: u8) -> Result<usize, SqlGuardError> {
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Ok(i + 1);
        }
        i += 1;
    }
    Err(SqlGuardError::UnterminatedLiteral { offset: open })
}

/// A comment may say anything except a statement separator or a forbidden keyword.
fn check_comment(body: &str, offset: usize) -> Result<(), SqlGuardError> {
    if body.contains(';') {
        return Err(SqlGuardError::HiddenInComment { what: ";", offset });
    }
    let upper = body.to_ascii_uppercase();
    let words = upper.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    for word in words {
        if let Some(keyword) = forbidden_keyword(word) {
            return Err(SqlGuardError::HiddenInComment {
                what: keyword,
                offset,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(sql: &str) -> &'static str {
        match check_statement(sql) {
            Ok(kind) => panic!("admitted as {kind:?}: {sql:?}"),
            Err(e) => e.reason(),
        }
    }

    fn kind(sql: &str) -> StatementKind {
        check_statement(sql).unwrap_or_else(|e| panic!("refused ({e}): {sql:?}"))
    }

    #[test]
    fn the_four_admitted_statements_with_bound_parameters() {
        use StatementKind::*;
        assert_eq!(kind("SELECT 1 AS ok"), Select);
        assert_eq!(
            kind("SELECT * FROM markets WHERE ticker = ? AND venue = ?"),
            Select
        );
        assert_eq!(
            kind("INSERT INTO runs (run_id, job) VALUES (?1, ?2)"),
            Insert
        );
        assert_eq!(
            kind("INSERT OR IGNORE INTO runs (run_id) VALUES (?)"),
            Insert
        );
        assert_eq!(kind("UPDATE runs SET status = ? WHERE run_id = ?"), Update);
        assert_eq!(kind("DELETE FROM pairs WHERE pair_id = ?"), Delete);
        assert_eq!(kind("  select 1;  "), Select);
        assert_eq!(kind("\n\tSELECT\t1\r\n;\n"), Select);
    }

    #[test]
    fn upserts_returning_and_ctes_are_admitted() {
        use StatementKind::*;
        assert_eq!(
            kind(
                "INSERT INTO positions (market, qty) VALUES (?, ?) \
                 ON CONFLICT (market) DO UPDATE SET qty = qty + excluded.qty RETURNING qty"
            ),
            Insert
        );
        assert_eq!(
            kind("INSERT INTO runs (run_id) VALUES (?) ON CONFLICT DO NOTHING"),
            Insert
        );
        assert_eq!(
            kind("UPDATE orders SET status = ? WHERE id = ? RETURNING *"),
            Update
        );
        assert_eq!(kind("DELETE FROM t WHERE id = ? RETURNING id"), Delete);
        assert_eq!(
            kind("WITH recent AS (SELECT * FROM fills WHERE ts > ?) SELECT count(*) FROM recent"),
            Select
        );
        assert_eq!(
            kind(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) \
                 INSERT INTO nums SELECT x FROM n"
            ),
            Insert
        );
        assert_eq!(
            kind("WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT 2) UPDATE t SET v = (SELECT 1 FROM a)"),
            Update
        );
        assert_eq!(
            kind("WITH old AS (SELECT id FROM t WHERE ts < ?) DELETE FROM t WHERE id IN old"),
            Delete
        );
    }

    #[test]
    fn keywords_inside_string_literals_and_quoted_identifiers_are_not_refused() {
        assert_eq!(
            kind("SELECT * FROM violations WHERE kind = 'DROP TABLE; PRAGMA x; -- /*'"),
            StatementKind::Select
        );
        assert_eq!(
            kind("INSERT INTO t (note) VALUES ('it''s; ATTACH ''x'' AS y')"),
            StatementKind::Insert
        );
        assert_eq!(
            kind("SELECT \"drop\", `create`, [pragma] FROM t WHERE \"commit\" = ?"),
            StatementKind::Select
        );
        assert_eq!(
            kind("SELECT x'DEADBEEF', 'naïve — ünïcode in a literal'"),
            StatementKind::Select
        );
        // Words that merely contain a forbidden keyword are ordinary identifiers.
        assert_eq!(
            kind("SELECT dropped_at, created_at, altered, begins FROM t"),
            StatementKind::Select
        );
    }

    #[test]
    fn numeric_and_string_constants_are_admitted() {
        assert_eq!(
            kind("UPDATE orders SET status = 'CANCELLED', attempts = 0, fee = 1.5e-3 WHERE id = ?"),
            StatementKind::Update
        );
        assert_eq!(kind("SELECT 0x1F, .5, 1_000"), StatementKind::Select);
    }

    #[test]
    fn every_forbidden_statement_is_refused() {
        for sql in [
            "PRAGMA writable_schema = 1",
            "PRAGMA ignore_check_constraints = ON",
            "pragma table_info(runs)",
            "ATTACH DATABASE 'other.db' AS o",
            "DETACH DATABASE o",
            "CREATE TABLE t (a)",
            "CREATE TRIGGER x AFTER INSERT ON t BEGIN DELETE FROM t END",
            "ALTER TABLE runs ADD COLUMN x",
            "DROP TABLE runs",
            "DROP INDEX runs_by_job_started",
            "VACUUM",
            "REINDEX runs",
            "ANALYZE",
            "BEGIN TRANSACTION",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "ROLLBACK",
            "ROLLBACK TO sp",
            "SAVEPOINT sp",
            "RELEASE sp",
            "SELECT load_extension('x')",
            "INSERT OR ROLLBACK INTO t VALUES (?)",
        ] {
            assert_eq!(reason(sql), "forbidden_keyword", "{sql}");
        }
    }

    #[test]
    fn statements_other_than_the_four_are_not_admitted() {
        for sql in [
            "REPLACE INTO t VALUES (?)",
            "VALUES (1), (2)",
            "EXPLAIN SELECT 1",
            "EXPLAIN QUERY PLAN SELECT 1",
            "END TRANSACTION",
            "END",
            "(SELECT 1)",
            "WITH a AS (SELECT 1) VALUES (1)",
            "WITH a AS (SELECT 1) REPLACE INTO t SELECT * FROM a",
            "WITH a AS (SELECT 1)",
            "? SELECT 1",
        ] {
            assert_eq!(reason(sql), "not_admitted", "{sql}");
        }
        let e = check_statement("REPLACE INTO t VALUES (?)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "DB_STATEMENT_FORBIDDEN: reason=not_admitted first=\"REPLACE\""
        );
    }

    #[test]
    fn case_and_whitespace_tricks_are_refused() {
        for sql in [
            "PrAgMa foreign_keys = OFF",
            "\t\n  drop\ttable\nruns",
            "\r\ndRoP\x0bTABLE runs",
            "\x0cVACUUM",
            "SELECT 1;\n\tdrop table runs",
            "SELECT 1 ;DROP TABLE runs",
        ] {
            assert!(check_statement(sql).is_err(), "{sql:?}");
        }
        assert_eq!(reason("PrAgMa foreign_keys = OFF"), "forbidden_keyword");
        assert_eq!(
            reason("SELECT 1;\n\tdrop table runs"),
            "multiple_statements"
        );
    }

    #[test]
    fn unicode_spaces_and_look_alikes_outside_literals_are_refused() {
        for sql in [
            "SELECT\u{00a0}1",
            "SELECT 1;\u{2003}DROP TABLE t",
            "DROP\u{3000}TABLE t",
            "SELECT 1 FROM t WHERE a = ?\u{200b}",
            "SELECT 1; \u{feff}",
            "ＤＲＯＰ TABLE t",
            "SELECT * FROM t\u{2028}WHERE a = ?",
        ] {
            let r = reason(sql);
            assert!(
                r == "non_ascii_outside_literal" || r == "multiple_statements",
                "{sql:?}: {r}"
            );
        }
        assert_eq!(reason("DROP\u{3000}TABLE t"), "non_ascii_outside_literal");
        assert_eq!(reason("SELECT\u{85}1"), "non_ascii_outside_literal");
    }

    #[test]
    fn control_characters_and_nul_are_refused() {
        assert_eq!(reason("SELECT 1\0; DROP TABLE t"), "control_character");
        assert_eq!(reason("SELECT 'a\0b'"), "control_character");
        assert_eq!(reason("SELECT\x1b1"), "control_character");
        assert_eq!(reason("SELECT\x7f1"), "control_character");
    }

    #[test]
    fn more_than_one_statement_is_refused() {
        for sql in [
            "SELECT 1; SELECT 2",
            "SELECT 1;SELECT 2;",
            "SELECT 1;;",
            "; SELECT 1",
            "INSERT INTO t VALUES (?); DELETE FROM t",
            "SELECT 1; /* fine */ SELECT 2",
            "SELECT 1; -- fine\nSELECT 2",
            "SELECT 'a;b'; UPDATE t SET a = 1",
        ] {
            assert_eq!(reason(sql), "multiple_statements", "{sql:?}");
        }
        assert_eq!(
            check_statement("SELECT 1; SELECT 2")
                .unwrap_err()
                .to_string(),
            "DB_STATEMENT_FORBIDDEN: reason=multiple_statements offset=10"
        );
    }

    #[test]
    fn a_trailing_semicolon_and_harmless_comments_are_admitted() {
        assert_eq!(kind("SELECT 1;"), StatementKind::Select);
        assert_eq!(kind("SELECT 1; -- the probe\n"), StatementKind::Select);
        assert_eq!(kind("SELECT 1; /* the probe */  "), StatementKind::Select);
        assert_eq!(
            kind("-- open markets only\nSELECT * FROM markets /* by venue */ WHERE venue = ?"),
            StatementKind::Select
        );
        assert_eq!(
            kind("SELECT 1 -- no newline at the end"),
            StatementKind::Select
        );
        assert_eq!(
            kind("SELECT a-b, 4/2, 3 - -1 FROM t"),
            StatementKind::Select
        );
    }

    #[test]
    fn comments_that_hide_a_forbidden_form_are_refused() {
        for sql in [
            "/**/PRAGMA writable_schema = 1",
            "SELECT 1 /* ; DROP TABLE runs */",
            "SELECT 1 -- ; DROP TABLE runs",
            "SELECT 1; -- DROP TABLE runs",
            "SELECT 1 /* pragma */",
            "SELECT /*!50000 DROP */ 1",
            "SELECT 1 --\tvacuum",
            "SELECT 1 /* attach\n */",
        ] {
            let r = reason(sql);
            assert!(
                r == "hidden_in_comment" || r == "forbidden_keyword",
                "{sql:?}: {r}"
            );
        }
        assert_eq!(
            reason("SELECT 1 /* ; DROP TABLE runs */"),
            "hidden_in_comment"
        );
        assert_eq!(
            check_statement("SELECT 1 -- DROP it")
                .unwrap_err()
                .to_string(),
            "DB_STATEMENT_FORBIDDEN: reason=hidden_in_comment what=DROP offset=9"
        );
    }

    #[test]
    fn nested_and_unterminated_comment_tricks_are_refused() {
        // SQLite block comments do not nest: the first `*/` ends the comment, so what follows
        // is live SQL.
        assert!(check_statement("SELECT 1 /* /* */ ; DROP TABLE t /* */ */").is_err());
        assert_eq!(
            reason("SELECT 1 /* /* */ DROP TABLE t"),
            "forbidden_keyword"
        );
        assert_eq!(reason("SELECT 1 /* never closed"), "unterminated_comment");
        // `--` inside a block comment, `/*` inside a line comment: still one comment each.
        assert_eq!(kind("SELECT 1 /* -- */ + 1"), StatementKind::Select);
        assert_eq!(kind("SELECT 1 -- /* \n + 1"), StatementKind::Select);
        assert_eq!(
            reason("SELECT 1 -- /* \n ; DROP TABLE t -- */"),
            "multiple_statements"
        );
        // Comment markers inside a literal are not comments.
        assert_eq!(
            reason("SELECT '/*' ; DROP TABLE t; SELECT '*/'"),
            "multiple_statements"
        );
        assert_eq!(reason("SELECT '--'; DROP TABLE t"), "multiple_statements");
    }

    #[test]
    fn unterminated_literals_and_identifiers_are_refused() {
        for sql in [
            "SELECT 'abc",
            "SELECT 'it''s",
            "SELECT \"col FROM t",
            "SELECT `col FROM t",
            "SELECT [col FROM t",
            "SELECT x'00",
        ] {
            assert_eq!(reason(sql), "unterminated_literal", "{sql:?}");
        }
    }

    #[test]
    fn empty_statements_are_refused() {
        for sql in ["", "   ", ";", "-- nothing\n", "/* nothing */", "\n\t\r"] {
            let r = reason(sql);
            assert!(r == "empty" || r == "not_admitted", "{sql:?}: {r}");
        }
        assert_eq!(reason(""), "empty");
        assert_eq!(reason(";"), "not_admitted");
    }

    #[test]
    fn named_parameters_are_refused() {
        for sql in [
            "SELECT * FROM t WHERE a = :a",
            "SELECT * FROM t WHERE a = @a",
            "SELECT * FROM t WHERE a = $a",
            "SELECT * FROM t WHERE a = #a",
            "SELECT * FROM t WHERE a = :1",
        ] {
            assert_eq!(reason(sql), "named_parameter", "{sql:?}");
        }
    }

    #[test]
    fn parameter_counts_follow_sqlite_numbering() {
        let count = |sql: &str| check(sql).unwrap().parameters;
        assert_eq!(count("SELECT 1"), 0);
        assert_eq!(count("SELECT ?, ?, ?"), 3);
        assert_eq!(count("SELECT ?2, ?1"), 2);
        assert_eq!(count("SELECT ?1, ?1, ?1"), 1);
        assert_eq!(count("SELECT ?5, ?"), 6);
        assert_eq!(count("SELECT '?', \"?\" FROM t WHERE a = ? -- ?\n"), 1);
        assert_eq!(reason("SELECT ?0"), "parameter_index_invalid");
        assert_eq!(reason("SELECT ?101"), "parameter_index_invalid");
        assert_eq!(
            reason("SELECT ?99999999999999999999999"),
            "parameter_index_invalid"
        );
        let hundred_and_one = format!("SELECT {}", vec!["?"; 101].join(", "));
        assert_eq!(reason(&hundred_and_one), "too_many_parameters");
        let hundred = format!("SELECT {}", vec!["?"; 100].join(", "));
        assert_eq!(count(&hundred), 100);
    }

    #[test]
    fn bound_values_must_match_the_placeholders() {
        assert!(check_bound("SELECT ? , ?", 2).is_ok());
        let e = check_bound("SELECT * FROM t WHERE a = ?", 0).unwrap_err();
        assert_eq!(
            e,
            SqlGuardError::ParameterCountMismatch {
                expected: 1,
                given: 0
            }
        );
        assert_eq!(e.code(), "DB_STATEMENT_FORBIDDEN");
        assert!(check_bound("SELECT 1", 1).is_err());
    }

    #[test]
    fn internal_tables_are_refused() {
        for sql in [
            "SELECT * FROM sqlite_master",
            "SELECT sql FROM SQLITE_SCHEMA",
            "SELECT * FROM \"sqlite_master\"",
            "SELECT * FROM [sqlite_sequence]",
            "SELECT * FROM _cf_KV",
            "DELETE FROM `_cf_METADATA`",
        ] {
            assert_eq!(reason(sql), "internal_table", "{sql:?}");
        }
    }

    #[test]
    fn only_an_explicit_zero_turns_the_guardrails_off() {
        assert_eq!(Guardrails::from_setting(None), Guardrails::On);
        assert_eq!(Guardrails::from_setting(Some("1")), Guardrails::On);
        assert_eq!(Guardrails::from_setting(Some("0")), Guardrails::Off);
        assert_eq!(Guardrails::from_setting(Some(" 0 ")), Guardrails::Off);
        for typo in ["", "false", "off", "no", "00", "O"] {
            assert_eq!(
                Guardrails::from_setting(Some(typo)),
                Guardrails::On,
                "{typo:?}"
            );
        }
    }

    #[test]
    fn overlong_statements_are_refused() {
        let sql = format!("SELECT '{}'", "a".repeat(MAX_STATEMENT_BYTES));
        assert_eq!(reason(&sql), "too_long");
    }
}

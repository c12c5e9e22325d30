//! The one gate to D1. Every operational statement is prepared here: its text passes
//! [`core::sql_guard`](crate::core::sql_guard) first (one SELECT/INSERT/UPDATE/DELETE, bound
//! parameters only, no PRAGMA/DDL/ATTACH/…), and every value is bound, never spliced. Statement
//! text is `&'static str`, so it is a constant of the code and cannot be assembled from request
//! data. No other module opens a D1 binding (`scripts/check-least-authority.sh` checks it).
//!
//! `SECURITY_DB_GUARDRAILS=0` is for maintenance only: statements *of the code* that the gate
//! would refuse then run (with a warning in the log), and every request served meanwhile is
//! appended to the audit log before it is handled (`http::dispatch`). Operator-supplied SQL
//! ([`Db::operator_select`], `POST /admin/d1/query`) is always checked, with the gate on or off,
//! and only a SELECT runs: maintenance never widens what text from outside can do. Schema
//! changes happen only through migrations.

use crate::core::sql_guard::{self, Guardrails, SqlGuardError};
use crate::http::error::ApiError;
use crate::obs::Logger;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

/// The setting that turns the gate off (`0`) for maintenance.
pub const GUARDRAILS_SETTING: &str = "SECURITY_DB_GUARDRAILS";

/// The largest integer a D1 parameter carries exactly (JavaScript numbers are doubles).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A value bound to a statement parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    Null,
    /// Must lie within ±[`MAX_SAFE_INTEGER`]; larger values are refused rather than rounded.
    Int(i64),
    /// Must be finite. Never for money (money is `Int` fixed-point).
    Real(f64),
    Text(&'a str),
    Bool(bool),
    Blob(&'a [u8]),
}

impl Param<'_> {
    /// Whether D1 can carry the value exactly.
    pub fn is_exact(&self) -> bool {
        match *self {
            Param::Int(v) => (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v),
            Param::Real(v) => v.is_finite(),
            _ => true,
        }
    }

    fn to_js(self) -> JsValue {
        match self {
            Param::Null => JsValue::NULL,
            Param::Int(v) => JsValue::from_f64(v as f64),
            Param::Real(v) => JsValue::from_f64(v),
            Param::Text(s) => JsValue::from_str(s),
            Param::Bool(b) => JsValue::from_bool(b),
            Param::Blob(bytes) => js_sys::Uint8Array::from(bytes).buffer().into(),
        }
    }
}

/// Why a D1 operation did not happen or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// The binding is absent from the environment.
    Unavailable { binding: &'static str },
    /// The gate refused the statement.
    Forbidden(SqlGuardError),
    /// Parameter `index` (0-based) holds a value D1 cannot carry exactly.
    ValueNotExact { index: usize },
    /// D1 failed the statement. The message is for logs only.
    Failed { message: String },
    /// Operator SQL that the gate admits but that is not a SELECT.
    ReadOnly { kind: &'static str },
}

impl DbError {
    /// Stable code for logs and the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            DbError::Unavailable { .. } => "DB_UNAVAILABLE",
            DbError::Forbidden(e) => e.code(),
            DbError::ValueNotExact { .. } => "DB_VALUE_NOT_EXACT",
            DbError::Failed { .. } => "DB_FAILED",
            DbError::ReadOnly { .. } => "DB_QUERY_READ_ONLY",
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Unavailable { binding } => write!(f, "DB_UNAVAILABLE: binding={binding}"),
            DbError::Forbidden(e) => e.fmt(f),
            DbError::ValueNotExact { index } => write!(f, "DB_VALUE_NOT_EXACT: index={index}"),
            DbError::Failed { message } => write!(f, "DB_FAILED: {message}"),
            DbError::ReadOnly { kind } => write!(f, "DB_QUERY_READ_ONLY: kind={kind}"),
        }
    }
}

impl From<DbError> for ApiError {
    /// Clients see the code (and a refusal's reason), never D1's message.
    fn from(e: DbError) -> ApiError {
        match &e {
            DbError::Unavailable { .. } => ApiError::unavailable(e.code(), "database unavailable"),
            DbError::Forbidden(g) => ApiError::new(500, e.code(), "statement refused")
                .with_details(json!({ "reason": g.reason() })),
            DbError::ValueNotExact { .. } | DbError::Failed { .. } => {
                ApiError::new(500, e.code(), "database operation failed")
            }
            DbError::ReadOnly { kind } => ApiError::new(
                400,
                e.code(),
                "only a SELECT may be run here; writes go through the routes that own them",
            )
            .with_details(json!({ "kind": kind })),
        }
    }
}

fn failed(e: worker::Error) -> DbError {
    DbError::Failed {
        message: e.to_string(),
    }
}

/// A D1 database behind the gate, for one request or job.
pub struct Db {
    inner: D1Database,
    binding: &'static str,
    guardrails: Guardrails,
    log: Logger,
}

impl Db {
    /// Opens `binding` (`"DB"` or `"DB_ANCHOR"`) and reads `SECURITY_DB_GUARDRAILS`; when the gate
    /// is off, says so in the log.
    pub fn open(env: &Env, binding: &'static str, log: &Logger) -> Result<Db, DbError> {
        let inner = env
            .d1(binding)
            .map_err(|_| DbError::Unavailable { binding })?;
        let setting = crate::bindings::var(env, GUARDRAILS_SETTING);
        let guardrails = Guardrails::from_setting(setting.as_deref());
        if guardrails == Guardrails::Off {
            log.warn(
                "db_guardrails_off",
                json!({ "binding": binding, "setting": GUARDRAILS_SETTING }),
            );
        }
        Ok(Db {
            inner,
            binding,
            guardrails,
            log: log.clone(),
        })
    }

    /// Checks `sql` and binds `params` (exactly as many as the statement's placeholders).
    pub fn prepare(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<D1PreparedStatement, DbError> {
        match (sql_guard::check_bound(sql, params.len()), self.guardrails) {
            (Ok(_), _) => {}
            (Err(e), Guardrails::On) => {
                self.log.error(
                    "db_statement_forbidden",
                    json!({ "binding": self.binding, "detail": e.to_string() }),
                );
                return Err(DbError::Forbidden(e));
            }
            (Err(e), Guardrails::Off) => self.log.warn(
                "db_statement_unguarded",
                json!({ "binding": self.binding, "detail": e.to_string() }),
            ),
        }
        if let Some(index) = params.iter().position(|p| !p.is_exact()) {
            return Err(DbError::ValueNotExact { index });
        }
        let values: Vec<JsValue> = params.iter().map(|p| p.to_js()).collect();
        self.inner.prepare(sql).bind(&values).map_err(failed)
    }

    /// The first row, if any.
    pub async fn first<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<T>, DbError> {
        self.prepare(sql, params)?
            .first::<T>(None)
            .await
            .map_err(failed)
    }

    /// Every row.
    pub async fn all<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, DbError> {
        let result = self.prepare(sql, params)?.all().await.map_err(failed)?;
        if let Some(message) = result.error() {
            return Err(DbError::Failed { message });
        }
        result.results::<T>().map_err(failed)
    }

    /// Runs a statement for its effect; the number of rows changed.
    pub async fn run(&self, sql: &'static str, params: &[Param<'_>]) -> Result<usize, DbError> {
        let result = self.prepare(sql, params)?.run().await.map_err(failed)?;
        if let Some(message) = result.error() {
            return Err(DbError::Failed { message });
        }
        Ok(result
            .meta()
            .map_err(failed)?
            .and_then(|m| m.changes)
            .unwrap_or(0))
    }

    /// Runs one SELECT written by an operator (`POST /admin/d1/query`). Unlike
    /// [`Db::prepare`], the text is not a constant of the code, so it is always checked, whatever
    /// `SECURITY_DB_GUARDRAILS` says, and anything but a SELECT is refused
    /// ([`DbError::ReadOnly`]). Every row, as JSON.
    pub async fn operator_select(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<serde_json::Value>, DbError> {
        let checked = sql_guard::check_bound(sql, params.len()).map_err(|e| {
            self.log.warn(
                "db_operator_statement_forbidden",
                json!({ "binding": self.binding, "detail": e.to_string() }),
            );
            DbError::Forbidden(e)
        })?;
        if checked.kind != sql_guard::StatementKind::Select {
            return Err(DbError::ReadOnly {
                kind: checked.kind.as_str(),
            });
        }
        if let Some(index) = params.iter().position(|p| !p.is_exact()) {
            return Err(DbError::ValueNotExact { index });
        }
        let values: Vec<JsValue> = params.iter().map(|p| p.to_js()).collect();
        let statement = self.inner.prepare(sql).bind(&values).map_err(failed)?;
        let result = statement.all().await.map_err(failed)?;
        if let Some(message) = result.error() {
            return Err(DbError::Failed { message });
        }
        result.results::<serde_json::Value>().map_err(failed)
    }

    /// Runs statements made by [`Db::prepare`] atomically, in order (D1 has no `BEGIN`).
    pub async fn batch(
        &self,
        statements: Vec<D1PreparedStatement>,
    ) -> Result<Vec<D1Result>, DbError> {
        self.inner.batch(statements).await.map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_double_precision_are_not_exact() {
        assert!(Param::Int(MAX_SAFE_INTEGER).is_exact());
        assert!(Param::Int(-MAX_SAFE_INTEGER).is_exact());
        assert!(!Param::Int(MAX_SAFE_INTEGER + 1).is_exact());
        assert!(!Param::Int(i64::MIN).is_exact());
        assert!(!Param::Real(f64::NAN).is_exact());
        assert!(!Param::Real(f64::INFINITY).is_exact());
        assert!(Param::Real(0.25).is_exact());
        assert!(Param::Text("x").is_exact());
    }

    #[test]
    fn a_refusal_reaches_the_client_as_its_code_and_reason_only() {
        let e = DbError::Forbidden(sql_guard::check_statement("DROP TABLE runs").unwrap_err());
        let api: ApiError = e.into();
        assert_eq!(api.status, 500);
        assert_eq!(api.code, "DB_STATEMENT_FORBIDDEN");
        assert_eq!(api.details["reason"], "forbidden_keyword");
        let api: ApiError = DbError::Failed {
            message: "no such table: secret_stuff".into(),
        }
        .into();
        assert_eq!(api.code, "DB_FAILED");
        assert!(!api.body().to_string().contains("secret_stuff"));
    }
}

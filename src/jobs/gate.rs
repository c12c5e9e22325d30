//! The production profitability gate run (`POST /admin/gates/production/run` and the daily
//! cron `30 0 * * *`), and the daily dashboard status. Thin: gathers the gate's input and the
//! provenance, lets `core::gate` judge, writes the artifact to R2_AUDIT, appends `GATE_RUN` to
//! the audit log (with the artifact's SHA-256), then indexes it in D1. An artifact that is not
//! indexed does not count: go-live reads the index.

use crate::audit_client::{self, AuditRecord};
use crate::core::audit::Hash32;
use crate::core::gate::{self, GateSource, GateThresholds};
use crate::core::gate_artifact;
use crate::core::replay::{self, ReplayConfig};
use crate::core::strategy::StrategyConfig;
use crate::http::error::ApiError;
use crate::obs::Logger;
use crate::store::d1::Db;
use crate::store::gate::{self as store, ArtifactRow, TradingHistory};
use serde_json::{json, Value};
use worker::{Env, Method};

/// The daily job's name in the `runs` table.
pub const JOB: &str = "production_gate_daily";

/// Index kind of the production gate.
pub const PRODUCTION: &str = "production_gate";
/// Index kind of the dashboard status.
pub const DASHBOARD: &str = "dashboard_status";
/// Index kind of the gate-lift replay.
pub const REPLAY: &str = "gate_lift_replay";

/// The compatibility date the Worker was built with (`scripts/build-worker.sh` reads it from
/// wrangler.toml).
pub const COMPATIBILITY_DATE: &str = match option_env!("PAULP_COMPAT_DATE") {
    Some(d) => d,
    None => "unknown",
};

/// The thresholds from the environment.
pub fn thresholds(env: &Env) -> Result<GateThresholds, String> {
    GateThresholds::from_vars(|name| crate::bindings::var(env, name))
}

/// The audit log's `/status`: size, root, chain head, last full verification.
pub async fn audit_status(env: &Env) -> Value {
    match audit_client::call(env, Method::Get, "/status", None).await {
        Ok(r) if r.status == 200 => r.body,
        Ok(r) => json!({"error": r.error().map(|(c, _)| c.to_string()).unwrap_or_default()}),
        Err(e) => json!({"error": e.code()}),
    }
}

async fn migrations(env: &Env, binding: &'static str, log: &Logger) -> Value {
    let db = match Db::open(env, binding, log) {
        Ok(db) => db,
        Err(e) => return json!({"error": e.code()}),
    };
    match store::applied_migrations(&db).await {
        Ok(names) => json!(names),
        Err(e) => json!({"error": e.code()}),
    }
}

/// The deployment's version metadata binding (`CF_VERSION_METADATA`): id, tag, timestamp.
fn deployment(env: &Env) -> Value {
    match env.object_var::<Value>("CF_VERSION_METADATA") {
        Ok(v) => json!({"id": v.get("id"), "tag": v.get("tag"), "timestamp": v.get("timestamp")}),
        Err(_) => json!({"error": "VERSION_METADATA_UNAVAILABLE"}),
    }
}

/// What the artifact rests on (runbook §6.1's `repo_state`, for a deployed Worker): the build
/// (git commit, dirty flag, build time baked in by scripts/build-worker.sh), the deployment
/// version, the compatibility date, the applied migrations of both databases, and the audit
/// log's size and root at the time.
pub async fn provenance(env: &Env, log: &Logger) -> Value {
    let audit = audit_status(env).await;
    json!({
        "build": crate::build_info::version(),
        "deployment": deployment(env),
        "compatibility_date": COMPATIBILITY_DATE,
        "migrations": {
            "DB": migrations(env, "DB", log).await,
            "DB_ANCHOR": migrations(env, "DB_ANCHOR", log).await,
        },
        "audit": {
            "size": audit.get("size"),
            "root": audit.get("root"),
            "chain_head": audit.get("chain_head"),
            "last_full_verification": audit.pointer("/verification/last_full"),
            "error": audit.get("error"),
        },
    })
}

fn config_invalid(detail: String) -> ApiError {
    ApiError::new(500, "GATE_CONFIG_INVALID", "a GATE_* setting is malformed")
        .with_details(json!({"detail": detail}))
}

/// One artifact to publish.
struct Publication<'a> {
    kind: &'a str,
    run_id: &'a str,
    key: &'a str,
    status: &'a str,
    trigger: &'a str,
    now_ms: i64,
    artifact: &'a Value,
    summary: Value,
}

/// Writes the artifact at its key, appends `GATE_{KIND}` to the audit log, then indexes it.
async fn publish(
    env: &Env,
    db: &Db,
    log: &Logger,
    actor: &str,
    p: Publication<'_>,
) -> Result<ArtifactRow, ApiError> {
    let Publication {
        kind,
        run_id,
        key,
        status,
        trigger,
        now_ms,
        artifact,
        summary,
    } = p;
    let bytes = serde_json::to_vec_pretty(artifact).map_err(|_| ApiError::internal())?;
    let sha256 = Hash32::sha256(&[&bytes]).to_hex();
    store::put(env, key, bytes).await.map_err(|e| {
        log.error(
            "gate_artifact_not_written",
            json!({"key": key, "detail": e}),
        );
        ApiError::unavailable(
            "ARTIFACT_STORE_UNAVAILABLE",
            "R2_AUDIT did not take the artifact",
        )
    })?;
    let record = AuditRecord {
        actor: actor.to_string(),
        kind: format!("GATE_{}", kind.to_ascii_uppercase()),
        payload: json!({"run_id": run_id, "status": status, "r2_key": key, "sha256": sha256, "trigger": trigger}),
        evidence_hash: None,
    };
    if let Err(e) = audit_client::append(env, vec![record]).await {
        log.error(
            "gate_artifact_not_audited",
            json!({"code": e.code(), "run_id": run_id}),
        );
        return Err(ApiError::unavailable(
            audit_client::AuditUnavailable::CODE,
            "the audit log did not confirm the append; the artifact is not indexed",
        ));
    }
    let row = ArtifactRow {
        run_id: run_id.to_string(),
        kind: kind.to_string(),
        status: status.to_string(),
        r2_key: key.to_string(),
        sha256,
        trigger: trigger.to_string(),
        created_at_ms: now_ms,
        summary: summary.to_string(),
    };
    store::index(db, &row).await?;
    Ok(row)
}

/// Runs the production gate once; the indexed row and the artifact.
pub async fn run_production(
    env: &Env,
    log: &Logger,
    actor: &str,
    trigger: &str,
) -> Result<(ArtifactRow, Value), ApiError> {
    let t = thresholds(env).map_err(config_invalid)?;
    let db = Db::open(env, "DB", log)?;
    let input = TradingHistory { db: &db }.gate_input().await?;
    let report = gate::evaluate(&input, &t);
    let now_ms = crate::clock::now_ms();
    let now = crate::core::time::from_millis(now_ms).unwrap_or_default();
    let run_id = gate_artifact::run_id(now, &crate::ids::random_hex(4));
    let provenance = provenance(env, log).await;
    let artifact = gate_artifact::production(&run_id, trigger, now_ms, &t, &report, provenance);
    let key = gate_artifact::production_key(&run_id);
    let status = report.status.as_str();
    let summary = json!({"reasons": report.reasons, "metrics": report.metrics});
    let pubn = Publication {
        kind: PRODUCTION,
        run_id: &run_id,
        key: &key,
        status,
        trigger,
        now_ms,
        artifact: &artifact,
        summary,
    };
    let row = publish(env, &db, log, actor, pubn).await?;
    log.info(
        "gate_run",
        json!({"run_id": run_id, "status": status, "reasons": report.reasons}),
    );
    Ok((row, artifact))
}

/// Reads an indexed artifact back from R2 and checks it against its recorded SHA-256.
pub async fn load(env: &Env, row: &ArtifactRow) -> Result<Value, ApiError> {
    let bytes = store::get_bytes(env, &row.r2_key)
        .await
        .map_err(|_| {
            ApiError::unavailable("ARTIFACT_STORE_UNAVAILABLE", "R2_AUDIT could not be read")
        })?
        .ok_or_else(|| {
            ApiError::new(
                500,
                "GATE_ARTIFACT_MISSING",
                "the indexed artifact is not in R2",
            )
            .with_details(json!({"r2_key": row.r2_key}))
        })?;
    if Hash32::sha256(&[&bytes]).to_hex() != row.sha256 {
        return Err(ApiError::new(
            500,
            "GATE_ARTIFACT_TAMPERED",
            "the artifact does not hash to its recorded SHA-256",
        )
        .with_details(json!({"r2_key": row.r2_key})));
    }
    serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())
}

/// The daily dashboard status (`status/dashboard_status_{run_id}.json`): breaker, limits
/// utilisation, open positions, last runs, audit status, warnings.
pub async fn run_dashboard(
    env: &Env,
    log: &Logger,
    actor: &str,
    trigger: &str,
    gate_status: Option<&str>,
) -> Result<ArtifactRow, ApiError> {
    let db = Db::open(env, "DB", log)?;
    let now_ms = crate::clock::now_ms();
    let now = crate::core::time::from_millis(now_ms).unwrap_or_default();
    let run_id = gate_artifact::run_id(now, &crate::ids::random_hex(4));
    let mut warnings: Vec<String> = Vec::new();
    let risk = match crate::risk_client::state(env).await {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!("RISK_GOVERNOR_UNAVAILABLE: {}", e.code));
            json!({})
        }
    };
    let breaker = risk["breaker"]["state"]
        .as_str()
        .unwrap_or("UNKNOWN")
        .to_string();
    if breaker != "NORMAL" {
        warnings.push(format!("BREAKER_{breaker}"));
    }
    let positions = match store::open_positions(&db).await {
        Ok(n) => json!(n),
        Err(e) => {
            warnings.push(format!("POSITIONS_UNREADABLE: {}", e.code()));
            Value::Null
        }
    };
    let runs = match crate::store::runs::list(&db, None, 20).await {
        Ok(rows) => json!(rows
            .iter()
            .map(|r| json!({"run_id": r.run_id, "job": r.job, "status": r.status, "started_at": r.started_at, "ended_at": r.ended_at}))
            .collect::<Vec<_>>()),
        Err(e) => {
            warnings.push(format!("RUNS_UNREADABLE: {}", e.code()));
            Value::Null
        }
    };
    let audit = audit_status(env).await;
    match audit.pointer("/verification/last_full/valid") {
        Some(Value::Bool(true)) => {}
        Some(_) => warnings.push("AUDIT_VERIFICATION_FAILED".into()),
        None => warnings.push("AUDIT_NEVER_FULLY_VERIFIED".into()),
    }
    if audit.get("error").is_some() {
        warnings.push("AUDIT_UNAVAILABLE".into());
    }
    match gate_status {
        Some("PASS") => {}
        Some(s) => warnings.push(format!("GATE_{s}")),
        None => warnings.push("GATE_NOT_RUN".into()),
    }
    let status = if warnings.is_empty() { "OK" } else { "WARN" };
    let artifact = json!({
        "schema": gate_artifact::SCHEMA,
        "kind": DASHBOARD,
        "run_id": run_id,
        "trigger": trigger,
        "generated_at_ms": now_ms,
        "status": status,
        "breaker": risk.get("breaker"),
        "limits": risk.get("limits"),
        "utilisation": risk.get("utilisation"),
        "open_positions": positions,
        "last_runs": runs,
        "audit": {
            "size": audit.get("size"),
            "root": audit.get("root"),
            "verification": audit.get("verification"),
            "mirror": audit.get("mirror"),
        },
        "gate_status": gate_status,
        "warnings": warnings,
        "provenance": {"build": crate::build_info::version(), "compatibility_date": COMPATIBILITY_DATE},
    });
    let key = gate_artifact::dashboard_key(&run_id);
    let summary = json!({"warnings": artifact["warnings"], "breaker": breaker});
    let pubn = Publication {
        kind: DASHBOARD,
        run_id: &run_id,
        key: &key,
        status,
        trigger,
        now_ms,
        artifact: &artifact,
        summary,
    };
    publish(env, &db, log, actor, pubn).await
}

/// Where the recorded candlesticks the replay reads live in R2_AUDIT (operators upload the
/// recorded file there: `wrangler r2 object put paul-p-audit/replay/kalshi_candlesticks.json`).
pub const REPLAY_DATA_KEY: &str = "replay/kalshi_candlesticks.json";

/// The gate-lift replay (runbook §8), when `ENABLE_GATE_LIFT_REPLAY=1`: replays the recorded
/// candlesticks day by day as of each day's end through the fair-value strategy and writes
/// `gates/gate_lift_replay_{run_id}.json`; the indexed row and the artifact. `Ok(None)` when
/// disabled. The daily cron and `POST /admin/gates/replay/run` run it. The replayed days end
/// `GATE_LIFT_REPLAY_START_OFFSET_DAYS` before the day after the newest recorded candle (the
/// recording's "today"). Its forecasts are synthetic: the production gate never counts them.
pub async fn run_replay(
    env: &Env,
    log: &Logger,
    actor: &str,
    trigger: &str,
) -> Result<Option<(ArtifactRow, Value)>, ApiError> {
    let config =
        ReplayConfig::from_vars(|n| crate::bindings::var(env, n)).map_err(config_invalid)?;
    if !config.enabled {
        return Ok(None);
    }
    let t = thresholds(env).map_err(config_invalid)?;
    let db = Db::open(env, "DB", log)?;
    let bytes = store::get_bytes(env, REPLAY_DATA_KEY)
        .await
        .map_err(|_| {
            ApiError::unavailable("ARTIFACT_STORE_UNAVAILABLE", "R2_AUDIT could not be read")
        })?
        .ok_or_else(|| {
            ApiError::new(
                409,
                "REPLAY_DATA_MISSING",
                "no recorded candlesticks to replay",
            )
            .with_details(json!({"r2_key": REPLAY_DATA_KEY}))
        })?;
    let candles = replay::parse_candles(&bytes).map_err(|e| {
        ApiError::new(
            409,
            "REPLAY_DATA_INVALID",
            "the recorded candlesticks do not parse",
        )
        .with_details(json!({"detail": e}))
    })?;
    let newest = candles
        .values()
        .filter_map(|c| c.last().map(|c| c.end_ts))
        .max()
        .and_then(|ts| chrono::DateTime::from_timestamp(ts, 0))
        .ok_or_else(|| ApiError::new(409, "REPLAY_DATA_MISSING", "the recording has no candles"))?;
    let anchor = newest.date_naive() + chrono::TimeDelta::days(1);
    let strategy = StrategyConfig::fair_value("gate_lift_replay");
    let report = replay::replay(&candles, &strategy, &config, &t, anchor);
    let now_ms = crate::clock::now_ms();
    let now = crate::core::time::from_millis(now_ms).unwrap_or_default();
    let run_id = gate_artifact::run_id(now, &crate::ids::random_hex(4));
    let artifact = json!({
        "schema": gate_artifact::SCHEMA,
        "kind": REPLAY,
        "run_id": run_id,
        "trigger": trigger,
        "generated_at_ms": now_ms,
        "status": report.status,
        "synthetic": true,
        "config": config,
        "source": {"r2_key": REPLAY_DATA_KEY, "sha256": Hash32::sha256(&[&bytes]).to_hex(), "markets": candles.len()},
        "anchor_day": anchor.to_string(),
        "strategy": strategy,
        "failed_days": report.failed_days,
        "days": report.days,
        "windows": report.windows.iter().map(gate::Window::to_json).collect::<Vec<_>>(),
        "provenance": {"build": crate::build_info::version(), "compatibility_date": COMPATIBILITY_DATE},
    });
    let key = gate_artifact::replay_key(&run_id);
    let summary = json!({"days": report.days.len(), "failed_days": report.failed_days, "windows": report.windows.len()});
    let pubn = Publication {
        kind: REPLAY,
        run_id: &run_id,
        key: &key,
        status: report.status,
        trigger,
        now_ms,
        artifact: &artifact,
        summary,
    };
    let row = publish(env, &db, log, actor, pubn).await?;
    log.info(
        "gate_lift_replay_run",
        json!({"run_id": row.run_id, "status": row.status, "failed_days": report.failed_days}),
    );
    Ok(Some((row, artifact)))
}

/// The daily cron: the gate, then the dashboard status. Never fails; outcomes are logged and
/// recorded as runs.
pub async fn run_daily(env: &Env, log: &Logger, cron: &str) {
    let trigger = format!("cron:{cron}");
    let started = crate::clock::now();
    let gate_status = match run_production(env, log, "system", &trigger).await {
        Ok((row, _)) => Some(row.status),
        Err(e) => {
            log.error("gate_run_failed", json!({"code": e.code}));
            None
        }
    };
    let replay = run_replay(env, log, "system", &trigger).await;
    if let Err(e) = &replay {
        log.error("gate_lift_replay_failed", json!({"code": e.code}));
    }
    let dashboard = run_dashboard(env, log, "system", &trigger, gate_status.as_deref()).await;
    if let Err(e) = &dashboard {
        log.error("dashboard_status_failed", json!({"code": e.code}));
    }
    // A strict replay with a failed day fails the run.
    let replay_ok = match &replay {
        Ok(Some((row, _))) => row.status != "FAIL",
        Ok(None) => true,
        Err(_) => false,
    };
    let ok = gate_status.is_some() && dashboard.is_ok() && replay_ok;
    crate::store::runs::record_cron_run(
        env,
        log,
        &format!("gate-daily-{}", started.format("%Y%m%dT%H%M%SZ")),
        JOB,
        cron,
        started,
        if ok {
            crate::store::runs::RunStatus::Success
        } else {
            crate::store::runs::RunStatus::Fail
        },
        &json!({
            "gate_status": gate_status,
            "dashboard": dashboard.as_ref().ok().map(|r| r.run_id.clone()),
            "replay": replay.as_ref().ok().and_then(|r| r.as_ref()).map(|(r, _)| json!({"run_id": r.run_id, "status": r.status})),
        }),
    )
    .await;
}

//! Gate artifacts (runbook §6): the JSON documents the production gate, the gate-lift replay
//! and the daily dashboard status write to R2_AUDIT, and the comparison of two of them
//! (runbook §6.1: "at T0 … at T1 … these exact fields changed").
//!
//! Pure: the Worker gathers provenance (build, deployment, migrations, audit head) and hands
//! it in; [`compare`] is what `GET /admin/gates/compare` and `scripts/compare-gate-artifacts`
//! both use, so the two can never disagree.

use crate::core::gate::{GateReport, GateThresholds};
use serde_json::{json, Map, Value};

/// Schema version of the artifacts written by this code.
pub const SCHEMA: &str = "paul-p/gate-artifact/1";

/// The R2_AUDIT key of a production gate artifact.
pub fn production_key(run_id: &str) -> String {
    format!("gates/production_gate_{run_id}.json")
}

/// The R2_AUDIT key of a gate-lift replay artifact.
pub fn replay_key(run_id: &str) -> String {
    format!("gates/gate_lift_replay_{run_id}.json")
}

/// The R2_AUDIT key of a dashboard status artifact.
pub fn dashboard_key(run_id: &str) -> String {
    format!("status/dashboard_status_{run_id}.json")
}

/// A run id: sortable UTC time plus a random suffix (`20260301T003000Z-a1b2c3d4`).
pub fn run_id(now: chrono::DateTime<chrono::Utc>, random_hex: &str) -> String {
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), random_hex)
}

/// Whether `s` can be a run id (what [`run_id`] makes: no path characters).
pub fn valid_run_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The production gate artifact.
pub fn production(
    run_id: &str,
    trigger: &str,
    generated_at_ms: i64,
    thresholds: &GateThresholds,
    report: &GateReport,
    provenance: Value,
) -> Value {
    let r = report.to_json();
    json!({
        "schema": SCHEMA,
        "kind": "production_gate",
        "run_id": run_id,
        "trigger": trigger,
        "generated_at": crate::core::time::from_millis(generated_at_ms)
            .map(crate::core::time::format_utc),
        "generated_at_ms": generated_at_ms,
        "production_profitability_gate": {
            "status": r["status"],
            "reasons": r["reasons"],
        },
        "status": r["status"],
        "reasons": r["reasons"],
        "thresholds": thresholds.to_json(),
        "metrics": r["metrics"],
        "checks": r["checks"],
        "violations": r["violations"],
        "windows": r["windows"],
        "provenance": provenance,
    })
}

/// The fields compared by [`compare`], in output order. Windows and violations are compared
/// by their counts in `metrics` (their full lists stay in the artifacts).
const SECTIONS: [&str; 7] = [
    "status",
    "reasons",
    "thresholds",
    "metrics",
    "checks",
    "provenance",
    "trigger",
];

fn flatten(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(items) if items.iter().any(|x| x.is_object()) => {
            for (i, x) in items.iter().enumerate() {
                // Checks are named: key them by name, not position.
                let key = x
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string());
                flatten(&format!("{prefix}.{key}"), x, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// A number, or a decimal string (`"0.350000"`) read as micro-units.
fn micro_units(v: &Value) -> Option<i128> {
    if let Some(i) = v.as_i64() {
        return Some(i128::from(i) * 1_000_000);
    }
    let s = v.as_str()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 6
        || !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut f = frac.to_string();
    while f.len() < 6 {
        f.push('0');
    }
    let n = int.parse::<i128>().ok()? * 1_000_000 + f.parse::<i128>().ok()?;
    Some(if neg { -n } else { n })
}

fn delta(a: &Value, b: &Value) -> Option<Value> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(json!(y - x));
    }
    let (x, y) = (micro_units(a)?, micro_units(b)?);
    let d = y - x;
    let sign = if d < 0 { "-" } else { "+" };
    let m = d.unsigned_abs();
    Some(json!(format!(
        "{sign}{}.{:06}",
        m / 1_000_000,
        m % 1_000_000
    )))
}

/// What changed from artifact `a` to artifact `b`: every differing leaf of the compared
/// sections (`changed`, with a numeric `delta` where both sides are numbers), and leaves only
/// one side has (`added`, `removed`).
pub fn compare(a: &Value, b: &Value) -> Value {
    let (mut fa, mut fb) = (Map::new(), Map::new());
    for s in SECTIONS {
        flatten(s, a.get(s).unwrap_or(&Value::Null), &mut fa);
        flatten(s, b.get(s).unwrap_or(&Value::Null), &mut fb);
    }
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for (k, va) in &fa {
        match fb.get(k) {
            None => removed.push(json!({"field": k, "a": va})),
            Some(vb) if vb != va => {
                let mut c = json!({"field": k, "a": va, "b": vb});
                if let Some(d) = delta(va, vb) {
                    c["delta"] = d;
                }
                changed.push(c);
            }
            _ => {}
        }
    }
    for (k, vb) in &fb {
        if !fa.contains_key(k) {
            added.push(json!({"field": k, "b": vb}));
        }
    }
    let summary = |v: &Value| {
        json!({
            "run_id": v.get("run_id"),
            "kind": v.get("kind"),
            "generated_at": v.get("generated_at"),
            "status": v.get("status"),
        })
    };
    json!({
        "a": summary(a),
        "b": summary(b),
        "status_changed": a.get("status") != b.get("status"),
        "changed": changed,
        "added": added,
        "removed": removed,
    })
}

/// [`compare`]'s result as text, one line per field: `field: a -> b (delta)`.
pub fn render_text(diff: &Value) -> String {
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = format!(
        "a: {} ({})\nb: {} ({})\n",
        show(&diff["a"]["run_id"]),
        show(&diff["a"]["status"]),
        show(&diff["b"]["run_id"]),
        show(&diff["b"]["status"]),
    );
    let empty = Vec::new();
    let list = |k: &str| diff[k].as_array().unwrap_or(&empty).clone();
    if list("changed").is_empty() && list("added").is_empty() && list("removed").is_empty() {
        out.push_str("no changes\n");
    }
    for c in list("changed") {
        out.push_str(&format!(
            "changed {}: {} -> {}",
            show(&c["field"]),
            show(&c["a"]),
            show(&c["b"])
        ));
        if let Some(d) = c.get("delta") {
            out.push_str(&format!(" ({})", show(d)));
        }
        out.push('\n');
    }
    for c in list("added") {
        out.push_str(&format!("added {}: {}\n", show(&c["field"]), show(&c["b"])));
    }
    for c in list("removed") {
        out.push_str(&format!(
            "removed {}: {}\n",
            show(&c["field"]),
            show(&c["a"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(status: &str, trades: i64, rate: &str, commit: &str) -> Value {
        json!({
            "schema": SCHEMA, "kind": "production_gate", "run_id": format!("r-{trades}"),
            "status": status, "reasons": [], "trigger": "manual",
            "thresholds": {"min_closed_trades": 30, "max_violation_rate": "0.350000"},
            "metrics": {"closed_round_trips": trades, "violation_rate_all": rate},
            "checks": [{"name": "closed_round_trips", "pass": trades >= 30, "value": trades, "threshold": 30}],
            "provenance": {"git_commit": commit, "audit": {"size": trades * 10}},
            "windows": [{"day": "2026-01-01"}],
        })
    }

    #[test]
    fn identical_artifacts_have_no_changes() {
        let a = artifact("PASS", 30, "0.100000", "abc");
        let d = compare(&a, &a);
        assert_eq!(d["changed"], json!([]));
        assert_eq!(d["status_changed"], false);
        assert!(render_text(&d).contains("no changes"));
    }

    #[test]
    fn changed_fields_carry_deltas_and_checks_are_keyed_by_name() {
        let a = artifact("FAIL", 29, "0.400000", "abc");
        let b = artifact("PASS", 31, "0.350000", "def");
        let d = compare(&a, &b);
        assert_eq!(d["status_changed"], true);
        let changed = d["changed"].as_array().unwrap();
        let field = |f: &str| changed.iter().find(|c| c["field"] == f).cloned();
        assert_eq!(field("status").unwrap()["b"], "PASS");
        assert_eq!(field("metrics.closed_round_trips").unwrap()["delta"], 2);
        assert_eq!(
            field("metrics.violation_rate_all").unwrap()["delta"],
            "-0.050000"
        );
        assert_eq!(field("checks.closed_round_trips.pass").unwrap()["b"], true);
        assert_eq!(field("provenance.git_commit").unwrap()["a"], "abc");
        assert_eq!(field("provenance.audit.size").unwrap()["delta"], 20);
        assert!(field("thresholds.min_closed_trades").is_none());
        let text = render_text(&d);
        assert!(text.contains("changed status: FAIL -> PASS"), "{text}");
        assert!(
            text.contains("changed metrics.closed_round_trips: 29 -> 31 (2)"),
            "{text}"
        );
    }

    #[test]
    fn fields_on_one_side_only_are_added_or_removed() {
        let a = artifact("PASS", 30, "0.1", "abc");
        let mut b = a.clone();
        b["metrics"]["new_metric"] = json!(1);
        b["metrics"]
            .as_object_mut()
            .unwrap()
            .remove("violation_rate_all");
        let d = compare(&a, &b);
        assert_eq!(d["added"][0]["field"], "metrics.new_metric");
        assert_eq!(d["removed"][0]["field"], "metrics.violation_rate_all");
    }

    #[test]
    fn run_ids_are_sortable_and_path_safe() {
        let t = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let id = run_id(t, "a1b2c3d4");
        assert_eq!(id, "20260101T000000Z-a1b2c3d4");
        assert!(valid_run_id(&id));
        for bad in ["", "../x", "a/b", "a.json", &"x".repeat(65)] {
            assert!(!valid_run_id(bad), "{bad}");
        }
        assert_eq!(
            production_key(&id),
            "gates/production_gate_20260101T000000Z-a1b2c3d4.json"
        );
    }
}

//! The security guide's go-live checklist, machine-checked (`GET /admin/preflight`, and the
//! go-live refusal). The Worker gathers [`Facts`] (names and timestamps, never a secret value);
//! [`evaluate`] turns them into one `pass | fail` item with a reason per checklist line. The
//! whole checklist passes only if every item passes; a fact that could not be read fails its
//! item with the reading's error code (fail closed).
//!
//! Items, in order:
//! 1. `secrets_present` — every secret the Worker knows is set (names only). Names in one
//!    alternative group (`ADMIN_TOKENS` / `ADMIN_TOKEN`) are satisfied by any of them.
//! 2. `operator_tokens` — the token configuration is valid (every token ≥ 32 characters, visible
//!    ASCII, distinct; the auth module refuses anything else) and at least 2 distinct operators
//!    can act (bearer operators plus the Access allow-list), as two-person approval needs.
//! 3. `cloudflare_access` — `CF_ACCESS_TEAM_DOMAIN` and `CF_ACCESS_AUD` are configured.
//! 4. `vars_clean` — no plain setting looks like a credential ([`super::secret_patterns`]).
//! 5. `audit_anchoring` — an anchor no older than 2 h, and a full verification of the log
//!    (which checks every anchor's signature and commitments) that passed and finished no more
//!    than 2 h ago.
//! 6. `reconciliation` — the latest reconciliation is clean and no older than 15 min.
//! 7. `breaker_exercised` — the breaker's recorded transitions include one into HALT followed
//!    by one out of HALT.
//! 8. `security_preflight` — the latest uploaded `scripts/preflight.sh` report has verdict
//!    `PASS`, no unresolved finding, no failed check, and finished no more than 7 days ago.

use super::breaker::BreakerState;
use super::secret_patterns;
use serde::Serialize;
use serde_json::Value;

/// How old the latest anchor and the last full verification may be.
pub const ANCHORING_MAX_AGE_MS: i64 = 2 * 3_600_000;
/// How old the latest (clean) reconciliation may be.
pub const RECONCILIATION_MAX_AGE_MS: i64 = 15 * 60_000;
/// How old the latest security preflight report may be.
pub const PREFLIGHT_REPORT_MAX_AGE_MS: i64 = 7 * 86_400_000;
/// Clock skew tolerated for timestamps slightly in the future.
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60_000;
/// The `schema` of a report written by `scripts/preflight.mjs`.
pub const REPORT_SCHEMA: &str = "paul-p/security-preflight/1";
/// Distinct operators needed (two-person approval).
pub const MIN_OPERATORS: usize = 2;

/// A fact, or the code of the error that kept it from being read.
pub type Fact<T> = Result<T, String>;

/// What authentication is configured with (no token value, only operator names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFacts {
    /// Operators with a bearer token (the configuration already refused short, shared or
    /// malformed tokens; a refused configuration is an `Err` fact with its code).
    pub bearer_operators: Vec<String>,
    /// Both Access settings are present.
    pub access_configured: bool,
    /// Identities on the Access allow-list (`ADMIN_ALLOWED_EMAILS`).
    pub access_identities: Vec<String>,
}

/// The anchoring job's and the verifier's latest results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnchoringFacts {
    /// Timestamp of the latest anchor, if any.
    pub latest_anchor_ms: Option<i64>,
    /// The last full verification: whether it found the log valid, and when it finished.
    pub last_full_verification: Option<(bool, i64)>,
}

/// The latest reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconciliationFacts {
    pub at_ms: i64,
    pub clean: bool,
}

/// One recorded breaker transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionFact {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at_ms: i64,
}

/// Everything the checklist is evaluated on.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now_ms: i64,
    /// Every secret name the Worker knows, and whether it is set (non-empty).
    pub secrets: Vec<(String, bool)>,
    /// Groups of secret names any one of which satisfies the group.
    pub secret_alternatives: Vec<Vec<String>>,
    pub auth: Fact<AuthFacts>,
    /// Every plain string setting (name, value); secrets are not among them.
    pub settings: Vec<(String, String)>,
    pub anchoring: Fact<AnchoringFacts>,
    /// `Ok(None)`: no reconciliation has been recorded.
    pub reconciliation: Fact<Option<ReconciliationFacts>>,
    /// Oldest first.
    pub breaker_transitions: Fact<Vec<TransitionFact>>,
    /// The latest uploaded preflight report's bytes; `Ok(None)` when none was uploaded.
    pub security_report: Fact<Option<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub reason: String,
}

/// The evaluated checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checklist {
    pub pass: bool,
    pub evaluated_at_ms: i64,
    pub items: Vec<Item>,
}

impl Checklist {
    /// The items that fail.
    pub fn failing(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.status == Status::Fail)
    }
}

fn item(id: &'static str, title: &'static str, outcome: Result<String, String>) -> Item {
    let (status, reason) = match outcome {
        Ok(r) => (Status::Pass, r),
        Err(r) => (Status::Fail, r),
    };
    Item {
        id,
        title,
        status,
        reason,
    }
}

fn unreadable(code: &str) -> String {
    format!("could not be read ({code})")
}

/// "3 min", "2 h 5 min", "4 d 2 h".
pub fn age_text(ms: i64) -> String {
    let mins = ms.max(0) / 60_000;
    if mins < 60 {
        format!("{mins} min")
    } else if mins < 24 * 60 {
        format!("{} h {} min", mins / 60, mins % 60)
    } else {
        format!("{} d {} h", mins / 1440, (mins % 1440) / 60)
    }
}

/// Checks `at_ms` against `now_ms`: its age, or why it is not acceptable.
fn fresh(what: &str, at_ms: i64, now_ms: i64, max_age_ms: i64) -> Result<i64, String> {
    let age = now_ms - at_ms;
    if age < -MAX_FUTURE_SKEW_MS {
        return Err(format!("{what} is dated in the future"));
    }
    if age > max_age_ms {
        return Err(format!(
            "{what} is {} old (at most {})",
            age_text(age),
            age_text(max_age_ms)
        ));
    }
    Ok(age.max(0))
}

fn secrets_present(f: &Facts) -> Result<String, String> {
    let present = |name: &str| f.secrets.iter().any(|(n, p)| n == name && *p);
    let mut missing: Vec<String> = Vec::new();
    let mut seen_groups: Vec<usize> = Vec::new();
    for (name, _) in &f.secrets {
        match f
            .secret_alternatives
            .iter()
            .position(|g| g.iter().any(|n| n == name))
        {
            Some(g) => {
                if seen_groups.contains(&g) {
                    continue;
                }
                seen_groups.push(g);
                let group = &f.secret_alternatives[g];
                if !group.iter().any(|n| present(n)) {
                    missing.push(group.join(" or "));
                }
            }
            None => {
                if !present(name) {
                    missing.push(name.clone());
                }
            }
        }
    }
    if f.secrets.is_empty() {
        return Err("no secret names known".into());
    }
    if missing.is_empty() {
        Ok(format!("all {} secrets are set", f.secrets.len()))
    } else {
        Err(format!("not set: {}", missing.join(", ")))
    }
}

fn operator_tokens(f: &Facts) -> Result<String, String> {
    let auth = f
        .auth
        .as_ref()
        .map_err(|code| format!("authentication is misconfigured ({code})"))?;
    let mut operators: Vec<String> = auth
        .bearer_operators
        .iter()
        .chain(auth.access_identities.iter())
        .map(|o| o.trim().to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect();
    operators.sort();
    operators.dedup();
    if operators.len() < MIN_OPERATORS {
        return Err(format!(
            "{} distinct operator(s) configured; at least {MIN_OPERATORS} are needed",
            operators.len()
        ));
    }
    Ok(format!(
        "{} distinct operators; {} bearer token(s), each at least 32 visible ASCII characters and distinct",
        operators.len(),
        auth.bearer_operators.len()
    ))
}

fn cloudflare_access(f: &Facts) -> Result<String, String> {
    let auth = f
        .auth
        .as_ref()
        .map_err(|code| format!("authentication is misconfigured ({code})"))?;
    if auth.access_configured {
        Ok("CF_ACCESS_TEAM_DOMAIN and CF_ACCESS_AUD are set".into())
    } else {
        Err("CF_ACCESS_TEAM_DOMAIN and CF_ACCESS_AUD are not both set".into())
    }
}

fn vars_clean(f: &Facts) -> Result<String, String> {
    let hits: Vec<String> = f
        .settings
        .iter()
        .filter_map(|(name, value)| {
            secret_patterns::secret_like(name, value).map(|rule| format!("{name} ({rule})"))
        })
        .collect();
    if hits.is_empty() {
        Ok(format!(
            "none of {} plain settings looks like a credential",
            f.settings.len()
        ))
    } else {
        Err(format!(
            "settings that look like credentials (move them to `wrangler secret put`): {}",
            hits.join(", ")
        ))
    }
}

fn audit_anchoring(f: &Facts) -> Result<String, String> {
    let a = f.anchoring.as_ref().map_err(|c| unreadable(c))?;
    let anchor_ms = a.latest_anchor_ms.ok_or("no anchor recorded")?;
    let anchor_age = fresh(
        "the latest anchor",
        anchor_ms,
        f.now_ms,
        ANCHORING_MAX_AGE_MS,
    )?;
    let (valid, finished_ms) = a
        .last_full_verification
        .ok_or("no full verification of the audit log recorded")?;
    if !valid {
        return Err("the last full verification found problems".into());
    }
    let verify_age = fresh(
        "the last full verification",
        finished_ms,
        f.now_ms,
        ANCHORING_MAX_AGE_MS,
    )?;
    Ok(format!(
        "latest anchor {} ago; full verification passed {} ago",
        age_text(anchor_age),
        age_text(verify_age)
    ))
}

fn reconciliation(f: &Facts) -> Result<String, String> {
    let r = f
        .reconciliation
        .as_ref()
        .map_err(|c| unreadable(c))?
        .ok_or("no reconciliation recorded")?;
    if !r.clean {
        return Err("the latest reconciliation found drift or failed".into());
    }
    let age = fresh(
        "the latest clean reconciliation",
        r.at_ms,
        f.now_ms,
        RECONCILIATION_MAX_AGE_MS,
    )?;
    Ok(format!("clean reconciliation {} ago", age_text(age)))
}

fn breaker_exercised(f: &Facts) -> Result<String, String> {
    let t = f.breaker_transitions.as_ref().map_err(|c| unreadable(c))?;
    let into_halt = t
        .iter()
        .position(|t| t.to == BreakerState::Halt && t.from != BreakerState::Halt)
        .ok_or("no recorded transition into HALT")?;
    let out = t[into_halt + 1..]
        .iter()
        .find(|t| t.from == BreakerState::Halt && t.to != BreakerState::Halt)
        .ok_or("HALT was entered but never left")?;
    Ok(format!(
        "entered HALT and left it for {} ({} ago)",
        out.to.as_str(),
        age_text(f.now_ms - out.at_ms)
    ))
}

fn security_preflight(f: &Facts) -> Result<String, String> {
    let bytes = f
        .security_report
        .as_ref()
        .map_err(|c| unreadable(c))?
        .as_ref()
        .ok_or("no security preflight report uploaded")?;
    let report: Value = serde_json::from_slice(bytes)
        .map_err(|_| "the latest security preflight report is not JSON".to_string())?;
    if report["schema"] != REPORT_SCHEMA {
        return Err(format!(
            "the latest security preflight report is not a {REPORT_SCHEMA} report"
        ));
    }
    let verdict = report["verdict"].as_str().unwrap_or("none");
    if verdict != "PASS" {
        return Err(format!(
            "the latest security preflight report's verdict is {verdict}"
        ));
    }
    let findings = report["findings"].as_array().map(Vec::len);
    if findings != Some(0) {
        return Err("the latest security preflight report has unresolved findings".into());
    }
    let failed_checks = report["checks"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["status"] == "fail").count());
    if failed_checks != Some(0) {
        return Err("the latest security preflight report has failed checks".into());
    }
    let finished = report["finished_at"]
        .as_str()
        .and_then(super::time::parse_utc)
        .ok_or("the latest security preflight report has no finished_at")?;
    let age = fresh(
        "the latest security preflight report",
        finished.timestamp_millis(),
        f.now_ms,
        PREFLIGHT_REPORT_MAX_AGE_MS,
    )?;
    let commit = report["repository"]["commit"].as_str().unwrap_or("unknown");
    Ok(format!(
        "PASS {} ago (commit {})",
        age_text(age),
        &commit[..commit.len().min(12)]
    ))
}

/// Evaluates every item.
pub fn evaluate(f: &Facts) -> Checklist {
    let items = vec![
        item(
            "secrets_present",
            "All secrets set via wrangler secret put",
            secrets_present(f),
        ),
        item(
            "operator_tokens",
            "Operator tokens strong (32+ characters), at least two operators",
            operator_tokens(f),
        ),
        item(
            "cloudflare_access",
            "Cloudflare Access configured for admin routes",
            cloudflare_access(f),
        ),
        item(
            "vars_clean",
            "No secrets in wrangler.toml vars",
            vars_clean(f),
        ),
        item(
            "audit_anchoring",
            "Audit chain anchoring verified within 2 h",
            audit_anchoring(f),
        ),
        item(
            "reconciliation",
            "Position reconciliation passed within 15 min",
            reconciliation(f),
        ),
        item(
            "breaker_exercised",
            "Circuit breaker tested (HALT and back)",
            breaker_exercised(f),
        ),
        item(
            "security_preflight",
            "Security preflight clean within 7 days",
            security_preflight(f),
        ),
    ];
    Checklist {
        pass: items.iter().all(|i| i.status == Status::Pass),
        evaluated_at_ms: f.now_ms,
        items,
    }
}

#[cfg(test)]
mod tests;

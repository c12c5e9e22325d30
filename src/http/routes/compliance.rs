//! Compliance routes: sources (list; an operator approves, reviews or blocks one) and the entity
//! rules (read; replace the whole set). Every change is appended to the audit log first, with
//! the operator as actor; if the append fails nothing changes (`503 AUDIT_UNAVAILABLE`).

use crate::core::compliance::{
    rules_version, validate_rules, ComplianceError, RuleInput, SourceUpdate,
};
use crate::http::{error::ApiError, json_response, RequestCtx};
use crate::store::compliance as store;
use crate::store::d1::Db;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::Response;

impl From<ComplianceError> for ApiError {
    fn from(e: ComplianceError) -> ApiError {
        let status = match e {
            ComplianceError::UnknownSource(_) => 404,
            ComplianceError::StoredRuleInvalid { .. } => 500,
            _ => 400,
        };
        let details: Map<String, Value> = e
            .details()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        ApiError::new(status, e.code(), e.to_string()).with_details(Value::Object(details))
    }
}

/// `GET /admin/compliance/sources`
pub async fn sources(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let today = crate::clock::now().date_naive();
    let rows = store::source_rows(&db).await?;
    let views = store::source_views(&db).await?;
    let out: Vec<Value> = views
        .into_iter()
        .map(|v| {
            let verdict = crate::core::compliance::Source::parse(&v.name)
                .map(|s| crate::core::compliance::admit(&rows, s, today));
            let mut value = json!(v);
            value["admitted"] = json!(matches!(verdict, Some(Ok(_))));
            if let Some(Err(d)) = verdict {
                value["denial"] = json!(d.code());
            }
            value
        })
        .collect();
    json_response(200, &json!({"sources": out, "today": today.to_string()}))
}

/// `PUT /admin/compliance/sources/{name} {"status","tos_version"?,"next_review_at"?,"note"?}`
pub async fn put_source(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let name = ctx.param("name").unwrap_or_default();
    let update: SourceUpdate = ctx.json()?;
    let now = crate::clock::now();
    let valid = update.validate(name, now.date_naive())?;
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let from = store::source_status(&db, name)
        .await?
        .ok_or_else(|| ApiError::from(ComplianceError::UnknownSource(name.to_string())))?;
    let review = valid.next_review.map(|d| d.to_string());
    let seq = ctx
        .audit_first(
            "COMPLIANCE_SOURCE_CHANGED",
            json!({
                "source": valid.source.as_str(),
                "from_status": from,
                "to_status": valid.status.as_str(),
                "tos_version": valid.tos_version,
                "next_review_at": review,
                "note": valid.note,
            }),
            "compliance_change_not_audited",
        )
        .await?;
    store::update_source(&db, &valid, &from, &ctx.actor(), ctx.log.request_id(), now).await?;
    let view = store::source_views(&db)
        .await?
        .into_iter()
        .find(|v| v.name == name);
    json_response(200, &json!({"source": view, "audit_seq": seq}))
}

/// `GET /admin/compliance/rules`
pub async fn rules(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let rules = store::rule_views(&db).await?;
    let set = store::latest_rule_set(&db).await?;
    // The version of what is stored now, recomputed: a reader can compare it with the
    // version recorded when the set was put in force.
    let loaded = store::rule_set(&db).await.map_err(|e| {
        ApiError::new(500, "COMPLIANCE_RULES_INVALID", "stored rules do not parse")
            .with_details(json!({"reason": e.detail()}))
    })?;
    json_response(
        200,
        &json!({
            "version": loaded.version(),
            "set": set,
            "rules": rules,
        }),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesBody {
    rules: Vec<RuleInput>,
}

/// `PUT /admin/compliance/rules {"rules":[{"kind","venue"?,"value","reason"}…]}`: replaces the
/// whole set atomically.
pub async fn put_rules(ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    let body: RulesBody = ctx.json()?;
    let rules = validate_rules(&body.rules)?;
    let version = rules_version(&rules);
    let db = Db::open(ctx.env, "DB", ctx.log)?;
    let previous = store::rule_set(&db)
        .await
        .ok()
        .map(|s| s.version().to_string());
    let seq = ctx
        .audit_first(
            "COMPLIANCE_RULES_REPLACED",
            json!({"version": version, "previous_version": previous, "rules": rules}),
            "compliance_change_not_audited",
        )
        .await?;
    let now = crate::clock::now();
    store::replace_rules(
        &db,
        &rules,
        &version,
        &ctx.actor(),
        ctx.log.request_id(),
        now,
    )
    .await?;
    json_response(
        200,
        &json!({"version": version, "rules": rules, "audit_seq": seq}),
    )
}

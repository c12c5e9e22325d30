//! One file per route group; `call` maps a matched route to its handler.

mod approvals;
pub(crate) mod audit;
mod compliance;
mod dashboard;
mod evidence;
mod gates;
mod health;
mod ingest;
mod kalshi;
mod ops;
mod pairs;
mod risk;
mod security;
mod status;
mod trading;

use super::error::ApiError;
use super::router::Route;
use super::RequestCtx;
use worker::Response;

pub async fn call(route: Route, ctx: &RequestCtx<'_>) -> Result<Response, ApiError> {
    match route {
        Route::Health => health::get(ctx),
        Route::AdminWhoami => status::whoami(ctx),
        Route::AdminStatus => status::status(ctx).await,
        Route::AuditCheckpoint => audit::checkpoint(ctx).await,
        Route::AuditCheckpointKey => audit::checkpoint_key(ctx),
        Route::AdminAuditStatus => audit::status(ctx).await,
        Route::AdminAuditVerify => audit::verify(ctx).await,
        Route::AdminAuditProof => audit::proof(ctx).await,
        Route::AdminAuditConsistency => audit::consistency(ctx).await,
        Route::AdminAuditEvents => audit::events(ctx).await,
        Route::AdminAuditNotes => audit::notes(ctx).await,
        Route::BreakerGet => risk::get_breaker(ctx).await,
        Route::BreakerTransition => risk::transition(ctx).await,
        Route::RiskGet => risk::get_risk(ctx).await,
        Route::RiskLimitsPut => risk::put_limits(ctx).await,
        Route::RiskCheck => risk::check(ctx).await,
        Route::RiskDecisions => risk::decisions(ctx).await,
        Route::EvidenceList => evidence::list(ctx).await,
        Route::EvidenceGet => evidence::get(ctx).await,
        Route::EvidenceVerify => evidence::verify(ctx).await,
        Route::EvidenceRepair => evidence::repair(ctx).await,
        Route::ComplianceSources => compliance::sources(ctx).await,
        Route::ComplianceSourcePut => compliance::put_source(ctx).await,
        Route::ComplianceRulesGet => compliance::rules(ctx).await,
        Route::ComplianceRulesPut => compliance::put_rules(ctx).await,
        Route::IngestRun => ingest::run(ctx).await,
        Route::RunsList => ingest::list(ctx).await,
        Route::RunGet => ingest::get(ctx).await,
        Route::PairsPropose => pairs::propose(ctx).await,
        Route::PairsList => pairs::list(ctx).await,
        Route::PairAssess => pairs::reassess(ctx).await,
        Route::PairApprove => pairs::approve(ctx).await,
        Route::PairReject => pairs::reject(ctx).await,
        Route::AdminPreflight => security::preflight(ctx).await,
        Route::AdminD1Query => security::d1_query(ctx).await,
        Route::StrategiesList => trading::strategies(ctx).await,
        Route::StrategyMode => trading::set_mode(ctx).await,
        Route::SignalsList => trading::signals(ctx).await,
        Route::OrdersList => trading::orders(ctx).await,
        Route::TradesList => trading::trades(ctx).await,
        Route::PositionsList => trading::positions(ctx).await,
        Route::Reconcile => trading::reconcile(ctx).await,
        Route::ReconcileLatest => trading::reconcile_latest(ctx).await,
        Route::ViolationsList => trading::violations(ctx).await,
        Route::ViolationResolve => trading::resolve_violation(ctx).await,
        Route::KalshiAccount => kalshi::account(ctx).await,
        Route::ApprovalsCreate => approvals::create(ctx).await,
        Route::ApprovalsList => approvals::list(ctx).await,
        Route::ApprovalGet => approvals::get(ctx).await,
        Route::ApprovalApprove => approvals::approve(ctx).await,
        Route::ApprovalReject => approvals::reject(ctx).await,
        Route::StrategyGoLive => approvals::go_live(ctx).await,
        Route::GateRun => gates::run(ctx).await,
        Route::GateReplayRun => gates::replay_run(ctx).await,
        Route::GateLatest => gates::latest(ctx).await,
        Route::GateGet => gates::get(ctx).await,
        Route::GateCompare => gates::compare(ctx).await,
        Route::AdminOpenapi => ops::openapi(ctx),
        Route::AdminMetrics => ops::metrics(ctx).await,
        Route::AdminDashboard => dashboard::page(ctx),
        Route::RiskEquity => risk::equity(ctx).await,
    }
}

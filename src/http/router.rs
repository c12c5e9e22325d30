//! The route table and its matcher. Pure: the table is data, matching is a function, so the
//! end-to-end suite and the OpenAPI check can enumerate every route from one place.

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the route reveals nothing sensitive.
    Public,
    /// An authenticated operator (bearer token or Cloudflare Access).
    Admin,
    /// A static page shell under `/admin` served without authentication, because a browser
    /// cannot send a bearer header when it navigates. It holds no data: every call it makes is
    /// an `Admin` route. Exempt only for its exact method and path (see [`needs_authentication`]).
    PageShell,
}

/// Whether a route reads a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// A JSON body is required (`content-type: application/json`).
    Json,
    /// A JSON body is accepted but may be absent or empty.
    OptionalJson,
}

/// Every route the Worker serves. `Route` names the handler; `pattern` uses `{name}` for a
/// path parameter that matches one non-empty segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    AdminWhoami,
    AdminStatus,
    AuditCheckpoint,
    AuditCheckpointKey,
    AdminAuditStatus,
    AdminAuditVerify,
    AdminAuditProof,
    AdminAuditConsistency,
    AdminAuditEvents,
    AdminAuditNotes,
    BreakerGet,
    BreakerTransition,
    RiskGet,
    RiskLimitsPut,
    RiskCheck,
    RiskDecisions,
    EvidenceList,
    EvidenceGet,
    EvidenceVerify,
    EvidenceRepair,
    ComplianceSources,
    ComplianceSourcePut,
    ComplianceRulesGet,
    ComplianceRulesPut,
    IngestRun,
    RunsList,
    RunGet,
    PairsPropose,
    PairsList,
    PairAssess,
    PairApprove,
    PairReject,
    AdminPreflight,
    AdminD1Query,
    StrategiesList,
    StrategyMode,
    SignalsList,
    OrdersList,
    TradesList,
    PositionsList,
    Reconcile,
    ReconcileLatest,
    ViolationsList,
    ViolationResolve,
    KalshiAccount,
    ApprovalsCreate,
    ApprovalsList,
    ApprovalGet,
    ApprovalApprove,
    ApprovalReject,
    GateRun,
    GateReplayRun,
    StrategyGoLive,
    GateLatest,
    GateGet,
    GateCompare,
    AdminOpenapi,
    AdminMetrics,
    AdminDashboard,
    RiskEquity,
}

/// One row of the route table.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub route: Route,
    pub method: &'static str,
    pub pattern: &'static str,
    pub access: Access,
    pub body: Body,
    /// The metrics/logging group the route belongs to.
    pub group: &'static str,
}

/// The whole table. Order does not matter: patterns never overlap.
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        route: Route::KalshiAccount,
        method: "GET",
        pattern: "/admin/venues/kalshi/account",
        access: Access::Admin,
        body: Body::None,
        group: "venues",
    },
    RouteSpec {
        route: Route::Health,
        method: "GET",
        pattern: "/health",
        access: Access::Public,
        body: Body::None,
        group: "health",
    },
    RouteSpec {
        route: Route::AdminWhoami,
        method: "GET",
        pattern: "/admin/whoami",
        access: Access::Admin,
        body: Body::None,
        group: "admin",
    },
    RouteSpec {
        route: Route::AdminStatus,
        method: "GET",
        pattern: "/admin/status",
        access: Access::Admin,
        body: Body::None,
        group: "admin",
    },
    RouteSpec {
        route: Route::AuditCheckpoint,
        method: "GET",
        pattern: "/audit/checkpoint",
        access: Access::Public,
        body: Body::None,
        group: "audit",
    },
    RouteSpec {
        route: Route::AuditCheckpointKey,
        method: "GET",
        pattern: "/audit/checkpoint/key",
        access: Access::Public,
        body: Body::None,
        group: "audit",
    },
    RouteSpec {
        route: Route::AdminAuditStatus,
        method: "GET",
        pattern: "/admin/audit/status",
        access: Access::Admin,
        body: Body::None,
        group: "audit",
    },
    RouteSpec {
        route: Route::AdminAuditVerify,
        method: "POST",
        pattern: "/admin/audit/verify",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "audit",
    },
    RouteSpec {
        route: Route::AdminAuditProof,
        method: "GET",
        pattern: "/admin/audit/proof/{seq}",
        access: Access::Admin,
        body: Body::None,
        group: "audit",
    },
    RouteSpec {
        route: Route::AdminAuditConsistency,
        method: "GET",
        pattern: "/admin/audit/consistency",
        access: Access::Admin,
        body: Body::None,
        group: "audit",
    },
    RouteSpec {
        route: Route::AdminAuditEvents,
        method: "GET",
        pattern: "/admin/audit/events",
        access: Access::Admin,
        body: Body::None,
        group: "audit",
    },
    RouteSpec {
        route: Route::AdminAuditNotes,
        method: "POST",
        pattern: "/admin/audit/notes",
        access: Access::Admin,
        body: Body::Json,
        group: "audit",
    },
    RouteSpec {
        route: Route::BreakerGet,
        method: "GET",
        pattern: "/admin/circuit-breaker",
        access: Access::Admin,
        body: Body::None,
        group: "risk",
    },
    RouteSpec {
        route: Route::BreakerTransition,
        method: "POST",
        pattern: "/admin/circuit-breaker/transition",
        access: Access::Admin,
        body: Body::Json,
        group: "risk",
    },
    RouteSpec {
        route: Route::RiskGet,
        method: "GET",
        pattern: "/admin/risk",
        access: Access::Admin,
        body: Body::None,
        group: "risk",
    },
    RouteSpec {
        route: Route::RiskLimitsPut,
        method: "PUT",
        pattern: "/admin/risk/limits",
        access: Access::Admin,
        body: Body::Json,
        group: "risk",
    },
    RouteSpec {
        route: Route::RiskCheck,
        method: "POST",
        pattern: "/admin/risk/check",
        access: Access::Admin,
        body: Body::Json,
        group: "risk",
    },
    RouteSpec {
        route: Route::RiskDecisions,
        method: "GET",
        pattern: "/admin/risk/decisions",
        access: Access::Admin,
        body: Body::None,
        group: "risk",
    },
    RouteSpec {
        route: Route::EvidenceList,
        method: "GET",
        pattern: "/admin/evidence",
        access: Access::Admin,
        body: Body::None,
        group: "evidence",
    },
    RouteSpec {
        route: Route::EvidenceGet,
        method: "GET",
        pattern: "/admin/evidence/{hash}",
        access: Access::Admin,
        body: Body::None,
        group: "evidence",
    },
    RouteSpec {
        route: Route::EvidenceVerify,
        method: "POST",
        pattern: "/admin/evidence/{hash}/verify",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "evidence",
    },
    RouteSpec {
        route: Route::EvidenceRepair,
        method: "POST",
        pattern: "/admin/evidence-repair",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "evidence",
    },
    RouteSpec {
        route: Route::ComplianceSources,
        method: "GET",
        pattern: "/admin/compliance/sources",
        access: Access::Admin,
        body: Body::None,
        group: "compliance",
    },
    RouteSpec {
        route: Route::ComplianceSourcePut,
        method: "PUT",
        pattern: "/admin/compliance/sources/{name}",
        access: Access::Admin,
        body: Body::Json,
        group: "compliance",
    },
    RouteSpec {
        route: Route::ComplianceRulesGet,
        method: "GET",
        pattern: "/admin/compliance/rules",
        access: Access::Admin,
        body: Body::None,
        group: "compliance",
    },
    RouteSpec {
        route: Route::ComplianceRulesPut,
        method: "PUT",
        pattern: "/admin/compliance/rules",
        access: Access::Admin,
        body: Body::Json,
        group: "compliance",
    },
    RouteSpec {
        route: Route::IngestRun,
        method: "POST",
        pattern: "/admin/ingest/run",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "ingest",
    },
    RouteSpec {
        route: Route::RunsList,
        method: "GET",
        pattern: "/admin/runs",
        access: Access::Admin,
        body: Body::None,
        group: "runs",
    },
    RouteSpec {
        route: Route::RunGet,
        method: "GET",
        pattern: "/admin/runs/{id}",
        access: Access::Admin,
        body: Body::None,
        group: "runs",
    },
    RouteSpec {
        route: Route::PairsPropose,
        method: "POST",
        pattern: "/admin/pairs",
        access: Access::Admin,
        body: Body::Json,
        group: "pairs",
    },
    RouteSpec {
        route: Route::PairsList,
        method: "GET",
        pattern: "/admin/pairs",
        access: Access::Admin,
        body: Body::None,
        group: "pairs",
    },
    RouteSpec {
        route: Route::PairAssess,
        method: "POST",
        pattern: "/admin/pairs/{id}/assess",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "pairs",
    },
    RouteSpec {
        route: Route::PairApprove,
        method: "POST",
        pattern: "/admin/pairs/{id}/approve",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "pairs",
    },
    RouteSpec {
        route: Route::PairReject,
        method: "POST",
        pattern: "/admin/pairs/{id}/reject",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "pairs",
    },
    RouteSpec {
        route: Route::AdminPreflight,
        method: "GET",
        pattern: "/admin/preflight",
        access: Access::Admin,
        body: Body::None,
        group: "security",
    },
    RouteSpec {
        route: Route::AdminD1Query,
        method: "POST",
        pattern: "/admin/d1/query",
        access: Access::Admin,
        body: Body::Json,
        group: "security",
    },
    RouteSpec {
        route: Route::StrategiesList,
        method: "GET",
        pattern: "/admin/strategies",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::StrategyMode,
        method: "POST",
        pattern: "/admin/strategies/{id}/mode",
        access: Access::Admin,
        body: Body::Json,
        group: "trading",
    },
    RouteSpec {
        route: Route::SignalsList,
        method: "GET",
        pattern: "/admin/signals",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::OrdersList,
        method: "GET",
        pattern: "/admin/orders",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::TradesList,
        method: "GET",
        pattern: "/admin/trades",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::PositionsList,
        method: "GET",
        pattern: "/admin/positions",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::Reconcile,
        method: "POST",
        pattern: "/admin/reconcile",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "trading",
    },
    RouteSpec {
        route: Route::ReconcileLatest,
        method: "GET",
        pattern: "/admin/reconcile/latest",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::ViolationsList,
        method: "GET",
        pattern: "/admin/violations",
        access: Access::Admin,
        body: Body::None,
        group: "trading",
    },
    RouteSpec {
        route: Route::ViolationResolve,
        method: "POST",
        pattern: "/admin/violations/{id}/resolve",
        access: Access::Admin,
        body: Body::Json,
        group: "trading",
    },
    RouteSpec {
        route: Route::ApprovalsCreate,
        method: "POST",
        pattern: "/admin/approvals",
        access: Access::Admin,
        body: Body::Json,
        group: "governance",
    },
    RouteSpec {
        route: Route::ApprovalsList,
        method: "GET",
        pattern: "/admin/approvals",
        access: Access::Admin,
        body: Body::None,
        group: "governance",
    },
    RouteSpec {
        route: Route::ApprovalGet,
        method: "GET",
        pattern: "/admin/approvals/{id}",
        access: Access::Admin,
        body: Body::None,
        group: "governance",
    },
    RouteSpec {
        route: Route::ApprovalApprove,
        method: "POST",
        pattern: "/admin/approvals/{id}/approve",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "governance",
    },
    RouteSpec {
        route: Route::ApprovalReject,
        method: "POST",
        pattern: "/admin/approvals/{id}/reject",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "governance",
    },
    RouteSpec {
        route: Route::StrategyGoLive,
        method: "POST",
        pattern: "/admin/strategies/{id}/go-live",
        access: Access::Admin,
        body: Body::Json,
        group: "governance",
    },
    RouteSpec {
        route: Route::GateRun,
        method: "POST",
        pattern: "/admin/gates/production/run",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "governance",
    },
    RouteSpec {
        route: Route::GateReplayRun,
        method: "POST",
        pattern: "/admin/gates/replay/run",
        access: Access::Admin,
        body: Body::OptionalJson,
        group: "governance",
    },
    RouteSpec {
        route: Route::GateLatest,
        method: "GET",
        pattern: "/admin/gates/production",
        access: Access::Admin,
        body: Body::None,
        group: "governance",
    },
    RouteSpec {
        route: Route::GateGet,
        method: "GET",
        pattern: "/admin/gates/production/{run_id}",
        access: Access::Admin,
        body: Body::None,
        group: "governance",
    },
    RouteSpec {
        route: Route::GateCompare,
        method: "GET",
        pattern: "/admin/gates/compare",
        access: Access::Admin,
        body: Body::None,
        group: "governance",
    },
    RouteSpec {
        route: Route::AdminOpenapi,
        method: "GET",
        pattern: "/admin/openapi.yaml",
        access: Access::Admin,
        body: Body::None,
        group: "ops",
    },
    RouteSpec {
        route: Route::AdminMetrics,
        method: "GET",
        pattern: "/admin/metrics",
        access: Access::Admin,
        body: Body::None,
        group: "ops",
    },
    RouteSpec {
        route: Route::AdminDashboard,
        method: "GET",
        pattern: "/admin/dashboard",
        access: Access::PageShell,
        body: Body::None,
        group: "ops",
    },
    RouteSpec {
        route: Route::RiskEquity,
        method: "GET",
        pattern: "/admin/risk/equity",
        access: Access::Admin,
        body: Body::None,
        group: "risk",
    },
];

/// The outcome of matching a request line against [`ROUTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Found {
        spec_index: usize,
        params: Vec<(&'static str, String)>,
    },
    /// The path exists with other methods; `allowed` feeds the `Allow` header.
    MethodNotAllowed {
        allowed: Vec<&'static str>,
    },
    NotFound,
}

impl RouteMatch {
    pub fn spec(&self) -> Option<&'static RouteSpec> {
        match self {
            RouteMatch::Found { spec_index, .. } => ROUTES.get(*spec_index),
            _ => None,
        }
    }
}

/// Whether a path is under the authenticated admin prefix. Such paths are authenticated before
/// they are matched, so an unauthenticated caller learns nothing about which routes exist.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Whether a request must be authenticated before it is matched: every admin path, except the
/// exact method and path of a [`Access::PageShell`] route (no parameters, no trailing slash).
pub fn needs_authentication(method: &str, path: &str) -> bool {
    is_admin_path(path)
        && !ROUTES
            .iter()
            .any(|r| r.access == Access::PageShell && r.method == method && r.pattern == path)
}

fn match_pattern(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, s.to_string()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Matches `method` and `path` (no query string) against the table.
pub fn match_route(method: &str, path: &str) -> RouteMatch {
    let mut allowed = Vec::new();
    for (index, spec) in ROUTES.iter().enumerate() {
        if let Some(params) = match_pattern(spec.pattern, path) {
            if spec.method == method {
                return RouteMatch::Found {
                    spec_index: index,
                    params,
                };
            }
            allowed.push(spec.method);
        }
    }
    if allowed.is_empty() {
        RouteMatch::NotFound
    } else {
        allowed.sort_unstable();
        allowed.dedup();
        RouteMatch::MethodNotAllowed { allowed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_unique_and_well_formed() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.pattern.starts_with('/'), "{}", a.pattern);
            assert_eq!(
                matches!(a.access, Access::Admin | Access::PageShell),
                is_admin_path(a.pattern),
                "{} must be admin iff under /admin",
                a.pattern
            );
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "duplicate route {} {}",
                    a.method,
                    a.pattern
                );
            }
        }
    }

    #[test]
    fn known_route_matches_with_its_spec() {
        let m = match_route("GET", "/admin/status");
        assert_eq!(m.spec().map(|s| s.route), Some(Route::AdminStatus));
    }

    #[test]
    fn audit_routes_match_with_their_parameters() {
        let m = match_route("GET", "/admin/audit/proof/7");
        assert_eq!(m.spec().map(|s| s.route), Some(Route::AdminAuditProof));
        let RouteMatch::Found { params, .. } = m else {
            panic!("no match")
        };
        assert_eq!(params, vec![("seq", "7".to_string())]);
        assert_eq!(
            match_route("GET", "/audit/checkpoint")
                .spec()
                .map(|s| s.access),
            Some(Access::Public)
        );
        assert_eq!(
            match_route("GET", "/admin/audit/verify"),
            RouteMatch::MethodNotAllowed {
                allowed: vec!["POST"]
            }
        );
    }

    #[test]
    fn wrong_method_is_method_not_allowed_with_allow_list() {
        assert_eq!(
            match_route("POST", "/health"),
            RouteMatch::MethodNotAllowed {
                allowed: vec!["GET"]
            }
        );
    }

    #[test]
    fn methods_match_by_exact_name_so_unknown_ones_are_not_allowed() {
        // The Worker matches the method as sent (`http::raw_method`): an unknown or lower-case
        // name is no GET, it is refused with the path's Allow list.
        for method in ["QUERY", "get", "PROPFIND", "TRACE"] {
            assert_eq!(
                match_route(method, "/health"),
                RouteMatch::MethodNotAllowed {
                    allowed: vec!["GET"]
                },
                "{method}"
            );
        }
    }

    #[test]
    fn unknown_paths_and_near_misses_are_not_found() {
        for path in [
            "/",
            "/nope",
            "/health/",
            "/admin/status/x",
            "/HEALTH",
            "//health",
        ] {
            assert_eq!(match_route("GET", path), RouteMatch::NotFound, "{path}");
        }
    }

    #[test]
    fn parameters_match_one_non_empty_segment() {
        assert_eq!(
            match_pattern("/a/{id}/b", "/a/42/b"),
            Some(vec![("id", "42".to_string())])
        );
        assert_eq!(match_pattern("/a/{id}/b", "/a//b"), None);
        assert_eq!(match_pattern("/a/{id}", "/a/1/2"), None);
    }

    #[test]
    fn only_the_dashboard_shell_is_served_without_authentication() {
        let shells: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.access == Access::PageShell)
            .map(|r| (r.method, r.pattern))
            .collect();
        assert_eq!(shells, vec![("GET", "/admin/dashboard")]);
        assert!(!shells[0].1.contains('{'), "a shell has no parameters");
        assert!(!needs_authentication("GET", "/admin/dashboard"));
        for (method, path) in [
            ("HEAD", "/admin/dashboard"),
            ("POST", "/admin/dashboard"),
            ("GET", "/admin/dashboard/"),
            ("GET", "/admin/dashboard/x"),
            ("GET", "/admin/Dashboard"),
            ("GET", "/admin//dashboard"),
            ("GET", "/admin/risk/equity"),
            ("GET", "/admin/metrics"),
            ("GET", "/admin"),
        ] {
            assert!(needs_authentication(method, path), "{method} {path}");
        }
        assert!(!needs_authentication("GET", "/health"));
    }

    #[test]
    fn admin_prefix_is_exact() {
        assert!(is_admin_path("/admin"));
        assert!(is_admin_path("/admin/anything"));
        assert!(!is_admin_path("/administrator"));
        assert!(!is_admin_path("/health"));
    }
}

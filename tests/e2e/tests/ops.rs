//! Operator experience end to end: the OpenAPI description served by the Worker.

use paul_p_e2e::shared;

#[test]
fn openapi_document_is_served_to_operators_only() {
    let stack = shared();
    let r = stack.get("/admin/openapi.yaml", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/yaml")),
        "{:?}",
        r.header("content-type")
    );
    assert_eq!(r.text(), paul_p::http::openapi::DOCUMENT);
    let r = stack.get("/admin/openapi.yaml", None);
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "UNAUTHENTICATED");
}

use paul_p_e2e::{Stack, StackConfig};
use prometheus_parse::{Sample, Scrape, Value as PromValue};
use serde_json::json;
use std::time::{Duration, Instant};

/// Scrapes `GET /admin/metrics` and parses it with a Prometheus text-format parser. Every
/// sample line must survive parsing (the parser skips what it cannot read).
fn scrape(stack: &Stack) -> Vec<Sample> {
    let r = stack.get("/admin/metrics", Some(&stack.tokens.admin));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("exposition");
    let mut histogram_families = std::collections::HashSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(scrape.docs.contains_key(name), "HELP for {name}");
        if kind == "histogram" {
            histogram_families.insert(format!("{name}_bucket"));
        }
    }
    let plain_lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !histogram_families.iter().any(|h| l.starts_with(h.as_str())))
        .count();
    let plain_samples = scrape
        .samples
        .iter()
        .filter(|s| !matches!(s.value, PromValue::Histogram(_)))
        .count();
    assert_eq!(
        plain_lines, plain_samples,
        "every sample line parses:\n{text}"
    );
    scrape.samples
}

fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            PromValue::Counter(v) | PromValue::Gauge(v) | PromValue::Untyped(v) => Some(v),
            _ => None,
        })
}

/// Scrapes until `ok` holds (counters are written after each answer, so a scrape right after
/// a request may not see it yet), or fails with the last scrape.
fn scrape_until(stack: &Stack, what: &str, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let samples = scrape(stack);
        if ok(&samples) {
            return samples;
        }
        if Instant::now() >= deadline {
            let text = stack
                .get("/admin/metrics", Some(&stack.tokens.admin))
                .text();
            panic!("{what}: not seen in\n{text}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn metrics_parse_and_counters_move_when_the_simulator_injects_faults() {
    let stack = Stack::start(StackConfig {
        vars: [
            ("CAUTION_AFTER_FAILURES", "2"),
            ("HALT_AFTER_FAILURES", "10"),
            ("INGEST_RETRY_BASE_MS", "20"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        unset: vec![],
    });
    // Kalshi only: a run is quick, and every venue call is one we fault.
    stack.approve_sources(&["kalshi"]);
    let admin = stack.tokens.admin.clone();

    let before = scrape(&stack);
    assert_eq!(
        value(&before, "paulp_breaker_state", &[("state", "NORMAL")]),
        Some(1.0)
    );
    assert_eq!(
        value(&before, "paulp_breaker_state", &[("state", "HALT")]),
        Some(0.0)
    );
    for source in [
        "risk_governor",
        "risk_governor_counters",
        "audit_log",
        "anchors",
        "counters",
        "runs",
    ] {
        assert_eq!(
            value(&before, "paulp_metrics_source_up", &[("source", source)]),
            Some(1.0),
            "{source}"
        );
    }
    assert!(value(&before, "paulp_audit_events", &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(
        value(&before, "paulp_venue_errors_total", &[("venue", "kalshi")]),
        None
    );

    // A healthy run: Kalshi calls counted with their status, ingestion lag appears.
    let r = stack.json("POST", "/admin/ingest/run", &admin, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let healthy = scrape_until(&stack, "kalshi 200s and ingestion lag", |s| {
        value(
            s,
            "paulp_venue_requests_total",
            &[("venue", "kalshi"), ("status", "200")],
        )
        .is_some_and(|n| n >= 1.0)
            && value(s, "paulp_ingest_lag_seconds", &[]).is_some()
    });
    assert_eq!(
        value(
            &healthy,
            "paulp_job_runs",
            &[("job", "ingest"), ("status", "SUCCESS")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&healthy, "paulp_venue_errors_total", &[("venue", "kalshi")]),
        None
    );

    // The simulator fails every Kalshi events call: errors by venue and status, failures
    // reported, and after two failed runs the breaker escalates to CAUTION.
    let r = stack.sim(
        "POST",
        "/__sim/faults",
        Some(&json!({"method": "GET", "path": "/trade-api/v2/events", "match": "exact", "status": 503})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for _ in 0..2 {
        let r = stack.json("POST", "/admin/ingest/run", &admin, &json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(stack.sim("DELETE", "/__sim/faults", None).status, 200);
    let faulted = scrape_until(&stack, "kalshi 503 errors", |s| {
        value(
            s,
            "paulp_venue_errors_total",
            &[("venue", "kalshi"), ("status", "503")],
        )
        .is_some_and(|n| n >= 2.0)
    });
    let errors = value(
        &faulted,
        "paulp_venue_errors_total",
        &[("venue", "kalshi"), ("status", "503")],
    )
    .unwrap();
    let requests = value(
        &faulted,
        "paulp_venue_requests_total",
        &[("venue", "kalshi"), ("status", "503")],
    )
    .unwrap();
    assert_eq!(errors, requests, "every 503 is an error");
    assert_eq!(
        value(&faulted, "paulp_breaker_state", &[("state", "CAUTION")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &faulted,
            "paulp_breaker_transitions_total",
            &[("from", "NORMAL"), ("to", "CAUTION")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &faulted,
            "paulp_failures_reported_total",
            &[("source", "venue_api")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &faulted,
            "paulp_job_runs",
            &[("job", "ingest"), ("status", "FAIL")]
        ),
        Some(2.0)
    );

    // A refused check counts its invariant code; an operator halt is a transition.
    let r = stack.json(
        "POST",
        "/admin/risk/check",
        &admin,
        &json!({"client_order_id":"m-1","market":"KXNOSUCH-1","side":"yes","action":"buy","qty":100,"limit_price":5000,"kind":"new"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["verdict"]["approved"], false);
    let codes: std::collections::BTreeSet<String> = r.json()["verdict"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let r = stack.json(
        "POST",
        "/admin/circuit-breaker/transition",
        &admin,
        &json!({"targetState":"HALT","reason":"metrics test"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // An operator verification counts its result (once the R2 mirror has caught up: the
    // verifier reads the copies).
    scrape_until(&stack, "mirror caught up", |s| {
        value(s, "paulp_audit_mirror_lag_events", &[]) == Some(0.0)
    });
    let r = stack.json("POST", "/admin/audit/verify", &admin, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["valid"], true, "{}", r.text());

    let after = scrape_until(&stack, "refusals, halt and verification", |s| {
        value(s, "paulp_audit_verifications_total", &[("result", "valid")]).is_some()
    });
    for code in &codes {
        assert_eq!(
            value(&after, "paulp_risk_refusals_total", &[("code", code)]),
            Some(1.0),
            "{code}"
        );
    }
    assert_eq!(
        value(&after, "paulp_breaker_state", &[("state", "HALT")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "paulp_breaker_transitions_total",
            &[("from", "CAUTION"), ("to", "HALT")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "paulp_audit_verifications_total",
            &[("result", "valid")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "paulp_audit_last_verification_valid",
            &[("kind", "any")]
        ),
        Some(1.0)
    );

    // Request counts and the latency histogram of a route group.
    let risk_ok = value(
        &after,
        "paulp_http_requests_total",
        &[("group", "risk"), ("status", "200")],
    )
    .unwrap();
    assert!(risk_ok >= 2.0, "{risk_ok}");
    let hist = after
        .iter()
        .find(|s| {
            s.metric == "paulp_http_request_duration_ms" && s.labels.get("group") == Some("risk")
        })
        .expect("risk latency histogram");
    let PromValue::Histogram(buckets) = &hist.value else {
        panic!("not a histogram: {hist:?}")
    };
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "cumulative"
    );
    let inf = buckets.last().unwrap();
    assert!(inf.less_than.is_infinite());
    let count = value(
        &after,
        "paulp_http_request_duration_ms_count",
        &[("group", "risk")],
    )
    .unwrap();
    assert_eq!(inf.count, count);
    let risk_total: f64 = after
        .iter()
        .filter(|s| {
            s.metric == "paulp_http_requests_total" && s.labels.get("group") == Some("risk")
        })
        .filter_map(|s| match s.value {
            PromValue::Counter(v) => Some(v),
            _ => None,
        })
        .sum();
    assert_eq!(count, risk_total, "one observation per request");

    // Counters are persisted: a restarted Worker (new isolate) still reports them.
    drop(after);
    let mut stack = stack;
    stack.restart();
    let restarted = scrape(&stack);
    assert_eq!(
        value(
            &restarted,
            "paulp_venue_errors_total",
            &[("venue", "kalshi"), ("status", "503")]
        ),
        Some(errors)
    );
    assert_eq!(
        value(
            &restarted,
            "paulp_breaker_transitions_total",
            &[("from", "CAUTION"), ("to", "HALT")]
        ),
        Some(1.0)
    );
}

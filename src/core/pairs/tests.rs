use super::*;

const T0_MS: i64 = 1_767_268_800_000;

fn t(days: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0_MS).unwrap() + TimeDelta::days(days)
}

fn rules(k: u8, p: u8) -> RulesHashes {
    RulesHashes {
        kalshi: Hash32::from_bytes([k; 32]),
        polymarket: Hash32::from_bytes([p; 32]),
    }
}

fn proposed() -> Pair {
    Pair::propose(
        "KXFEDDECISION-26JUN-H0",
        "0xabc",
        0,
        Proposer::Operator {
            actor: "alice@example.com".into(),
        },
        t(0),
    )
    .unwrap()
}

fn assessment(outcome: AssessmentOutcome, r: RulesHashes) -> Assessment {
    Assessment {
        outcome,
        model: "claude-sonnet-4-5".into(),
        prompt_version: "pair_equivalence_v1".into(),
        rules: r,
        request_evidence: None,
        response_evidence: Some(Hash32::from_bytes([9; 32])),
        at: t(0),
    }
}

fn graded(grade: Grade) -> AssessmentOutcome {
    AssessmentOutcome::Graded {
        grade,
        rationale: "same resolution source and date".into(),
    }
}

fn approved() -> Pair {
    proposed()
        .record_assessment(assessment(graded(Grade::Identical), rules(1, 2)))
        .unwrap()
        .approve(
            "bob@example.com",
            "checked both rule texts",
            &rules(1, 2),
            t(0),
        )
        .unwrap()
}

#[test]
fn pair_ids_are_deterministic_and_distinguish_markets() {
    assert_eq!(PairId::of("A", "B"), PairId::of("A", "B"));
    assert_ne!(PairId::of("A", "B"), PairId::of("A", "C"));
    // Length prefixes: moving characters between the two ids changes the id.
    assert_ne!(PairId::of("AB", "C"), PairId::of("A", "BC"));
    assert!(PairId::of("A", "B").as_str().starts_with("pair-"));
    assert_eq!(PairId::of("A", "B").as_str().len(), 21);
}

#[test]
fn only_identical_or_near_equivalent_human_approved_unexpired_unchanged_pairs_trade() {
    let pair = approved();
    assert_eq!(pair.status, PairStatus::Approved);
    assert_eq!(pair.tradable(t(0), &rules(1, 2)), Ok(()));
    assert_eq!(pair.tradable(t(29), &rules(1, 2)), Ok(()));
    assert_eq!(
        pair.tradable(t(30), &rules(1, 2)).unwrap_err().code(),
        "PAIR_APPROVAL_EXPIRED"
    );
    assert_eq!(
        pair.tradable(t(1), &rules(1, 3)).unwrap_err().to_string(),
        "PAIR_RULES_CHANGED: sides=polymarket"
    );
    assert_eq!(
        proposed().tradable(t(0), &rules(1, 2)).unwrap_err().code(),
        "PAIR_NOT_APPROVED"
    );
    let near = proposed()
        .record_assessment(assessment(graded(Grade::NearEquivalent), rules(1, 2)))
        .unwrap()
        .approve("bob", "", &rules(1, 2), t(0))
        .unwrap();
    assert_eq!(near.tradable(t(0), &rules(1, 2)), Ok(()));
}

#[test]
fn divergent_or_unassessed_pairs_cannot_be_approved() {
    for grade in [Grade::SimilarButDivergent, Grade::NotEquivalent] {
        let assessed = proposed()
            .record_assessment(assessment(graded(grade), rules(1, 2)))
            .unwrap();
        assert_eq!(assessed.status, PairStatus::Assessed);
        let err = assessed.approve("bob", "", &rules(1, 2), t(0)).unwrap_err();
        assert_eq!(err.code(), "PAIR_GRADE_NOT_APPROVABLE");
    }
    let err = proposed()
        .approve("bob", "", &rules(1, 2), t(0))
        .unwrap_err();
    assert_eq!(err.code(), "PAIR_TRANSITION_INVALID");
}

#[test]
fn an_llm_failure_leaves_the_pair_not_assessed_and_never_approvable() {
    let failed = proposed()
        .record_assessment(assessment(
            AssessmentOutcome::Failed {
                code: "LLM_ERROR_RESPONSE".into(),
                detail: "status=529 type=overloaded_error".into(),
            },
            rules(1, 2),
        ))
        .unwrap();
    assert_eq!(failed.status, PairStatus::NotAssessed);
    assert_eq!(
        failed
            .approve("bob", "", &rules(1, 2), t(0))
            .unwrap_err()
            .code(),
        "PAIR_TRANSITION_INVALID"
    );
    assert_eq!(
        failed.tradable(t(0), &rules(1, 2)).unwrap_err().code(),
        "PAIR_NOT_APPROVED"
    );
    // A later successful assessment makes it approvable again.
    let retried = failed
        .record_assessment(assessment(graded(Grade::Identical), rules(1, 2)))
        .unwrap();
    assert_eq!(retried.status, PairStatus::Assessed);
}

#[test]
fn a_rules_change_sends_an_approved_pair_back_to_review() {
    let pair = approved();
    assert_eq!(pair.observe_rules(&rules(1, 2)), None);
    let back = pair.observe_rules(&rules(7, 2)).unwrap();
    assert_eq!(back.status, PairStatus::Proposed);
    assert_eq!(back.approval, None);
    assert_eq!(back.assessment, None);
    assert_eq!(
        back.review_reason.as_deref(),
        Some("RULES_CHANGED: sides=kalshi")
    );
    assert_eq!(
        back.tradable(t(0), &rules(7, 2)).unwrap_err().code(),
        "PAIR_NOT_APPROVED"
    );
    // It trades again only after a new assessment of the new texts and a new approval.
    let again = back
        .record_assessment(assessment(graded(Grade::Identical), rules(7, 2)))
        .unwrap()
        .approve("carol", "re-read", &rules(7, 2), t(1))
        .unwrap();
    assert_eq!(again.tradable(t(1), &rules(7, 2)), Ok(()));
}

#[test]
fn approving_against_changed_rules_is_refused() {
    let assessed = proposed()
        .record_assessment(assessment(graded(Grade::Identical), rules(1, 2)))
        .unwrap();
    let err = assessed.approve("bob", "", &rules(1, 9), t(0)).unwrap_err();
    assert_eq!(err.to_string(), "PAIR_RULES_CHANGED: sides=polymarket");
}

#[test]
fn approval_renews_and_rejection_is_final() {
    let renewed = approved()
        .approve("dave", "renew", &rules(1, 2), t(25))
        .unwrap();
    assert_eq!(renewed.tradable(t(50), &rules(1, 2)), Ok(()));
    let rejected = renewed
        .reject("erin", "different close date", t(26))
        .unwrap();
    assert_eq!(rejected.status, PairStatus::Rejected);
    assert_eq!(rejected.approval, None);
    assert_eq!(
        rejected.reject("erin", "", t(26)).unwrap_err().code(),
        "PAIR_TRANSITION_INVALID"
    );
    assert_eq!(rejected.observe_rules(&rules(5, 5)), None);
    assert_eq!(
        rejected
            .record_assessment(assessment(graded(Grade::Identical), rules(1, 2)))
            .unwrap_err()
            .code(),
        "PAIR_TRANSITION_INVALID"
    );
}

#[test]
fn approvals_need_a_named_actor_and_bounded_notes() {
    let assessed = proposed()
        .record_assessment(assessment(graded(Grade::Identical), rules(1, 2)))
        .unwrap();
    assert_eq!(
        assessed
            .approve(" ", "", &rules(1, 2), t(0))
            .unwrap_err()
            .to_string(),
        "PAIR_INVALID_INPUT: field=actor problem=empty"
    );
    let long = "x".repeat(MAX_NOTES_CHARS + 1);
    assert_eq!(
        assessed
            .approve("bob", &long, &rules(1, 2), t(0))
            .unwrap_err()
            .code(),
        "PAIR_INVALID_INPUT"
    );
    assert!(Pair::propose("", "c", 0, Proposer::Discovery { score_bps: 1 }, t(0)).is_err());
}

#[test]
fn pairs_round_trip_through_json_and_refuse_unknown_fields() {
    let pair = approved();
    let text = serde_json::to_string(&pair).unwrap();
    assert_eq!(serde_json::from_str::<Pair>(&text).unwrap(), pair);
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["extra"] = serde_json::json!(1);
    assert!(serde_json::from_value::<Pair>(value).is_err());
    assert_eq!(
        PairStatus::parse("not_assessed"),
        Some(PairStatus::NotAssessed)
    );
    assert_eq!(PairStatus::parse("APPROVED"), None);
    assert_eq!(Grade::parse("near_equivalent"), Some(Grade::NearEquivalent));
    assert_eq!(Grade::parse("Identical"), None);
}

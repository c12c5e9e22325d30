//! The pair-equivalence assessment as an Anthropic Messages exchange: building the request
//! body from both markets' rules texts, and reading a grade out of the response.
//!
//! The prompt is versioned in `prompts/` and compiled in (`include_str!`), so the prompt a
//! deployed Worker sends is exactly the one in the repository at that commit; its version
//! string travels with every assessment. The model name is a parameter (a `vars` entry).
//!
//! Reading the answer fails closed. Only a `type: "message"` body with `stop_reason:
//! "end_turn"`, text blocks only, whose text is one JSON object `{"grade","rationale"}` with a
//! known grade yields [`AssessmentOutcome::Graded`]. Everything else — an error body
//! (`{type:"error",error:{type,message}}`), a non-2xx status, a tool call, a truncated answer
//! (`max_tokens`), an unknown `stop_reason`, prose, an unknown grade, broken JSON — yields
//! [`AssessmentOutcome::Failed`] with a stable code, which leaves the pair `not_assessed`.

use crate::core::pairs::{AssessmentOutcome, Grade};
use crate::venues::kalshi::KalshiMarket;
use crate::venues::polymarket::GammaMarket;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::fmt;

/// The prompt's version, stored with every assessment.
pub const PAIR_PROMPT_VERSION: &str = "pair_equivalence_v1";
/// The prompt template (placeholders are `{{name}}`).
pub const PAIR_PROMPT_TEMPLATE: &str = include_str!("../../prompts/pair_equivalence_v1.md");
/// The `anthropic-version` header value the body is written for.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Output budget: a grade and a few sentences.
pub const MAX_TOKENS: u32 = 1_024;
/// Longest rationale accepted.
pub const MAX_RATIONALE_CHARS: usize = 4_000;

/// Everything the prompt shows the model about a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairTexts {
    pub kalshi_ticker: String,
    pub kalshi_title: String,
    pub kalshi_rules_primary: String,
    pub kalshi_rules_secondary: String,
    pub kalshi_close_time: DateTime<Utc>,
    pub condition_id: String,
    pub polymarket_question: String,
    /// The name of the Polymarket outcome paired with Kalshi YES.
    pub polymarket_outcome: String,
    pub polymarket_description: String,
    pub polymarket_resolution_source: String,
    pub polymarket_end_date: DateTime<Utc>,
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptError {
    /// The pair names a Polymarket outcome the market does not have.
    OutcomeOutOfRange { index: u8, outcomes: usize },
    /// The model name is empty.
    MissingModel,
    /// The template names a placeholder this code does not fill (a broken prompt file).
    UnknownPlaceholder(String),
}

impl PromptError {
    pub fn code(&self) -> &'static str {
        match self {
            PromptError::OutcomeOutOfRange { .. } => "LLM_PROMPT_OUTCOME_OUT_OF_RANGE",
            PromptError::MissingModel => "LLM_PROMPT_MISSING_MODEL",
            PromptError::UnknownPlaceholder(_) => "LLM_PROMPT_UNKNOWN_PLACEHOLDER",
        }
    }
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::OutcomeOutOfRange { index, outcomes } => {
                write!(f, "{}: index={index} outcomes={outcomes}", self.code())
            }
            PromptError::MissingModel => f.write_str(self.code()),
            PromptError::UnknownPlaceholder(p) => write!(f, "{}: name={p}", self.code()),
        }
    }
}

impl PairTexts {
    /// The texts of a parsed Kalshi market and Gamma market, pairing Kalshi YES with Gamma
    /// outcome `outcome_index`.
    pub fn from_markets(
        kalshi: &KalshiMarket,
        polymarket: &GammaMarket,
        outcome_index: u8,
    ) -> Result<PairTexts, PromptError> {
        let outcome = polymarket.outcomes.get(usize::from(outcome_index)).ok_or(
            PromptError::OutcomeOutOfRange {
                index: outcome_index,
                outcomes: polymarket.outcomes.len(),
            },
        )?;
        Ok(PairTexts {
            kalshi_ticker: kalshi.ticker.clone(),
            kalshi_title: kalshi.title.clone().unwrap_or_default(),
            kalshi_rules_primary: kalshi.rules_primary.clone(),
            kalshi_rules_secondary: kalshi.rules_secondary.clone(),
            kalshi_close_time: kalshi.close_time,
            condition_id: polymarket.condition_id.clone(),
            polymarket_question: polymarket.question.clone(),
            polymarket_outcome: outcome.name.clone(),
            polymarket_description: polymarket.description.clone(),
            polymarket_resolution_source: polymarket.resolution_source.clone().unwrap_or_default(),
            polymarket_end_date: polymarket.end_date,
        })
    }

    fn value(&self, name: &str) -> Option<String> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        Some(match name {
            "kalshi_ticker" => self.kalshi_ticker.clone(),
            "kalshi_title" => self.kalshi_title.clone(),
            "kalshi_rules_primary" => self.kalshi_rules_primary.clone(),
            "kalshi_rules_secondary" => self.kalshi_rules_secondary.clone(),
            "kalshi_close_time" => time(&self.kalshi_close_time),
            "condition_id" => self.condition_id.clone(),
            "polymarket_question" => self.polymarket_question.clone(),
            "polymarket_outcome" => self.polymarket_outcome.clone(),
            "polymarket_description" => self.polymarket_description.clone(),
            "polymarket_resolution_source" => self.polymarket_resolution_source.clone(),
            "polymarket_end_date" => time(&self.polymarket_end_date),
            _ => return None,
        })
    }
}

/// The user message: the template with every `{{name}}` replaced in one pass (a venue text
/// that itself contains `{{…}}` is copied literally, never expanded).
pub fn render_prompt(texts: &PairTexts) -> Result<String, PromptError> {
    let mut out = String::with_capacity(PAIR_PROMPT_TEMPLATE.len() + 4_096);
    let mut rest = PAIR_PROMPT_TEMPLATE;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| PromptError::UnknownPlaceholder(after.chars().take(40).collect()))?;
        let name = &after[..end];
        let value = texts
            .value(name)
            .ok_or_else(|| PromptError::UnknownPlaceholder(name.to_string()))?;
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The exact request body bytes for `POST /v1/messages` (compact JSON, keys sorted), to be
/// stored as evidence before sending. Temperature 0: the same texts should get the same grade.
pub fn request_body(model: &str, texts: &PairTexts) -> Result<Vec<u8>, PromptError> {
    if model.trim().is_empty() {
        return Err(PromptError::MissingModel);
    }
    let prompt = render_prompt(texts)?;
    let body = json!({
        "model": model,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "messages": [{"role": "user", "content": prompt}],
    });
    Ok(serde_json::to_vec(&body).expect("a JSON value serialises"))
}

fn failed(code: &str, detail: impl Into<String>) -> AssessmentOutcome {
    AssessmentOutcome::Failed {
        code: code.to_string(),
        detail: detail.into(),
    }
}

/// At most `n` characters of `s`, for context that must stay short.
fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Reads an HTTP answer from the Messages API into an assessment outcome (see the module
/// documentation for what counts as graded). Never panics, never defaults to a grade.
pub fn parse_response(status: u16, body: &[u8]) -> AssessmentOutcome {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return failed(
            "LLM_BODY_INVALID",
            format!("status={status} problem=not_json bytes={}", body.len()),
        );
    };
    if value.get("type").and_then(Value::as_str) == Some("error") {
        let kind = value
            .pointer("/error/type")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        return failed(
            "LLM_ERROR_RESPONSE",
            format!(
                "status={status} type={kind} message={:?}",
                clip(message, 200)
            ),
        );
    }
    if !(200..300).contains(&status) {
        return failed("LLM_HTTP_STATUS", format!("status={status}"));
    }
    if value.get("type").and_then(Value::as_str) != Some("message") {
        return failed("LLM_BODY_INVALID", "problem=not_a_message");
    }
    match value.get("stop_reason").and_then(Value::as_str) {
        Some("end_turn") => {}
        other => {
            return failed(
                "LLM_STOP_REASON",
                format!("stop_reason={}", other.unwrap_or("null")),
            )
        }
    }
    let Some(blocks) = value.get("content").and_then(Value::as_array) else {
        return failed("LLM_BODY_INVALID", "problem=content_not_array");
    };
    let mut text = String::new();
    for block in blocks {
        match (
            block.get("type").and_then(Value::as_str),
            block.get("text").and_then(Value::as_str),
        ) {
            (Some("text"), Some(t)) => text.push_str(t),
            (kind, _) => {
                return failed(
                    "LLM_CONTENT_NOT_TEXT",
                    format!("block_type={}", kind.unwrap_or("unknown")),
                )
            }
        }
    }
    if text.trim().is_empty() {
        return failed("LLM_NO_TEXT", "problem=empty_answer");
    }
    parse_answer(&text)
}

/// The model's answer text: one JSON object `{"grade","rationale"}`, optionally inside a
/// single fenced code block.
pub fn parse_answer(text: &str) -> AssessmentOutcome {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(trimmed);
    let unparseable = |problem: &str| {
        failed(
            "LLM_ANSWER_UNPARSEABLE",
            format!("problem={problem} text={:?}", clip(trimmed, 120)),
        )
    };
    let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(unfenced) else {
        return unparseable("not_a_json_object");
    };
    if answer.len() != 2 {
        return unparseable("keys_not_exactly_grade_and_rationale");
    }
    let (Some(grade), Some(rationale)) = (
        answer.get("grade").and_then(Value::as_str),
        answer.get("rationale").and_then(Value::as_str),
    ) else {
        return unparseable("keys_not_exactly_grade_and_rationale");
    };
    let Some(grade) = Grade::parse(grade) else {
        return failed("LLM_GRADE_UNKNOWN", format!("grade={:?}", clip(grade, 60)));
    };
    if rationale.trim().is_empty() || rationale.chars().count() > MAX_RATIONALE_CHARS {
        return unparseable("rationale_empty_or_too_long");
    }
    AssessmentOutcome::Graded {
        grade,
        rationale: rationale.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn texts() -> PairTexts {
        PairTexts {
            kalshi_ticker: "KXFED-26JUN-C25".into(),
            kalshi_title: "Fed cuts 25bp in June".into(),
            kalshi_rules_primary: "If the FOMC lowers the target by 25bp on June 17, 2026, Yes."
                .into(),
            kalshi_rules_secondary: "Source: federalreserve.gov {{condition_id}}".into(),
            kalshi_close_time: DateTime::from_timestamp(1_781_740_800, 0).unwrap(),
            condition_id: "0xfeed".into(),
            polymarket_question: "Fed decreases rates by 25 bps after June 2026 meeting?".into(),
            polymarket_outcome: "Yes".into(),
            polymarket_description: "Resolves Yes if the upper bound is cut by 25bps.".into(),
            polymarket_resolution_source: "https://www.federalreserve.gov".into(),
            polymarket_end_date: DateTime::from_timestamp(1_781_740_800, 0).unwrap(),
        }
    }

    fn message(text: &str, stop: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "content": [{"text": text, "type": "text"}],
            "id": "msg_1", "model": "claude-sonnet-4-5", "role": "assistant",
            "stop_reason": stop, "stop_sequence": null, "type": "message",
            "usage": {"input_tokens": 1, "output_tokens": 1}
        }))
        .unwrap()
    }

    fn code(o: &AssessmentOutcome) -> &str {
        match o {
            AssessmentOutcome::Failed { code, .. } => code,
            AssessmentOutcome::Graded { .. } => "GRADED",
        }
    }

    #[test]
    fn the_prompt_fills_every_placeholder_once_and_names_the_pair_key() {
        let prompt = render_prompt(&texts()).unwrap();
        assert!(prompt.contains("Pair key: KXFED-26JUN-C25|0xfeed\n"));
        assert!(prompt.contains("Trading closes: 2026-06-18T00:00:00Z"));
        assert!(prompt.contains("the outcome \"Yes\""));
        // A venue text containing a placeholder is copied literally, not expanded.
        assert!(prompt.contains("Source: federalreserve.gov {{condition_id}}"));
        assert!(!prompt.contains("{{kalshi"));
    }

    #[test]
    fn the_request_body_is_deterministic_and_carries_model_and_prompt() {
        let a = request_body("claude-sonnet-4-5", &texts()).unwrap();
        assert_eq!(a, request_body("claude-sonnet-4-5", &texts()).unwrap());
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["model"], "claude-sonnet-4-5");
        assert_eq!(v["max_tokens"], 1024);
        assert_eq!(v["temperature"], 0);
        assert_eq!(v["messages"][0]["role"], "user");
        assert_eq!(
            v["messages"][0]["content"].as_str().unwrap(),
            render_prompt(&texts()).unwrap()
        );
        assert_eq!(
            request_body(" ", &texts()).unwrap_err().code(),
            "LLM_PROMPT_MISSING_MODEL"
        );
    }

    #[test]
    fn a_json_answer_with_a_known_grade_is_graded() {
        let body = message(
            r#"{"grade": "near_equivalent", "rationale": "Same meeting and source."}"#,
            "end_turn",
        );
        assert_eq!(
            parse_response(200, &body),
            AssessmentOutcome::Graded {
                grade: Grade::NearEquivalent,
                rationale: "Same meeting and source.".into()
            }
        );
        let fenced = message(
            "```json\n{\"grade\":\"identical\",\"rationale\":\"x\"}\n```",
            "end_turn",
        );
        assert_eq!(code(&parse_response(200, &fenced)), "GRADED");
    }

    #[test]
    fn anything_else_is_not_assessed_with_a_code() {
        let cases: Vec<(u16, Vec<u8>, &str)> =
            vec![
            (200, b"{\"grade\":".to_vec(), "LLM_BODY_INVALID"),
            (200, br#"{"type":"ping"}"#.to_vec(), "LLM_BODY_INVALID"),
            (
                529,
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                    .to_vec(),
                "LLM_ERROR_RESPONSE",
            ),
            (502, b"{}".to_vec(), "LLM_HTTP_STATUS"),
            (
                200,
                message(r#"{"grade":"identical","rationale":"x"}"#, "max_tokens"),
                "LLM_STOP_REASON",
            ),
            (
                200,
                message(r#"{"grade":"identical","rationale":"x"}"#, "brand_new_reason"),
                "LLM_STOP_REASON",
            ),
            (200, message("They look identical to me.", "end_turn"), "LLM_ANSWER_UNPARSEABLE"),
            (
                200,
                message(r#"{"grade":"identical"}"#, "end_turn"),
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (
                200,
                message(
                    r#"{"grade":"identical","rationale":"x","approved":true}"#,
                    "end_turn",
                ),
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (
                200,
                message(r#"{"grade":"Identical","rationale":"x"}"#, "end_turn"),
                "LLM_GRADE_UNKNOWN",
            ),
            (
                200,
                message(r#"{"grade":"identical","rationale":"  "}"#, "end_turn"),
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (200, message("   ", "end_turn"), "LLM_NO_TEXT"),
        ];
        for (status, body, expected) in cases {
            let outcome = parse_response(status, &body);
            assert_eq!(
                code(&outcome),
                expected,
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("shared/fixtures/anthropic/bodies_derived"))
            .find(|d| d.is_dir())
            .expect("shared/fixtures beside the repository")
    }

    /// Every recorded Anthropic body: none contains a grade, so each must come out
    /// `not_assessed` — and with the code that names why.
    #[test]
    fn every_recorded_anthropic_response_is_not_assessed() {
        let expected: &[(&str, u16, &str)] = &[
            (
                "test_anthropic_count_tokens_error__0_messages_count_tokens_404.json",
                404,
                "LLM_ERROR_RESPONSE",
            ),
            (
                "test_anthropic_explicit_effort_xhigh_unsupported_model_errors__0_messages_400.json",
                400,
                "LLM_ERROR_RESPONSE",
            ),
            (
                "test_anthropic_model_instructions__0_messages_200.json",
                200,
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (
                "test_anthropic_model_usage_limit_not_exceeded__0_messages_count_tokens_200.json",
                200,
                "LLM_BODY_INVALID",
            ),
            (
                "test_anthropic_model_usage_limit_not_exceeded__1_messages_200.json",
                200,
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (
                "test_anthropic_opus_46_features_basic__0_messages_200.json",
                200,
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (
                "test_anthropic_prompted_output__0_messages_200.json",
                200,
                "LLM_STOP_REASON",
            ),
            (
                "test_anthropic_prompted_output__1_messages_200.json",
                200,
                "LLM_ANSWER_UNPARSEABLE",
            ),
            (
                "test_anthropic_tool_output__0_messages_200.json",
                200,
                "LLM_STOP_REASON",
            ),
            (
                "test_anthropic_tool_output__1_messages_200.json",
                200,
                "LLM_STOP_REASON",
            ),
            (
                "test_request_stream_fallback_for_high_max_tokens__0_messages_200.sse.txt",
                200,
                "LLM_BODY_INVALID",
            ),
        ];
        let dir = fixtures_dir();
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = expected.iter().map(|(f, _, _)| f.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "every fixture is covered");
        for (file, status, want) in expected {
            let body = std::fs::read(dir.join(file)).unwrap();
            let outcome = parse_response(*status, &body);
            assert_eq!(code(&outcome), *want, "{file}: {outcome:?}");
        }
    }

    #[test]
    fn the_recorded_message_shape_with_a_graded_text_is_graded() {
        // The recorded 200 body with only its text replaced: the shape the parser accepts is
        // the shape the API sends.
        let dir = fixtures_dir();
        let recorded =
            std::fs::read(dir.join("test_anthropic_model_instructions__0_messages_200.json"))
                .unwrap();
        let mut v: Value = serde_json::from_slice(&recorded).unwrap();
        v["content"][0]["text"] =
            json!(r#"{"grade":"similar_but_divergent","rationale":"Different deadlines."}"#);
        let outcome = parse_response(200, &serde_json::to_vec(&v).unwrap());
        assert_eq!(
            outcome,
            AssessmentOutcome::Graded {
                grade: Grade::SimilarButDivergent,
                rationale: "Different deadlines.".into()
            }
        );
    }
}

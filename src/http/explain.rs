//! `POST /explain`: the same body as `/exchange`; verifies the token and returns the role's policy trace as
//! JSON. Never mints. Off unless `explain.endpoint: true` (dev mode turns it on). Only roles that trust the
//! token's issuer and audience are traced (any other answers as `/exchange` does for an unknown role); expected
//! values appear only with `explain.show_expected: true`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Query, State};
use axum::http::HeaderMap;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::exchange::{ExchangeQuery, parse_request};
use crate::broker::{Explained, FrontDoor, RequestContext};
use crate::policy::{AudienceRule, Decision, Effect, TracedValue};

#[derive(Serialize)]
pub struct ExplainResponse {
    role: String,
    issuer: String,
    issuer_trusted_by_role: bool,
    /// Whether `expected` lists hold the policy's values (`explain.show_expected`); else they are empty.
    expected_shown: bool,
    decision: &'static str,
    reason: Option<String>,
    audience: AudienceView,
    statements: Vec<StatementView>,
}

#[derive(Serialize)]
struct AudienceView {
    rule: &'static str,
    accepted: Vec<String>,
    presented: Option<ValueView>,
    passed: bool,
}

#[derive(Serialize)]
struct StatementView {
    number: usize,
    effect: &'static str,
    sid: Option<String>,
    matched: bool,
    conditions: Vec<ConditionView>,
}

#[derive(Serialize)]
struct ConditionView {
    operator: String,
    claim: String,
    expected: Vec<String>,
    actual: Option<ValueView>,
    result: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ValueView {
    One(String),
    Many(Vec<String>),
}

pub async fn explain(
    State(state): State<Arc<AppState>>,
    context: Option<Extension<RequestContext>>,
    query: Result<Query<ExchangeQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ExplainResponse>, ApiError> {
    if !state.broker.explain_config().endpoint {
        return Err(ApiError::not_found());
    }
    let mut request = parse_request(query, &headers, body)?;
    request.front_door = FrontDoor::Explain;
    request.context = context.map(|Extension(c)| c).unwrap_or_default();
    Ok(Json(to_view(state.broker.explain(request).await?)))
}

fn to_view(explained: Explained) -> ExplainResponse {
    let trace = explained.trace;
    let allowed = matches!(trace.decision, Decision::Allow { .. });
    let reason = match &trace.decision {
        Decision::Deny(explanation) => Some(explanation.to_string()),
        Decision::Allow { .. } => None,
    };
    let (rule, accepted) = match &trace.audience.rule {
        AudienceRule::OneOf(list) => ("one_of", list.clone()),
        AudienceRule::InConditions => ("in_conditions", Vec::new()),
        AudienceRule::Any => ("any", Vec::new()),
    };
    let statements = trace
        .statements
        .into_iter()
        .map(|s| StatementView {
            number: s.number,
            effect: match s.effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny",
            },
            sid: s.sid,
            matched: s.matched,
            conditions: s
                .conditions
                .into_iter()
                .map(|c| ConditionView {
                    operator: c.operator,
                    claim: c.claim,
                    expected: c.expected,
                    actual: c.actual.map(view),
                    result: c.result,
                })
                .collect(),
        })
        .collect();
    ExplainResponse {
        role: trace.role,
        issuer: explained.issuer,
        // Kept for clients of the earlier shape: only roles that trust the issuer are traced now.
        issuer_trusted_by_role: true,
        expected_shown: explained.shows_expected,
        decision: if allowed { "allow" } else { "deny" },
        reason,
        audience: AudienceView {
            rule,
            accepted,
            presented: trace.audience.presented.map(view),
            passed: trace.audience.passed,
        },
        statements,
    }
}

fn view(value: TracedValue) -> ValueView {
    match value {
        TracedValue::One(value) => ValueView::One(value),
        TracedValue::Many(values) => ValueView::Many(values),
    }
}

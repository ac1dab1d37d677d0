//! The explain trace: [`Policy::explain`] evaluates every condition of every statement (no short-circuit) and
//! records what it compared — operator as written, claim, expected values, the token's actual value (shown,
//! hashed or hidden, per [`ClaimDisplay`]) and the result — plus the audience check and the final decision, which
//! is always the one [`Policy::evaluate`] gives. Plain data with public fields for the CLI and the HTTP layer to
//! render; it is not the hot path and does not derive `Serialize`.

use aws_lc_rs::digest;
use serde_json::{Map, Value};

use crate::policy::condition::claim::canonical;
use crate::policy::eval::{AudienceRule, Effect, Policy};
use crate::policy::explain::Decision;

/// How the trace shows the token's claim values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDisplay {
    /// As they are (canonical form; JSON text for floats and objects).
    Shown,
    /// `sha256:` and the first 16 hex digits of the SHA-256 of the canonical form.
    Hashed,
    /// `<hidden>`.
    Hidden,
}

/// A whole evaluation, step by step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub role: String,
    pub audience: AudienceTrace,
    /// Every statement in file order, traced even when the audience check already denied.
    pub statements: Vec<StatementTrace>,
    /// The decision, identical to [`Policy::evaluate`]'s.
    pub decision: Decision,
}

/// The audience check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceTrace {
    pub rule: AudienceRule,
    /// The token's `aud`; `None` when missing.
    pub presented: Option<TracedValue>,
    pub passed: bool,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTrace {
    /// Numbered from 1 in file order.
    pub number: usize,
    pub effect: Effect,
    pub sid: Option<String>,
    /// True when every condition held.
    pub matched: bool,
    pub conditions: Vec<ConditionTrace>,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace {
    /// As written, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    /// The claim, without any `host:` prefix.
    pub claim: String,
    /// The policy values as written.
    pub expected: Vec<String>,
    /// The token's value; `None` when the claim is absent or null.
    pub actual: Option<TracedValue>,
    pub result: bool,
}

/// A claim value as the trace shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracedValue {
    One(String),
    /// An array claim, element by element (never under [`ClaimDisplay::Hidden`]).
    Many(Vec<String>),
}

/// What [`ClaimDisplay::Hidden`] shows.
pub const HIDDEN: &str = "<hidden>";

impl Policy {
    /// Evaluates like [`Policy::evaluate`] and records every step. Not for the hot path.
    pub fn explain(&self, claims: &Map<String, Value>, display: ClaimDisplay) -> Trace {
        let statements = self
            .numbered()
            .map(|(number, statement)| {
                let conditions: Vec<ConditionTrace> = statement
                    .conditions
                    .iter()
                    .map(|condition| ConditionTrace {
                        operator: condition.operator.written.clone(),
                        claim: condition.claim.clone(),
                        expected: condition.written_values.clone(),
                        actual: trace_value(condition.claim_value(claims), display),
                        result: condition.holds(claims),
                    })
                    .collect();
                StatementTrace {
                    number,
                    effect: statement.effect,
                    sid: statement.sid.clone(),
                    matched: conditions.iter().all(|condition| condition.result),
                    conditions,
                }
            })
            .collect();
        Trace {
            role: self.role.clone(),
            audience: AudienceTrace {
                rule: self.audience.clone(),
                presented: trace_value(claims.get("aud"), display),
                passed: self.check_audience(claims).is_ok(),
            },
            statements,
            decision: self.evaluate(claims),
        }
    }
}

fn trace_value(value: Option<&Value>, display: ClaimDisplay) -> Option<TracedValue> {
    let value = value.filter(|value| !value.is_null())?;
    if display == ClaimDisplay::Hidden {
        return Some(TracedValue::One(HIDDEN.to_owned()));
    }
    Some(match value {
        Value::Array(items) => TracedValue::Many(items.iter().map(|item| show(item, display)).collect()),
        scalar => TracedValue::One(show(scalar, display)),
    })
}

fn show(value: &Value, display: ClaimDisplay) -> String {
    let text = canonical(value).map_or_else(|| value.to_string(), |text| text.as_str().to_owned());
    match display {
        ClaimDisplay::Shown => text,
        ClaimDisplay::Hashed => hashed(&text),
        ClaimDisplay::Hidden => HIDDEN.to_owned(),
    }
}

/// `sha256:` and the first 16 hex digits of the SHA-256 of `text`.
pub(super) fn hashed(text: &str) -> String {
    let digest = digest::digest(&digest::SHA256, text.as_bytes());
    let hex = crate::text::hex(digest.as_ref().get(..8).unwrap_or_default());
    format!("sha256:{hex}")
}

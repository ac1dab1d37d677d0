//! The policy linter: warnings about policies that load but probably do not say what their author meant
//! (vacuous `ForAllValues:`, negated-only allows, literal `*` in `StringEquals`, over-broad `sub` patterns,
//! plain operators on multi-valued claims, the unpinned-tenant escape hatch, AWS-form policies that accept any
//! audience, and aws grants that share a role ARN — the one lint across policies, which the loader reports).
//! Lints never change a decision; the loader attaches the file and role, the caller logs them.

use std::fmt;

use crate::policy::condition::Condition;
use crate::policy::condition::operator::{Comparison, SetQualifier};
use crate::policy::eval::{AudienceRule, Effect, Policy, Statement};

/// One warning about a loaded policy. Displayed as `path:line: warning[code]: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub path: String,
    pub line: Option<u64>,
    pub role: String,
    /// A stable kebab-case code, one of the `*` constants of this module.
    pub code: &'static str,
    pub message: String,
}

/// A lint before the loader knows the file: line, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub(super) line: Option<u64>,
    pub(super) code: &'static str,
    pub(super) message: String,
}

pub const FOR_ALL_VALUES_WITHOUT_NULL_GUARD: &str = "for-all-values-without-null-guard";
pub const NEGATED_ONLY: &str = "negated-only";
pub const WILDCARD_IN_STRING_EQUALS: &str = "wildcard-in-string-equals";
pub const SUB_LEADING_WILDCARD: &str = "sub-leading-wildcard";
pub const SUB_SPANS_REPOSITORIES: &str = "sub-spans-repositories";
pub const PLAIN_OPERATOR_ON_ARRAY_CLAIM: &str = "plain-operator-on-array-claim";
pub const UNPINNED_TENANT: &str = "unpinned-tenant";
pub const ANY_AUDIENCE: &str = "any-audience";
pub const DUPLICATE_ROLE_ARN: &str = "duplicate-role-arn";

/// Claims known to be arrays in some CI token.
const MULTI_VALUED_CLAIMS: &[&str] = &["aud", "oidc.circleci.com/context-ids", "amr", "groups"];

impl fmt::Display for Lint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "{}:{line}: ", self.path)?,
            None => write!(formatter, "{}: ", self.path)?,
        }
        write!(formatter, "warning[{}]: {}", self.code, self.message)
    }
}

/// Every lint of a compiled policy except `unpinned-tenant` (which `tenant` reports).
pub(super) fn lint(policy: &Policy) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (number, statement) in policy.numbered() {
        if statement.effect == Effect::Allow {
            lint_allow(number, statement, &mut findings);
        }
        for condition in &statement.conditions {
            lint_condition(number, condition, &mut findings);
        }
    }
    lint_audience(policy, &mut findings);
    findings
}

fn lint_allow(number: usize, statement: &Statement, findings: &mut Vec<Finding>) {
    let conditions = &statement.conditions;
    if !conditions.is_empty() && conditions.iter().all(|condition| condition.operator.negated) {
        let claims: Vec<String> = conditions.iter().map(|condition| format!("{:?}", condition.claim)).collect();
        findings.push(Finding {
            line: statement.line,
            code: NEGATED_ONLY,
            message: format!(
                "statement {number} allows on negated conditions only: a token without {} matches it",
                claims.join(", ")
            ),
        });
    }
    for condition in conditions {
        let operator = &condition.operator;
        let guarded = conditions.iter().any(|other| other.claim == condition.claim && other.requires_presence());
        if operator.set == SetQualifier::ForAllValues && !guarded {
            findings.push(Finding {
                line: condition.line,
                code: FOR_ALL_VALUES_WITHOUT_NULL_GUARD,
                message: format!(
                    "statement {number}: {} on {:?} also holds when the claim is missing or empty; add \
                     Null: {{{}: \"false\"}} to the same statement",
                    operator.written, condition.claim, condition.claim
                ),
            });
        }
        if condition.claim == "sub" && !operator.negated {
            lint_sub(number, condition, findings);
        }
    }
}

fn lint_sub(number: usize, condition: &Condition, findings: &mut Vec<Finding>) {
    let comparison = condition.operator.comparison;
    for value in &condition.written_values {
        let leading = match comparison {
            Comparison::Like => value.starts_with('*'),
            Comparison::Matches => value.starts_with(".*") || value.starts_with(".+"),
            _ => false,
        };
        if leading {
            findings.push(Finding {
                line: condition.line,
                code: SUB_LEADING_WILDCARD,
                message: format!(
                    "statement {number}: sub pattern {value:?} starts with a wildcard and matches any repository's or \
                     project's subject"
                ),
            });
        }
        let repository_part = value.strip_prefix("repo:").map(|rest| rest.split(':').next().unwrap_or_default());
        if comparison == Comparison::Like && repository_part.is_some_and(|part| part.contains(['*', '?'])) {
            findings.push(Finding {
                line: condition.line,
                code: SUB_SPANS_REPOSITORIES,
                message: format!(
                    "statement {number}: sub pattern {value:?} has a wildcard in its repository part, so it also \
                     matches other repositories (repo:OWNER/NAME:…); pin the repository, or pin repository_id"
                ),
            });
        }
    }
}

fn lint_condition(number: usize, condition: &Condition, findings: &mut Vec<Finding>) {
    let operator = &condition.operator;
    if matches!(operator.comparison, Comparison::Equals | Comparison::EqualsIgnoreCase)
        && condition.text_values().iter().any(|value| value.written_text().contains(['*', '?']))
    {
        findings.push(Finding {
            line: condition.line,
            code: WILDCARD_IN_STRING_EQUALS,
            message: format!(
                "statement {number}: {} on {:?} compares * and ? literally; use StringLike for a pattern (or ${{*}} \
                 to say a literal * on purpose)",
                operator.written, condition.claim
            ),
        });
    }
    if operator.set == SetQualifier::Single
        && operator.comparison != Comparison::Null
        && MULTI_VALUED_CLAIMS.contains(&condition.claim.as_str())
    {
        findings.push(Finding {
            line: condition.line,
            code: PLAIN_OPERATOR_ON_ARRAY_CLAIM,
            message: format!(
                "statement {number}: {} on {:?}, which may be an array: a plain operator holds when any element \
                 matches (a negated one when none does); write ForAnyValue: or ForAllValues: to say which",
                operator.written, condition.claim
            ),
        });
    }
}

fn lint_audience(policy: &Policy, findings: &mut Vec<Finding>) {
    let mut allows = policy.numbered().filter(|(_, statement)| statement.effect == Effect::Allow);
    match policy.audience {
        AudienceRule::OneOf(_) => {}
        AudienceRule::Any => findings.push(Finding {
            line: allows.next().and_then(|(_, statement)| statement.line),
            code: ANY_AUDIENCE,
            message: "the policy has no audience: and no aud condition, so it accepts any audience the issuer \
                      accepted; add audience: or an aud condition"
                .to_owned(),
        }),
        AudienceRule::InConditions => {
            for (number, statement) in allows.filter(|(_, statement)| !statement.checks_audience()) {
                findings.push(Finding {
                    line: statement.line,
                    code: ANY_AUDIENCE,
                    message: format!(
                        "statement {number} has no aud condition, so it accepts any audience the issuer accepted"
                    ),
                });
            }
        }
    }
}

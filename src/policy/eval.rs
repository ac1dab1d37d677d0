//! The compiled [`Policy`] and its pure evaluation against a verified claim set: the audience check, then the
//! statements — explicit deny beats allow, and without a matching allow statement the answer is deny. Nothing
//! here reads files, clocks or the network, and nothing here can fail: every input gets a [`Decision`]. The
//! only allocation is the explanation of a deny.

use serde_json::{Map, Value};

use crate::policy::condition::Condition;
use crate::policy::explain::{ConditionFailure, Decision, Explanation};
use crate::policy::grant::Grant;
use crate::policy::single_use::ReplayRule;

/// One role's trust policy, compiled. Built only by `compile` from a policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(super) role: String,
    pub(super) description: Option<String>,
    pub(super) issuers: Vec<String>,
    pub(super) audience: AudienceRule,
    pub(super) statements: Vec<Statement>,
    pub(super) grant: Grant,
    pub(super) replay: ReplayRule,
    /// The file it came from and the SHA-256 (hex) of its text, for operators (set by the loader).
    pub(super) source: PolicySource,
}

/// Where a compiled policy came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySource {
    pub path: String,
    pub sha256: String,
}

/// How a policy checks the token's `aud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceRule {
    /// `audience:` listed: some `aud` value must be one of these; checked before any statement.
    OneOf(Vec<String>),
    /// AWS form without `audience:`: the statements' own `aud` conditions decide, as in AWS.
    InConditions,
    /// AWS form with no `aud` condition at all: any audience the issuer-level check accepted (linted).
    Any,
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement: all its conditions must hold for it to match. No conditions: it matches everything
/// (only deny statements may be written so).
#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub(super) effect: Effect,
    pub(super) sid: Option<String>,
    /// The source line of the statement, when known.
    pub(super) line: Option<u64>,
    pub(super) conditions: Vec<Condition>,
}

impl Policy {
    /// Every claim the policy reads: the claims its conditions test or name in variables, and those its grant
    /// copies or renders.
    pub fn claim_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for statement in &self.statements {
            statement.conditions.iter().for_each(|condition| condition.claim_names(&mut names));
        }
        self.grant.claim_names(&mut names);
        names
    }

    /// The role name, unique in a policy set.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The file and the hash of its text.
    pub fn source(&self) -> &PolicySource {
        &self.source
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Names of the trusted issuers whose tokens may use this role; never empty.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// Whether, and how, a token may be exchanged for this role more than once.
    pub fn replay(&self) -> ReplayRule {
        self.replay
    }

    pub fn accepts_issuer(&self, issuer_name: &str) -> bool {
        self.issuers.iter().any(|issuer| issuer == issuer_name)
    }

    /// How the policy checks `aud`.
    pub fn audience_rule(&self) -> &AudienceRule {
        &self.audience
    }

    /// The listed accepted `aud` values; empty unless the rule is [`AudienceRule::OneOf`].
    pub fn audiences(&self) -> &[String] {
        match &self.audience {
            AudienceRule::OneOf(audiences) => audiences,
            AudienceRule::InConditions | AudienceRule::Any => &[],
        }
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Pure; `claims` is the verified token's full claim set (JSON object).
    pub fn evaluate(&self, claims: &Map<String, Value>) -> Decision {
        if let Err(presented) = self.check_audience(claims) {
            return Decision::Deny(Explanation::audience(&self.role, presented));
        }
        if let Some(number) = self.matching_deny(claims) {
            return Decision::Deny(Explanation::explicit_deny(&self.role, number));
        }
        let allows = || self.numbered().filter(|(_, statement)| statement.effect == Effect::Allow);
        if let Some((number, _)) = allows().find(|(_, statement)| statement.first_failure(claims).is_none()) {
            return Decision::Allow { statement: number };
        }
        // Only a deny allocates: the first failed condition of each allow statement, for the explanation.
        let failures = allows()
            .filter_map(|(number, statement)| {
                statement.first_failure(claims).map(|failed| ConditionFailure {
                    statement: number,
                    operator: failed.operator.written.clone(),
                    claim: failed.claim.clone(),
                })
            })
            .collect();
        Decision::Deny(Explanation::no_allow_matched(&self.role, failures))
    }

    /// Statements numbered from 1, in file order.
    pub(super) fn numbered(&self) -> impl Iterator<Item = (usize, &Statement)> {
        (1..).zip(&self.statements)
    }

    /// The number of the first deny statement that matches.
    fn matching_deny(&self, claims: &Map<String, Value>) -> Option<usize> {
        self.numbered()
            .find(|(_, statement)| statement.effect == Effect::Deny && statement.first_failure(claims).is_none())
            .map(|(number, _)| number)
    }

    /// Ok when the rule accepts the token's `aud` (string or array of strings); else the values presented.
    pub(super) fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), Vec<String>> {
        let AudienceRule::OneOf(accepted) = &self.audience else {
            return Ok(());
        };
        let values: &[Value] = match claims.get("aud") {
            Some(single @ Value::String(_)) => std::slice::from_ref(single),
            Some(Value::Array(items)) => items,
            _ => &[],
        };
        let presented = values.iter().filter_map(Value::as_str);
        if presented.clone().any(|audience| accepted.iter().any(|one| one == audience)) {
            Ok(())
        } else {
            Err(presented.map(str::to_owned).collect())
        }
    }
}

impl Statement {
    /// The first condition that does not hold, or `None` when the statement matches.
    pub(super) fn first_failure(&self, claims: &Map<String, Value>) -> Option<&Condition> {
        self.conditions.iter().find(|condition| !condition.holds(claims))
    }

    /// True when the statement has a positive, non-`IfExists` condition on `aud`.
    pub(super) fn checks_audience(&self) -> bool {
        self.conditions
            .iter()
            .any(|condition| condition.claim == "aud" && !condition.operator.negated && !condition.operator.if_exists)
    }
}

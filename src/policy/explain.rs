//! The outcome of evaluating a policy: [`Decision`], and for a deny the [`Explanation`] of why — the reason,
//! and for "nothing allowed" the first condition that failed in each allow statement. Statements are numbered
//! from 1 in the order written in the file. This module only describes decisions; it does not make them.

use std::fmt;

/// The result of [`Policy::evaluate`](crate::policy::Policy::evaluate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by this statement (numbered from 1), and no deny statement matched.
    Allow { statement: usize },
    /// Denied, with the reason.
    Deny(Explanation),
}

/// Why a policy denied an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    reason: DenyReason,
    role: String,
    /// For [`DenyReason::Audience`]: the audiences the token presented (at most a few, for display).
    presented_audiences: Vec<String>,
    /// For [`DenyReason::NoAllowMatched`]: the first failed condition of each allow statement.
    failures: Vec<ConditionFailure>,
}

/// The kind of deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The token's `aud` is not among the role's accepted audiences.
    Audience,
    /// No allow statement matched (default deny).
    NoAllowMatched,
    /// A deny statement (numbered from 1) matched; explicit deny beats allow.
    ExplicitDeny { statement: usize },
}

/// The first condition that failed in one allow statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionFailure {
    /// The statement, numbered from 1.
    pub statement: usize,
    /// The operator as written, e.g. `StringLike`.
    pub operator: String,
    /// The claim the condition tests.
    pub claim: String,
}

/// How many presented audiences an explanation keeps.
const SHOWN_AUDIENCES: usize = 5;

impl Explanation {
    /// The kind of deny.
    pub fn reason(&self) -> DenyReason {
        self.reason
    }

    /// For a default deny, the first failed condition of the first allow statement.
    pub fn first_failure(&self) -> Option<&ConditionFailure> {
        self.failures.first()
    }

    /// Every allow statement's first failed condition, in statement order.
    pub fn failures(&self) -> &[ConditionFailure] {
        &self.failures
    }

    pub(super) fn audience(role: &str, presented: Vec<String>) -> Explanation {
        Explanation {
            reason: DenyReason::Audience,
            role: role.to_owned(),
            presented_audiences: presented.into_iter().take(SHOWN_AUDIENCES + 1).collect(),
            failures: Vec::new(),
        }
    }

    pub(super) fn explicit_deny(role: &str, statement: usize) -> Explanation {
        Explanation {
            reason: DenyReason::ExplicitDeny { statement },
            role: role.to_owned(),
            presented_audiences: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub(super) fn no_allow_matched(role: &str, failures: Vec<ConditionFailure>) -> Explanation {
        Explanation {
            reason: DenyReason::NoAllowMatched,
            role: role.to_owned(),
            presented_audiences: Vec::new(),
            failures,
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            DenyReason::Audience => self.fmt_audience(formatter),
            DenyReason::ExplicitDeny { statement } => {
                write!(formatter, "statement {statement} (deny) matched")
            }
            DenyReason::NoAllowMatched => {
                formatter.write_str("no statement allows: ")?;
                for (index, failure) in self.failures.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str("; ")?;
                    }
                    write!(formatter, "statement {}: {failure}", failure.statement)?;
                }
                Ok(())
            }
        }
    }
}

impl Explanation {
    fn fmt_audience(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = &self.role;
        match self.presented_audiences.as_slice() {
            [] => write!(formatter, "the token has no audience, and role {role} needs one"),
            [one] => write!(formatter, "audience {one:?} is not accepted by role {role}"),
            many => {
                formatter.write_str("audiences ")?;
                for (index, audience) in many.iter().take(SHOWN_AUDIENCES).enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    write!(formatter, "{audience:?}")?;
                }
                if many.len() > SHOWN_AUDIENCES {
                    formatter.write_str(", …")?;
                }
                write!(formatter, " are not accepted by role {role}")
            }
        }
    }
}

impl fmt::Display for ConditionFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "condition {} on {:?} did not match", self.operator, self.claim)
    }
}

//! Trust policies: one role per file, compiled once at load into a [`PolicySet`] and evaluated purely against a
//! verified token's claims.
//!
//! A policy names its trusted issuers, the inbound audiences it accepts, allow/deny statements with AWS IAM
//! condition blocks over every claim of the token, and the [`Grant`] an allowed exchange receives. A file is
//! either in Tollgate's form (`issuer`, `audience`, `statements`) or an AWS trust policy pasted verbatim
//! (`Version`, `Statement` with `Principal.Federated`, `Action`, `Condition`), beside Tollgate's `role` and
//! `grant`. Explicit deny beats allow; otherwise deny. A policy on a shared issuer must pin the tenant in every
//! allow statement or it does not load.
//!
//! Flow: `load` (files, all-or-nothing) → `raw`/`raw_scalar` (serde shape, with source lines) → `compile` (the
//! only constructor of [`Policy`]; `aws` for the pasted form, `tenant` for pinning, `lint` for warnings) →
//! `eval` (pure) → `explain` (the [`Decision`]) and `trace` (the step-by-step [`Trace`]). Conditions: `operator`
//! parses names, `condition` compiles and matches, `value` holds string values with `${claim}` variables,
//! `wildcard` the `StringLike` matcher, `claim` canonical claim values, numbers and instants, `issuer` what is
//! known of the configured issuers. `grant` (a broker token), `aws_grant` (an STS role session, within
//! `aws_limits`) and `template` are what an allowed exchange gets; `raw_grant` is the grant block's raw shape;
//! `testing` runs
//! `*.test.yaml` cases through [`PolicySet::evaluate_case`], the path the broker uses.
//!
//! This module is pure apart from reading policy and test files in `load` and `testing`: no HTTP, no clock, no
//! network, and nothing else of the crate. Raw types stay private; only compiled types are public, and none
//! derives `Serialize`.

mod aws;
mod aws_grant;
mod aws_limits;
mod claim;
mod compile;
mod condition;
mod eval;
mod explain;
mod grant;
mod issuer;
pub mod lint;
mod load;
mod operator;
mod raw;
mod raw_grant;
mod raw_scalar;
mod replay;
mod template;
mod tenant;
pub mod testing;
mod trace;
mod value;
mod wildcard;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

pub use aws_grant::{AwsGrant, AwsMode, SessionTags};
pub use eval::{AudienceRule, Effect, Policy, PolicySource};
pub use explain::{ConditionFailure, Decision, DenyReason, Explanation};
pub use grant::{Grant, TokenGrant};
pub use issuer::KnownIssuer;
pub use lint::Lint;
pub use replay::{OnStoreError, ReplayRule, SingleUse};
pub use template::RenderError;
pub use trace::{AudienceTrace, ClaimDisplay, ConditionTrace, HIDDEN, StatementTrace, Trace, TracedValue};
pub use wildcard::Pattern;

/// Every loaded policy, by role and by the role ARN of its aws grant, and the linter's warnings on them. Lookup
/// cost does not depend on the number of roles.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    by_role: HashMap<String, Arc<Policy>>,
    by_role_arn: HashMap<String, Arc<Policy>>,
    lints: Vec<Lint>,
}

/// The outcome of one exchange request against a policy set: the broker's decision path.
#[derive(Debug, Clone)]
pub enum CaseOutcome<'a> {
    /// The role allows the token, by this statement (numbered from 1).
    Allow { policy: &'a Arc<Policy>, statement: usize },
    /// No policy defines the role.
    UnknownRole,
    /// The role does not trust the token's issuer.
    IssuerNotTrusted { policy: &'a Arc<Policy> },
    /// The role's policy denied the token.
    Deny { policy: &'a Arc<Policy>, explanation: Explanation },
}

/// Why a policy set did not load. Displayed as `path:line: reason` when the line is known, else `path: reason`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The directory or a file in it could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML, does not have the policy's shape, or breaks a rule of the language.
    #[error("{}: {message}", SourceLine(.path, *.line))]
    InvalidPolicy { path: String, line: Option<u64>, message: String },
    /// A policy names an issuer that is not configured as trusted.
    #[error("{}: role {role} names issuer {issuer:?}, which is not a configured trusted issuer", SourceLine(.path, *.line))]
    UnknownIssuer { path: String, line: Option<u64>, role: String, issuer: String },
    /// An allow statement of a policy on a shared issuer does not pin the tenant.
    #[error(
        "{}: role {role}: allow statement {statement} does not pin the tenant of a shared issuer: {} with a \
         StringEquals on fixed values (or set allow_unpinned_tenant: true)",
        SourceLine(.path, *.line),
        tenant::pin_hint(.claims)
    )]
    UnpinnedTenant { path: String, line: Option<u64>, role: String, statement: usize, claims: Vec<String> },
    /// Two files define the same role.
    #[error("role {role} is defined twice: in {first} and in {second}")]
    DuplicateRole { role: String, first: String, second: String },
}

/// Formats `path:line` or just `path`.
struct SourceLine<'a>(&'a str, Option<u64>);

impl PolicySet {
    /// Loads every policy file in `dir`, all-or-nothing. `known_issuers` are the configured trusted issuers: a
    /// policy naming another issuer fails to load, and one on a shared issuer must pin the tenant. Duplicate
    /// role names fail (naming both files). Policy files are `*.yaml`, `*.yml` and `*.json`; test-case files
    /// (`*.test.yaml`, `*.test.yml`, `*.test.json`) and hidden files are skipped.
    pub fn load_dir(dir: &Path, known_issuers: &[KnownIssuer]) -> Result<PolicySet, PolicyError> {
        load::load_dir(dir, known_issuers)
    }

    /// Same from in-memory (file name, text) pairs — used by tests and benches.
    pub fn from_sources(sources: &[(String, String)], known_issuers: &[KnownIssuer]) -> Result<PolicySet, PolicyError> {
        load::from_sources(sources, known_issuers)
    }

    pub fn get(&self, role: &str) -> Option<&Arc<Policy>> {
        self.by_role.get(role)
    }

    /// The policy whose aws grant has exactly this role ARN (the first in role-name order if several do; the
    /// others are linted `duplicate-role-arn`). Used by the STS-compatible endpoint.
    pub fn by_role_arn(&self, role_arn: &str) -> Option<&Arc<Policy>> {
        self.by_role_arn.get(role_arn)
    }

    pub fn len(&self) -> usize {
        self.by_role.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_role.is_empty()
    }

    /// Role names, in no particular order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.by_role.keys().map(String::as_str)
    }

    /// The linter's warnings on the loaded policies, in file order, then `duplicate-role-arn` in role order; the
    /// caller logs them.
    pub fn lints(&self) -> &[Lint] {
        &self.lints
    }

    /// The same as [`PolicySet::lints`].
    pub fn warnings(&self) -> &[Lint] {
        &self.lints
    }

    /// The broker's decision path for one request: role lookup (a missing role denies), the role's trusted
    /// issuers (`issuer_name` is the configured name of the token's verified issuer), then
    /// [`Policy::evaluate`]. `policy::testing` runs its cases through this too.
    pub fn evaluate_case(&self, role: &str, issuer_name: &str, claims: &Map<String, Value>) -> CaseOutcome<'_> {
        let Some(policy) = self.get(role) else {
            return CaseOutcome::UnknownRole;
        };
        if !policy.accepts_issuer(issuer_name) {
            return CaseOutcome::IssuerNotTrusted { policy };
        }
        match policy.evaluate(claims) {
            Decision::Allow { statement } => CaseOutcome::Allow { policy, statement },
            Decision::Deny(explanation) => CaseOutcome::Deny { policy, explanation },
        }
    }
}

impl CaseOutcome<'_> {
    pub fn is_allow(&self) -> bool {
        matches!(self, CaseOutcome::Allow { .. })
    }
}

impl fmt::Display for CaseOutcome<'_> {
    /// `allowed by statement N`, or why not (the deny explanation's text for a policy deny).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseOutcome::Allow { statement, .. } => {
                write!(formatter, "allowed by statement {statement}")
            }
            CaseOutcome::UnknownRole => formatter.write_str("no policy defines the role"),
            CaseOutcome::IssuerNotTrusted { policy } => write!(
                formatter,
                "role {} does not trust the issuer (it trusts {})",
                policy.role(),
                policy.issuers().join(", ")
            ),
            CaseOutcome::Deny { explanation, .. } => write!(formatter, "{explanation}"),
        }
    }
}

impl fmt::Display for SourceLine<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(line) => write!(formatter, "{}:{line}", self.0),
            None => formatter.write_str(self.0),
        }
    }
}

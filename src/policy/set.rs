//! [`PolicySet`]: every loaded policy by role and by the role ARN of its aws grant, with the linter's warnings,
//! and the broker's decision path over it ([`PolicySet::evaluate_case`] → [`CaseOutcome`]). `load` builds it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::policy::eval::Policy;
use crate::policy::explain::{Decision, Explanation};
use crate::policy::grant::Grant;
use crate::policy::lint::Lint;

/// Every loaded policy, by role and by the role ARN of its aws grant, and the linter's warnings on them. Lookup
/// cost does not depend on the number of roles.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub(super) by_role: HashMap<String, Arc<Policy>>,
    pub(super) by_role_arn: HashMap<String, Arc<Policy>>,
    pub(super) lints: Vec<Lint>,
    /// Every claim some policy reads, in ASCII lower case (see [`PolicySet::references`]).
    pub(super) referenced: BTreeSet<String>,
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

impl PolicySet {
    pub fn get(&self, role: &str) -> Option<&Arc<Policy>> {
        self.by_role.get(role)
    }

    /// The policy whose aws grant has exactly this role ARN (the first in role-name order if several do; the
    /// others are linted `duplicate-role-arn`). Used by the STS-compatible endpoint.
    pub fn by_role_arn(&self, role_arn: &str) -> Option<&Arc<Policy>> {
        self.by_role_arn.get(role_arn)
    }

    /// The role an STS `RoleArn` names, and whether its grant is an aws grant: the policy whose aws grant has
    /// exactly this ARN, or, for Tollgate's own token grants, `arn:<partition>:iam::<12 digits>:role/<role name>`.
    pub fn role_for_arn(&self, role_arn: &str) -> Option<(String, bool)> {
        if let Some(policy) = self.by_role_arn(role_arn) {
            return Some((policy.role().to_owned(), true));
        }
        let name = token_role_name(role_arn)?;
        self.get(name).filter(|p| matches!(p.grant(), Grant::Token(_))).map(|p| (p.role().to_owned(), false))
    }

    /// SHA-256 (hex) over every role and the SHA-256 of its file, in role order: names one exact set (what
    /// `promote` may be asked to expect).
    pub fn fingerprint(&self) -> String {
        let mut roles: Vec<(&String, &Arc<Policy>)> = self.by_role.iter().collect();
        roles.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::new();
        for (role, policy) in roles {
            text.push_str(role);
            text.push('\0');
            text.push_str(&policy.source().sha256);
            text.push('\n');
        }
        crate::text::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref())
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

    /// Whether some policy reads the claim `name` (in a condition, a variable or its grant). Compared in ASCII
    /// lower case, as the pasted AWS form names claims: at worst a claim differing only in case also counts.
    pub fn references(&self, name: &str) -> bool {
        if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
            self.referenced.contains(&name.to_ascii_lowercase())
        } else {
            self.referenced.contains(name)
        }
    }

    /// Every claim some policy reads (ASCII lower case), sorted.
    pub fn referenced_claims(&self) -> impl Iterator<Item = &str> {
        self.referenced.iter().map(String::as_str)
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

/// The role name of `arn:aws|aws-cn|aws-us-gov:iam::<12 digits>:role/<name>` (no path).
fn token_role_name(role_arn: &str) -> Option<&str> {
    let rest =
        ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"].iter().find_map(|p| role_arn.strip_prefix(p))?;
    let (account, name) = rest.split_once(":role/")?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() && name.chars().all(plain))
        .then_some(name)
}

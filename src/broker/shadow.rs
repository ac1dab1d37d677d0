//! Shadow evaluation: a candidate policy set (`shadow.policies`) evaluated beside the live one on every
//! exchange decision of every front door. It never changes an answer: the comparison only travels to the sinks
//! with the decision, where the audit log writes a `shadow_disagreement` line and the metrics count it.
//!
//! What is compared is the policy's verdict for the role and the verified token (`PolicySet::evaluate_case`),
//! the part of a decision a policy change can move. What follows it (bindings, revocations, single use, the
//! grant) is the same code for both sets. Requests refused before the policy (an invalid token, a rate limit)
//! are not compared: no policy saw them.

use std::sync::Arc;

use super::{Broker, ExchangeRequest, Outcome};
use crate::policy::{CaseOutcome, PolicySet};
use crate::verify::VerifiedToken;

/// The live and the candidate verdicts of one decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowComparison {
    pub live: Outcome,
    pub candidate: Outcome,
    /// The role the candidate set evaluated when it differs from the live one's (an STS `RoleArn` the candidate
    /// maps to another role).
    pub candidate_role: Option<String>,
    /// Whether the role names a policy of either set (metrics label other roles `other`).
    pub role_known: bool,
    /// Why the candidate decided as it did: `allowed by statement N`, or its failing condition or reason.
    pub candidate_detail: String,
}

impl ShadowComparison {
    /// True when the candidate set would have answered differently.
    pub fn disagrees(&self) -> bool {
        self.live != self.candidate
    }
}

impl Broker {
    /// Sets a candidate policy set at start.
    pub fn with_shadow(self, candidate: PolicySet) -> Self {
        self.shadow.store(Some(Arc::new(candidate)));
        self
    }

    /// The candidate set, when one is loaded.
    pub fn shadow_policies(&self) -> Option<Arc<PolicySet>> {
        self.shadow.load_full()
    }

    /// Replaces the candidate set at once (requests in flight keep theirs).
    pub fn replace_shadow(&self, candidate: PolicySet) {
        self.replace_shadow_with(Arc::new(candidate));
    }

    /// The same with a shared set (a promotion puts the former live set here).
    pub fn replace_shadow_with(&self, candidate: Arc<PolicySet>) {
        self.shadow.store(Some(candidate));
    }

    /// Both verdicts for the request's role under `live_set` (the set deciding this request) and the candidate
    /// set; `None` without a candidate set. An STS `RoleArn` is resolved in each set. Pure and cheap: lookups and
    /// two evaluations of compiled policies; the candidate's detail is formatted only when it disagrees.
    pub(super) fn compare_shadow(
        &self,
        live_set: &PolicySet,
        request: &ExchangeRequest,
        verified: &VerifiedToken,
    ) -> Option<ShadowComparison> {
        let candidate_set = self.shadow.load();
        let candidate_set = candidate_set.as_ref()?;
        let role = request.role.as_str();
        // The STS door names its role by ARN: under the candidate, the ARN resolves there, or to no role at all.
        let resolved = request
            .role_arn
            .as_deref()
            .map(|arn| candidate_set.role_for_arn(arn).map_or_else(|| crate::text::shorten(arn), |(name, _)| name));
        let candidate_role = resolved.filter(|resolved| resolved != role);
        let issuer = verified.issuer_name();
        let live = live_set.evaluate_case(role, issuer, verified.claims());
        let candidate =
            candidate_set.evaluate_case(candidate_role.as_deref().unwrap_or(role), issuer, verified.claims());
        let (live_outcome, candidate_outcome) = (verdict(&live), verdict(&candidate));
        let role_known = live_set.get(role).is_some() || candidate_set.get(role).is_some();
        let candidate_detail = if live_outcome == candidate_outcome { String::new() } else { candidate.to_string() };
        Some(ShadowComparison {
            live: live_outcome,
            candidate: candidate_outcome,
            candidate_role,
            role_known,
            candidate_detail,
        })
    }
}

fn verdict(outcome: &CaseOutcome<'_>) -> Outcome {
    if outcome.is_allow() { Outcome::Allow } else { Outcome::Deny }
}

//! `Broker::explain`: a role's policy traced over a verified token's claims, condition by condition. Never
//! mints. It answers only for a role that trusts the token's issuer and accepts its audience (any other role,
//! known or not, gets the same `RoleUnavailable` as `/exchange`), counts against the per-issuer limits, and
//! every call is one decision for the sinks (front door `explain`).

use super::{Broker, BrokerError, ExchangeRequest, Observed};
use crate::clock::Stopwatch;
use crate::policy::{AudienceRule, Decision, Trace};

/// A full explanation of one request, without minting anything.
#[derive(Debug)]
pub struct Explained {
    pub role: String,
    /// The configured name of the issuer that vouched for the token.
    pub issuer: String,
    pub trace: Trace,
    /// Whether the trace keeps each condition's expected values (`explain.show_expected`).
    pub shows_expected: bool,
}

impl Broker {
    /// Verifies the token and traces the role's policy over its claims. Never mints.
    pub async fn explain(&self, request: ExchangeRequest) -> Result<Explained, BrokerError> {
        let now = self.clock.now();
        let observed = Observed {
            front_door: request.front_door,
            context: &request.context,
            role: &request.role,
            role_arn: None,
            now,
            stopwatch: Stopwatch::start(),
            shadow: None,
            policy: None,
        };
        let client = request.context.client_addr.as_deref();
        let verified = match self.identify(&request, now, client).await {
            Ok(verified) => verified,
            Err(error) => {
                self.observe(&observed, None, Err(&error));
                return Err(error);
            }
        };
        let traced = match self.check_issuer_limits(&verified).await {
            Ok(()) => self.trace(&request.role, verified.issuer_name(), verified.claims()),
            Err(error) => Err(error),
        };
        let trace = match traced {
            Ok(trace) => trace,
            Err(error) => {
                self.observe(&observed, Some(&verified), Err(&error));
                return Err(self.redact(error));
            }
        };
        let allowed = matches!(trace.decision, Decision::Allow { .. });
        self.observe_explained(&observed, &verified, allowed);
        Ok(Explained {
            role: request.role.clone(),
            issuer: verified.issuer_name().to_owned(),
            trace,
            shows_expected: self.explain.show_expected,
        })
    }

    /// The trace of a role that trusts `issuer` and accepts the token's audience; else why not.
    fn trace(
        &self,
        role: &str,
        issuer: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Trace, BrokerError> {
        let policies = self.policies();
        let policy = policies.get(role).ok_or_else(|| BrokerError::UnknownRole(role.to_owned()))?;
        if !policy.accepts_issuer(issuer) {
            return Err(BrokerError::IssuerNotTrustedByRole { role: role.to_owned(), issuer: issuer.to_owned() });
        }
        let mut trace = policy.explain(claims, self.explain.claim_display);
        if !trace.audience.passed {
            // Told as an unknown role: its conditions are not this caller's business.
            return Err(BrokerError::AudienceNotAcceptedByRole(role.to_owned()));
        }
        if !self.explain.show_expected {
            if let AudienceRule::OneOf(accepted) = &mut trace.audience.rule {
                accepted.clear();
            }
            for condition in trace.statements.iter_mut().flat_map(|statement| statement.conditions.iter_mut()) {
                condition.expected.clear();
            }
        }
        Ok(trace)
    }
}

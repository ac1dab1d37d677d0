//! Telling the sinks (audit, metrics) about each decision: one `DecisionEvent` per exchange or explain, built
//! only when a sink is attached. Holds no token: a credential appears as its SHA-256.

use super::{
    Broker, BrokerError, ClaimsSeen, Credential, DecisionEvent, Exchanged, Observed, Outcome, Reason, credential_digest,
};
use crate::clock::UnixTime;
use crate::verify::VerifiedToken;

/// How one decision ended, as the sinks see it.
struct Verdict {
    outcome: Outcome,
    reason: Reason,
    detail: String,
    credential_sha256: Option<String>,
    expires_at: Option<UnixTime>,
}

impl Broker {
    /// Tells every sink about one exchange decision.
    pub(super) fn observe(
        &self,
        seen: &Observed<'_>,
        verified: Option<&VerifiedToken>,
        result: Result<&Exchanged, &BrokerError>,
    ) {
        if self.sinks.is_empty() {
            return;
        }
        let verdict = match result {
            Ok(exchanged) => Verdict {
                outcome: Outcome::Allow,
                reason: Reason::Allowed,
                detail: format!("statement {}", exchanged.allowed_by),
                credential_sha256: Some(match &exchanged.credential {
                    Credential::Token { access_token, .. } => credential_digest(access_token),
                    Credential::Aws(aws) => credential_digest(&aws.session_token),
                }),
                expires_at: Some(exchanged.expires_at),
            },
            Err(error) => {
                let (outcome, reason) = Reason::of(error);
                Verdict { outcome, reason, detail: error.to_string(), credential_sha256: None, expires_at: None }
            }
        };
        self.record(seen, verified, verdict);
    }

    /// Tells every sink about one explained decision (nothing was minted).
    pub(super) fn observe_explained(&self, seen: &Observed<'_>, verified: &VerifiedToken, allowed: bool) {
        if self.sinks.is_empty() {
            return;
        }
        let (outcome, reason) =
            if allowed { (Outcome::Allow, Reason::Allowed) } else { (Outcome::Deny, Reason::PolicyDenied) };
        let detail = "explained; nothing minted".to_owned();
        self.record(
            seen,
            Some(verified),
            Verdict { outcome, reason, detail, credential_sha256: None, expires_at: None },
        );
    }

    fn record(&self, seen: &Observed<'_>, verified: Option<&VerifiedToken>, verdict: Verdict) {
        let (live, candidate) = (self.policies.load(), self.shadow.load());
        let claims = verified.map(|verified| ClaimsSeen::new(verified.claims(), &live, candidate.as_deref()));
        let event = DecisionEvent {
            time: seen.now,
            front_door: seen.front_door,
            context: seen.context,
            issuer: verified.map(VerifiedToken::issuer_name),
            sub: verified.map(VerifiedToken::sub),
            inbound_jti: verified.and_then(VerifiedToken::jti),
            role: seen.role,
            role_arn: seen.role_arn,
            role_known: live.get(seen.role).is_some(),
            outcome: verdict.outcome,
            reason: verdict.reason,
            detail: verdict.detail,
            credential_sha256: verdict.credential_sha256,
            expires_at: verdict.expires_at,
            duration: seen.stopwatch.elapsed(),
            shadow: seen.shadow,
            policy: seen.policy,
            claims,
        };
        for sink in &self.sinks {
            sink.record(&event);
        }
    }
}

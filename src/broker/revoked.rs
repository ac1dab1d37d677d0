//! Revocations on the exchange path: once a role's policy allowed a token, the replica's in-memory view is
//! asked whether a revocation hits it (its inbound `jti`, its identity, its signing key, or the role). A hit is
//! a denial (`access_denied`, reason `revoked`); a view older than its bound fails closed (503), since a
//! revocation made meanwhile could be missed — unless the role's policy says `on_store_error: allow`, which
//! then also covers revocations (logged on every such exchange). The database is never on this path.

use std::sync::Arc;

use super::{Broker, BrokerError};
use crate::clock::UnixTime;
use crate::policy::{OnStoreError, Policy};
use crate::revocation::{InboundQuery, RevocationView, Revoked};
use crate::verify::VerifiedToken;

impl Broker {
    /// Checks every exchange against `view` (kept fresh by the caller's background refresh).
    pub fn with_revocations(mut self, view: Arc<RevocationView>) -> Self {
        self.revocations = Some(view);
        self
    }

    /// The revocation view, for the refresher and metrics.
    pub fn revocations(&self) -> Option<&Arc<RevocationView>> {
        self.revocations.as_ref()
    }

    pub(super) fn check_revocations(
        &self,
        policy: &Policy,
        verified: &VerifiedToken,
        now: UnixTime,
    ) -> Result<(), BrokerError> {
        let role = policy.role();
        let Some(view) = &self.revocations else {
            return Ok(());
        };
        let query = InboundQuery {
            issuer: verified.issuer_name(),
            jti: verified.jti(),
            kid: verified.kid(),
            claims: verified.claims(),
            role,
        };
        match view.check_inbound(&query, now) {
            Ok(()) => Ok(()),
            Err(Revoked::Hit { id, kind }) => Err(BrokerError::Revoked { role: role.to_owned(), id, kind }),
            Err(Revoked::Stale { age_secs }) if policy.replay().on_store_error == OnStoreError::Allow => {
                tracing::warn!(role = ?role, age_secs, "The revocation view is stale; exchanged without checking it (on_store_error: allow).");
                Ok(())
            }
            Err(Revoked::Stale { age_secs }) => {
                tracing::error!(role = ?role, age_secs, "The revocation view is stale; exchange refused.");
                Err(BrokerError::RevocationsUnavailable { role: role.to_owned(), age_secs })
            }
        }
    }
}

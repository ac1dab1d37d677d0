//! Single use of CI tokens. For a token grant, after the role's policy allowed a token and its credential was
//! minted, the use is claimed in the store (`(iss, jti, scope)` until the token can no longer verify); only the
//! first claim gets its credential, any other answers "token already used"; a credential minted for a losing
//! claim is dropped. For an aws grant, whose credential comes from an upstream call that cannot be undone, the
//! claim is made first as a short *pending* one (`PENDING_SECS`), promoted to the full term once STS answered,
//! and released when it failed, so a failed attempt (the SDKs and configure-aws-credentials retry) never uses
//! the token up. Either way a jti counts as used only once an exchange succeeded. When the store cannot
//! answer, the role's `on_store_error` decides: deny (503, the default) or allow (logged).

use super::{Broker, BrokerError, ExchangeRequest, FrontDoor};
use crate::clock::UnixTime;
use crate::policy::{OnStoreError, Policy, SingleUse};
use crate::store::{Claim, JtiKey};
use crate::verify::VerifiedToken;

/// How long past `exp` a claim is kept: more than the largest leeway (600 s) with which the token could still
/// verify, so the record always outlives the token.
const KEEP_PAST_EXP_SECS: i64 = 660;

/// How long a pending claim (an aws grant's upstream call in flight) holds before it lapses by itself, should
/// the process die before promoting or releasing it: longer than any STS call's deadline.
const PENDING_SECS: i64 = 180;

/// The longest `jti` a single-use role records (real issuers send UUIDs or shorter).
const MAX_JTI_BYTES: usize = 256;

/// How long a readiness probe waits for the store.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl Broker {
    /// The state store, when one is configured.
    pub fn store(&self) -> Option<&crate::store::Store> {
        self.store.as_ref()
    }

    /// For `/readyz`: whether the store answers, when a loaded policy records uses (`None` when none does).
    pub async fn store_ready(&self) -> Option<bool> {
        let policies = self.policies();
        let needed = policies
            .roles()
            .filter_map(|role| policies.get(role))
            .any(|policy| policy.replay().single_use != SingleUse::Off);
        if !needed {
            return None;
        }
        let Some(store) = &self.store else {
            return Some(false);
        };
        let answered = tokio::time::timeout(READY_TIMEOUT, store.check()).await;
        Some(matches!(answered, Ok(Ok(_))))
    }

    /// The scope this exchange's use will be recorded under, checked before anything is issued: a single-use
    /// role needs a `jti`.
    pub(super) fn use_scope(
        &self,
        policy: &Policy,
        verified: &VerifiedToken,
        request: &ExchangeRequest,
    ) -> Result<Option<String>, BrokerError> {
        let Some(scope) = policy.replay().scope(&request.role, request.front_door == FrontDoor::Sts) else {
            return Ok(None);
        };
        // A jti the store could not hold (or that could fail a claim group) is refused like a missing one.
        if verified.jti().is_none_or(|jti| jti.is_empty() || jti.len() > MAX_JTI_BYTES || jti.contains('\0')) {
            return Err(BrokerError::JtiRequired { role: request.role.clone() });
        }
        Ok(Some(scope))
    }

    /// Claims the use until the token can no longer verify; `Err` when it was used before, or when the store
    /// failed and the role fails closed.
    pub(super) async fn claim_use(
        &self,
        policy: &Policy,
        verified: &VerifiedToken,
        scope: &str,
        now: UnixTime,
    ) -> Result<(), BrokerError> {
        self.claim_until(policy, verified, scope, verified.exp().plus_secs(KEEP_PAST_EXP_SECS), now).await
    }

    /// Claims the use for `PENDING_SECS` only, before an upstream call.
    pub(super) async fn claim_pending(
        &self,
        policy: &Policy,
        verified: &VerifiedToken,
        scope: &str,
        now: UnixTime,
    ) -> Result<(), BrokerError> {
        self.claim_until(policy, verified, scope, now.plus_secs(PENDING_SECS), now).await
    }

    /// After the upstream call: on success the pending claim is kept for the full term (a store failure here
    /// fails the exchange closed: the credential is dropped rather than leave a claim that lapses early); on
    /// failure it is released, so the token may be tried again.
    pub(super) async fn settle_pending(
        &self,
        policy: &Policy,
        verified: &VerifiedToken,
        scope: &str,
        succeeded: bool,
    ) -> Result<(), BrokerError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let key = JtiKey { issuer: verified.iss(), jti: verified.jti().unwrap_or_default(), scope };
        if !succeeded {
            if let Err(error) = store.release_jti(key).await {
                tracing::warn!(role = ?policy.role(), error = ?error.to_string(), "Releasing a pending single-use claim failed; it lapses by itself.");
            }
            return Ok(());
        }
        let until = verified.exp().plus_secs(KEEP_PAST_EXP_SECS);
        match (store.extend_jti(key, until).await, policy.replay().on_store_error) {
            (Ok(()), _) => Ok(()),
            (Err(error), OnStoreError::Allow) => {
                tracing::warn!(role = ?policy.role(), error = ?error.to_string(), "Promoting a single-use claim failed; exchanged anyway (on_store_error: allow).");
                Ok(())
            }
            (Err(error), OnStoreError::Deny) => {
                tracing::error!(role = ?policy.role(), error = ?error.to_string(), "Promoting a single-use claim failed; credential dropped.");
                Err(BrokerError::StateUnavailable { role: policy.role().to_owned() })
            }
        }
    }

    async fn claim_until(
        &self,
        policy: &Policy,
        verified: &VerifiedToken,
        scope: &str,
        until: UnixTime,
        now: UnixTime,
    ) -> Result<(), BrokerError> {
        let role = policy.role();
        let jti = verified.jti().unwrap_or_default();
        let key = JtiKey { issuer: verified.iss(), jti, scope };
        let claimed = match &self.store {
            Some(store) => store.claim_jti(key, until, now).await.map_err(|e| e.to_string()),
            None => Err("no state store is configured".to_owned()),
        };
        match (claimed, policy.replay().on_store_error) {
            (Ok(Claim::First), _) => Ok(()),
            (Ok(Claim::AlreadyUsed), _) => Err(BrokerError::Replayed { role: role.to_owned() }),
            (Err(reason), OnStoreError::Deny) => {
                tracing::error!(role = ?role, error = ?reason, "The state store failed; single-use exchange refused.");
                Err(BrokerError::StateUnavailable { role: role.to_owned() })
            }
            (Err(reason), OnStoreError::Allow) => {
                tracing::warn!(role = ?role, error = ?reason, "The state store failed; exchanged without the replay check (on_store_error: allow).");
                Ok(())
            }
        }
    }
}

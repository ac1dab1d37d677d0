//! The one use case: exchange a verified CI token for a Tollgate credential under a role's trust policy.
//!
//! `Broker::exchange` takes `now` once, verifies, selects the role's policy, evaluates it (deny by default),
//! and acts on the grant. It knows no HTTP: front doors convert their wire shapes to `ExchangeRequest` and
//! map `BrokerError` to their own status codes.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::{Clock, UnixTime};
use crate::credentials::{MintError, Minter, TokenRequest};
use crate::policy::{Decision, Explanation, Grant, PolicySet, RenderError};
use crate::verify::{RawToken, VerifiedToken, Verifier, VerifyError};

/// A request to exchange `token` for a credential of `role`.
#[derive(Debug)]
pub struct ExchangeRequest {
    pub token: RawToken,
    pub role: String,
    /// One of the grant's audiences; default the grant's first.
    pub audience: Option<String>,
    /// May only shorten the grant's TTL.
    pub ttl_secs: Option<u32>,
}

/// The issued credential.
#[derive(Debug)]
pub struct Exchanged {
    pub access_token: String,
    pub role: String,
    pub subject: String,
    pub audience: String,
    pub jti: String,
    pub expires_at: UnixTime,
    pub expires_in: i64,
}

/// Why an exchange did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("role {0:?} does not exist")]
    UnknownRole(String),
    #[error("role {role:?} does not trust issuer {issuer:?}")]
    IssuerNotTrustedByRole { role: String, issuer: String },
    #[error("role {role:?} denied: {explanation}")]
    Denied {
        role: String,
        explanation: Explanation,
    },
    #[error("role {role:?} cannot issue a token for audience {audience:?}")]
    AudienceNotGranted { role: String, audience: String },
    #[error("role {role:?} could not map claims: {source}")]
    Render { role: String, source: RenderError },
    #[error("minting failed: {0}")]
    Mint(#[from] MintError),
}

/// Everything an exchange needs, shared behind one `Arc`.
pub struct Broker {
    verifier: Verifier,
    policies: ArcSwap<PolicySet>,
    minter: Minter,
    clock: Arc<dyn Clock>,
}

impl Broker {
    pub fn new(
        verifier: Verifier,
        policies: PolicySet,
        minter: Minter,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            verifier,
            policies: ArcSwap::from_pointee(policies),
            minter,
            clock,
        }
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The policy set in force; requests in flight keep the set they started with.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies.load_full()
    }

    /// Replaces the whole policy set at once.
    pub fn replace_policies(&self, policies: PolicySet) {
        self.policies.store(Arc::new(policies));
    }

    pub async fn exchange(&self, request: ExchangeRequest) -> Result<Exchanged, BrokerError> {
        let now = self.clock.now();
        let verified = self.verifier.verify(&request.token, now).await?;
        self.authorize_and_mint(&verified, request, now)
    }

    fn authorize_and_mint(
        &self,
        verified: &VerifiedToken,
        request: ExchangeRequest,
        now: UnixTime,
    ) -> Result<Exchanged, BrokerError> {
        let policies = self.policies();
        let role = request.role;
        let policy = policies
            .get(&role)
            .ok_or_else(|| BrokerError::UnknownRole(role.clone()))?;
        if !policy.accepts_issuer(verified.issuer_name()) {
            return Err(BrokerError::IssuerNotTrustedByRole {
                role,
                issuer: verified.issuer_name().to_owned(),
            });
        }
        if let Decision::Deny(explanation) = policy.evaluate(verified.claims()) {
            return Err(BrokerError::Denied { role, explanation });
        }
        let Grant::Token(grant) = policy.grant();
        let audience = match request.audience {
            None => grant.audiences().first().cloned().unwrap_or_default(),
            Some(wanted) if grant.audiences().contains(&wanted) => wanted,
            Some(wanted) => {
                return Err(BrokerError::AudienceNotGranted {
                    role,
                    audience: wanted,
                });
            }
        };
        let render_error = |source| BrokerError::Render {
            role: role.clone(),
            source,
        };
        let subject = grant
            .render_subject(verified.claims())
            .map_err(render_error)?;
        let extra = grant
            .render_claims(verified.claims())
            .map_err(render_error)?;
        let ttl_secs = request
            .ttl_secs
            .map_or(grant.ttl_seconds(), |asked| asked.min(grant.ttl_seconds()));
        let minted = self.minter.mint(
            TokenRequest {
                subject: subject.unwrap_or_else(|| verified.sub().to_owned()),
                audience: audience.clone(),
                ttl_secs,
                inbound_exp: verified.exp(),
                actor_iss: verified.iss().to_owned(),
                actor_sub: verified.sub().to_owned(),
                role: role.clone(),
                extra,
            },
            now,
        )?;
        tracing::info!(role = %role, issuer = verified.issuer_name(), sub = verified.sub(), jti = %minted.jti, "Exchange allowed.");
        Ok(Exchanged {
            access_token: minted.token,
            subject: verified.sub().to_owned(),
            audience,
            jti: minted.jti,
            expires_in: minted.expires_at.secs_since(now),
            expires_at: minted.expires_at,
            role,
        })
    }
}

//! The one use case: exchange a verified CI token for a Tollgate credential under a role's trust policy.
//!
//! `Broker::exchange` takes `now` once, verifies, selects the role's policy, evaluates it (deny by default),
//! and acts on the grant. It knows no HTTP: front doors convert their wire shapes to `ExchangeRequest` and
//! map `BrokerError` to their own status codes.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::{Clock, UnixTime};
use crate::credentials::{MintError, Minter, TokenRequest};
use crate::policy::{CaseOutcome, ClaimDisplay, Explanation, Grant, PolicySet, RenderError, Trace};
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

/// How much of a decision the caller is told (config `explain:`).
#[derive(Clone, Copy, Debug)]
pub struct ExplainConfig {
    /// How claim values appear in explain traces.
    pub claim_display: ClaimDisplay,
    /// Name the role's first failing condition in denial texts; otherwise a fixed text (details in the log).
    pub in_errors: bool,
    /// Serve `POST /explain`.
    pub endpoint: bool,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        Self { claim_display: ClaimDisplay::Shown, in_errors: true, endpoint: true }
    }
}

/// A full explanation of one request, without minting anything.
#[derive(Debug)]
pub struct Explained {
    pub role: String,
    /// The configured name of the issuer that vouched for the token.
    pub issuer: String,
    pub issuer_trusted_by_role: bool,
    pub trace: Trace,
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
    Denied { role: String, explanation: Explanation },
    /// Any access denial, when `explain.in_errors` is off: the reason stays in the log.
    #[error("no policy for role {role:?} allows this token")]
    AccessDenied { role: String },
    #[error("role {role:?} cannot issue a token for audience {audience:?}")]
    AudienceNotGranted { role: String, audience: String },
    #[error("role {role:?} could not map claims: {source}")]
    Render { role: String, source: RenderError },
    #[error("minting failed: {0}")]
    Mint(#[from] MintError),
}

/// Everything an exchange needs, shared behind one `Arc`.
pub struct Broker {
    explain: ExplainConfig,
    verifier: Verifier,
    policies: ArcSwap<PolicySet>,
    minter: Minter,
    clock: Arc<dyn Clock>,
}

impl Broker {
    pub fn new(verifier: Verifier, policies: PolicySet, minter: Minter, clock: Arc<dyn Clock>) -> Self {
        Self { explain: ExplainConfig::default(), verifier, policies: ArcSwap::from_pointee(policies), minter, clock }
    }

    /// Sets what callers are told about decisions.
    pub fn with_explain(mut self, explain: ExplainConfig) -> Self {
        self.explain = explain;
        self
    }

    pub fn explain_config(&self) -> ExplainConfig {
        self.explain
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
        self.authorize_and_mint(&verified, request, now).map_err(|error| self.redact(error))
    }

    /// Verifies the token and traces the role's policy over its claims, condition by condition. Never mints.
    pub async fn explain(&self, request: ExchangeRequest) -> Result<Explained, BrokerError> {
        let verified = self.verifier.verify(&request.token, self.clock.now()).await?;
        let policies = self.policies();
        let policy = policies.get(&request.role).ok_or_else(|| BrokerError::UnknownRole(request.role.clone()))?;
        Ok(Explained {
            issuer_trusted_by_role: policy.accepts_issuer(verified.issuer_name()),
            issuer: verified.issuer_name().to_owned(),
            trace: policy.explain(verified.claims(), self.explain.claim_display),
            role: request.role,
        })
    }

    /// With `explain.in_errors` off, every access denial becomes one fixed text; the detail is logged.
    fn redact(&self, error: BrokerError) -> BrokerError {
        let role = match &error {
            BrokerError::UnknownRole(role)
            | BrokerError::IssuerNotTrustedByRole { role, .. }
            | BrokerError::Denied { role, .. }
            | BrokerError::Render { role, .. } => role.clone(),
            _ => return error,
        };
        if self.explain.in_errors {
            return error;
        }
        tracing::info!(reason = %error, "Exchange denied.");
        BrokerError::AccessDenied { role }
    }

    fn authorize_and_mint(
        &self,
        verified: &VerifiedToken,
        request: ExchangeRequest,
        now: UnixTime,
    ) -> Result<Exchanged, BrokerError> {
        let policies = self.policies();
        let role = request.role;
        let policy = match policies.evaluate_case(&role, verified.issuer_name(), verified.claims()) {
            CaseOutcome::Allow { policy, .. } => policy,
            CaseOutcome::UnknownRole => return Err(BrokerError::UnknownRole(role)),
            CaseOutcome::IssuerNotTrusted { .. } => {
                let issuer = verified.issuer_name().to_owned();
                return Err(BrokerError::IssuerNotTrustedByRole { role, issuer });
            }
            CaseOutcome::Deny { explanation, .. } => return Err(BrokerError::Denied { role, explanation }),
        };
        let Grant::Token(grant) = policy.grant();
        let audience = match request.audience {
            None => grant.audiences().first().cloned().unwrap_or_default(),
            Some(wanted) if grant.audiences().contains(&wanted) => wanted,
            Some(wanted) => {
                return Err(BrokerError::AudienceNotGranted { role, audience: wanted });
            }
        };
        let render_error = |source| BrokerError::Render { role: role.clone(), source };
        let subject = grant.render_subject(verified.claims()).map_err(render_error)?;
        let extra = grant.render_claims(verified.claims()).map_err(render_error)?;
        let ttl_secs = request.ttl_secs.map_or(grant.ttl_seconds(), |asked| asked.min(grant.ttl_seconds()));
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

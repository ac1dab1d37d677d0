//! The one use case: exchange a verified CI token for a Tollgate credential under a role's trust policy.
//!
//! `Broker::exchange` takes `now` once, verifies, selects the role's policy, evaluates it (deny by default),
//! and acts on the grant (`grants`: mint a Tollgate token, or get AWS credentials from STS). It knows no HTTP:
//! the front doors convert their wire shapes to `ExchangeRequest` and map `BrokerError` to their own codes.

mod decision;
mod error;
mod explain;
mod grants;
mod introspect;
mod observe;
mod replay;
mod revoked;
mod runners;
mod shadow;

pub use decision::{
    ClaimsSeen, DecisionEvent, DecisionSink, FrontDoor, Outcome, Reason, RequestContext, credential_digest,
};
pub use error::BrokerError;
pub use explain::Explained;
pub use introspect::{Introspection, IntrospectionClient, IntrospectionClients, IntrospectionUnavailable};
pub use shadow::ShadowComparison;

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::clock::{Clock, Stopwatch, UnixTime};
use crate::credentials::Minter;
use crate::limits::{RateLimit, RateLimiter};
use crate::policy::{CaseOutcome, ClaimDisplay, Grant, PolicySet};
use crate::revocation::RevocationView;
use crate::store::Store;
use crate::sts::{AwsCredentials, StsClient};
use crate::verify::{RawToken, VerifiedToken, Verifier};

/// What a caller proves its identity with.
#[derive(Debug)]
pub enum Presented {
    /// A CI provider's OIDC ID token.
    Token(RawToken),
    /// A runner credential (`tgr_…`, sent as a bearer credential; `Debug` never shows it).
    Runner(crate::operators::Secret),
}

impl From<RawToken> for Presented {
    fn from(token: RawToken) -> Self {
        Presented::Token(token)
    }
}

/// A request to exchange `token` for a credential of `role`.
#[derive(Debug)]
pub struct ExchangeRequest {
    pub token: Presented,
    pub role: String,
    /// The STS door's `RoleArn`, which `role` was resolved from in the set in force: shadow evaluation resolves
    /// it in the candidate set too, and the audit line records it for replay.
    pub role_arn: Option<String>,
    /// One of the grant's audiences; default the grant's first.
    pub audience: Option<String>,
    /// May only shorten the grant's TTL (for AWS grants: the session duration, at least 900 s).
    pub ttl_secs: Option<u32>,
    /// An inline session policy passed to STS (AWS grants only).
    pub session_policy: Option<String>,
    /// Only a Tollgate token may come of it (the RFC 8693 door): an allowed aws grant is refused.
    pub tokens_only: bool,
    pub front_door: FrontDoor,
    pub context: RequestContext,
}

/// How much of a decision the caller is told (config `explain:`).
#[derive(Clone, Copy, Debug)]
pub struct ExplainConfig {
    /// How claim values appear in explain traces.
    pub claim_display: ClaimDisplay,
    /// Name the role's first failing condition in denial texts; otherwise a fixed text (details in the log).
    pub in_errors: bool,
    /// Serve `POST /explain` (off by default; dev mode turns it on).
    pub endpoint: bool,
    /// Show each condition's expected values in `/explain` traces (the policy's own text).
    pub show_expected: bool,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        Self { claim_display: ClaimDisplay::Shown, in_errors: true, endpoint: false, show_expected: false }
    }
}

/// The issued credential.
#[derive(Debug)]
pub struct Exchanged {
    pub role: String,
    /// The policy statement (from 1) that allowed it.
    pub allowed_by: usize,
    /// The CI identity: the inbound token's `iss` and `sub`.
    pub ci_issuer: String,
    pub ci_subject: String,
    pub expires_at: UnixTime,
    pub expires_in: i64,
    pub credential: Credential,
}

/// What a grant produced. `Debug` never shows a token or secret.
pub enum Credential {
    /// A Tollgate JWT.
    Token { access_token: String, audience: String, jti: String },
    /// Temporary AWS credentials from STS.
    Aws(AwsCredentials),
}

/// What `exchange` knows of a request before and after deciding, for the sinks.
struct Observed<'a> {
    front_door: FrontDoor,
    context: &'a RequestContext,
    role: &'a str,
    /// The STS door's `RoleArn`, when the role came from one.
    role_arn: Option<&'a str>,
    now: UnixTime,
    stopwatch: Stopwatch,
    /// The candidate policy set's verdict beside the live one's, once the policy was reached (`shadow`).
    shadow: Option<&'a ShadowComparison>,
    /// The role's policy verdict, once the policy was reached.
    policy: Option<Outcome>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token { audience, jti, .. } => {
                f.debug_struct("Token").field("audience", audience).field("jti", jti).finish_non_exhaustive()
            }
            Credential::Aws(credentials) => f.debug_tuple("Aws").field(credentials).finish(),
        }
    }
}

/// Everything an exchange needs, shared behind one `Arc`.
pub struct Broker {
    explain: ExplainConfig,
    sinks: Vec<Arc<dyn DecisionSink>>,
    sts: Option<StsClient>,
    /// Where single-use claims are recorded.
    store: Option<Store>,
    /// The live revocations, checked on every allowed exchange.
    revocations: Option<Arc<RevocationView>>,
    /// Runner credentials and role bindings (the operator plane).
    operators: Option<Arc<crate::operators::Operators>>,
    /// Who may introspect Tollgate tokens, and our published keys parsed for it.
    introspection: IntrospectionClients,
    issued_keys: introspect::IssuedKeys,
    /// `limits.per_issuer`: one bucket per issuer and tenant.
    tenant_limiter: Option<RateLimiter<(String, Option<String>)>>,
    /// `limits.per_issuer_total`: one bucket per issuer, all tenants together.
    issuer_limiter: Option<RateLimiter<String>>,
    verifier: Verifier,
    policies: ArcSwap<PolicySet>,
    /// The candidate policy set evaluated beside the live one (`shadow.policies`), if any.
    shadow: ArcSwapOption<PolicySet>,
    minter: Minter,
    clock: Arc<dyn Clock>,
}

impl Broker {
    pub fn new(verifier: Verifier, policies: PolicySet, minter: Minter, clock: Arc<dyn Clock>) -> Self {
        Self {
            explain: ExplainConfig::default(),
            sinks: Vec::new(),
            sts: None,
            store: None,
            revocations: None,
            operators: None,
            introspection: IntrospectionClients::default(),
            issued_keys: introspect::IssuedKeys::default(),
            tenant_limiter: None,
            issuer_limiter: None,
            verifier,
            policies: ArcSwap::from_pointee(policies),
            shadow: ArcSwapOption::empty(),
            minter,
            clock,
        }
    }

    /// Sets the upstream STS client used by AWS grants (without one, AWS grants fail as upstream unavailable).
    pub fn with_sts(mut self, sts: StsClient) -> Self {
        self.sts = Some(sts);
        self
    }

    /// Limits the exchanges of each tenant of each trusted issuer (counted after verification, before the
    /// policy): on a shared issuer one tenant cannot drain another's bucket.
    pub fn with_issuer_rate_limit(mut self, limit: RateLimit) -> Self {
        self.tenant_limiter = Some(RateLimiter::new(limit));
        self
    }

    /// Sets the state store that records single-use claims (without one, single-use roles fail closed).
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// A ceiling on the exchanges of each trusted issuer, all its tenants together.
    pub fn with_issuer_total_rate_limit(mut self, limit: RateLimit) -> Self {
        self.issuer_limiter = Some(RateLimiter::new(limit));
        self
    }

    /// Adds an observer of every decision (metrics, audit).
    pub fn with_sink(mut self, sink: Arc<dyn DecisionSink>) -> Self {
        self.sinks.push(sink);
        self
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
        self.replace_policies_with(Arc::new(policies));
    }

    /// The same with a shared set (a promotion puts the candidate set here).
    pub fn replace_policies_with(&self, policies: Arc<PolicySet>) {
        self.policies.store(policies);
    }

    pub async fn exchange(&self, request: ExchangeRequest) -> Result<Exchanged, BrokerError> {
        let stopwatch = Stopwatch::start();
        let now = self.clock.now();
        let (front_door, context, role) = (request.front_door, request.context.clone(), request.role.clone());
        let role_arn = request.role_arn.clone();
        let observed = Observed {
            front_door,
            context: &context,
            role: &role,
            role_arn: role_arn.as_deref(),
            now,
            stopwatch,
            shadow: None,
            policy: None,
        };
        let client = context.client_addr.as_deref();
        let verified = match self.identify(&request, now, client).await {
            Ok(verified) => verified,
            Err(error) => {
                self.observe(&observed, None, Err(&error));
                return Err(self.redact(error));
            }
        };
        if let Err(error) = self.check_issuer_limits(&verified).await {
            self.observe(&observed, Some(&verified), Err(&error));
            return Err(error);
        }
        // One policy set for the decision and its shadow comparison, even if a reload lands in between.
        let policies = self.policies();
        let shadow = self.compare_shadow(&policies, &request, &verified);
        let observed = Observed { shadow: shadow.as_ref(), ..observed };
        let result = self.authorize_and_issue(&policies, &verified, request, now).await;
        let observed = Observed { policy: Some(policy_verdict(&result)), ..observed };
        self.observe(&observed, Some(&verified), result.as_ref());
        result.map_err(|error| self.redact(error))
    }

    /// The per-tenant bucket, then the per-issuer ceiling (each when configured).
    async fn check_issuer_limits(&self, verified: &VerifiedToken) -> Result<(), BrokerError> {
        let issuer = verified.issuer_name();
        let limited = |retry_after_secs| BrokerError::RateLimited { issuer: issuer.to_owned(), retry_after_secs };
        if let Some(limiter) = &self.tenant_limiter {
            let key = (issuer.to_owned(), verified.tenant().map(std::borrow::Cow::into_owned));
            limiter.check(key).await.map_err(|l| limited(l.retry_after_secs))?;
        }
        if let Some(limiter) = &self.issuer_limiter {
            limiter.check(issuer.to_owned()).await.map_err(|l| limited(l.retry_after_secs))?;
        }
        Ok(())
    }

    /// What the caller is told of a failed decision (the sinks saw the full error before). An unknown role and
    /// one that does not trust the token's issuer always read the same; with `explain.in_errors` off, every
    /// access denial becomes one fixed text, the detail logged.
    fn redact(&self, error: BrokerError) -> BrokerError {
        let role = match &error {
            BrokerError::UnknownRole(role)
            | BrokerError::IssuerNotTrustedByRole { role, .. }
            | BrokerError::AudienceNotAcceptedByRole(role) => {
                if self.explain.in_errors {
                    return BrokerError::RoleUnavailable(role.clone());
                }
                role.clone()
            }
            BrokerError::Denied { role, .. } | BrokerError::Render { role, .. } => role.clone(),
            _ => return error,
        };
        if self.explain.in_errors {
            return error;
        }
        tracing::info!(reason = ?error.to_string(), "Exchange denied.");
        BrokerError::AccessDenied { role }
    }

    async fn authorize_and_issue(
        &self,
        policies: &PolicySet,
        verified: &VerifiedToken,
        request: ExchangeRequest,
        now: UnixTime,
    ) -> Result<Exchanged, BrokerError> {
        let role = request.role.clone();
        let (policy, allowed_by) = match policies.evaluate_case(&role, verified.issuer_name(), verified.claims()) {
            CaseOutcome::Allow { policy, statement } => (Arc::clone(policy), statement),
            CaseOutcome::UnknownRole => return Err(BrokerError::UnknownRole(role)),
            CaseOutcome::IssuerNotTrusted { .. } => {
                let issuer = verified.issuer_name().to_owned();
                return Err(BrokerError::IssuerNotTrustedByRole { role, issuer });
            }
            CaseOutcome::Deny { explanation, .. } => return Err(BrokerError::Denied { role, explanation }),
        };
        self.check_binding(&role, verified)?;
        self.check_revocations(&policy, verified, now)?;
        let scope = self.use_scope(&policy, verified, &request)?;
        let (credential, expires_at) = match policy.grant() {
            Grant::Token(_) if request.session_policy.is_some() => {
                let mismatch = "issues Tollgate tokens; Policy applies to AWS credentials only";
                return Err(BrokerError::GrantMismatch { role, mismatch });
            }
            Grant::Aws(_) if request.tokens_only => {
                let mismatch = "issues AWS credentials; use /exchange or the STS endpoint";
                return Err(BrokerError::GrantMismatch { role, mismatch });
            }
            Grant::Token(grant) => {
                let issued = self.issue_token(grant, verified, &request, now)?;
                if let Some(scope) = &scope {
                    self.claim_use(&policy, verified, scope, now).await?;
                }
                issued
            }
            Grant::Aws(grant) => {
                if let Some(scope) = &scope {
                    self.claim_pending(&policy, verified, scope, now).await?;
                }
                let issued = self.issue_aws(grant, verified, &request, now).await;
                if let Some(scope) = &scope {
                    self.settle_pending(&policy, verified, scope, issued.is_ok()).await?;
                }
                issued?
            }
        };
        // The audit line records every decision; the log says it only when asked (RUST_LOG=tollgate=debug).
        tracing::debug!(role = ?role, issuer = verified.issuer_name(), sub = ?verified.sub(), "Exchange allowed.");
        Ok(Exchanged {
            role,
            allowed_by,
            ci_issuer: verified.iss().to_owned(),
            ci_subject: verified.sub().to_owned(),
            expires_in: expires_at.secs_since(now),
            expires_at,
            credential,
        })
    }
}

/// The policy's verdict of a decision that reached it: `authorize_and_issue` evaluates the policy first, so only
/// its three policy refusals are a policy deny; any later refusal followed a policy allow.
fn policy_verdict(result: &Result<Exchanged, BrokerError>) -> Outcome {
    match result {
        Err(BrokerError::UnknownRole(_) | BrokerError::IssuerNotTrustedByRole { .. } | BrokerError::Denied { .. }) => {
            Outcome::Deny
        }
        _ => Outcome::Allow,
    }
}

//! The operator plane's domain (no HTTP; `admin/` is its only front): operators sign in through their
//! organisation's OpenID provider (`signin.rs`) and get a Tollgate session (`sessions.rs`); role bindings say who
//! may do what (`bindings.rs`); runner credentials let CI systems without OIDC exchange (`runners.rs`); secrets
//! are prefixed and checksummed, and stored only as SHA-256 (`secret.rs`).
//!
//! The rules every admin route goes through, in `Operators::authorize` (the one authorization function):
//! - a session is required; it is looked up by the digest of its secret and must not have expired;
//! - roles come from the bindings in force, recomputed on every request (a binding removed takes effect at once);
//! - admin rights are never implied: they need a session that asked for `scope=admin` *and* an identity that is
//!   eligible (bound to `role/admin`, holding the provider's configured admin claim, or the break-glass
//!   secret). `role/runner.admin` is eligible for runner management only. Without the scope an eligible
//!   identity only reads.
//!
//! Imports point down: `operators -> {verify, issuers, store, clock}`; `broker` asks it about runners and bindings.

mod bindings;
mod config;
mod runners;
mod secret;
mod sessions;
mod signin;

pub use bindings::{Binding, Bindings, IamRole, Member, Principal};
pub use config::{AdminClaim, OperatorsConfig, ProviderConfig, RUNNERS_ISSUER, runners_known_issuer};
pub use runners::{NewRunner, RUNNER_IDENTITY_SECS, Runner, RunnerIdentity};
pub use secret::{Secret, SecretError, SecretKind, sha256_hex};
pub use sessions::{Issued, Operator, Permission, SessionView};
pub use signin::{Proof, SignIn};

use std::sync::Arc;

use crate::clock::Clock;
use crate::issuers::{FetchError, Fetcher, Issuers};
use crate::store::{Store, StoreError};
use crate::verify::Verifier;

/// Why an operator-plane call did not happen. `admin::error` maps each to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No session, or one that is unknown, expired or malformed; a wrong break-glass secret.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// The ID token (or code) did not prove an identity.
    #[error("sign-in refused: {0}")]
    SignInRefused(String),
    /// `scope=admin` asked by an identity that is not eligible.
    #[error("{0} may not hold admin rights (no role/admin or role/runner.admin binding, no admin claim)")]
    NotEligible(String),
    /// The session lacks what the call needs.
    #[error("this session may not {0}")]
    Forbidden(&'static str),
    #[error("unknown provider {0:?}")]
    UnknownProvider(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The state store could not answer.
    #[error("the state store is unavailable")]
    Unavailable(StoreError),
    /// The provider's token endpoint failed.
    #[error("the identity provider failed: {0}")]
    Provider(String),
}

impl From<StoreError> for OperatorError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(what) => OperatorError::BadRequest(format!("a record with this {what} exists")),
            other => OperatorError::Unavailable(other),
        }
    }
}

impl From<FetchError> for OperatorError {
    fn from(error: FetchError) -> Self {
        OperatorError::Provider(error.to_string())
    }
}

/// The operator plane.
pub struct Operators {
    config: OperatorsConfig,
    /// Verifies providers' ID tokens (their keys cached like any issuer's); `None` without providers.
    verifier: Option<Verifier>,
    fetcher: Fetcher,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Each provider's token endpoint and when it was read (`signin::token_endpoint`).
    token_endpoints: std::sync::Mutex<std::collections::HashMap<String, (String, crate::clock::UnixTime)>>,
    /// When the last wrong break-glass secrets came (at most `BOOTSTRAP_FAILURES` kept).
    bootstrap_failures: std::sync::Mutex<std::collections::VecDeque<crate::clock::UnixTime>>,
}

/// After this many wrong break-glass secrets within `BOOTSTRAP_WINDOW_SECS`, break-glass refuses every attempt
/// until the window has passed (guessing is slow, and loud).
const BOOTSTRAP_FAILURES: usize = 5;
const BOOTSTRAP_WINDOW_SECS: i64 = 60;

impl Operators {
    /// The operator plane; providers' discovery and keys are fetched under the same `jwks:` settings as every
    /// trusted issuer's.
    pub fn new(
        config: OperatorsConfig,
        settings: crate::issuers::JwksSettings,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Operators, FetchError> {
        let issuers = config.provider_issuers();
        let fetcher =
            Fetcher::new(std::time::Duration::from_secs(settings.fetch_timeout_secs), settings.max_response_bytes)?;
        let verifier = if issuers.is_empty() {
            None
        } else {
            Some(Verifier::new(Arc::new(Issuers::new(issuers, settings, clock.now())?)))
        };
        Ok(Operators {
            config,
            verifier,
            fetcher,
            store,
            clock,
            token_endpoints: Default::default(),
            bootstrap_failures: Default::default(),
        })
    }

    pub fn config(&self) -> &OperatorsConfig {
        &self.config
    }

    /// The providers' key caches, to prefetch and refresh with the trusted issuers'.
    pub fn provider_issuers(&self) -> Option<&Arc<Issuers>> {
        self.verifier.as_ref().map(Verifier::issuers)
    }

    /// The one authorization function: whether `session` may do what `permission` names.
    pub fn authorize(&self, session: &SessionView, permission: Permission) -> Result<(), OperatorError> {
        if session.allows(permission) { Ok(()) } else { Err(OperatorError::Forbidden(permission.describe())) }
    }
}

//! Why an exchange did not happen: one variant per reason, named for what happened. The front doors map these to
//! their own status codes and error codes (`http::error`, `sts_query`, `token_exchange`); the sinks classify
//! them (`decision::Reason::of`).

use crate::credentials::MintError;
use crate::policy::{Explanation, RenderError};
use crate::sts::StsError;
use crate::verify::VerifyError;

/// Why an exchange did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("role {0:?} does not exist")]
    UnknownRole(String),
    #[error("role {role:?} does not trust issuer {issuer:?}")]
    IssuerNotTrustedByRole { role: String, issuer: String },
    /// What callers are told of both of the above (and, on `/explain`, of a role that does not accept the
    /// token's audience): no door reveals which roles exist to a token whose issuer they do not trust.
    #[error("role {0:?} does not exist or does not trust this token")]
    RoleUnavailable(String),
    /// `/explain` for a role that does not accept the token's audience (told as `RoleUnavailable`).
    #[error("role {0:?} does not accept the token's audience")]
    AudienceNotAcceptedByRole(String),
    /// The allowed grant is of a kind this request cannot take (an aws grant on the RFC 8693 door, an STS
    /// session policy on a token grant). Checked only once the policy allowed the token.
    #[error("role {role:?} {mismatch}")]
    GrantMismatch { role: String, mismatch: &'static str },
    /// A runner credential that is malformed, unknown, deleted, rotated or expired.
    #[error("runner credential refused: {0}")]
    RunnerRefused(&'static str),
    /// A `role/<role>.user` binding restricts the role and does not name this identity.
    #[error("role {role:?} denied: its role binding does not name this identity")]
    NotBound { role: String },
    /// A single-use role saw this token before.
    #[error("token already used (role {role:?} accepts each token once)")]
    Replayed { role: String },
    /// A single-use role needs the token's `jti` (1 to 256 bytes, no NUL).
    #[error("the token has no usable jti (1 to 256 bytes), and role {role:?} accepts each token once")]
    JtiRequired { role: String },
    /// A revocation hits the token (its jti, identity, signing key or role).
    #[error("role {role:?} denied: the token's identity or credential was revoked")]
    Revoked { role: String, id: String, kind: &'static str },
    /// The revocation view is older than its bound: refused rather than risk missing one.
    #[error("role {role:?} cannot be exchanged right now: revocations cannot be checked")]
    RevocationsUnavailable { role: String, age_secs: i64 },
    /// The store could not record a single-use claim, and the role fails closed.
    #[error("role {role:?} cannot be exchanged right now: its single-use record is unavailable")]
    StateUnavailable { role: String },
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
    #[error(transparent)]
    Upstream(#[from] StsError),
    /// The issuer's rate limit (`limits.per_issuer`) is exhausted.
    #[error("too many exchanges for issuer {issuer:?}; retry after {retry_after_secs} s")]
    RateLimited { issuer: String, retry_after_secs: u64 },
}

//! One record per exchange decision, from any front door, for the sinks that observe decisions (metrics, audit).
//!
//! Labels are closed enums and configured names only: an unverified token can never choose a label value. The
//! record holds no token and no secret; a credential appears only as its SHA-256.

use crate::policy::PolicySet;
use std::time::Duration;

use crate::clock::UnixTime;
use crate::issuers::KeyError;
use crate::sts::StsError;
use crate::verify::VerifyError;

use super::BrokerError;

/// Which door a request came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontDoor {
    Exchange,
    Sts,
    Token,
    /// `POST /explain`: traced, never minted.
    Explain,
}

/// How a decision ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
    Error,
}

/// Why, from a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Allowed,
    Malformed,
    Expired,
    NotYetValid,
    BadSignature,
    UnknownIssuer,
    UnknownKid,
    AlgorithmNotAllowed,
    Audience,
    InvalidClaims,
    KeysUnavailable,
    UnknownRole,
    IssuerNotTrusted,
    PolicyDenied,
    AudienceNotGranted,
    GrantMismatch,
    ClaimMapping,
    UpstreamDenied,
    UpstreamThrottled,
    UpstreamError,
    RateLimited,
    Replayed,
    Revoked,
    StateUnavailable,
    /// A runner credential that is malformed, unknown, deleted or expired.
    RunnerRefused,
    /// A `role/<role>.user` binding does not name the identity.
    NotBound,
    Internal,
}

/// Who asked, as the HTTP layer saw it.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// One decision, as the sinks see it.
#[derive(Debug)]
pub struct DecisionEvent<'a> {
    pub time: UnixTime,
    pub front_door: FrontDoor,
    pub context: &'a RequestContext,
    /// The configured name of the issuer that vouched for the token (none if verification failed before).
    pub issuer: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub inbound_jti: Option<&'a str>,
    pub role: &'a str,
    /// The STS door's `RoleArn`, when the role came from one.
    pub role_arn: Option<&'a str>,
    /// Whether `role` names a loaded policy (otherwise metrics label it `other`).
    pub role_known: bool,
    pub outcome: Outcome,
    pub reason: Reason,
    /// The matched statement, or the first failing condition, or the error text (never a token).
    pub detail: String,
    /// SHA-256 (hex) of the issued credential (the token, or the AWS session token).
    pub credential_sha256: Option<String>,
    pub expires_at: Option<UnixTime>,
    pub duration: Duration,
    /// The candidate policy set's verdict beside the live one's (`shadow.policies`), when one is loaded and the
    /// decision reached the policy.
    pub shadow: Option<&'a super::ShadowComparison>,
    /// The role's policy verdict (`Allow` also when a later step refused), when the decision reached the policy:
    /// what `tollgate policy replay` re-decides.
    pub policy: Option<Outcome>,
    /// The verified token's claims, and what the loaded policy sets read, when the token was verified.
    pub claims: Option<ClaimsSeen<'a>>,
}

/// The claims of a verified token, as a sink may record them.
#[derive(Clone, Copy, Debug)]
pub struct ClaimsSeen<'a> {
    pub claims: &'a serde_json::Map<String, serde_json::Value>,
    live: &'a PolicySet,
    candidate: Option<&'a PolicySet>,
}

/// Claims recorded whatever the policies read: who the token is, and which token.
const IDENTIFYING_CLAIMS: [&str; 4] = ["iss", "sub", "aud", "jti"];

impl<'a> ClaimsSeen<'a> {
    pub fn new(
        claims: &'a serde_json::Map<String, serde_json::Value>,
        live: &'a PolicySet,
        candidate: Option<&'a PolicySet>,
    ) -> Self {
        ClaimsSeen { claims, live, candidate }
    }

    /// Whether the live or the candidate policies read the claim `name`, or it identifies the token.
    pub fn referenced(&self, name: &str) -> bool {
        IDENTIFYING_CLAIMS.contains(&name)
            || self.live.references(name)
            || self.candidate.is_some_and(|candidate| candidate.references(name))
    }
}

/// Something that observes every decision. Must be cheap and must not block.
pub trait DecisionSink: Send + Sync {
    fn record(&self, event: &DecisionEvent<'_>);
}

impl FrontDoor {
    pub fn as_str(self) -> &'static str {
        match self {
            FrontDoor::Exchange => "exchange",
            FrontDoor::Sts => "sts",
            FrontDoor::Token => "token",
            FrontDoor::Explain => "explain",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Error => "error",
        }
    }
}

impl Reason {
    pub const ALL: [Reason; 27] = [
        Reason::Allowed,
        Reason::Malformed,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::BadSignature,
        Reason::UnknownIssuer,
        Reason::UnknownKid,
        Reason::AlgorithmNotAllowed,
        Reason::Audience,
        Reason::InvalidClaims,
        Reason::KeysUnavailable,
        Reason::UnknownRole,
        Reason::IssuerNotTrusted,
        Reason::PolicyDenied,
        Reason::AudienceNotGranted,
        Reason::GrantMismatch,
        Reason::ClaimMapping,
        Reason::UpstreamDenied,
        Reason::UpstreamThrottled,
        Reason::UpstreamError,
        Reason::RateLimited,
        Reason::Replayed,
        Reason::Revoked,
        Reason::StateUnavailable,
        Reason::RunnerRefused,
        Reason::NotBound,
        Reason::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::Malformed => "malformed",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BadSignature => "bad_signature",
            Reason::UnknownIssuer => "unknown_issuer",
            Reason::UnknownKid => "unknown_kid",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::Audience => "audience",
            Reason::InvalidClaims => "invalid_claims",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::UnknownRole => "unknown_role",
            Reason::IssuerNotTrusted => "issuer_not_trusted",
            Reason::PolicyDenied => "policy_denied",
            Reason::AudienceNotGranted => "audience_not_granted",
            Reason::GrantMismatch => "grant_mismatch",
            Reason::ClaimMapping => "claim_mapping",
            Reason::UpstreamDenied => "upstream_denied",
            Reason::UpstreamThrottled => "upstream_throttled",
            Reason::UpstreamError => "upstream_error",
            Reason::RateLimited => "rate_limited",
            Reason::Replayed => "replayed",
            Reason::Revoked => "revoked",
            Reason::StateUnavailable => "state_unavailable",
            Reason::RunnerRefused => "runner_refused",
            Reason::NotBound => "not_bound",
            Reason::Internal => "internal",
        }
    }

    /// The outcome and reason of a failed exchange.
    pub fn of(error: &BrokerError) -> (Outcome, Reason) {
        let deny = |reason| (Outcome::Deny, reason);
        match error {
            BrokerError::Verify(verify) => match verify {
                VerifyError::Malformed(_) | VerifyError::TooLarge | VerifyError::Encrypted => deny(Reason::Malformed),
                VerifyError::UnsupportedHeader(_) => deny(Reason::Malformed),
                VerifyError::AlgorithmNotAllowed(_) | VerifyError::KeyAlgorithmMismatch(_) => {
                    deny(Reason::AlgorithmNotAllowed)
                }
                VerifyError::UnknownIssuer(_) => deny(Reason::UnknownIssuer),
                VerifyError::Key(KeyError::Unavailable(_)) => (Outcome::Error, Reason::KeysUnavailable),
                VerifyError::Key(_) => deny(Reason::UnknownKid),
                VerifyError::BadSignature => deny(Reason::BadSignature),
                VerifyError::Expired { .. } => deny(Reason::Expired),
                VerifyError::NotYetValid { .. } | VerifyError::IssuedInFuture { .. } => deny(Reason::NotYetValid),
                VerifyError::AudienceNotAccepted => deny(Reason::Audience),
                VerifyError::MissingClaim(_)
                | VerifyError::InvalidClaim(..)
                | VerifyError::InvalidWindow(_)
                | VerifyError::LifetimeTooLong { .. } => deny(Reason::InvalidClaims),
            },
            BrokerError::UnknownRole(_) | BrokerError::RoleUnavailable(_) => deny(Reason::UnknownRole),
            BrokerError::AudienceNotAcceptedByRole(_) => deny(Reason::Audience),
            BrokerError::GrantMismatch { .. } => deny(Reason::GrantMismatch),
            BrokerError::Replayed { .. } => deny(Reason::Replayed),
            BrokerError::JtiRequired { .. } => deny(Reason::InvalidClaims),
            BrokerError::Revoked { .. } => deny(Reason::Revoked),
            BrokerError::RunnerRefused(_) => deny(Reason::RunnerRefused),
            BrokerError::NotBound { .. } => deny(Reason::NotBound),
            BrokerError::StateUnavailable { .. } | BrokerError::RevocationsUnavailable { .. } => {
                (Outcome::Error, Reason::StateUnavailable)
            }
            BrokerError::IssuerNotTrustedByRole { .. } => deny(Reason::IssuerNotTrusted),
            BrokerError::Denied { .. } | BrokerError::AccessDenied { .. } => deny(Reason::PolicyDenied),
            BrokerError::AudienceNotGranted { .. } => deny(Reason::AudienceNotGranted),
            BrokerError::Render { .. } => deny(Reason::ClaimMapping),
            BrokerError::Mint(_) => (Outcome::Error, Reason::Internal),
            BrokerError::RateLimited { .. } => (Outcome::Error, Reason::RateLimited),
            BrokerError::Upstream(upstream) => match upstream {
                StsError::AccessDenied(_) | StsError::InvalidIdentityToken(_) | StsError::IdpRejectedClaim(_) => {
                    deny(Reason::UpstreamDenied)
                }
                StsError::ExpiredToken(_) => deny(Reason::Expired),
                StsError::Throttled(_) => (Outcome::Error, Reason::UpstreamThrottled),
                StsError::Validation(_) | StsError::PolicyRejected { .. } => deny(Reason::UpstreamDenied),
                StsError::IdpCommunication(_) | StsError::Unavailable(_) => (Outcome::Error, Reason::UpstreamError),
            },
        }
    }
}

/// SHA-256 of a credential, hex: what the audit keeps instead of the credential.
pub fn credential_digest(credential: &str) -> String {
    crate::text::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, credential.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn credential_digest_is_lowercase_hex_sha256() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; // FIPS 180-2, "abc"
        assert_eq!(super::credential_digest("abc"), abc);
    }
}

//! What a revocation is, and the in-memory view the hot path checks. A revocation names what it hits
//! ([`Target`]: a Tollgate token's `jti`, an inbound CI token's `jti`, a CI identity by claim, every token minted
//! for a role before a time, a signing key's `kid`), why and by whom, and until when it applies; then it is purged.
//!
//! The store keeps revocations durably and shares them between replicas; each replica holds the live set in a
//! [`RevocationView`] (`view.rs`), refreshed in the background, so deciding never waits on the database. This
//! module is pure: no I/O, time as a parameter.

mod expiry;
mod identity;
mod view;

pub use expiry::{Lifetimes, MARGIN_SECS};
pub use view::{InboundQuery, IssuedQuery, RevocationSet, RevocationView, Revoked};

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// How an identity revocation matches a claim's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matcher {
    /// The claim's string value equals this text.
    Equals(String),
    /// The claim's string value matches this `StringLike` pattern (`*`, `?`).
    Glob(String),
}

/// What a revocation hits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// One Tollgate-issued token (introspection answers inactive).
    TollgateJti { jti: String },
    /// One inbound CI token of a configured issuer: it is no longer exchanged.
    InboundJti { issuer: String, jti: String },
    /// Every inbound token of a configured issuer whose claim matches: no exchange until the revocation expires.
    Identity { issuer: String, claim: String, matcher: Matcher },
    /// Every Tollgate token minted for the role before `before` (introspection answers inactive); exchanges for
    /// the role are refused until then.
    Role { role: String, before: UnixTime },
    /// A signing key: Tollgate tokens it signed (introspection), and inbound tokens signed with it (of `issuer`,
    /// or of any issuer when none is named).
    Kid { kid: String, issuer: Option<String> },
}

impl Target {
    /// The kind, as a stable lowercase name (CLI, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Target::TollgateJti { .. } => "tollgate_jti",
            Target::InboundJti { .. } => "inbound_jti",
            Target::Identity { .. } => "identity",
            Target::Role { .. } => "role",
            Target::Kid { .. } => "kid",
        }
    }
}

/// One revocation, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Random, unique (32 hex characters).
    pub id: String,
    pub target: Target,
    pub reason: String,
    pub author: String,
    pub created_at: UnixTime,
    /// It applies until then and is purged after: no credential it can hit outlives it.
    pub expires_at: UnixTime,
}

/// The longest text a reason, author, claim name or value may have (they are echoed to operators).
pub const MAX_TEXT: usize = 512;

/// Why a revocation cannot be recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RevocationError {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} is longer than {MAX_TEXT} characters")]
    TooLong(&'static str),
    #[error("it would expire at {expires_at}, which is not after now ({now})")]
    AlreadyExpired { expires_at: UnixTime, now: UnixTime },
}

impl Revocation {
    /// How operators see it (the admin API and `tollgate revoke`/`revocations list` print this): its fields, the
    /// target's kind, and RFC 3339 instants.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "kind": self.target.kind(),
            "target": self.target,
            "reason": self.reason,
            "author": self.author,
            "created_at": self.created_at.to_rfc3339(),
            "expires_at": self.expires_at.to_rfc3339(),
        })
    }

    /// Checks what an operator typed: texts present and bounded, an expiry in the future.
    pub fn validate(&self, now: UnixTime) -> Result<(), RevocationError> {
        let mut texts = vec![("reason", self.reason.as_str()), ("author", self.author.as_str())];
        match &self.target {
            Target::TollgateJti { jti } => texts.push(("jti", jti)),
            Target::InboundJti { issuer, jti } => texts.extend([("issuer", issuer.as_str()), ("jti", jti)]),
            Target::Identity { issuer, claim, matcher } => {
                let (Matcher::Equals(value) | Matcher::Glob(value)) = matcher;
                texts.extend([("issuer", issuer.as_str()), ("claim", claim), ("value", value)]);
            }
            Target::Role { role, .. } => texts.push(("role", role)),
            Target::Kid { kid, issuer } => {
                texts.push(("kid", kid));
                texts.extend(issuer.as_deref().map(|issuer| ("issuer", issuer)));
            }
        }
        for (name, text) in texts {
            if text.is_empty() {
                return Err(RevocationError::Empty(name));
            }
            if text.chars().count() > MAX_TEXT {
                return Err(RevocationError::TooLong(name));
            }
        }
        if self.expires_at <= now {
            return Err(RevocationError::AlreadyExpired { expires_at: self.expires_at, now });
        }
        Ok(())
    }

    /// The target as one JSON text (how the store keeps it).
    pub fn target_json(&self) -> String {
        serde_json::to_string(&self.target).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;

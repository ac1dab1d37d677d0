//! How long a revocation is kept when its author gives no end: until every credential it can hit has expired.
//! Tollgate tokens live at most `tokens.max_ttl_seconds`; inbound tokens at most their issuer's
//! `max_token_lifetime_seconds` plus leeway; a margin covers any leeway they could still verify with.

use super::Target;
use crate::clock::UnixTime;

/// How far past a credential's end its revocation is kept.
pub const MARGIN_SECS: i64 = 660;

/// The longest lives of what revocations hit.
#[derive(Clone, Debug, Default)]
pub struct Lifetimes {
    /// `tokens.max_ttl_seconds`.
    pub tollgate_secs: i64,
    /// Per trusted issuer name: its longest token lifetime plus leeway.
    pub issuers: Vec<(String, i64)>,
}

impl Lifetimes {
    /// The default end of a revocation of `target` made at `now`; `Err` names an unknown issuer.
    pub fn default_expiry(&self, target: &Target, now: UnixTime) -> Result<UnixTime, String> {
        let ours = self.tollgate_secs + MARGIN_SECS;
        let inbound = |name: Option<&str>| -> Result<i64, String> {
            let windows = self.issuers.iter().filter(|(issuer, _)| name.is_none_or(|name| issuer == name));
            match (windows.map(|(_, secs)| *secs).max(), name) {
                (Some(longest), _) => Ok(longest + MARGIN_SECS),
                (None, Some(name)) => {
                    let names: Vec<&str> = self.issuers.iter().map(|(n, _)| n.as_str()).collect();
                    Err(format!("no trusted issuer is named {name:?} (names: {})", names.join(", ")))
                }
                (None, None) => Ok(MARGIN_SECS),
            }
        };
        Ok(match target {
            Target::TollgateJti { .. } => now.plus_secs(ours),
            Target::Role { before, .. } => (*before).max(now).plus_secs(ours),
            Target::InboundJti { issuer, .. } | Target::Identity { issuer, .. } => {
                now.plus_secs(inbound(Some(issuer))?)
            }
            Target::Kid { issuer: Some(issuer), .. } => now.plus_secs(inbound(Some(issuer))?),
            Target::Kid { issuer: None, .. } => now.plus_secs(ours.max(inbound(None)?)),
        })
    }
}

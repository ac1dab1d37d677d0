//! A role's replay rule: whether a CI token may be exchanged for it more than once (`single_use:`), and what
//! happens when the state store cannot say (`on_store_error:`). Pure data; the broker acts on it.
//!
//! `per_role` (the default) lets one job's token serve several roles, each once; `strict` allows one exchange
//! per token, whatever the role; `off` never records. On the AWS STS door the rule applies only where a policy
//! writes `single_use:` itself: AWS clients resend one web-identity token (configure-aws-credentials retries up
//! to 12 times, SDKs retry, Terraform shares a token file), so strict single use there breaks them.

use serde_saphyr::Spanned;

use crate::policy::source::line_of;

/// `single_use:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleUse {
    PerRole,
    Strict,
    Off,
}

/// `on_store_error:` — a single-use role when the store cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Fail closed (503), the default.
    Deny,
    /// Exchange without the replay check (logged at load, and on every such exchange).
    Allow,
}

/// A compiled replay rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayRule {
    pub single_use: SingleUse,
    /// Whether the policy wrote `single_use:` (only then does it apply on the STS door).
    pub written: bool,
    pub on_store_error: OnStoreError,
}

impl Default for ReplayRule {
    fn default() -> Self {
        Self { single_use: SingleUse::PerRole, written: false, on_store_error: OnStoreError::Deny }
    }
}

impl ReplayRule {
    /// The scope a claim of this role's use is recorded under (`role:NAME` or `any`), or `None` when this door
    /// records nothing.
    pub fn scope(&self, role: &str, sts_door: bool) -> Option<String> {
        if sts_door && !self.written {
            return None;
        }
        match self.single_use {
            SingleUse::PerRole => Some(format!("role:{role}")),
            SingleUse::Strict => Some("any".to_owned()),
            SingleUse::Off => None,
        }
    }
}

/// The rule as written; an error is `(line, message)`.
pub(super) fn compile(
    single_use: Option<Spanned<String>>,
    on_store_error: Option<Spanned<String>>,
) -> Result<ReplayRule, (Option<u64>, String)> {
    let mut rule = ReplayRule::default();
    if let Some(written) = single_use {
        rule.written = true;
        rule.single_use = match written.value.as_str() {
            "per_role" => SingleUse::PerRole,
            "strict" => SingleUse::Strict,
            "off" => SingleUse::Off,
            other => {
                let message = format!("single_use {other:?} is not one of per_role, strict, off");
                return Err((line_of(&written), message));
            }
        };
    }
    if let Some(written) = on_store_error {
        rule.on_store_error = match written.value.as_str() {
            "deny" => OnStoreError::Deny,
            "allow" => OnStoreError::Allow,
            other => {
                let message = format!("on_store_error {other:?} is not one of deny, allow");
                return Err((line_of(&written), message));
            }
        };
    }
    Ok(rule)
}

//! The config file's serde shape: `Raw*` structs that refuse unknown keys and keep the source line of what a
//! later check may point at. `Config::parse` (in `config.rs`) turns them into the validated `Config`.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::aws::RawAws;
use super::issuers::{RawIssuer, RawJwks};
use super::server::{RawLimits, RawTls};
use super::{introspection, operators, relying, state};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) listen: Spanned<String>,
    pub(super) issuer_url: Spanned<String>,
    #[serde(default)]
    pub(super) signing: RawSigning,
    pub(super) policies: String,
    pub(super) shadow: Option<RawShadow>,
    #[serde(default)]
    pub(super) tokens: RawTokens,
    #[serde(default)]
    pub(super) jwks: RawJwks,
    #[serde(default = "default_leeway")]
    pub(super) default_leeway_seconds: u32,
    pub(super) trusted_issuers: Vec<Spanned<RawIssuer>>,
    #[serde(default)]
    pub(super) explain: RawExplain,
    #[serde(default = "default_true")]
    pub(super) watch_policies: bool,
    #[serde(default)]
    pub(super) aws: RawAws,
    #[serde(default)]
    pub(super) limits: RawLimits,
    pub(super) tls: Option<RawTls>,
    pub(super) shutdown_grace_seconds: Option<u32>,
    #[serde(default)]
    pub(super) audit: RawAudit,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) admin: RawAdmin,
    #[serde(default)]
    pub(super) state: state::RawState,
    #[serde(default)]
    pub(super) revocations: state::RawRevocations,
    #[serde(default)]
    pub(super) introspection: introspection::RawIntrospection,
    #[serde(default)]
    pub(super) operators: operators::RawOperators,
    #[serde(default)]
    pub(super) relying_parties: Vec<relying::RawRelyingParty>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShadow {
    pub(super) policies: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    pub(super) path: Option<String>,
    pub(super) flush_interval_ms: Option<u64>,
    pub(super) claims: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) tls: Option<RawTls>,
    pub(super) metrics: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExplain {
    pub(super) claim_values: Option<Spanned<String>>,
    pub(super) in_errors: Option<bool>,
    pub(super) endpoint: Option<bool>,
    pub(super) show_expected: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    pub(super) alg: Option<Spanned<String>>,
    pub(super) key_file: Option<String>,
    #[serde(default)]
    pub(super) previous_keys: Vec<RawPreviousKey>,
    #[serde(default)]
    pub(super) managed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPreviousKey {
    pub(super) key_file: String,
    /// Defaults to `signing.alg`.
    pub(super) alg: Option<String>,
    /// When this key stopped signing (RFC 3339).
    pub(super) retired_at: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTokens {
    #[serde(default = "default_max_ttl")]
    pub(super) max_ttl_seconds: Spanned<u32>,
    #[serde(default)]
    pub(super) cap_at_inbound_exp: bool,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self { max_ttl_seconds: default_max_ttl(), cap_at_inbound_exp: false }
    }
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn default_leeway() -> u32 {
    60
}

pub(super) fn default_max_ttl() -> Spanned<u32> {
    Spanned::new(3600, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

//! The `operators:` block (who may sign in to the admin API, and what they may do there) and the admin listener's
//! `admin:` keys beyond `listen` (`tls`, `metrics`). Secrets are read here once: a provider's `client_secret_file`,
//! and the break-glass secret (`bootstrap.secret_file`, or the variable `bootstrap.secret_env` names), which is
//! hashed at once and never kept.

use std::path::Path;

use serde::Deserialize;

use super::introspection::hex32;
use crate::issuers::parse_allowed;
use crate::operators::{AdminClaim, Binding, Bindings, IamRole, Member, OperatorsConfig, ProviderConfig};

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOperators {
    session_ttl_seconds: Option<u32>,
    max_session_ttl_seconds: Option<u32>,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    iam_policy: RawIamPolicy,
    bootstrap: Option<RawBootstrap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    issuer: String,
    discovery_url: Option<String>,
    client_id: String,
    client_secret_file: Option<String>,
    scopes: Option<Vec<String>>,
    user_claim: Option<String>,
    groups_claim: Option<String>,
    admin_role: Option<RawAdminClaim>,
    #[serde(default)]
    allow_private_network: bool,
    algorithms: Option<Vec<String>>,
    leeway_seconds: Option<u32>,
    #[serde(default)]
    id_token_sign_in: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdminClaim {
    claim: String,
    value: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIamPolicy {
    #[serde(default)]
    bindings: Vec<RawBinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    role: String,
    members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBootstrap {
    /// A file holding the secret (first line).
    secret_file: Option<String>,
    /// Or the environment variable holding it (read at start only, and only because the config names it).
    secret_env: Option<String>,
    /// Or its SHA-256, hex.
    secret_sha256: Option<String>,
}

/// Who may read `/metrics` on the admin listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAccess {
    Open,
    /// A session with `role/viewer` (or admin eligibility).
    Viewer,
}

pub(super) fn metrics_access(raw: Option<&str>, admin_listen: std::net::SocketAddr) -> Result<MetricsAccess, String> {
    match raw {
        None if admin_listen.ip().is_loopback() => Ok(MetricsAccess::Open),
        None | Some("viewer") => Ok(MetricsAccess::Viewer),
        Some("open") => Ok(MetricsAccess::Open),
        Some(other) => Err(format!("admin.metrics: {other:?} is not one of open, viewer")),
    }
}

pub(super) fn operators(
    raw: &RawOperators,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OperatorsConfig, String> {
    let defaults = OperatorsConfig::default();
    let max_session_secs = raw.max_session_ttl_seconds.map_or(defaults.max_session_secs, i64::from);
    if !(60..=8 * 3600).contains(&max_session_secs) {
        return Err("operators.max_session_ttl_seconds: must be 60..28800".into());
    }
    let session_secs = raw.session_ttl_seconds.map_or(defaults.session_secs.min(max_session_secs), i64::from);
    if !(60..=max_session_secs).contains(&session_secs) {
        return Err("operators.session_ttl_seconds: must be 60..max_session_ttl_seconds".into());
    }
    let mut providers: Vec<ProviderConfig> = Vec::new();
    for (index, raw) in raw.providers.iter().enumerate() {
        let key = format!("operators.providers[{index}]");
        let provider = provider(raw, base).map_err(|reason| format!("{key}.{reason}"))?;
        if providers.iter().any(|p| p.name == provider.name || p.issuer == provider.issuer) {
            return Err(format!("{key}: the name and the issuer must be unique"));
        }
        providers.push(provider);
    }
    let mut bindings = Vec::new();
    for (index, binding) in raw.iam_policy.bindings.iter().enumerate() {
        let key = format!("operators.iam_policy.bindings[{index}]");
        let role = IamRole::parse(&binding.role).map_err(|reason| format!("{key}.role: {reason}"))?;
        let members = binding
            .members
            .iter()
            .map(|m| Member::parse(m))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| format!("{key}.members: {reason}"))?;
        if members.is_empty() {
            return Err(format!("{key}.members: name at least one member"));
        }
        for qualifier in members.iter().filter_map(Member::provider_qualifier) {
            match qualifier {
                None if providers.len() > 1 => {
                    return Err(format!(
                        "{key}.members: with several providers, user: and group: members name theirs (user:PROVIDER:EMAIL, group:PROVIDER:NAME)"
                    ));
                }
                Some(name) if !providers.iter().any(|p| p.name == name) => {
                    return Err(format!("{key}.members: no provider is named {name:?}"));
                }
                _ => {}
            }
        }
        bindings.push(Binding { role, members });
    }
    let bootstrap_sha256 = bootstrap(raw.bootstrap.as_ref(), base, env)?;
    Ok(OperatorsConfig {
        providers,
        bindings: Bindings::new(bindings),
        session_secs,
        max_session_secs,
        bootstrap_sha256,
    })
}

fn provider(raw: &RawProvider, base: &Path) -> Result<ProviderConfig, String> {
    let label = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if !label(&raw.name) || raw.name == "bootstrap" {
        return Err("name: a label of A-Z a-z 0-9 _ - (not \"bootstrap\")".into());
    }
    // Exactly as the provider writes it (some end in `/`): `iss` and discovery are compared with it as is.
    let issuer = raw.issuer.clone();
    parse_allowed(&issuer).map_err(|e| format!("issuer: {e}"))?;
    let expected = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    if raw.discovery_url.as_ref().is_some_and(|url| *url != expected) {
        return Err(format!("discovery_url: must be {expected:?} (discovery is read from the issuer)"));
    }
    if raw.client_id.is_empty() {
        return Err("client_id: must not be empty".into());
    }
    let client_secret = match &raw.client_secret_file {
        None => None,
        Some(file) => Some(read_secret(&base.join(file)).map_err(|e| format!("client_secret_file: {e}"))?),
    };
    let algorithms = match &raw.algorithms {
        None => vec![jsonwebtoken::Algorithm::RS256, jsonwebtoken::Algorithm::ES256],
        Some(names) => names
            .iter()
            .map(|name| match name.as_str() {
                "HS256" | "HS384" | "HS512" | "none" => Err(format!("algorithms: {name} is never accepted")),
                other => other.parse().map_err(|_| format!("algorithms: {other:?} is unknown")),
            })
            .collect::<Result<_, _>>()?,
    };
    let leeway = raw.leeway_seconds.unwrap_or(60);
    if leeway > 600 {
        return Err("leeway_seconds: must be 0..600".into());
    }
    let scopes = raw.scopes.clone().unwrap_or_else(|| vec!["openid".into(), "email".into()]);
    if !scopes.iter().any(|scope| scope == "openid") {
        return Err("scopes: must include openid".into());
    }
    Ok(ProviderConfig {
        name: raw.name.clone(),
        issuer,
        client_id: raw.client_id.clone(),
        client_secret,
        scopes,
        user_claim: raw.user_claim.clone().unwrap_or_else(|| "email".into()),
        groups_claim: raw.groups_claim.clone(),
        admin_role: raw.admin_role.as_ref().map(|a| AdminClaim { claim: a.claim.clone(), value: a.value.clone() }),
        allow_private_network: raw.allow_private_network,
        algorithms,
        leeway_secs: i64::from(leeway),
        id_token_sign_in: raw.id_token_sign_in,
    })
}

fn bootstrap(
    raw: Option<&RawBootstrap>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<[u8; 32]>, String> {
    let digest = |secret: &str| -> Result<[u8; 32], String> {
        if secret.len() < 24 {
            return Err("operators.bootstrap: the secret must have at least 24 characters".into());
        }
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        hash.as_ref().try_into().map_err(|_| "operators.bootstrap: hashing failed".to_owned())
    };
    let Some(raw) = raw else { return Ok(None) };
    match (&raw.secret_file, &raw.secret_env, &raw.secret_sha256) {
        (Some(file), None, None) => {
            let secret = read_secret(&base.join(file)).map_err(|e| format!("operators.bootstrap.secret_file: {e}"))?;
            digest(&secret).map(Some)
        }
        (None, Some(name), None) => {
            let secret = env(name).ok_or_else(|| format!("operators.bootstrap.secret_env: {name} is not set"))?;
            digest(&secret).map(Some)
        }
        (None, None, Some(hex)) => {
            hex32(hex).map(Some).ok_or_else(|| "operators.bootstrap.secret_sha256: must be 64 hex characters".into())
        }
        _ => Err("operators.bootstrap: give exactly one of secret_file, secret_env, secret_sha256".into()),
    }
}

/// The first line of a secret file, which must not be empty.
fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let secret = text.lines().next().unwrap_or_default().trim().to_owned();
    if secret.is_empty() { Err(format!("{} is empty", path.display())) } else { Ok(secret) }
}

//! What the relying parties named in `relying_parties:` require of Tollgate's tokens, checked by `tollgate
//! check` against the config and the compiled policies. A Kubernetes API server's OIDC authenticator needs an
//! https issuer, an RS*/ES*/PS* signing algorithm (never EdDSA), its client id in `aud`, and the username and
//! groups claims it maps. `kubernetes` generates the API server's side of that trust from a role. Nothing here
//! runs while serving.

pub mod kubernetes;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::config::{Config, RelyingParty, RelyingPartyKind};
use crate::credentials::SigningAlg;
use crate::policy::{Grant, PolicySet, TokenGrant};

/// Claims every minted token carries, whatever its grant says.
const MINTED_CLAIMS: &[&str] = &["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "role"];

/// How much a finding matters: warnings count for `check --strict`, notes do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Note,
}

/// One thing a relying party would refuse, or should be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The relying party's name.
    pub party: String,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{level}: relying party {}: {}", self.party, self.text)
    }
}

/// Every finding for every relying party of `config`, in config order.
pub fn check(config: &Config, policies: &PolicySet) -> Vec<Finding> {
    let mut findings = Vec::new();
    for party in &config.relying_parties {
        let mut found = |severity, text: String| findings.push(Finding { severity, party: party.name.clone(), text });
        let grants = token_grants(policies, &party.audience);
        if grants.is_empty() {
            found(Severity::Warning, format!("no role grants a token for audience {:?}", party.audience));
        }
        if party.kind == RelyingPartyKind::Kubernetes {
            kubernetes(config, party, &grants, &mut found);
        }
    }
    findings
}

/// The roles whose token grant names `audience`, with that grant.
fn token_grants<'a>(policies: &'a PolicySet, audience: &str) -> Vec<(&'a str, &'a TokenGrant)> {
    policies
        .roles()
        .filter_map(|role| match policies.get(role).map(|policy| policy.grant()) {
            Some(Grant::Token(grant)) if grant.audiences().iter().any(|a| a == audience) => Some((role, grant)),
            _ => None,
        })
        .collect()
}

/// kube-apiserver's documented requirements (`--oidc-*` flags and `AuthenticationConfiguration`).
fn kubernetes(
    config: &Config,
    party: &RelyingParty,
    grants: &[(&str, &TokenGrant)],
    found: &mut impl FnMut(Severity, String),
) {
    let issuer = &config.minter.issuer_url;
    if !issuer.starts_with("https://") {
        found(
            Severity::Warning,
            format!("issuer_url {issuer:?} is not https; the Kubernetes API server requires https"),
        );
    }
    if published_algs(config).contains(&SigningAlg::EdDsa) {
        found(
            Severity::Warning,
            "a signing key (signing.alg or a previous key) is EdDSA; the Kubernetes API server accepts only RS*, ES* \
             and PS* algorithms: use ES256 or RS256"
                .to_owned(),
        );
    } else if config.signing.alg != SigningAlg::Rs256 {
        found(
            Severity::Note,
            format!(
                "tokens are signed with {}: start the API server with --oidc-signing-algs={} (its default is RS256)",
                config.signing.alg.as_str(),
                config.signing.alg.as_str()
            ),
        );
    }
    for (role, grant) in grants {
        if !token_sets(grant, &party.username_claim) {
            found(
                Severity::Warning,
                format!("role {role}'s token has no {:?} claim (its username claim)", party.username_claim),
            );
        }
        if party.username_claim == "email"
            && grant.literal_claim("email_verified") != Some(&serde_json::Value::Bool(true))
        {
            found(
                Severity::Warning,
                format!("role {role}'s token has no email_verified: true, which the API server requires of email"),
            );
        }
        let Some(groups) = &party.groups_claim else { continue };
        if !token_sets(grant, groups) {
            found(Severity::Warning, format!("role {role}'s token has no {groups:?} claim (its groups claim)"));
        } else if grant.literal_claim(groups).is_some_and(|value| !is_string_or_strings(value)) {
            found(Severity::Warning, format!("role {role}'s {groups:?} claim is not a string or an array of strings"));
        }
    }
}

/// The algorithms of the keys relying parties find in the JWKS: the signing key's, then each previous key's,
/// once each.
pub(crate) fn published_algs(config: &Config) -> Vec<SigningAlg> {
    let mut algs = vec![config.signing.alg];
    for (_, alg, _) in &config.signing.previous_keys {
        if !algs.contains(alg) {
            algs.push(*alg);
        }
    }
    algs
}

/// Whether every token of `grant` carries `claim` (the broker's own claims, or one the grant sets).
pub(crate) fn token_sets(grant: &TokenGrant, claim: &str) -> bool {
    MINTED_CLAIMS.contains(&claim) || grant.claim_keys().any(|key| key == claim)
}

/// What the API server accepts as groups: a string, or an array of strings.
pub(crate) fn is_string_or_strings(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(_) => true,
        serde_json::Value::Array(items) => items.iter().all(serde_json::Value::is_string),
        _ => false,
    }
}

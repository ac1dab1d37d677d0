//! The Kubernetes API server's side of trusting Tollgate, generated from one role's token grant: its issuer,
//! audiences, algorithms, the username and groups mappings and the claims the grant guarantees, rendered as a
//! structured `AuthenticationConfiguration` (`apiserver.config.k8s.io/v1beta1`) or as the legacy `--oidc-*`
//! flags, and read back from either form so both can be compared. Refuses a grant the API server could not
//! accept, with the reason.

use std::fmt::Write as _;

use serde::Deserialize;

use super::{is_string_or_strings, token_sets};
use crate::config::{Config, RelyingPartyKind};
use crate::credentials::SigningAlg;
use crate::policy::{Grant, PolicySet};

/// The API version of the structured authentication config this renders (Kubernetes 1.30 and later).
pub const AUTHENTICATION_CONFIG_VERSION: &str = "apiserver.config.k8s.io/v1beta1";

/// What the user chose beside the role (each `None` takes the default).
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// Default: the `kind: kubernetes` relying party's for the grant's audience, else `sub`.
    pub username_claim: Option<String>,
    /// Default `tollgate:`; an empty string keeps names as they are.
    pub username_prefix: Option<String>,
    /// Default: the relying party's, else `groups` when the grant sets it, else no groups.
    pub groups_claim: Option<String>,
    /// Default `tollgate:`.
    pub groups_prefix: Option<String>,
    /// The PEM of the CA that signed Tollgate's certificate (`--oidc-ca-file`), when it is private.
    pub certificate_authority: Option<(String, String)>,
}

/// Everything the API server needs to trust tokens of one role. Both renderings carry exactly this, and
/// [`Settings`] reads it back from either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServerConfig {
    pub issuer_url: String,
    pub audiences: Vec<String>,
    /// The algorithms of the signing key and of every previous key still published.
    pub signing_algs: Vec<String>,
    pub username_claim: String,
    pub username_prefix: String,
    pub groups_claim: Option<String>,
    pub groups_prefix: String,
    /// Claims the grant guarantees, as name and value: `role` always, plus the grant's literal string claims.
    pub required_claims: Vec<(String, String)>,
    /// (path, PEM) of the CA, when given.
    pub certificate_authority: Option<(String, String)>,
}

/// Builds the API server's settings for `role`, or says why the API server could not accept its tokens.
pub fn apiserver_config(
    config: &Config,
    policies: &PolicySet,
    role: &str,
    choices: Choices,
) -> Result<ApiServerConfig, String> {
    let policy = policies.get(role).ok_or_else(|| format!("no role {role:?} in {}", config.policies_dir.display()))?;
    let grant = match policy.grant() {
        Grant::Token(grant) => grant,
        Grant::Aws(_) => return Err(format!("role {role} grants AWS credentials, not a token the API server reads")),
    };
    let issuer_url = config.minter.issuer_url.clone();
    if !issuer_url.starts_with("https://") {
        return Err(format!("issuer_url {issuer_url:?} is not https; the Kubernetes API server requires https"));
    }
    let signing_algs = super::published_algs(config);
    if signing_algs.contains(&SigningAlg::EdDsa) {
        return Err("a signing key (signing.alg or a previous key) is EdDSA, which the Kubernetes API server \
                    cannot verify: sign with ES256 or RS256"
            .to_owned());
    }
    let party = config
        .relying_parties
        .iter()
        .find(|party| party.kind == RelyingPartyKind::Kubernetes && grant.audiences().contains(&party.audience));
    let username_claim =
        choices.username_claim.or_else(|| party.map(|p| p.username_claim.clone())).unwrap_or_else(|| "sub".to_owned());
    if !token_sets(grant, &username_claim) {
        return Err(format!("role {role}'s token has no {username_claim:?} claim to take the username from"));
    }
    let groups_claim = match choices.groups_claim.or_else(|| party.and_then(|p| p.groups_claim.clone())) {
        Some(claim) if !token_sets(grant, &claim) => {
            return Err(format!("role {role}'s token has no {claim:?} claim to take groups from"));
        }
        Some(claim) if grant.literal_claim(&claim).is_some_and(|value| !is_string_or_strings(value)) => {
            return Err(format!("role {role}'s {claim:?} claim is not a string or an array of strings"));
        }
        Some(claim) => Some(claim),
        None => token_sets(grant, "groups").then(|| "groups".to_owned()),
    };
    let mut required_claims = vec![("role".to_owned(), role.to_owned())];
    for key in grant.claim_keys() {
        if let Some(serde_json::Value::String(value)) = grant.literal_claim(key) {
            required_claims.push((key.to_owned(), value.clone()));
        }
    }
    Ok(ApiServerConfig {
        issuer_url,
        audiences: grant.audiences().to_vec(),
        signing_algs: signing_algs.iter().map(|alg| alg.as_str().to_owned()).collect(),
        username_claim,
        username_prefix: choices.username_prefix.unwrap_or_else(|| "tollgate:".to_owned()),
        groups_claim,
        groups_prefix: choices.groups_prefix.unwrap_or_else(|| "tollgate:".to_owned()),
        required_claims,
        certificate_authority: choices.certificate_authority,
    })
}

/// A string as a YAML (and JSON) double-quoted scalar: whatever it holds, it stays one string.
pub fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

impl ApiServerConfig {
    /// The structured `AuthenticationConfiguration` (`--authentication-config FILE`), as YAML.
    pub fn authentication_config(&self) -> String {
        let mut out = format!("apiVersion: {AUTHENTICATION_CONFIG_VERSION}\nkind: AuthenticationConfiguration\njwt:\n");
        let _ = writeln!(out, "  - issuer:\n      url: {}", quoted(&self.issuer_url));
        let audiences: Vec<String> = self.audiences.iter().map(|a| quoted(a)).collect();
        let _ = writeln!(out, "      audiences: [{}]", audiences.join(", "));
        if self.audiences.len() > 1 {
            out.push_str("      audienceMatchPolicy: MatchAny\n");
        }
        if let Some((_, pem)) = &self.certificate_authority {
            let _ = writeln!(out, "      certificateAuthority: {}", quoted(pem));
        }
        out.push_str("    claimValidationRules:\n");
        for (claim, value) in &self.required_claims {
            let _ = writeln!(out, "      - claim: {}\n        requiredValue: {}", quoted(claim), quoted(value));
        }
        out.push_str("    claimMappings:\n      username:\n");
        let _ = writeln!(
            out,
            "        claim: {}\n        prefix: {}",
            quoted(&self.username_claim),
            quoted(&self.username_prefix)
        );
        if let Some(groups) = &self.groups_claim {
            let _ = writeln!(
                out,
                "      groups:\n        claim: {}\n        prefix: {}",
                quoted(groups),
                quoted(&self.groups_prefix)
            );
        }
        out
    }

    /// The legacy `--oidc-*` flags, one per line. They take one client id: the first audience.
    pub fn flags(&self) -> String {
        let mut flags = vec![format!("--oidc-issuer-url={}", self.issuer_url)];
        flags.extend(self.audiences.first().map(|a| format!("--oidc-client-id={a}")));
        flags.push(format!("--oidc-signing-algs={}", self.signing_algs.join(",")));
        flags.push(format!("--oidc-username-claim={}", self.username_claim));
        flags.push(format!("--oidc-username-prefix={}", flag_prefix(&self.username_prefix)));
        if let Some(groups) = &self.groups_claim {
            flags.push(format!("--oidc-groups-claim={groups}"));
            flags.push(format!("--oidc-groups-prefix={}", self.groups_prefix));
        }
        flags
            .extend(self.required_claims.iter().map(|(claim, value)| format!("--oidc-required-claim={claim}={value}")));
        flags.extend(self.certificate_authority.as_ref().map(|(path, _)| format!("--oidc-ca-file={path}")));
        flags.join("\n") + "\n"
    }
}

/// `--oidc-username-prefix` says "no prefix" with `-` (an empty value means its default, the issuer URL).
fn flag_prefix(prefix: &str) -> &str {
    if prefix.is_empty() { "-" } else { prefix }
}

/// The settings the API server ends up with, read back from either rendering, to compare them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub issuer_url: String,
    /// The audience checked (the first one with flags; with the config, every one, any may match).
    pub client_id: String,
    pub username_claim: String,
    pub username_prefix: String,
    pub groups_claim: Option<String>,
    pub groups_prefix: Option<String>,
    pub required_claims: Vec<(String, String)>,
    pub has_certificate_authority: bool,
}

impl Settings {
    /// From `--oidc-*` flags (one per line or space-separated).
    pub fn from_flags(text: &str) -> Result<Settings, String> {
        let mut settings = Settings::default();
        for flag in text.split_whitespace() {
            let (name, value) = flag.split_once('=').ok_or_else(|| format!("{flag:?} is not --name=value"))?;
            let value = value.to_owned();
            match name {
                "--oidc-issuer-url" => settings.issuer_url = value,
                "--oidc-client-id" => settings.client_id = value,
                "--oidc-username-claim" => settings.username_claim = value,
                "--oidc-username-prefix" => settings.username_prefix = if value == "-" { String::new() } else { value },
                "--oidc-groups-claim" => settings.groups_claim = Some(value),
                "--oidc-groups-prefix" => settings.groups_prefix = Some(value),
                "--oidc-ca-file" => settings.has_certificate_authority = true,
                "--oidc-signing-algs" => {}
                "--oidc-required-claim" => {
                    let (claim, value) = value.split_once('=').ok_or_else(|| format!("{flag:?} is not claim=value"))?;
                    settings.required_claims.push((claim.to_owned(), value.to_owned()));
                }
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(settings)
    }

    /// From an `AuthenticationConfiguration` (YAML or JSON) with one JWT issuer, refusing unknown fields.
    pub fn from_authentication_config(text: &str) -> Result<Settings, String> {
        let file: AuthenticationConfiguration = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if file.api_version != AUTHENTICATION_CONFIG_VERSION || file.kind != "AuthenticationConfiguration" {
            return Err(format!(
                "{} {} is not {AUTHENTICATION_CONFIG_VERSION} AuthenticationConfiguration",
                file.api_version, file.kind
            ));
        }
        let [jwt] = <[Jwt; 1]>::try_from(file.jwt).map_err(|_| "expected exactly one jwt issuer".to_owned())?;
        if jwt.issuer.audiences.len() > 1 && jwt.issuer.audience_match_policy.as_deref() != Some("MatchAny") {
            return Err("several audiences need audienceMatchPolicy: MatchAny".to_owned());
        }
        let mut rules = Vec::new();
        for rule in jwt.claim_validation_rules {
            rules.push((rule.claim, rule.required_value));
        }
        Ok(Settings {
            client_id: jwt.issuer.audiences.first().cloned().unwrap_or_default(),
            issuer_url: jwt.issuer.url,
            username_claim: jwt.claim_mappings.username.claim,
            username_prefix: jwt.claim_mappings.username.prefix,
            groups_claim: jwt.claim_mappings.groups.as_ref().map(|g| g.claim.clone()),
            groups_prefix: jwt.claim_mappings.groups.map(|g| g.prefix),
            required_claims: rules,
            has_certificate_authority: jwt.issuer.certificate_authority.is_some(),
        })
    }
}

/// The part of `AuthenticationConfiguration` this module writes (field names as in the API).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthenticationConfiguration {
    api_version: String,
    kind: String,
    jwt: Vec<Jwt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Jwt {
    issuer: Issuer,
    #[serde(default)]
    claim_validation_rules: Vec<ClaimValidationRule>,
    claim_mappings: ClaimMappings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Issuer {
    url: String,
    audiences: Vec<String>,
    audience_match_policy: Option<String>,
    certificate_authority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClaimValidationRule {
    claim: String,
    required_value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimMappings {
    username: PrefixedClaim,
    groups: Option<PrefixedClaim>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixedClaim {
    claim: String,
    prefix: String,
}

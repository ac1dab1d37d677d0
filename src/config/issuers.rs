//! Trusted-issuer entries of the config: `RawIssuer` -> `IssuerConfig` (profiles, templates, key sources,
//! algorithms), duplicate detection, and what policy loading needs to know of each issuer (`KnownIssuer`).

use std::path::Path;

use serde::Deserialize;

use crate::issuers::{
    IssuerConfig, IssuerMatcher, IssuerTemplate, KeysConfig, PlaceholderRule, Profile, ProfileIssuer, known_alg,
    parse_allowed,
};
use crate::policy::KnownIssuer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIssuer {
    pub(super) name: String,
    profile: Option<String>,
    issuer: Option<String>,
    issuer_template: Option<String>,
    #[serde(default)]
    template_values: Vec<String>,
    template_pattern: Option<String>,
    jwks_uri: Option<String>,
    jwks_file: Option<String>,
    algorithms: Option<Vec<String>>,
    audiences: Vec<String>,
    leeway_seconds: Option<u32>,
}

pub(super) fn known_issuer(issuer: &IssuerConfig) -> KnownIssuer {
    let url = match &issuer.matcher {
        IssuerMatcher::Exact(url) => Some(url.as_str()),
        IssuerMatcher::Template(_) => None,
    };
    known_issuer_of(&issuer.name, issuer.profile, url)
}

/// Known issuers when no config is given (`tollgate policy test`, `tollgate explain --claims`): one per
/// built-in profile, named after it, at the profile's own issuer.
pub fn profile_known_issuers() -> Vec<KnownIssuer> {
    Profile::ALL
        .into_iter()
        .map(|profile| {
            let url = match profile.issuer() {
                ProfileIssuer::Exact(url) => Some(url),
                ProfileIssuer::Template(_) => None,
            };
            known_issuer_of(profile.name(), Some(profile), url)
        })
        .collect()
}

fn known_issuer_of(name: &str, profile: Option<Profile>, url: Option<&str>) -> KnownIssuer {
    let shared = match (profile, url) {
        (Some(Profile::Github | Profile::Buildkite), _) => true,
        (Some(Profile::Gitlab), Some(url)) => url == "https://gitlab.com",
        _ => false,
    };
    let tenant_claims = match profile {
        Some(profile) if shared => profile.tenant_claims().iter().map(|c| (*c).to_owned()).collect(),
        _ => Vec::new(),
    };
    let url_prefix = url.map(|u| u.split_once("://").map_or(u, |(_, rest)| rest).trim_end_matches('/').to_owned());
    KnownIssuer { name: name.to_owned(), url_prefix, tenant_claims }
}

/// Whether two entries could claim the same `iss`: then the first would silently shadow the second.
/// Two pattern templates of the same shape cannot be compared and are allowed.
pub(super) fn same_issuer(a: &IssuerMatcher, b: &IssuerMatcher) -> bool {
    match (a, b) {
        (IssuerMatcher::Exact(a), IssuerMatcher::Exact(b)) => a == b,
        (IssuerMatcher::Exact(url), IssuerMatcher::Template(t))
        | (IssuerMatcher::Template(t), IssuerMatcher::Exact(url)) => t.match_issuer(url).is_some(),
        (IssuerMatcher::Template(a), IssuerMatcher::Template(b)) => {
            a.allow_list().iter().any(|value| b.match_issuer(&a.render(value)).is_some())
                || b.allow_list().iter().any(|value| a.match_issuer(&b.render(value)).is_some())
        }
    }
}

pub(super) type FieldError = (&'static str, String);

pub(super) fn issuer_config(raw: &RawIssuer, base: &Path, default_leeway: u32) -> Result<IssuerConfig, FieldError> {
    let profile = raw.profile.as_deref().map(str::parse::<Profile>).transpose().map_err(|e| ("profile", e))?;
    let matcher = issuer_matcher(raw, profile)?;
    let keys = match (&raw.jwks_uri, &raw.jwks_file) {
        (Some(_), Some(_)) => {
            return Err(("jwks_uri", "give jwks_uri or jwks_file, not both".into()));
        }
        (Some(uri), None) => {
            parse_allowed(&uri.replace(['{', '}'], "")).map_err(|e| ("jwks_uri", e.to_string()))?;
            KeysConfig::JwksUri(uri.clone())
        }
        (None, Some(file)) => KeysConfig::JwksFile(base.join(file)),
        (None, None) => KeysConfig::Discovery,
    };
    let algorithms = match &raw.algorithms {
        None => profile.map_or_else(|| vec![jsonwebtoken::Algorithm::RS256], |p| p.algorithms().to_vec()),
        Some(names) if names.is_empty() => return Err(("algorithms", "must not be empty".into())),
        Some(names) => names
            .iter()
            .map(|n| {
                known_alg(n).ok_or_else(|| {
                    (
                        "algorithms",
                        format!("{n:?} cannot be configured (asymmetric JOSE algorithms only; never HS* or none)"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if raw.audiences.is_empty() || raw.audiences.iter().any(String::is_empty) {
        return Err(("audiences", "list at least one accepted audience".into()));
    }
    if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(("name", "use letters, digits, '-' and '_'".into()));
    }
    Ok(IssuerConfig {
        name: raw.name.clone(),
        matcher,
        keys,
        algorithms,
        audiences: raw.audiences.clone(),
        leeway_secs: i64::from(raw.leeway_seconds.unwrap_or(default_leeway).min(600)),
        profile,
    })
}

fn issuer_matcher(raw: &RawIssuer, profile: Option<Profile>) -> Result<IssuerMatcher, FieldError> {
    let from_profile = profile.map(Profile::issuer);
    let (exact, template) = match (&raw.issuer, &raw.issuer_template, from_profile) {
        (Some(_), Some(_), _) => {
            return Err(("issuer", "give issuer or issuer_template, not both".into()));
        }
        (Some(url), None, _) => (Some(url.clone()), None),
        (None, Some(t), _) => (None, Some(t.clone())),
        (None, None, Some(ProfileIssuer::Exact(url))) => (Some(url.to_owned()), None),
        (None, None, Some(ProfileIssuer::Template(t))) => (None, Some(t.to_owned())),
        (None, None, None) => {
            return Err(("issuer", "give issuer, issuer_template or profile".into()));
        }
    };
    if let Some(url) = exact {
        parse_allowed(&url).map_err(|e| ("issuer", e.to_string()))?;
        return Ok(IssuerMatcher::Exact(url));
    }
    let template = template.unwrap_or_default();
    let rule = match (raw.template_values.is_empty(), &raw.template_pattern) {
        (false, None) => PlaceholderRule::AllowList(raw.template_values.clone()),
        (true, Some(pattern)) => PlaceholderRule::Pattern(
            regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| ("template_pattern", e.to_string()))?,
        ),
        _ => {
            return Err((
                "issuer_template",
                format!("{template:?} needs exactly one of template_values or template_pattern"),
            ));
        }
    };
    let parsed = IssuerTemplate::parse(&template, rule).map_err(|e| ("issuer_template", e))?;
    parse_allowed(&parsed.render("x")).map_err(|e| ("issuer_template", e.to_string()))?;
    Ok(IssuerMatcher::Template(parsed))
}

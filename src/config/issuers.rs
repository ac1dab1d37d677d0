//! Trusted-issuer entries of the config: `RawIssuer` -> `IssuerConfig` (profiles, templates, key sources,
//! algorithms), duplicate detection, what policy loading needs to know of each issuer (`KnownIssuer`), and the `jwks:` cache settings.

use std::path::Path;

use serde::Deserialize;

use crate::issuers::{
    IssuerConfig, IssuerMatcher, IssuerTemplate, JwksSettings, KeysConfig, Network, PlaceholderRule, Profile,
    ProfileIssuer, TenancySetting, known_alg, parse_allowed, reaches_allowed_host,
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
    max_token_lifetime_seconds: Option<u32>,
    tenancy: Option<String>,
    #[serde(default)]
    allow_private_network: bool,
}

/// What policies know of a configured issuer: its location and, when it is shared, the claims that pin a tenant.
pub(super) fn known_issuer(issuer: &IssuerConfig) -> KnownIssuer {
    let url_prefix = match &issuer.matcher {
        IssuerMatcher::Exact(url) => {
            Some(url.split_once("://").map_or(url.as_str(), |(_, rest)| rest).trim_end_matches('/').to_owned())
        }
        IssuerMatcher::Template(_) => None,
    };
    let tenant_claims = issuer.tenancy().map(|tenancy| tenancy.claims().to_vec()).unwrap_or_default();
    KnownIssuer { name: issuer.name.clone(), url_prefix, tenant_claims }
}

/// Known issuers when no config is given (`tollgate policy test`, `tollgate explain --claims`): one per
/// built-in profile, named after it, at the profile's own issuer (a template profile's placeholder bound to any
/// value, as the example config does, so such policies must pin the tenant too).
pub fn profile_known_issuers() -> Vec<KnownIssuer> {
    Profile::ALL
        .into_iter()
        .filter_map(|profile| {
            let matcher = match profile.issuer() {
                ProfileIssuer::Exact(url) => IssuerMatcher::Exact(url.to_owned()),
                ProfileIssuer::Template(template) => {
                    let any = regex::Regex::new("^(?:.+)$").ok()?;
                    IssuerMatcher::Template(IssuerTemplate::parse(template, PlaceholderRule::Pattern(any)).ok()?)
                }
            };
            Some(known_issuer(&IssuerConfig {
                name: profile.name().to_owned(),
                matcher,
                keys: KeysConfig::Discovery,
                algorithms: profile.algorithms().to_vec(),
                audiences: Vec::new(),
                leeway_secs: 0,
                max_lifetime_secs: profile.max_token_lifetime_secs(),
                profile: Some(profile),
                tenancy: TenancySetting::Derived,
                allow_private_network: false,
            }))
        })
        .chain(std::iter::once(crate::operators::runners_known_issuer()))
        .collect()
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
    let tenancy = match raw.tenancy.as_deref() {
        None => TenancySetting::Derived,
        Some("single") => TenancySetting::Single,
        Some("shared") => TenancySetting::Shared,
        Some(other) => return Err(("tenancy", format!("{other:?} is not one of single, shared"))),
    };
    let max_lifetime = match raw.max_token_lifetime_seconds {
        Some(secs) if !(60..=2_592_000).contains(&secs) => {
            return Err(("max_token_lifetime_seconds", "must be between 60 and 2592000 (30 days)".into()));
        }
        Some(secs) => i64::from(secs),
        None => profile.map_or(DEFAULT_MAX_TOKEN_LIFETIME_SECS, Profile::max_token_lifetime_secs),
    };
    let config = IssuerConfig {
        name: raw.name.clone(),
        matcher,
        keys,
        algorithms,
        audiences: raw.audiences.clone(),
        leeway_secs: i64::from(raw.leeway_seconds.unwrap_or(default_leeway).min(600)),
        max_lifetime_secs: max_lifetime,
        profile,
        tenancy,
        allow_private_network: raw.allow_private_network,
    };
    let network = if config.allow_private_network { Network::Private } else { Network::Public };
    let urls = [raw.issuer.as_deref(), raw.issuer_template.as_deref(), raw.jwks_uri.as_deref()];
    if let Some(url) = urls.into_iter().flatten().find(|url| {
        parse_allowed(&url.replace(['{', '}'], "")).is_ok_and(|parsed| !reaches_allowed_host(&parsed, network))
    }) {
        return Err((
            "allow_private_network",
            format!(
                "{url:?} is a loopback, private or link-local address; set allow_private_network: true to fetch from it"
            ),
        ));
    }
    if config.tenancy().is_none() {
        return Err(("tenancy", "shared needs a profile whose tenant claims policies can pin (github, gitlab, buildkite) or an issuer_template".into()));
    }
    Ok(config)
}

/// `max_token_lifetime_seconds` of an issuer without a profile.
const DEFAULT_MAX_TOKEN_LIFETIME_SECS: i64 = 86_400;

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

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJwks {
    refresh_min_seconds: Option<u32>,
    refresh_max_seconds: Option<u32>,
    unknown_kid_cooldown_seconds: Option<u32>,
    max_staleness_seconds: Option<u32>,
    retry_seconds: Option<u32>,
    fetch_timeout_seconds: Option<u32>,
    max_response_bytes: Option<u32>,
}

pub(super) fn jwks_settings(raw: &RawJwks) -> Result<JwksSettings, String> {
    let defaults = JwksSettings::default();
    let secs = |value: Option<u32>, default: i64| value.map_or(default, i64::from);
    let settings = JwksSettings {
        refresh_min_secs: secs(raw.refresh_min_seconds, defaults.refresh_min_secs),
        refresh_max_secs: secs(raw.refresh_max_seconds, defaults.refresh_max_secs),
        unknown_kid_cooldown_secs: secs(raw.unknown_kid_cooldown_seconds, defaults.unknown_kid_cooldown_secs),
        max_staleness_secs: secs(raw.max_staleness_seconds, defaults.max_staleness_secs),
        retry_secs: secs(raw.retry_seconds, defaults.retry_secs),
        fetch_timeout_secs: raw.fetch_timeout_seconds.map_or(defaults.fetch_timeout_secs, u64::from),
        max_response_bytes: raw.max_response_bytes.map_or(defaults.max_response_bytes, |b| b as usize),
    };
    if settings.refresh_min_secs < 1 || settings.refresh_min_secs > settings.refresh_max_secs {
        return Err("refresh_min_seconds must be at least 1 and at most refresh_max_seconds".into());
    }
    if settings.unknown_kid_cooldown_secs < 10 || settings.retry_secs < 1 {
        return Err("unknown_kid_cooldown_seconds must be at least 10 and retry_seconds at least 1".into());
    }
    if settings.max_staleness_secs < settings.refresh_max_secs {
        return Err("max_staleness_seconds must be at least refresh_max_seconds".into());
    }
    if !(1..=60).contains(&settings.fetch_timeout_secs)
        || !(1024..=4 * 1024 * 1024).contains(&settings.max_response_bytes)
    {
        return Err("fetch_timeout_seconds must be 1..60 and max_response_bytes 1024..4194304".into());
    }
    Ok(settings)
}

impl super::Config {
    /// The longest lives of what revocations hit (for their default expiry).
    pub fn lifetimes(&self) -> crate::revocation::Lifetimes {
        crate::revocation::Lifetimes {
            tollgate_secs: i64::from(self.minter.max_ttl_secs),
            issuers: self
                .issuers
                .iter()
                .map(|i| (i.name.clone(), i.max_lifetime_secs + i.leeway_secs))
                .chain(std::iter::once((
                    crate::operators::RUNNERS_ISSUER.to_owned(),
                    crate::operators::RUNNER_IDENTITY_SECS,
                )))
                .collect(),
        }
    }

    /// What policy loading needs to know of each trusted issuer: its name, its host[/path] (for AWS-style
    /// condition keys) and, for shared issuers (GitHub and Buildkite profiles, gitlab.com), the tenant claims.
    pub fn known_issuers(&self) -> Vec<KnownIssuer> {
        let mut known: Vec<KnownIssuer> = self.issuers.iter().map(known_issuer).collect();
        known.push(crate::operators::runners_known_issuer());
        known
    }
}

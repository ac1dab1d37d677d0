//! Configuration: YAML file + `TOLLGATE_*` environment overrides -> `RawConfig` (serde, unknown keys refused)
//! -> `Config`, validated once, with one sub-config per module (issuers, credentials, jwks).
//!
//! Every error names `file:line: key: reason`. Relative paths are taken from the config file's folder.
//! Nothing here serves, fetches or signs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::broker::ExplainConfig;
use crate::credentials::{MinterConfig, SigningAlg};
use crate::issuers::{
    IssuerConfig, IssuerMatcher, IssuerTemplate, JwksSettings, KeysConfig, PlaceholderRule, Profile, ProfileIssuer,
    known_alg, parse_allowed,
};
use crate::policy::{ClaimDisplay, KnownIssuer};

/// Environment variables that override the file.
pub const ENV_LISTEN: &str = "TOLLGATE_LISTEN";
pub const ENV_ISSUER_URL: &str = "TOLLGATE_ISSUER_URL";
pub const ENV_KEY_FILE: &str = "TOLLGATE_SIGNING_KEY_FILE";

/// A configuration error, already formatted as `file:line: key: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub signing: SigningConfig,
    pub policies_dir: PathBuf,
    pub minter: MinterConfig,
    pub jwks: JwksSettings,
    pub issuers: Vec<IssuerConfig>,
    pub explain: ExplainConfig,
    /// Reload policies when their files change (SIGHUP always reloads).
    pub watch_policies: bool,
}

#[derive(Clone, Debug)]
pub struct SigningConfig {
    pub alg: SigningAlg,
    /// `None` only in dev mode: an ephemeral key is generated.
    pub key_file: Option<PathBuf>,
    pub previous_key_files: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Spanned<String>,
    issuer_url: Spanned<String>,
    #[serde(default)]
    signing: RawSigning,
    policies: String,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    jwks: RawJwks,
    #[serde(default = "default_leeway")]
    default_leeway_seconds: u32,
    trusted_issuers: Vec<Spanned<RawIssuer>>,
    #[serde(default)]
    explain: RawExplain,
    #[serde(default = "default_true")]
    watch_policies: bool,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExplain {
    claim_values: Option<Spanned<String>>,
    in_errors: Option<bool>,
    endpoint: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    alg: Option<Spanned<String>>,
    key_file: Option<String>,
    #[serde(default)]
    previous_key_files: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    #[serde(default = "default_max_ttl")]
    max_ttl_seconds: Spanned<u32>,
    #[serde(default)]
    cap_at_inbound_exp: bool,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self { max_ttl_seconds: default_max_ttl(), cap_at_inbound_exp: false }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwks {
    refresh_min_seconds: Option<u32>,
    refresh_max_seconds: Option<u32>,
    unknown_kid_cooldown_seconds: Option<u32>,
    max_staleness_seconds: Option<u32>,
    retry_seconds: Option<u32>,
    fetch_timeout_seconds: Option<u32>,
    max_response_bytes: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    name: String,
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

fn default_true() -> bool {
    true
}

fn default_leeway() -> u32 {
    60
}

fn default_max_ttl() -> Spanned<u32> {
    Spanned::new(3600, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

impl Config {
    /// Reads and validates a config file, applying environment overrides.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, path, env)
    }

    /// Validates config text; `path` names the file in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| yaml_error(&file, &e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let at = |line: u64, key: &str, reason: String| ConfigError(format!("{file}:{line}: {key}: {reason}"));

        let listen_text = env(ENV_LISTEN).unwrap_or_else(|| raw.listen.value.clone());
        let listen = listen_text.parse().map_err(|_| {
            at(raw.listen.referenced.line(), "listen", format!("{listen_text:?} is not an address like 127.0.0.1:8080"))
        })?;
        let issuer_url = env(ENV_ISSUER_URL).unwrap_or_else(|| raw.issuer_url.value.clone());
        let issuer_url = issuer_url.trim_end_matches('/').to_owned();
        parse_allowed(&issuer_url).map_err(|e| at(raw.issuer_url.referenced.line(), "issuer_url", e.to_string()))?;

        let alg = match &raw.signing.alg {
            None => SigningAlg::Es256,
            Some(alg) => alg.value.parse().map_err(|_| {
                at(alg.referenced.line(), "signing.alg", format!("{:?} is not one of ES256, EdDSA, RS256", alg.value))
            })?,
        };
        let key_file = env(ENV_KEY_FILE).or(raw.signing.key_file.clone()).map(|p| base.join(p));
        let signing = SigningConfig {
            alg,
            key_file,
            previous_key_files: raw.signing.previous_key_files.iter().map(|p| base.join(p)).collect(),
        };
        let max_ttl = &raw.tokens.max_ttl_seconds;
        if !(60..=86_400).contains(&max_ttl.value) {
            return Err(at(max_ttl.referenced.line(), "tokens.max_ttl_seconds", "must be between 60 and 86400".into()));
        }
        let minter =
            MinterConfig { issuer_url, max_ttl_secs: max_ttl.value, cap_at_inbound_exp: raw.tokens.cap_at_inbound_exp };
        let jwks = jwks_settings(&raw.jwks).map_err(|reason| ConfigError(format!("{file}: jwks: {reason}")))?;

        let mut issuers: Vec<IssuerConfig> = Vec::new();
        for entry in &raw.trusted_issuers {
            let line = entry.referenced.line();
            let issuer = issuer_config(&entry.value, base, raw.default_leeway_seconds)
                .map_err(|(key, reason)| at(line, &format!("trusted_issuers[{}].{key}", entry.value.name), reason))?;
            if issuers.iter().any(|i| i.name == issuer.name) {
                return Err(at(line, "trusted_issuers", format!("the name {:?} is used twice", issuer.name)));
            }
            if let Some(twin) = issuers.iter().find(|i| same_issuer(&i.matcher, &issuer.matcher)) {
                let reason = format!("{:?} has the same issuer as {:?}", issuer.name, twin.name);
                return Err(at(line, "trusted_issuers", reason));
            }
            issuers.push(issuer);
        }
        if issuers.is_empty() {
            return Err(ConfigError(format!("{file}: trusted_issuers: at least one issuer is needed")));
        }
        let claim_display = match raw.explain.claim_values.as_ref().map(|v| (v.value.as_str(), v.referenced.line())) {
            None | Some(("shown", _)) => ClaimDisplay::Shown,
            Some(("hashed", _)) => ClaimDisplay::Hashed,
            Some(("hidden", _)) => ClaimDisplay::Hidden,
            Some((other, line)) => {
                return Err(at(line, "explain.claim_values", format!("{other:?} is not one of shown, hashed, hidden")));
            }
        };
        let explain = ExplainConfig {
            claim_display,
            in_errors: raw.explain.in_errors.unwrap_or(true),
            endpoint: raw.explain.endpoint.unwrap_or(true),
        };
        Ok(Config {
            listen,
            signing,
            policies_dir: base.join(&raw.policies),
            minter,
            jwks,
            issuers,
            explain,
            watch_policies: raw.watch_policies,
        })
    }

    /// Names of the trusted issuers.
    pub fn issuer_names(&self) -> Vec<&str> {
        self.issuers.iter().map(|i| i.name.as_str()).collect()
    }

    /// What policy loading needs to know of each trusted issuer: its name, its host[/path] (for AWS-style
    /// condition keys) and, for shared issuers (GitHub and Buildkite profiles, gitlab.com), the tenant claims.
    pub fn known_issuers(&self) -> Vec<KnownIssuer> {
        self.issuers.iter().map(known_issuer).collect()
    }
}

/// The process environment, for `Config::load`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn known_issuer(issuer: &IssuerConfig) -> KnownIssuer {
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

fn yaml_error(file: &str, error: &serde_saphyr::Error) -> ConfigError {
    let message = error.to_string();
    let first = message.lines().next().unwrap_or("invalid YAML").trim();
    match error.location() {
        Some(location) => ConfigError(format!("{file}:{}: {first}", location.line())),
        None => ConfigError(format!("{file}: {first}")),
    }
}

/// Whether two entries could claim the same `iss`: then the first would silently shadow the second.
/// Two pattern templates of the same shape cannot be compared and are allowed.
fn same_issuer(a: &IssuerMatcher, b: &IssuerMatcher) -> bool {
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

fn jwks_settings(raw: &RawJwks) -> Result<JwksSettings, String> {
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

type FieldError = (&'static str, String);

fn issuer_config(raw: &RawIssuer, base: &Path, default_leeway: u32) -> Result<IssuerConfig, FieldError> {
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

#[cfg(test)]
mod tests;

//! Configuration: YAML file + `TOLLGATE_*` environment overrides -> `RawConfig` (`raw`: serde, unknown keys refused)
//! -> `Config`, validated once, with one sub-config per module (issuers, credentials, jwks).
//!
//! Every error names `file:line: key: reason`. Relative paths are taken from the config file's folder.
//! Nothing here serves, fetches or signs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::audit::{AuditConfig, ClaimsRecord};
use crate::broker::ExplainConfig;
use crate::clock::UnixTime;
use crate::credentials::{MinterConfig, SigningAlg};
use crate::issuers::{IssuerConfig, JwksSettings, parse_allowed};
use crate::policy::ClaimDisplay;
use crate::sts::StsConfig;

/// Environment variables that override the file.
pub const ENV_LISTEN: &str = "TOLLGATE_LISTEN";
pub const ENV_ISSUER_URL: &str = "TOLLGATE_ISSUER_URL";
pub const ENV_KEY_FILE: &str = "TOLLGATE_SIGNING_KEY_FILE";
pub const ENV_AWS_ENDPOINT_URL: &str = "TOLLGATE_AWS_ENDPOINT_URL";
pub const ENV_ADMIN_LISTEN: &str = "TOLLGATE_ADMIN_LISTEN";
/// The operator listener's address when the config names none: loopback only.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8471";

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
    /// `shadow.policies`: a candidate policy folder evaluated beside the live one, never changing an answer.
    pub shadow_policies_dir: Option<PathBuf>,
    pub minter: MinterConfig,
    pub jwks: JwksSettings,
    pub issuers: Vec<IssuerConfig>,
    pub explain: ExplainConfig,
    /// Reload policies when their files change (SIGHUP always reloads).
    pub watch_policies: bool,
    pub sts: StsConfig,
    /// Limits of every listener.
    pub limits: crate::limits::LimitsConfig,
    /// TLS on the public listener; plain HTTP without.
    pub tls: Option<crate::tls::TlsConfig>,
    /// After SIGTERM, how long requests in flight may take before the process exits anyway.
    pub shutdown_grace: std::time::Duration,
    /// The operator listener (`/metrics`), never the public one.
    pub admin_listen: SocketAddr,
    pub audit: AuditConfig,
    pub log: LogFormat,
    /// Durable state (single-use claims, revocations).
    pub state: crate::store::StateConfig,
    pub revocations: RevocationSettings,
    /// Who may call `POST /introspect`.
    pub introspection: crate::broker::IntrospectionClients,
    /// The operator plane: providers, role bindings, sessions, break-glass.
    pub operators: crate::operators::OperatorsConfig,
    /// TLS on the admin listener; plain HTTP without.
    pub admin_tls: Option<crate::tls::TlsConfig>,
    /// Who may read the admin listener's `/metrics`.
    pub admin_metrics: MetricsAccess,
    /// `relying_parties`: services that trust Tollgate's tokens, for `tollgate check` only.
    pub relying_parties: Vec<RelyingParty>,
}

/// How log lines look (config `log.format`; env `TOLLGATE_LOG_FORMAT` overrides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Clone, Debug)]
pub struct SigningConfig {
    pub alg: SigningAlg,
    /// `None` only in dev mode: an ephemeral key is generated.
    pub key_file: Option<PathBuf>,
    /// Keys that signed before the active one: (file, algorithm, retired at).
    pub previous_keys: Vec<(PathBuf, SigningAlg, UnixTime)>,
    /// The key ring lives in the state store (`keyring`): shared by replicas, rotated through the admin API.
    pub managed: bool,
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
        let admin_line = raw.admin.listen.as_ref().map_or(0, |l| l.referenced.line());
        let admin_text = env(ENV_ADMIN_LISTEN)
            .or_else(|| raw.admin.listen.as_ref().map(|l| l.value.clone()))
            .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_owned());
        let admin_listen = admin_text.parse().map_err(|_| {
            at(admin_line, "admin.listen", format!("{admin_text:?} is not an address like 127.0.0.1:8471"))
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
        if raw.signing.managed && (key_file.is_some() || !raw.signing.previous_keys.is_empty()) {
            return Err(ConfigError(format!(
                "{file}: signing.managed: the ring lives in the state store; leave out key_file, previous_keys and {ENV_KEY_FILE}"
            )));
        }
        let signing = SigningConfig {
            alg,
            managed: raw.signing.managed,
            key_file,
            previous_keys: raw
                .signing
                .previous_keys
                .iter()
                .map(|p| {
                    let line = p.retired_at.referenced.line();
                    let retired = UnixTime::parse_rfc3339(&p.retired_at.value).map_err(|_| {
                        at(line, "signing.previous_keys.retired_at", "must be an RFC 3339 instant".into())
                    })?;
                    let key_alg = match &p.alg {
                        None => alg,
                        Some(name) => name.parse().map_err(|_| {
                            at(line, "signing.previous_keys.alg", format!("{name:?} is not one of ES256, EdDSA, RS256"))
                        })?,
                    };
                    Ok((base.join(&p.key_file), key_alg, retired))
                })
                .collect::<Result<_, ConfigError>>()?,
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
            if issuer.name == crate::operators::RUNNERS_ISSUER {
                return Err(at(
                    line,
                    "trusted_issuers",
                    format!("the name {:?} is built in (runner credentials)", issuer.name),
                ));
            }
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
            endpoint: raw.explain.endpoint.unwrap_or(false),
            show_expected: raw.explain.show_expected.unwrap_or(false),
        };
        let (limits, shutdown_grace) = server::limits(&raw.limits, raw.shutdown_grace_seconds)
            .map_err(|reason| ConfigError(format!("{file}: {reason}")))?;
        Ok(Config {
            listen,
            signing,
            policies_dir: base.join(&raw.policies),
            shadow_policies_dir: raw.shadow.as_ref().map(|shadow| base.join(&shadow.policies)),
            minter,
            jwks,
            issuers,
            explain,
            watch_policies: raw.watch_policies,
            audit: AuditConfig {
                path: raw.audit.path.as_ref().map(|p| base.join(p)),
                flush_interval: server::audit_flush_interval(raw.audit.flush_interval_ms)
                    .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
                claims: raw
                    .audit
                    .claims
                    .as_deref()
                    .map(ClaimsRecord::parse)
                    .transpose()
                    .map_err(|reason| ConfigError(format!("{file}: {reason}")))?
                    .unwrap_or_default(),
            },
            log: match raw.log.format.as_ref().map(|f| (f.value.as_str(), f.referenced.line())) {
                None | Some(("pretty", _)) => LogFormat::Pretty,
                Some(("json", _)) => LogFormat::Json,
                Some((other, line)) => {
                    return Err(at(line, "log.format", format!("{other:?} is not one of pretty, json")));
                }
            },
            sts: sts_config(&raw.aws, env(ENV_AWS_ENDPOINT_URL))
                .map_err(|(line, key, reason)| at(line, key, reason))?,
            limits,
            tls: raw.tls.as_ref().map(|tls| server::tls(tls, base)),
            shutdown_grace,
            admin_listen,
            state: state::state(&raw.state, base, env(ENV_STATE_URL))
                .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
            revocations: state::revocations(&raw.revocations)
                .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
            introspection: introspection::introspection(&raw.introspection)
                .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
            operators: operators::operators(&raw.operators, base, env)
                .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
            admin_tls: raw.admin.tls.as_ref().map(|tls| server::tls(tls, base)),
            admin_metrics: operators::metrics_access(raw.admin.metrics.as_deref(), admin_listen)
                .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
            relying_parties: relying::relying_parties(&raw.relying_parties)
                .map_err(|reason| ConfigError(format!("{file}: {reason}")))?,
        })
    }

    /// Names of the trusted issuers, and the built-in runners' issuer (metric labels).
    pub fn issuer_names(&self) -> Vec<&str> {
        self.issuers.iter().map(|i| i.name.as_str()).chain(std::iter::once(crate::operators::RUNNERS_ISSUER)).collect()
    }
}

/// The process environment, for `Config::load`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn yaml_error(file: &str, error: &serde_saphyr::Error) -> ConfigError {
    let message = error.to_string();
    let first = message.lines().next().unwrap_or("invalid YAML").trim();
    match error.location() {
        Some(location) => ConfigError(format!("{file}:{}: {first}", location.line())),
        None => ConfigError(format!("{file}: {first}")),
    }
}

mod aws;
mod dev;
mod introspection;
mod issuers;
mod operators;
mod raw;
mod relying;
mod server;
mod state;

use aws::sts_config;
pub use issuers::profile_known_issuers;
use issuers::{issuer_config, jwks_settings, same_issuer};
pub use operators::MetricsAccess;
use raw::RawConfig;
pub use relying::{RelyingParty, RelyingPartyKind};
pub use state::{ENV_STATE_URL, RevocationSettings};

#[cfg(test)]
mod tests;

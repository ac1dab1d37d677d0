//! Trusted CI issuers: which `iss` values are trusted, with which algorithms, audiences and leeway, and the
//! cached key sets that verify their tokens.
//!
//! An unverified token's `iss` only *selects* among configured issuers here: exact URLs by lookup, templates by
//! prefix/suffix with the placeholder checked against its allow-list or anchored pattern. No URL is ever built
//! from a token except through such a template. Key caches of exact (and allow-listed) issuers live for the
//! process; those of pattern templates live in a bounded moka cache. This module knows nothing of HTTP serving,
//! policies or minting.

mod cache;
mod discovery;
mod dynamic;
mod fetch;
mod jwks;
mod network;
mod profile;
mod public_key;
mod template;
mod tenancy;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

pub use cache::{CacheStatus, JwksSettings, KeyCache, KeyError, KeySource};
pub use discovery::parse_discovery;
pub use fetch::{FetchError, Fetcher, is_allowed_url, max_age, parse_allowed, read_jwks_file};
pub use jwks::{JwksError, KeyFamily, KeyMatch, KeySet, VerifyKey, known_alg};
pub use network::{Network, reaches_allowed_host};
pub use profile::{Profile, ProfileIssuer};
pub use template::{IssuerTemplate, PlaceholderRule};
pub use tenancy::{Tenancy, TenancySetting, tenant_of};

use crate::clock::UnixTime;
use dynamic::{DynamicIssuers, NewIssuer};

/// One configured trusted issuer (validated).
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    pub name: String,
    pub matcher: IssuerMatcher,
    pub keys: KeysConfig,
    pub algorithms: Vec<Algorithm>,
    pub audiences: Vec<String>,
    pub leeway_secs: i64,
    /// Longest accepted `exp - iat` of a token (`max_token_lifetime_seconds`).
    pub max_lifetime_secs: i64,
    pub profile: Option<Profile>,
    pub tenancy: TenancySetting,
    /// Fetch keys from private, loopback or link-local addresses over https (`allow_private_network`).
    pub allow_private_network: bool,
}

#[derive(Clone, Debug)]
pub enum IssuerMatcher {
    Exact(String),
    Template(IssuerTemplate),
}

/// Where keys come from: discovery (default), a JWKS URL (may hold the template placeholder), a file, or
/// keys handed over in-process (the dev issuer, tests).
#[derive(Clone, Debug)]
pub enum KeysConfig {
    Discovery,
    JwksUri(String),
    JwksFile(PathBuf),
    Static(KeySet),
}

/// The configured issuer an (unverified) `iss` selected, before any key cache is touched.
pub struct Selected {
    pub issuer: Arc<IssuerConfig>,
    /// Who can mint tokens from it (computed once per configured issuer).
    pub tenancy: Arc<Tenancy>,
    url: String,
    /// The template's placeholder value in `url` (`None` for an exact issuer).
    value: Option<String>,
    source: SelectedKeys,
}

enum SelectedKeys {
    Fixed(Arc<KeyCache>),
    Dynamic { static_keys: Option<KeySet> },
}

impl Selected {
    /// The concrete issuer URL: the configured one, or the template rendered with the value that passed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The placeholder value of a template issuer (its tenant).
    pub fn template_value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What a verified token keeps of its selection: the tenancy and the template value.
    pub fn into_tenancy(self) -> (Arc<Tenancy>, Option<String>) {
        (self.tenancy, self.value)
    }
}

/// A configured exact issuer URL (or an allow-listed template value) and its key cache.
struct FixedIssuer {
    config: Arc<IssuerConfig>,
    tenancy: Arc<Tenancy>,
    keys: Arc<KeyCache>,
    value: Option<String>,
}

/// Readiness of one concrete issuer URL.
#[derive(Clone, Debug)]
pub struct IssuerHealth {
    pub name: String,
    pub url: String,
    pub status: CacheStatus,
}

/// A configured template issuer: its pattern or allow-list, and its static keys when it has a `jwks_file`.
struct TemplateIssuer {
    config: Arc<IssuerConfig>,
    tenancy: Arc<Tenancy>,
    template: IssuerTemplate,
    static_keys: Option<KeySet>,
}

/// All trusted issuers and their key caches.
pub struct Issuers {
    exact: HashMap<String, FixedIssuer>,
    /// Template issuers, with their static keys when they have a `jwks_file`.
    templates: Vec<TemplateIssuer>,
    dynamic: DynamicIssuers,
    fetcher: Fetcher,
    settings: Arc<JwksSettings>,
}

impl Issuers {
    /// Builds the registry; static key files are read here, so a bad file fails startup.
    pub fn new(configs: Vec<IssuerConfig>, settings: JwksSettings, now: UnixTime) -> Result<Self, FetchError> {
        let settings = Arc::new(settings);
        let fetcher = Fetcher::new(Duration::from_secs(settings.fetch_timeout_secs), settings.max_response_bytes)?;
        let mut exact = HashMap::new();
        let mut templates = Vec::new();
        for config in configs {
            let tenancy = Arc::new(config.tenancy().unwrap_or(Tenancy::Single));
            let config = Arc::new(config);
            let static_keys = match &config.keys {
                KeysConfig::JwksFile(path) => Some(read_jwks_file(path, settings.max_response_bytes)?),
                KeysConfig::Static(keys) => Some(keys.clone()),
                KeysConfig::Discovery | KeysConfig::JwksUri(_) => None,
            };
            let fixed = |url: &str, value: Option<&str>| {
                let keys = match &static_keys {
                    Some(keys) => Arc::new(KeyCache::with_static(keys.clone(), Arc::clone(&settings), now)),
                    None => Arc::new(KeyCache::new(source_for(&config, url, value), Arc::clone(&settings))),
                };
                let (config, tenancy, value) = (Arc::clone(&config), Arc::clone(&tenancy), value.map(str::to_owned));
                FixedIssuer { config, tenancy, keys, value }
            };
            match &config.matcher {
                IssuerMatcher::Exact(url) => {
                    exact.insert(url.clone(), fixed(url, None));
                }
                IssuerMatcher::Template(template) => {
                    for value in template.allow_list() {
                        let url = template.render(value);
                        exact.insert(url.clone(), fixed(&url, Some(value)));
                    }
                    templates.push(TemplateIssuer {
                        config: Arc::clone(&config),
                        tenancy: Arc::clone(&tenancy),
                        template: template.clone(),
                        static_keys: static_keys.clone(),
                    });
                }
            }
        }
        let dynamic = DynamicIssuers::new(&settings);
        Ok(Self { exact, templates, dynamic, fetcher, settings })
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Selects the configured issuer for an (unverified) `iss`; `None` when it is not trusted. Pure: no cache
    /// is created and nothing is fetched until `keys` is called (after the algorithm check).
    pub fn select(&self, iss: &str) -> Option<Selected> {
        if let Some(fixed) = self.exact.get(iss) {
            let source = SelectedKeys::Fixed(Arc::clone(&fixed.keys));
            let (issuer, tenancy, value) = (Arc::clone(&fixed.config), Arc::clone(&fixed.tenancy), fixed.value.clone());
            return Some(Selected { issuer, tenancy, url: iss.to_owned(), value, source });
        }
        self.templates.iter().find_map(|entry| {
            let value = entry.template.match_issuer(iss)?;
            let source = SelectedKeys::Dynamic { static_keys: entry.static_keys.clone() };
            Some(Selected {
                issuer: Arc::clone(&entry.config),
                tenancy: Arc::clone(&entry.tenancy),
                url: entry.template.render(value),
                value: Some(value.to_owned()),
                source,
            })
        })
    }

    /// The key cache of a selected issuer. A pattern-template issuer gets one on first use, within the budgets
    /// of new issuers (in all and per `client` address), kept only if its first fetch succeeds.
    pub async fn keys(
        &self,
        selected: &Selected,
        now: UnixTime,
        client: Option<&str>,
    ) -> Result<Arc<KeyCache>, KeyError> {
        let static_keys = match &selected.source {
            SelectedKeys::Fixed(keys) => return Ok(Arc::clone(keys)),
            SelectedKeys::Dynamic { static_keys } => static_keys.as_ref(),
        };
        let source = source_for(&selected.issuer, &selected.url, selected.value.as_deref());
        let new = NewIssuer { url: &selected.url, source, static_keys, client };
        self.dynamic.get(new, &self.fetcher, &self.settings, now).await
    }

    /// Fetches every fixed issuer's keys now (at start), concurrently.
    pub async fn prefetch(&self, now: UnixTime) {
        self.refresh_all(now, true).await;
    }

    /// Refreshes the fixed issuers whose schedule is due; called by the background task.
    pub async fn refresh_due(&self, now: UnixTime) {
        self.refresh_all(now, false).await;
    }

    async fn refresh_all(&self, now: UnixTime, force: bool) {
        let mut tasks = tokio::task::JoinSet::new();
        let fixed = self.exact.values().map(|fixed| Arc::clone(&fixed.keys));
        // Pattern-template issuers that answered once follow their schedule too, but are never prefetched.
        let dynamic = if force { Vec::new() } else { self.dynamic.all() };
        for keys in fixed.chain(dynamic) {
            let fetcher = self.fetcher.clone();
            tasks.spawn(async move { keys.refresh_if_due(&fetcher, now, force).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Status of every fixed issuer URL, sorted by name then URL.
    pub fn health(&self, now: UnixTime) -> Vec<IssuerHealth> {
        let mut out: Vec<_> = self
            .exact
            .iter()
            .map(|(url, fixed)| IssuerHealth {
                name: fixed.config.name.clone(),
                url: url.clone(),
                status: fixed.keys.status(now),
            })
            .collect();
        out.sort_by(|a, b| (&a.name, &a.url).cmp(&(&b.name, &b.url)));
        out
    }

    /// Names of all configured issuers.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.exact.values().map(|fixed| fixed.config.name.clone()).collect();
        names.extend(self.templates.iter().map(|entry| entry.config.name.clone()));
        names.sort();
        names.dedup();
        names
    }
}

fn source_for(config: &IssuerConfig, url: &str, value: Option<&str>) -> KeySource {
    let network = if config.allow_private_network { Network::Private } else { Network::Public };
    match (&config.keys, &config.matcher, value) {
        (KeysConfig::JwksUri(uri), IssuerMatcher::Template(t), Some(value)) => {
            KeySource::JwksUri { uri: uri.replace(&format!("{{{}}}", t.placeholder()), value), network }
        }
        (KeysConfig::JwksUri(uri), _, _) => KeySource::JwksUri { uri: uri.clone(), network },
        _ => KeySource::Discovery { issuer: url.to_owned(), network },
    }
}

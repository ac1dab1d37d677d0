//! Wiring: builds the issuers, policies, keys, metrics, broker and TLS from a `Config`, serves the public and
//! the admin listener (both through the listener limits), and runs the background tasks (JWKS refresher, policy
//! and certificate reloads, the store's purge, the revocation view's refresh, in `tasks.rs`). The only place that
//! composes modules; it holds no logic of its own.

mod tasks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, AdminState};
use crate::audit::Audit;
use crate::broker::{Broker, DecisionSink, ExplainConfig};
use crate::clock::Clock;
use crate::config::Config;
use crate::credentials::{KeyError, Minter, PreviousKey, SigningKey};
use crate::dev::{DevError, DevIssuer};
use crate::http::{self, AppState};
use crate::issuers::{FetchError, Issuers, TenancySetting};
use crate::keyring::{self, ManagedKeys};
use crate::metrics::{Exporter, Metrics, MetricsError};
use crate::operators::Operators;
use crate::policy::{PolicyError, PolicySet};
use crate::recent::RecentDecisions;
use crate::reload::{self, PolicyReloader, PolicySlot};
use crate::revocation::RevocationView;
use crate::store::{Store, StoreError, StoreObserver};
use crate::sts::{StsClient, StsObserver};
use crate::tls::{ServerTls, TlsError};
use crate::verify::Verifier;

/// How often the background task looks for due JWKS refreshes (each issuer keeps its own schedule).
const REFRESH_TICK: Duration = Duration::from_secs(5);

/// The minter with its key ring: from the state store (`signing.managed`), the key files, or (dev mode only) an
/// ephemeral key.
async fn minter(config: &Config, mode: Mode, store: &Store, now: crate::clock::UnixTime) -> Result<Minter, StartError> {
    if config.signing.managed {
        if !Store::is_private(&config.state) {
            return Err(StartError::Keyring(keyring::KeyringError::Record(
                "signing.managed keeps private keys in the SQLite file, which other local users can read: chmod 600 it (and its -wal, -shm files)".into(),
            )));
        }
        let ring = keyring::load_or_create(store, config.signing.alg, now).await?;
        return Ok(Minter::with_next(config.minter.clone(), ring.active, ring.previous, ring.next));
    }
    let active = match (&config.signing.key_file, mode) {
        (Some(path), _) => SigningKey::load_file(config.signing.alg, path)?,
        (None, Mode::Dev) => SigningKey::generate(config.signing.alg)?,
        (None, Mode::Production) => return Err(StartError::NoSigningKey),
    };
    let previous = config
        .signing
        .previous_keys
        .iter()
        .map(|(path, alg, retired_at)| {
            Ok(PreviousKey { key: SigningKey::load_file(*alg, path)?, retired_at: *retired_at })
        })
        .collect::<Result<Vec<_>, KeyError>>()?;
    Ok(Minter::new(config.minter.clone(), active, previous))
}

/// Whether the embedded dev issuer and ephemeral keys are allowed. Only the `--dev` flag sets `Dev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Production,
    Dev,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    #[error(
        "no signing key configured (signing.key_file or TOLLGATE_SIGNING_KEY_FILE); only --dev runs with an ephemeral key"
    )]
    NoSigningKey,
    #[error("policies: {0}")]
    Policy(#[from] PolicyError),
    #[error("shadow.policies (the candidate set): {0}")]
    ShadowPolicy(PolicyError),
    #[error("trusted issuers: {0}")]
    Issuers(#[from] FetchError),
    #[error("dev issuer: {0}")]
    Dev(#[from] DevError),
    #[error("{0}")]
    Metrics(#[from] MetricsError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit log: {0}")]
    Audit(std::io::Error),
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys in the state store: {0}")]
    Keyring(#[from] keyring::KeyringError),
}

/// A built application: the router plus the pieces the process keeps running.
pub struct App {
    pub state: Arc<AppState>,
    /// Durable state (single-use claims, revocations); purged of expired records in the background.
    pub store: Store,
    /// The live revocations, refreshed from the store in the background.
    pub revocations: Arc<RevocationView>,
    pub revocation_poll: Duration,
    pub issuers: Arc<Issuers>,
    pub reloader: Arc<PolicyReloader>,
    /// Reloads the candidate set of shadow evaluation, when `shadow.policies` is set.
    pub shadow_reloader: Option<Arc<PolicyReloader>>,
    pub audit: Arc<Audit>,
    /// Reload policies when their files change (SIGHUP always does).
    pub watch_policies: bool,
    /// How often the background task looks for due refreshes.
    pub refresh_tick: Duration,
    /// TLS on the public listener (its certificate reloads when its files change).
    pub tls: Option<Arc<ServerTls>>,
    /// How long requests in flight may take once shutdown begins.
    pub shutdown_grace: Duration,
    /// What the admin listener's `/metrics` renders.
    pub exporter: Arc<Exporter>,
    /// The admin listener, bound by the caller (`config.admin_listen`); `serve` serves it when set.
    pub admin_listener: Option<TcpListener>,
    /// What the admin listener serves (the admin API and `/metrics`).
    pub admin: Arc<AdminState>,
    /// TLS on the admin listener.
    pub admin_tls: Option<Arc<ServerTls>>,
}

impl App {
    /// Builds everything that can fail before binding: keys, issuers (static key files), policies.
    pub async fn build(config: &Config, mode: Mode, clock: Arc<dyn Clock>) -> Result<App, StartError> {
        let now = clock.now();
        let issuers = Arc::new(Issuers::new(config.issuers.clone(), config.jwks.clone(), now)?);
        let policies = PolicySet::load_dir(&config.policies_dir, &config.known_issuers())?;
        for lint in policies.lints() {
            tracing::warn!(lint = %lint, "Policy lint.");
        }
        let candidate = config.shadow_policies_dir.as_deref().map(|dir| shadow_set(dir, config)).transpose()?;
        let audit = Arc::new(Audit::open(&config.audit).map_err(StartError::Audit)?);
        let verifier = Verifier::new(Arc::clone(&issuers));
        let metrics = Arc::new(Metrics::new(config.issuer_names())?);
        let sts = StsClient::new(&config.sts).with_observer(Arc::clone(&metrics) as Arc<dyn StsObserver>);
        let explain = match mode {
            // Dev mode is for learning policies: the endpoint is on, with the policies' expected values.
            Mode::Dev => ExplainConfig { endpoint: true, show_expected: true, ..config.explain },
            Mode::Production => config.explain,
        };
        for issuer in config.issuers.iter().filter(|issuer| issuer.tenancy == TenancySetting::Single) {
            tracing::warn!(
                issuer = issuer.name,
                "Issuer declared single-tenant (tenancy: single): its policies need not pin a tenant. Make sure no one else can mint tokens from it."
            );
        }
        let store = Store::open(&config.state).await?.with_observer(Arc::clone(&metrics) as Arc<dyn StoreObserver>);
        tracing::info!(store = %store.describe(), "State store opened.");
        let minter = minter(config, mode, &store, now).await?;
        let revocations = Arc::new(RevocationView::new(config.revocations.max_staleness));
        let live = tasks::load_revocations(&store, &revocations, now).await?;
        tracing::info!(revocations = live, "Revocations loaded.");
        let operators =
            Arc::new(Operators::new(config.operators.clone(), config.jwks.clone(), store.clone(), Arc::clone(&clock))?);
        if config.operators.bootstrap_sha256.is_some() {
            tracing::warn!(
                "Break-glass sign-in is ON (operators.bootstrap): anyone with the secret gets an admin session. Remove it once providers and bindings are set up."
            );
        }
        let recent = Arc::new(RecentDecisions::default());
        let mut broker = Broker::new(verifier, policies, minter, clock)
            .with_operators(Arc::clone(&operators))
            .with_sink(Arc::clone(&recent) as Arc<dyn DecisionSink>)
            .with_store(store.clone())
            .with_revocations(Arc::clone(&revocations))
            .with_introspection(config.introspection.clone())
            .with_explain(explain)
            .with_sts(sts)
            .with_sink(Arc::clone(&audit) as Arc<dyn DecisionSink>)
            .with_sink(Arc::clone(&metrics) as Arc<dyn DecisionSink>);
        if let Some(limit) = config.limits.per_issuer {
            broker = broker.with_issuer_rate_limit(limit);
        }
        if let Some(limit) = config.limits.per_issuer_total {
            broker = broker.with_issuer_total_rate_limit(limit);
        }
        if let Some(candidate) = candidate {
            broker = broker.with_shadow(candidate);
        }
        let broker = Arc::new(broker);
        let reloader =
            Arc::new(PolicyReloader::new(Arc::clone(&broker), config.policies_dir.clone(), config.known_issuers()));
        let shadow_reloader = config.shadow_policies_dir.as_ref().map(|dir| {
            Arc::new(PolicyReloader::for_slot(
                PolicySlot::Shadow,
                Arc::clone(&broker),
                dir.clone(),
                config.known_issuers(),
            ))
        });
        let dev = match mode {
            Mode::Dev => Some(Arc::new(DevIssuer::generate(&config.minter.issuer_url)?)),
            Mode::Production => None,
        };
        let exporter = Arc::new(
            Exporter::new(Arc::clone(&metrics), Arc::clone(&issuers), Arc::clone(&reloader), Arc::clone(&broker))
                .with_shadow(shadow_reloader.clone()),
        );
        let tls = config.tls.clone().map(ServerTls::load).transpose()?.map(Arc::new);
        let admin_tls = config.admin_tls.clone().map(ServerTls::load).transpose()?.map(Arc::new);
        let admin = Arc::new(AdminState {
            exporter: Arc::clone(&exporter),
            operators,
            broker: Arc::clone(&broker),
            issuers: Arc::clone(&issuers),
            reloader: Arc::clone(&reloader),
            shadow_reloader: shadow_reloader.clone(),
            audit: Arc::clone(&audit),
            store: store.clone(),
            revocations: Arc::clone(&revocations),
            revocations_changed: Arc::new(tokio::sync::Notify::new()),
            keyring: config
                .signing
                .managed
                .then(|| Arc::new(ManagedKeys::new(store.clone(), Arc::clone(&broker), config.signing.alg))),
            recent,
            lifetimes: config.lifetimes(),
            metrics_access: config.admin_metrics,
            // Thirty at once, then one a second, per client address.
            sign_ins: crate::limits::RateLimiter::new(crate::limits::RateLimit { requests_per_second: 1, burst: 30 }),
        });
        Ok(App {
            admin,
            admin_tls,
            state: Arc::new(AppState { broker, dev, limits: config.limits.clone(), metrics }),
            store,
            revocations,
            revocation_poll: config.revocations.poll,
            issuers,
            reloader,
            shadow_reloader,
            audit,
            watch_policies: config.watch_policies,
            refresh_tick: REFRESH_TICK,
            exporter,
            admin_listener: None,
            tls,
            shutdown_grace: config.shutdown_grace,
        })
    }

    /// Serves until `shutdown`, then lets requests in flight finish within the grace period; prefetches issuer
    /// keys once the listener is up (the dev issuer is served by this very listener) and keeps refreshing them.
    /// The admin listener, if set, stops with the public one; both go through the same listener limits.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let clock = Arc::clone(self.state.broker.clock());
        let refresher = tokio::spawn(tasks::refresh_forever(Arc::clone(&self.issuers), clock, self.refresh_tick));
        let reloaders = std::iter::once(&self.reloader).chain(&self.shadow_reloader).cloned().collect();
        let hangups = tokio::spawn(tasks::on_sighup(reloaders, Arc::clone(&self.audit)));
        let purger = tokio::spawn(tasks::purge_forever(self.store.clone(), Arc::clone(self.state.broker.clock())));
        let revocations = tokio::spawn(tasks::keep_revocations_fresh(
            self.store.clone(),
            Arc::clone(&self.revocations),
            Arc::clone(self.state.broker.clock()),
            self.revocation_poll,
            Arc::clone(&self.admin.revocations_changed),
        ));
        let mut background = vec![refresher, hangups, purger, revocations];
        if let Some(providers) = self.admin.operators.provider_issuers() {
            let clock = Arc::clone(self.state.broker.clock());
            background.push(tokio::spawn(tasks::refresh_forever(Arc::clone(providers), clock, self.refresh_tick)));
        }
        if let Some(tls) = &self.admin_tls {
            background.push(tokio::spawn(Arc::clone(tls).watch()));
        }
        if let Some(keys) = &self.admin.keyring {
            let clock = Arc::clone(self.state.broker.clock());
            background.push(tokio::spawn(tasks::reload_keys_forever(Arc::clone(keys), clock)));
        }
        if self.watch_policies {
            background.push(tokio::spawn(reload::watch_files(Arc::clone(&self.reloader))));
            if let Some(shadow) = &self.shadow_reloader {
                background.push(tokio::spawn(reload::watch_files(Arc::clone(shadow))));
            }
        }
        if let Some(tls) = &self.tls {
            background.push(tokio::spawn(Arc::clone(tls).watch()));
        }
        let options = |tls: Option<TlsAcceptor>| http::ServeOptions {
            header_read_timeout: self.state.limits.header_read_timeout,
            shutdown_grace: self.shutdown_grace,
            tls,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let admin = self.admin_listener.map(|admin_listener| {
            let (router, _) = admin::router(Arc::clone(&self.admin));
            let router = http::limits::apply(router, &self.state.limits);
            let tls = self.admin_tls.as_ref().map(|tls| tls.acceptor());
            tokio::spawn(http::serve(admin_listener, router, options(tls), tasks::wait_for_stop(stopped)))
        });
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        // If the public listener fails, `stop` is dropped with the future above, which stops the admin one too.
        let public = options(self.tls.as_ref().map(|tls| tls.acceptor()));
        let served = http::serve(listener, http::router(Arc::clone(&self.state)), public, shutdown).await;
        background.iter().for_each(tokio::task::JoinHandle::abort);
        if let Some(task) = admin
            && let Ok(Err(error)) = task.await
        {
            tracing::error!(error = %error, "The admin listener failed.");
        }
        // Every request answered has recorded its decision: write the lines still in memory.
        self.audit.close();
        Ok(served?)
    }
}

/// Loads the candidate set of shadow evaluation: the same checks as the live set, all-or-nothing.
fn shadow_set(dir: &std::path::Path, config: &Config) -> Result<PolicySet, StartError> {
    let candidate = PolicySet::load_dir(dir, &config.known_issuers()).map_err(StartError::ShadowPolicy)?;
    for lint in candidate.lints() {
        tracing::warn!(lint = %lint, "Candidate policy (shadow) lint.");
    }
    tracing::info!(
        roles = candidate.len(),
        dir = %dir.display(),
        "Shadow evaluation is on: the candidate policies are evaluated beside the live ones and never change an answer."
    );
    Ok(candidate)
}

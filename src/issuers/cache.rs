//! The per-issuer key cache: last good key set, refresh schedule, unknown-`kid` refresh with cooldown and
//! single flight, stale-if-error up to a maximum staleness.
//!
//! Owns the `ArcSwap`ped key set of one concrete issuer URL and the mutex that makes refreshes single-flight.
//! It reads no clock (callers pass `now`) and knows nothing of tokens beyond a `kid` to look up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::Mutex;

use super::fetch::{FetchError, FetchedKeys, Fetcher};
use super::jwks::{KeyMatch, KeySet, VerifyKey};
use super::network::Network;
use crate::clock::UnixTime;

/// Limits on fetching and keeping issuer keys (config `jwks:`).
#[derive(Clone, Debug)]
pub struct JwksSettings {
    /// Bounds on the refresh interval taken from the issuer's `Cache-Control: max-age`.
    pub refresh_min_secs: i64,
    pub refresh_max_secs: i64,
    /// At most one unknown-`kid` refresh per issuer per this many seconds.
    pub unknown_kid_cooldown_secs: i64,
    /// Keys older than this (since the last successful fetch) are no longer used.
    pub max_staleness_secs: i64,
    /// Wait after a failed scheduled refresh before the next try.
    pub retry_secs: i64,
    pub fetch_timeout_secs: u64,
    pub max_response_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            refresh_min_secs: 300,
            refresh_max_secs: 86_400,
            unknown_kid_cooldown_secs: 60,
            max_staleness_secs: 86_400,
            retry_secs: 30,
            fetch_timeout_secs: 5,
            max_response_bytes: 256 * 1024,
        }
    }
}

/// Where one issuer's keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// OIDC discovery at `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery { issuer: String, network: Network },
    /// A configured JWKS URL (skips discovery).
    JwksUri { uri: String, network: Network },
    /// Keys given once at start (a `jwks_file`); never refreshed, never stale.
    Static,
}

/// Why no key could be had for a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key with kid {0:?} is published by this issuer")]
    UnknownKid(String),
    #[error("the token has no kid and the issuer publishes several keys")]
    KidRequired,
    /// The detail (URLs, transport errors) is for the log, never for the client.
    #[error("the issuer's signing keys are not available right now")]
    Unavailable(String),
}

/// What the cache can say about itself, for readiness and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheStatus {
    pub keys: usize,
    /// The `kid`s of the set in use.
    pub kids: Vec<String>,
    pub last_success: Option<UnixTime>,
    /// Serving a set whose refresh is overdue because fetches failed.
    pub stale: bool,
    /// No set, or the set is older than the maximum staleness.
    pub unusable: bool,
    pub last_error: Option<String>,
    /// Fetches that succeeded and failed since start (metrics).
    pub fetches_ok: u64,
    pub fetches_failed: u64,
}

struct Cached {
    keys: KeySet,
    fetched_at: UnixTime,
    refresh_at: UnixTime,
}

#[derive(Default)]
struct RefreshState {
    last_attempt: Option<UnixTime>,
    next_try: Option<UnixTime>,
}

/// The key cache of one concrete issuer URL.
pub struct KeyCache {
    source: KeySource,
    settings: Arc<JwksSettings>,
    current: ArcSwapOption<Cached>,
    /// The last fetch's error, cleared by a success; readable without waiting for a refresh in progress.
    last_error: ArcSwapOption<String>,
    refresh: Mutex<RefreshState>,
    fetches: AtomicU64,
    fetches_ok: AtomicU64,
    fetches_failed: AtomicU64,
}

impl KeyCache {
    pub fn new(source: KeySource, settings: Arc<JwksSettings>) -> Self {
        Self {
            source,
            settings,
            current: ArcSwapOption::empty(),
            last_error: ArcSwapOption::empty(),
            refresh: Mutex::new(RefreshState::default()),
            fetches: AtomicU64::new(0),
            fetches_ok: AtomicU64::new(0),
            fetches_failed: AtomicU64::new(0),
        }
    }

    /// A cache holding a fixed set (from a file, or the dev issuer).
    pub fn with_static(keys: KeySet, settings: Arc<JwksSettings>, now: UnixTime) -> Self {
        let cache = Self::new(KeySource::Static, settings);
        cache.current.store(Some(Arc::new(Cached {
            keys,
            fetched_at: now,
            refresh_at: UnixTime::from_secs(i64::MAX),
        })));
        cache
    }

    /// How many fetches were started (discovery + JWKS counts as one).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Finds the key for a token's `kid`, refreshing at most once per cooldown when the `kid` is unknown.
    pub async fn key_for(
        self: &Arc<Self>,
        fetcher: &Fetcher,
        kid: Option<&str>,
        now: UnixTime,
    ) -> Result<Arc<VerifyKey>, KeyError> {
        match self.lookup(kid, now) {
            Some(KeyMatch::Found(key)) => return Ok(key),
            Some(KeyMatch::KidRequired) => return Err(KeyError::KidRequired),
            Some(KeyMatch::UnknownKid) | None => {}
        }
        if matches!(self.source, KeySource::Static) {
            return Err(self.miss(kid, now));
        }
        let mut state = self.refresh.lock().await;
        // Whoever held the lock before us may have fetched the key already.
        if let Some(found) = self.lookup(kid, now).and_then(found_or_kid_required) {
            return found;
        }
        let cooled = state.last_attempt.is_none_or(|at| now.secs_since(at) >= self.settings.unknown_kid_cooldown_secs);
        if cooled {
            self.fetch_locked(&mut state, fetcher, now).await;
        }
        drop(state);
        match self.lookup(kid, now) {
            Some(KeyMatch::Found(key)) => Ok(key),
            Some(KeyMatch::KidRequired) => Err(KeyError::KidRequired),
            _ => Err(self.miss(kid, now)),
        }
    }

    /// Refreshes now if the schedule says so (or `force`); returns when the next refresh is due.
    pub async fn refresh_if_due(self: &Arc<Self>, fetcher: &Fetcher, now: UnixTime, force: bool) -> Option<UnixTime> {
        if matches!(self.source, KeySource::Static) {
            return None;
        }
        let mut state = self.refresh.lock().await;
        let due = self.next_due(&state);
        if force || due.is_none_or(|at| now >= at) {
            self.fetch_locked(&mut state, fetcher, now).await;
        }
        self.next_due(&state)
    }

    pub fn status(&self, now: UnixTime) -> CacheStatus {
        let current = self.current.load_full();
        let last_error = self.last_error.load_full().map(|e| e.as_ref().clone());
        CacheStatus {
            keys: current.as_ref().map_or(0, |c| c.keys.len()),
            kids: current.as_ref().map(|c| c.keys.kids()).unwrap_or_default(),
            last_success: current.as_ref().map(|c| c.fetched_at),
            stale: current.as_ref().is_some_and(|c| now > c.refresh_at) && last_error.is_some(),
            unusable: current.as_ref().is_none_or(|c| self.too_old(c, now)),
            last_error,
            fetches_ok: self.fetches_ok.load(Ordering::Relaxed),
            fetches_failed: self.fetches_failed.load(Ordering::Relaxed),
        }
    }

    fn next_due(&self, state: &RefreshState) -> Option<UnixTime> {
        let scheduled = self.current.load().as_ref().map(|c| c.refresh_at);
        match (scheduled, state.next_try) {
            (Some(at), Some(retry)) => Some(at.max(retry)),
            (at, retry) => at.or(retry),
        }
    }

    fn lookup(&self, kid: Option<&str>, now: UnixTime) -> Option<KeyMatch> {
        let current = self.current.load();
        let cached = current.as_ref().filter(|c| !self.too_old(c, now))?;
        Some(cached.keys.find(kid))
    }

    fn too_old(&self, cached: &Cached, now: UnixTime) -> bool {
        !matches!(self.source, KeySource::Static)
            && now.secs_since(cached.fetched_at) > self.settings.max_staleness_secs
    }

    fn miss(&self, kid: Option<&str>, now: UnixTime) -> KeyError {
        let status = self.status(now);
        if status.unusable {
            let reason = status.last_error.unwrap_or_else(|| "never fetched".into());
            return KeyError::Unavailable(reason);
        }
        KeyError::UnknownKid(crate::text::shorten(kid.unwrap_or_default()))
    }

    /// Fetches under the refresh lock. The fetch runs in its own task, so a caller that goes away (a client
    /// disconnecting) cannot cancel it half-way and leave a cooldown started with nothing fetched.
    async fn fetch_locked(self: &Arc<Self>, state: &mut RefreshState, fetcher: &Fetcher, now: UnixTime) {
        state.last_attempt = Some(now);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (this, fetcher) = (Arc::clone(self), fetcher.clone());
        let task = tokio::spawn(async move {
            let deadline = Duration::from_secs(this.settings.fetch_timeout_secs);
            let result = match tokio::time::timeout(deadline, this.fetch(&fetcher)).await {
                Ok(result) => result,
                Err(_) => Err(FetchError::TimedOut(this.settings.fetch_timeout_secs)),
            };
            this.apply(result, now)
        });
        if let Ok(next_try) = task.await {
            state.next_try = next_try;
        }
    }

    /// Stores a fetch's outcome; returns when to retry after a failure.
    fn apply(&self, result: Result<FetchedKeys, FetchError>, now: UnixTime) -> Option<UnixTime> {
        match result {
            Ok(fetched) => {
                let max_age = fetched
                    .max_age_secs
                    .map_or(self.settings.refresh_min_secs, |s| i64::try_from(s).unwrap_or(i64::MAX));
                let interval = max_age.clamp(self.settings.refresh_min_secs, self.settings.refresh_max_secs);
                self.current.store(Some(Arc::new(Cached {
                    keys: fetched.keys,
                    fetched_at: now,
                    refresh_at: now.plus_secs(interval),
                })));
                self.last_error.store(None);
                self.fetches_ok.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(error) => {
                tracing::warn!(error = ?error.to_string(), "Fetching issuer keys failed; keeping the last good set.");
                self.last_error.store(Some(Arc::new(error.to_string())));
                self.fetches_failed.fetch_add(1, Ordering::Relaxed);
                Some(now.plus_secs(self.settings.retry_secs))
            }
        }
    }

    async fn fetch(&self, fetcher: &Fetcher) -> Result<FetchedKeys, FetchError> {
        match &self.source {
            KeySource::Discovery { issuer, network } => {
                let uri = fetcher.discover_jwks_uri(issuer, *network).await?;
                fetcher.fetch_jwks(&uri, *network).await
            }
            KeySource::JwksUri { uri, network } => fetcher.fetch_jwks(uri, *network).await,
            KeySource::Static => {
                Err(FetchError::File { path: "(static)".into(), reason: "static keys are not refreshed".into() })
            }
        }
    }
}

/// A final answer from a lookup, or `None` when the kid is still unknown.
fn found_or_kid_required(found: KeyMatch) -> Option<Result<Arc<VerifyKey>, KeyError>> {
    match found {
        KeyMatch::Found(key) => Some(Ok(key)),
        KeyMatch::KidRequired => Some(Err(KeyError::KidRequired)),
        KeyMatch::UnknownKid => None,
    }
}

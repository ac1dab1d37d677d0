//! Hot reload of the policy set: on file change (polled, debounced) and on SIGHUP (`app` listens), all-or-nothing.
//! The candidate set of shadow evaluation (`shadow.policies`) has a reloader of its own, with the same triggers
//! and the same rules.
//!
//! A set with any invalid file is refused: the old set keeps serving, the error is logged and counted.
//! Requests in flight finish on the set they started with (the broker swaps an `Arc` whole). This module owns
//! the triggers and the counters; loading and compiling stay in `policy`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;

use crate::broker::Broker;
use crate::clock::UnixTime;
use crate::policy::{KnownIssuer, PolicyError, PolicySet};

/// How often the policy folder is looked at; a change is applied once it has been quiet for one more look.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Which of the broker's policy sets a reloader replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicySlot {
    /// The set in force.
    Live,
    /// The candidate set of shadow evaluation.
    Shadow,
}

/// Reloads one of the broker's policy sets from its folder.
pub struct PolicyReloader {
    broker: Arc<Broker>,
    slot: PolicySlot,
    /// The folder; a promotion swaps the live and the candidate reloaders' folders. Held while loading, so a
    /// reload and a promotion never interleave.
    dir: Mutex<PathBuf>,
    issuers: Vec<KnownIssuer>,
    succeeded: AtomicU64,
    failed: AtomicU64,
    last_error: ArcSwapOption<String>,
    /// Unix seconds when the set in force was loaded (at start, or by the last successful reload).
    loaded_at: AtomicI64,
}

/// Counters for readiness and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadStats {
    pub succeeded: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    /// When the set in force was loaded: at start, or by the last successful reload.
    pub loaded_at: UnixTime,
}

impl PolicyReloader {
    /// A reloader of the live set.
    pub fn new(broker: Arc<Broker>, dir: PathBuf, issuers: Vec<KnownIssuer>) -> Self {
        Self::for_slot(PolicySlot::Live, broker, dir, issuers)
    }

    /// A reloader of `slot`'s set.
    pub fn for_slot(slot: PolicySlot, broker: Arc<Broker>, dir: PathBuf, issuers: Vec<KnownIssuer>) -> Self {
        Self {
            slot,
            dir: Mutex::new(dir),
            issuers,
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: ArcSwapOption::empty(),
            loaded_at: AtomicI64::new(broker.clock().now().as_secs()),
            broker,
        }
    }

    /// Loads the whole folder; on success swaps the set in, on failure keeps the old one.
    pub fn reload(&self) -> Result<usize, PolicyError> {
        let dir = self.lock_dir();
        match PolicySet::load_dir(&dir, &self.issuers) {
            Ok(set) => {
                for lint in set.lints() {
                    tracing::warn!(lint = %lint, "Policy lint.");
                }
                let roles = set.len();
                match self.slot {
                    PolicySlot::Live => self.broker.replace_policies(set),
                    PolicySlot::Shadow => self.broker.replace_shadow(set),
                }
                self.loaded_now();
                match self.slot {
                    PolicySlot::Live => tracing::info!(roles, dir = %dir.display(), "Policies reloaded."),
                    PolicySlot::Shadow => {
                        tracing::info!(roles, dir = %dir.display(), "Candidate policies (shadow) reloaded.");
                    }
                }
                Ok(roles)
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.last_error.store(Some(Arc::new(error.to_string())));
                match self.slot {
                    PolicySlot::Live => {
                        tracing::error!(error = %error, "Policy reload refused; the previous set keeps serving.");
                    }
                    PolicySlot::Shadow => tracing::error!(
                        error = %error,
                        "Candidate policy (shadow) reload refused; the previous candidate set stays."
                    ),
                }
                Err(error)
            }
        }
    }

    pub fn stats(&self) -> ReloadStats {
        ReloadStats {
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_error: self.last_error.load_full().map(|e| e.as_ref().clone()),
            loaded_at: UnixTime::from_secs(self.loaded_at.load(Ordering::Relaxed)),
        }
    }

    /// The folder this reloader reads now.
    pub fn dir(&self) -> PathBuf {
        self.lock_dir().clone()
    }

    fn lock_dir(&self) -> MutexGuard<'_, PathBuf> {
        // A panic while holding the lock leaves a valid path behind: keep using it.
        self.dir.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn loaded_now(&self) {
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        self.loaded_at.store(self.broker.clock().now().as_secs(), Ordering::Relaxed);
        self.last_error.store(None);
    }
}

/// What a promotion did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promoted {
    /// The folder now in force (the former candidate) and its roles.
    pub live_dir: PathBuf,
    pub live_roles: usize,
    /// The folder now evaluated in shadow (the former live one) and its roles.
    pub shadow_dir: PathBuf,
    pub shadow_roles: usize,
}

/// Promotes the candidate set: loads the candidate folder afresh (all-or-nothing, the same checks as any
/// load; on failure nothing changes), puts it in force, and puts the set that was in force in shadow, its
/// folder now watched as the candidate. Promoting again swaps back. Holds both reloaders' folders meanwhile.
/// The swap lives in this process: the config's `policies:` and `shadow.policies:` decide again at the next
/// start.
pub fn promote(live: &PolicyReloader, shadow: &PolicyReloader) -> Result<Promoted, PolicyError> {
    let mut live_dir = live.lock_dir();
    let mut shadow_dir = shadow.lock_dir();
    let candidate = PolicySet::load_dir(&shadow_dir, &shadow.issuers)?;
    let broker = &live.broker;
    let previous = broker.policies();
    let (live_roles, shadow_roles) = (candidate.len(), previous.len());
    broker.replace_policies(candidate);
    broker.replace_shadow_with(previous);
    std::mem::swap(&mut *live_dir, &mut *shadow_dir);
    live.loaded_now();
    shadow.loaded_now();
    let promoted = Promoted { live_dir: live_dir.clone(), live_roles, shadow_dir: shadow_dir.clone(), shadow_roles };
    tracing::warn!(
        live = %promoted.live_dir.display(),
        roles = live_roles,
        shadow = %promoted.shadow_dir.display(),
        "Candidate policies promoted: now in force; the previous set is evaluated in shadow. Until the config says so too, the next start serves the config's folders again."
    );
    Ok(promoted)
}

/// What the folder looks like: names, sizes and modification times of its files, sorted.
pub fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            meta.is_file().then(|| (entry.file_name().to_string_lossy().into_owned(), meta.len(), meta.modified().ok()))
        })
        .collect();
    files.sort();
    files
}

/// Reloads when the folder changed and then stayed the same for one poll (debounce), until the task is dropped.
pub async fn watch_files(reloader: Arc<PolicyReloader>) {
    let mut applied = fingerprint(&reloader.dir());
    let mut pending: Option<Vec<_>> = None;
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let dir = reloader.dir();
        let Ok(seen) = tokio::task::spawn_blocking(move || fingerprint(&dir)).await else { continue };
        if seen == applied {
            pending = None;
        } else if pending.as_ref() == Some(&seen) {
            // A refused set is not retried until the files change again.
            reload_off_the_runtime(&reloader).await;
            applied = seen;
            pending = None;
        } else {
            pending = Some(seen);
        }
    }
}

/// Reading and compiling the folder blocks; it runs on the blocking pool. The outcome is logged and counted there.
pub async fn reload_off_the_runtime(reloader: &Arc<PolicyReloader>) {
    let reloader = Arc::clone(reloader);
    let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
}

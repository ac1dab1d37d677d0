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
    /// The folder now in force (the former candidate), its roles and its fingerprint.
    pub live: SetInfo,
    /// The folder now evaluated in shadow (the former live one).
    pub shadow: SetInfo,
}

/// A policy set as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetInfo {
    pub dir: PathBuf,
    pub roles: usize,
    /// [`PolicySet::fingerprint`].
    pub sha256: String,
}

/// Why a promotion did not happen; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("no candidate policies are loaded")]
    NoCandidate,
    #[error(
        "the candidate set is {actual}, not the {expected} the request expects (it changed, or was promoted already)"
    )]
    Changed { expected: String, actual: String },
}

impl PolicyReloader {
    /// The set this reloader's slot holds now, with its folder.
    pub fn info(&self) -> Option<SetInfo> {
        let set = match self.slot {
            PolicySlot::Live => self.broker.policies(),
            PolicySlot::Shadow => self.broker.shadow_policies()?,
        };
        Some(SetInfo { dir: self.dir(), roles: set.len(), sha256: set.fingerprint() })
    }
}

/// Promotes the candidate set: the very set shadow evaluation has been comparing (in memory, not read again
/// from disk) goes in force, and the set that was in force goes to shadow, its folder now reloaded as the
/// candidate's. Promoting again swaps back. With `expect`, the candidate's fingerprint must be that one, so a
/// retried request cannot swap back by accident. Holds both reloaders' folders meanwhile. The swap lives in
/// this process: the config's `policies:` and `shadow.policies:` decide again at the next start.
pub fn promote(live: &PolicyReloader, shadow: &PolicyReloader, expect: Option<&str>) -> Result<Promoted, PromoteError> {
    let mut live_dir = live.lock_dir();
    let mut shadow_dir = shadow.lock_dir();
    let broker = &live.broker;
    let candidate = broker.shadow_policies().ok_or(PromoteError::NoCandidate)?;
    let fingerprint = candidate.fingerprint();
    if let Some(expected) = expect.filter(|expected| !expected.eq_ignore_ascii_case(&fingerprint)) {
        return Err(PromoteError::Changed { expected: expected.to_owned(), actual: fingerprint });
    }
    let previous = broker.policies();
    let promoted = Promoted {
        live: SetInfo { dir: shadow_dir.clone(), roles: candidate.len(), sha256: fingerprint },
        shadow: SetInfo { dir: live_dir.clone(), roles: previous.len(), sha256: previous.fingerprint() },
    };
    broker.replace_policies_with(candidate);
    broker.replace_shadow_with(previous);
    std::mem::swap(&mut *live_dir, &mut *shadow_dir);
    live.loaded_now();
    shadow.loaded_now();
    tracing::warn!(
        live = %promoted.live.dir.display(),
        roles = promoted.live.roles,
        sha256 = promoted.live.sha256,
        shadow = %promoted.shadow.dir.display(),
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

//! The background tasks a served app runs until it stops: JWKS refresh, SIGHUP handling, the store's purge of
//! expired records, and keeping the revocation view fresh (a PostgreSQL notification or the poll, whichever
//! comes first).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::audit::Audit;
use crate::clock::{Clock, UnixTime};
use crate::issuers::Issuers;
use crate::reload::{self, PolicyReloader};
use crate::revocation::RevocationView;
use crate::store::{Store, StoreError};

/// How often expired records are purged, and how many one statement deletes.
const PURGE_EVERY: Duration = Duration::from_secs(60);
const PURGE_BATCH: u32 = 1_000;

/// The most revocations a view holds. A store holding more is not loaded (the view then ages and fails
/// closed) rather than loaded in part: a partial set would silently miss revocations.
pub(crate) const MAX_REVOCATIONS: u32 = 100_000;

/// Loads the live revocations into `view`; returns how many.
pub(crate) async fn load_revocations(store: &Store, view: &RevocationView, now: UnixTime) -> Result<usize, StoreError> {
    let live = store.list_revocations(now, MAX_REVOCATIONS + 1).await?;
    if live.len() > MAX_REVOCATIONS as usize {
        return Err(StoreError::Unavailable(format!(
            "more than {MAX_REVOCATIONS} revocations are in force; the view is not replaced"
        )));
    }
    let count = live.len();
    view.replace(live);
    Ok(count)
}

/// Reloads the view whenever a replica announces a revocation (`changed`: this one's admin API wakes it too),
/// and at least every `poll`.
pub(super) async fn keep_revocations_fresh(
    store: Store,
    view: Arc<RevocationView>,
    clock: Arc<dyn Clock>,
    poll: Duration,
    changed: Arc<Notify>,
) {
    let watcher = tokio::spawn({
        let (store, changed) = (store.clone(), Arc::clone(&changed));
        async move { store.watch_revocations(changed).await }
    });
    let _stop_watching = AbortOnDrop(watcher);
    loop {
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
        if let Err(error) = load_revocations(&store, &view, clock.now()).await {
            let age_secs = view.age().as_secs();
            tracing::warn!(error = %error, age_secs, "Refreshing the revocation view failed; it keeps its last set.");
        }
    }
}

/// Reloads the store-managed key ring every `keyring::RELOAD_SECS` (rotations by any replica, activations).
pub(super) async fn reload_keys_forever(keys: Arc<crate::keyring::ManagedKeys>, clock: Arc<dyn Clock>) {
    loop {
        tokio::time::sleep(Duration::from_secs(crate::keyring::RELOAD_SECS)).await;
        if let Err(error) = keys.reload(clock.now()).await {
            tracing::warn!(error = %error, "Reloading the signing key ring failed; the last ring keeps signing.");
        }
    }
}

/// Aborts the task when dropped (so the watcher stops with the task that spawned it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// SIGHUP reloads the policies and reopens the audit log (for rotation), until the task is dropped.
pub(super) async fn on_sighup(reloaders: Vec<Arc<PolicyReloader>>, audit: Arc<Audit>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("Cannot listen for SIGHUP; reload on signal is off.");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading policies and reopening the audit log.");
            for reloader in &reloaders {
                reload::reload_off_the_runtime(reloader).await;
            }
            if let Err(error) = audit.reopen() {
                tracing::error!(error = %error, "Reopening the audit log failed; still writing to the old file.");
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

/// Completes when the public listener has been told to stop (or is gone).
pub(super) async fn wait_for_stop(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Deletes expired records (single-use claims, revocations) every `PURGE_EVERY`, in batches, off the exchange path.
pub(super) async fn purge_forever(store: Store, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.purge_all_expired(clock.now(), PURGE_BATCH).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "Expired records purged."),
            Err(error) => tracing::warn!(error = %error, "Purging expired records failed."),
        }
    }
}

pub(super) async fn refresh_forever(issuers: Arc<Issuers>, clock: Arc<dyn Clock>, every: Duration) {
    issuers.prefetch(clock.now()).await;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        issuers.refresh_due(clock.now()).await;
    }
}

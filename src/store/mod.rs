//! Durable state behind one narrow interface, in the domain's words: claim a token's `jti` until a time (replay
//! protection), record and list revocations, and purge what expired. The backend is chosen in config
//! (`state:`): the embedded one, SQLite (`sqlite.rs`), one file, durable across restarts; or PostgreSQL
//! (`postgres.rs`), shared by every replica. No SQL lives outside this module; migrations are versioned
//! (`migrations.rs`) and table names carry a key-namespace version, so an upgrade that changed how keys are
//! formed could never read old records as absent (and so reopen replays).
//!
//! Every call is bounded (busy, acquire and statement timeouts) and never blocks the async runtime's threads.
//! Time comes in as a parameter.

mod config;
mod migrations;
mod pg_claims;
mod pg_connect;
mod pg_records;
mod postgres;
mod records;
mod sqlite;
mod sqlite_records;
mod writer;

pub use config::{PostgresConfig, StateConfig};
pub use records::{NEVER, Record, RecordKind};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Stopwatch, UnixTime};
use crate::revocation::Revocation;

/// Why the store could not answer. Callers fail closed unless a policy says otherwise.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the state store at {path} failed: {reason}")]
    Open { path: String, reason: String },
    #[error("migrating the state store failed: {0}")]
    Migration(String),
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
    /// A record with the same unique key (a runner's name) exists.
    #[error("a record with this {0} exists")]
    Duplicate(&'static str),
}

/// Which use of a token a claim is for: `(issuer, jti, scope)`, where the scope names the role (`role:NAME`) or
/// every role (`any`).
#[derive(Clone, Copy, Debug)]
pub struct JtiKey<'a> {
    pub issuer: &'a str,
    pub jti: &'a str,
    pub scope: &'a str,
}

/// A claim, owned, as it waits for its group commit.
struct ClaimJob {
    issuer: String,
    jti: String,
    scope: String,
    until: i64,
    now: i64,
}

impl ClaimJob {
    fn new(key: JtiKey<'_>, until: UnixTime, now: UnixTime) -> ClaimJob {
        ClaimJob {
            issuer: key.issuer.to_owned(),
            jti: key.jti.to_owned(),
            scope: key.scope.to_owned(),
            until: until.as_secs(),
            now: now.as_secs(),
        }
    }
}

/// The answer to a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This call is the first use; the record is kept until the given time.
    First,
    /// An unexpired record exists: the token was used before.
    AlreadyUsed,
}

/// A store operation, for metrics (a closed label set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    ClaimJti,
    ReleaseJti,
    AddRevocation,
    DeleteRevocation,
    ListRevocations,
    /// Operator sessions and runner credentials.
    Records,
    Purge,
    Check,
}

impl StoreOp {
    pub const ALL: [StoreOp; 8] = [
        StoreOp::ClaimJti,
        StoreOp::ReleaseJti,
        StoreOp::AddRevocation,
        StoreOp::DeleteRevocation,
        StoreOp::ListRevocations,
        StoreOp::Records,
        StoreOp::Purge,
        StoreOp::Check,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StoreOp::ClaimJti => "claim_jti",
            StoreOp::ReleaseJti => "release_jti",
            StoreOp::AddRevocation => "add_revocation",
            StoreOp::DeleteRevocation => "delete_revocation",
            StoreOp::ListRevocations => "list_revocations",
            StoreOp::Records => "records",
            StoreOp::Purge => "purge",
            StoreOp::Check => "check",
        }
    }
}

/// Something that sees every store call (metrics). Must be cheap and must not block.
pub trait StoreObserver: Send + Sync {
    fn observe_store(&self, op: StoreOp, ok: bool, elapsed: Duration);
}

/// Whether opening a store may change its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migrations {
    /// Apply pending migrations (the server at start, `tollgate state migrate`).
    Apply,
    /// Change nothing; refuse a store that is not at this build's version (the operator CLI).
    RequireCurrent,
}

/// How many connections a pooled backend holds, for the pool gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    pub max: usize,
    pub open: usize,
    pub in_use: usize,
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(Box<postgres::PgStore>),
}

/// Calls the same method on whichever backend is configured.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &*$self.backend {
            Backend::Sqlite($store) => $call.await,
            Backend::Postgres($store) => $call.await,
        }
    };
}

/// The state store (cheap to clone).
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    describe: String,
    observer: Option<Arc<dyn StoreObserver>>,
}

impl Store {
    /// Opens the store and applies pending migrations (at start).
    pub async fn open(config: &StateConfig) -> Result<Store, StoreError> {
        Self::open_with(config, Migrations::Apply).await
    }

    /// Opens the store, migrating or only checking its schema.
    pub async fn open_with(config: &StateConfig, migrations: Migrations) -> Result<Store, StoreError> {
        let (backend, describe) = match config {
            StateConfig::Sqlite { path } => {
                let path = path.clone();
                let describe = format!("sqlite at {}", path.display());
                let opened = tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path, migrations)).await;
                let store = opened.map_err(|e| StoreError::Unavailable(e.to_string()))??;
                (Backend::Sqlite(store), describe)
            }
            StateConfig::Postgres(config) => (
                Backend::Postgres(Box::new(postgres::PgStore::open(config, migrations).await?)),
                format!("postgres at {}", config.describe()),
            ),
        };
        Ok(Store { backend: Arc::new(backend), describe, observer: None })
    }

    /// Reports every call to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The schema version an existing store is at, and the one this build knows, without migrating anything
    /// (`tollgate state check`). A store that does not exist yet is at 0.
    pub async fn inspect(config: &StateConfig) -> Result<(u32, u32), StoreError> {
        let current = match config {
            StateConfig::Sqlite { path } => sqlite::schema_version(path)?,
            StateConfig::Postgres(config) => postgres::schema_version(config).await?,
        };
        Ok((current, migrations::latest()))
    }

    /// Whether the store's data is kept from other local users: the SQLite file must be 0600 (or stricter);
    /// PostgreSQL is guarded by its own roles (`true`).
    pub fn is_private(config: &StateConfig) -> bool {
        match config {
            StateConfig::Sqlite { path } => sqlite::is_private(path),
            StateConfig::Postgres(_) => true,
        }
    }

    /// What the store is, for the start-up log line (no secret in it).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The connection pool's state (PostgreSQL); `None` for the embedded store.
    pub fn pool_status(&self) -> Option<PoolStatus> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(store) => Some(store.pool_status()),
        }
    }

    /// Records the first use of `key`, kept until `until`; tells whether an unexpired record existed. Atomic:
    /// of any number of concurrent claims of one key, on one replica or several, exactly one gets `First`.
    pub async fn claim_jti(&self, key: JtiKey<'_>, until: UnixTime, now: UnixTime) -> Result<Claim, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.claim_jti(key, until, now));
        self.observed(StoreOp::ClaimJti, result.is_ok(), &stopwatch);
        result
    }

    /// Moves an existing claim's expiry to `until` (a pending claim promoted once the exchange succeeded).
    pub async fn extend_jti(&self, key: JtiKey<'_>, until: UnixTime) -> Result<(), StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.extend_jti(key, until));
        self.observed(StoreOp::ClaimJti, result.is_ok(), &stopwatch);
        result
    }

    /// Forgets a claim (a pending claim whose exchange failed), so the token may be tried again.
    pub async fn release_jti(&self, key: JtiKey<'_>) -> Result<(), StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.release_jti(key));
        self.observed(StoreOp::ReleaseJti, result.is_ok(), &stopwatch);
        result
    }

    /// Records a revocation (durably, before returning) and tells every replica listening.
    pub async fn add_revocation(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.add_revocation(revocation));
        self.observed(StoreOp::AddRevocation, result.is_ok(), &stopwatch);
        result
    }

    /// Deletes a revocation before its time (an operator's mistake); tells whether it existed. Replicas drop it
    /// from their views at their next refresh.
    pub async fn delete_revocation(&self, id: &str) -> Result<bool, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.delete_revocation(id));
        self.observed(StoreOp::DeleteRevocation, result.is_ok(), &stopwatch);
        result
    }

    /// Every revocation still in force at `now`, oldest first, at most `limit`.
    pub async fn list_revocations(&self, now: UnixTime, limit: u32) -> Result<Vec<Revocation>, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.list_revocations(now, limit));
        self.observed(StoreOp::ListRevocations, result.is_ok(), &stopwatch);
        result
    }

    /// Wakes `changed` whenever another process recorded a revocation, for as long as it runs (PostgreSQL
    /// `LISTEN`, reconnecting after a failure). The embedded store has no such signal: it returns at once and
    /// the caller's poll is what notices.
    pub async fn watch_revocations(&self, changed: Arc<Notify>) {
        match &*self.backend {
            Backend::Sqlite(_) => {}
            Backend::Postgres(store) => store.watch_revocations(changed).await,
        }
    }

    /// Deletes expired records, `batch` at a time until none is left; returns how many went.
    pub async fn purge_all_expired(&self, now: UnixTime, batch: u32) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let deleted = self.purge_expired(now, batch).await?;
            total += deleted;
            if deleted < u64::from(batch) {
                return Ok(total);
            }
        }
    }

    /// Deletes at most `batch` expired records of each kind; returns how many went.
    pub async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.purge_expired(now, batch));
        self.observed(StoreOp::Purge, result.is_ok(), &stopwatch);
        result
    }

    /// A round trip to the store (readiness, `tollgate state check`); the schema version on success.
    pub async fn check(&self) -> Result<u32, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = dispatch!(self, store => store.check());
        self.observed(StoreOp::Check, result.is_ok(), &stopwatch);
        result
    }

    fn observed(&self, op: StoreOp, ok: bool, stopwatch: &Stopwatch) {
        if let Some(observer) = &self.observer {
            observer.observe_store(op, ok, stopwatch.elapsed());
        }
    }
}

/// Turns a stored row back into a revocation.
fn revocation_from_row(
    id: String,
    target: &str,
    reason: String,
    author: String,
    created_at: i64,
    expires_at: i64,
) -> Result<Revocation, StoreError> {
    let target = serde_json::from_str(target).map_err(|e| StoreError::Corrupt(format!("revocation {id}: {e}")))?;
    let (created_at, expires_at) = (UnixTime::from_secs(created_at), UnixTime::from_secs(expires_at));
    Ok(Revocation { id, target, reason, author, created_at, expires_at })
}

#[cfg(test)]
mod tests;

//! Durable state behind one narrow interface, in the domain's words: claim a token's `jti` until a time (replay
//! protection), and purge what expired. The backend is chosen in config (`state:`); today the embedded one,
//! SQLite (`sqlite.rs`), one file, durable across restarts. No SQL lives outside this module; migrations are
//! versioned (`migrations.rs`) and table names carry a key-namespace version, so an upgrade that changed how
//! keys are formed could never read old records as absent (and so reopen replays).
//!
//! Every call is bounded (a busy timeout, one connection serialised per process) and runs off the async
//! runtime's threads. Time comes in as a parameter.

mod migrations;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Stopwatch, UnixTime};

/// Where state lives (config `state:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateConfig {
    /// One SQLite file (WAL, `synchronous=FULL`).
    Sqlite { path: PathBuf },
}

/// Why the store could not answer. Callers fail closed unless a policy says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the state store at {path} failed: {reason}")]
    Open { path: String, reason: String },
    #[error("migrating the state store failed: {0}")]
    Migration(String),
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
}

/// Which use of a token a claim is for: `(issuer, jti, scope)`, where the scope names the role (`role:NAME`) or
/// every role (`any`).
#[derive(Clone, Copy, Debug)]
pub struct JtiKey<'a> {
    pub issuer: &'a str,
    pub jti: &'a str,
    pub scope: &'a str,
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
    Purge,
    Check,
}

impl StoreOp {
    pub const ALL: [StoreOp; 3] = [StoreOp::ClaimJti, StoreOp::Purge, StoreOp::Check];

    pub fn as_str(self) -> &'static str {
        match self {
            StoreOp::ClaimJti => "claim_jti",
            StoreOp::Purge => "purge",
            StoreOp::Check => "check",
        }
    }
}

/// Something that sees every store call (metrics). Must be cheap and must not block.
pub trait StoreObserver: Send + Sync {
    fn observe_store(&self, op: StoreOp, ok: bool, elapsed: Duration);
}

/// The state store (cheap to clone).
#[derive(Clone)]
pub struct Store {
    backend: Arc<sqlite::SqliteStore>,
    describe: String,
    observer: Option<Arc<dyn StoreObserver>>,
}

impl Store {
    /// Opens the store and applies pending migrations (at start; it blocks).
    pub fn open(config: &StateConfig) -> Result<Store, StoreError> {
        match config {
            StateConfig::Sqlite { path } => {
                let backend = sqlite::SqliteStore::open(path)?;
                let describe = format!("sqlite at {}", path.display());
                Ok(Store { backend: Arc::new(backend), describe, observer: None })
            }
        }
    }

    /// Reports every call to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The schema version an existing store is at, and the one this build knows, without migrating anything
    /// (`tollgate state check`). A store that does not exist yet is at 0.
    pub fn inspect(config: &StateConfig) -> Result<(u32, u32), StoreError> {
        match config {
            StateConfig::Sqlite { path } => Ok((sqlite::schema_version(path)?, migrations::latest())),
        }
    }

    /// What the store is, for the start-up log line (no secret in it).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Records the first use of `key`, kept until `until`; tells whether an unexpired record existed. Atomic:
    /// of any number of concurrent claims of one key, exactly one gets `First`.
    pub async fn claim_jti(&self, key: JtiKey<'_>, until: UnixTime, now: UnixTime) -> Result<Claim, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = self.backend.claim_jti(key, until, now).await;
        self.observed(StoreOp::ClaimJti, result.is_ok(), &stopwatch);
        result
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

    /// Deletes at most `batch` expired records; returns how many went.
    pub async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = self.backend.purge_expired(now, batch).await;
        self.observed(StoreOp::Purge, result.is_ok(), &stopwatch);
        result
    }

    /// A round trip to the store (readiness, `tollgate state check`); the schema version on success.
    pub async fn check(&self) -> Result<u32, StoreError> {
        let stopwatch = Stopwatch::start();
        let result = self.backend.check().await;
        self.observed(StoreOp::Check, result.is_ok(), &stopwatch);
        result
    }

    fn observed(&self, op: StoreOp, ok: bool, stopwatch: &Stopwatch) {
        if let Some(observer) = &self.observer {
            observer.observe_store(op, ok, stopwatch.elapsed());
        }
    }
}

#[cfg(test)]
mod tests;

//! The operator plane's records, in the domain's words: operator sessions, runner credentials and store-managed
//! signing keys. Each is a
//! `Record` of a kind: an id (shown to operators), the SHA-256 of its secret (the only way to look it up from a
//! presented secret; the secret itself is never stored), an opaque JSON body the caller owns, and an expiry
//! (`NEVER` for records that last until deleted). Lookups by secret ignore expired records; purge removes them.

use super::{Store, StoreError, StoreOp};
use crate::clock::{Stopwatch, UnixTime};

/// The expiry of a record that lasts until it is deleted.
pub const NEVER: UnixTime = UnixTime::from_secs(i64::MAX);

/// What kind of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Session,
    Runner,
    /// A store-managed signing key (`signing.managed`).
    SigningKey,
}

impl RecordKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            RecordKind::Session => "session",
            RecordKind::Runner => "runner",
            RecordKind::SigningKey => "signing_key",
        }
    }
}

/// One stored record. `Debug` never shows the body (a managed key's body holds its private key).
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    /// SHA-256 (hex) of the record's secret.
    pub lookup: String,
    /// The caller's JSON.
    pub body: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("body_bytes", &self.body.len())
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Calls the same method on whichever backend is configured, observed as `op`.
macro_rules! observed {
    ($self:ident, $op:expr, $store:ident => $call:expr) => {{
        let stopwatch = Stopwatch::start();
        let result = match &*$self.backend {
            super::Backend::Sqlite($store) => $call.await,
            super::Backend::Postgres($store) => $call.await,
        };
        $self.observed($op, result.is_ok(), &stopwatch);
        result
    }};
}

impl Store {
    /// Stores a new operator session.
    pub async fn add_session(&self, record: &Record) -> Result<(), StoreError> {
        observed!(self, StoreOp::Records, store => store.add_record(RecordKind::Session, record))
    }

    /// The unexpired session whose secret has this digest.
    pub async fn session_by_digest(&self, digest: &str, now: UnixTime) -> Result<Option<Record>, StoreError> {
        observed!(self, StoreOp::Records, store => store.record_by_lookup(RecordKind::Session, digest, now))
    }

    /// Every unexpired session, newest first, at most `limit`.
    pub async fn list_sessions(&self, now: UnixTime, limit: u32) -> Result<Vec<Record>, StoreError> {
        observed!(self, StoreOp::Records, store => store.list_records(RecordKind::Session, now, limit))
    }

    /// Ends a session (sign-out); tells whether it existed.
    pub async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        observed!(self, StoreOp::Records, store => store.delete_record(RecordKind::Session, id))
    }

    /// Stores a new runner credential.
    pub async fn add_runner(&self, record: &Record) -> Result<(), StoreError> {
        observed!(self, StoreOp::Records, store => store.add_record(RecordKind::Runner, record))
    }

    /// The unexpired runner whose credential has this digest (each runner exchange asks the store, so a
    /// deleted or rotated credential stops working at once on every replica).
    pub async fn runner_by_digest(&self, digest: &str, now: UnixTime) -> Result<Option<Record>, StoreError> {
        observed!(self, StoreOp::Records, store => store.record_by_lookup(RecordKind::Runner, digest, now))
    }

    /// Every unexpired runner, newest first, at most `limit`.
    pub async fn list_runners(&self, now: UnixTime, limit: u32) -> Result<Vec<Record>, StoreError> {
        observed!(self, StoreOp::Records, store => store.list_records(RecordKind::Runner, now, limit))
    }

    /// Gives a runner a new secret digest and body (rotation); tells whether the runner exists.
    pub async fn replace_runner(&self, id: &str, lookup: &str, body: &str) -> Result<bool, StoreError> {
        observed!(self, StoreOp::Records, store => store.replace_record(RecordKind::Runner, id, lookup, body))
    }

    /// Deletes a runner credential at once; tells whether it existed.
    pub async fn delete_runner(&self, id: &str) -> Result<bool, StoreError> {
        observed!(self, StoreOp::Records, store => store.delete_record(RecordKind::Runner, id))
    }

    /// Stores a new managed signing key (the record's body holds its private key: guard the database).
    pub async fn add_signing_key(&self, record: &Record) -> Result<(), StoreError> {
        observed!(self, StoreOp::Records, store => store.add_record(RecordKind::SigningKey, record))
    }

    /// Every managed signing key not yet purged, newest first.
    pub async fn list_signing_keys(&self, now: UnixTime) -> Result<Vec<Record>, StoreError> {
        observed!(self, StoreOp::Records, store => store.list_records(RecordKind::SigningKey, now, 1000))
    }

    /// Sets when a managed signing key is purged (once no token it signed can still be valid).
    pub async fn expire_signing_key(&self, kid: &str, expires_at: UnixTime) -> Result<bool, StoreError> {
        observed!(self, StoreOp::Records, store => store.set_record_expiry(RecordKind::SigningKey, kid, expires_at))
    }
}

//! Store-managed signing keys (`signing.managed: true`): Tollgate's key ring kept in the state store, so every
//! replica signs with the same key and publishes the same set, and an admin can rotate it through the API.
//!
//! Each key has an activation time. At any instant the active key is the newest one already activated; older
//! ones are *previous* (published until no token they signed can still be valid, then purged from the store);
//! newer ones are *next*: published but not yet signing. A rotation adds a key that activates
//! `ACTIVATION_DELAY_SECS` later: longer than replicas take to reload the ring (`RELOAD_SECS`) plus the time a
//! relying party may cache the JWKS (`JWKS_MAX_AGE_SECS`), so every replica publishes a key, and every relying
//! party that follows the cache headers has fetched it, before any token carries it. The first start with an empty store adds a key active at
//! once. Replicas that start together at an empty store may each add one; they then agree (newest wins) at the
//! next reload. The records hold private keys: the database must be guarded like the key files would be.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::clock::UnixTime;
use crate::credentials::{KeyError, PreviousKey, SigningAlg, SigningKey};
use crate::store::{NEVER, Record, Store, StoreError};

/// How often each replica reloads the ring.
pub const RELOAD_SECS: u64 = 5;

/// How long after a rotation the new key starts signing.
pub const ACTIVATION_DELAY_SECS: i64 = crate::credentials::JWKS_MAX_AGE_SECS + 2 * RELOAD_SECS as i64;

/// The most keys the store may hold (each rotation's superseded key is kept until its tokens expired).
const MAX_KEYS: usize = 20;

/// How long past the end of a previous key's last possible token its record is kept.
const MARGIN_SECS: i64 = 660;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored signing key is unusable: {0}")]
    Key(#[from] KeyError),
    #[error("a stored signing key record is unreadable: {0}")]
    Record(String),
}

#[derive(Serialize, Deserialize)]
struct KeyBody {
    alg: String,
    pkcs8_pem: String,
    activates_at: i64,
}

/// A stored key, parsed.
struct Stored {
    key: SigningKey,
    activates_at: UnixTime,
}

/// The ring at an instant.
pub struct Ring {
    pub active: SigningKey,
    pub previous: Vec<PreviousKey>,
    pub next: Vec<SigningKey>,
}

/// The outcome of a rotation.
#[derive(Debug)]
pub struct Rotated {
    pub kid: String,
    pub alg: &'static str,
    pub activates_at: UnixTime,
}

fn parse(record: &Record) -> Result<Stored, KeyringError> {
    let body: KeyBody = serde_json::from_str(&record.body).map_err(|e| KeyringError::Record(e.to_string()))?;
    let alg: SigningAlg = body.alg.parse().map_err(|_| KeyringError::Record(format!("algorithm {:?}", body.alg)))?;
    let key = SigningKey::from_bytes(alg, body.pkcs8_pem.as_bytes())?;
    Ok(Stored { key, activates_at: UnixTime::from_secs(body.activates_at) })
}

fn record(key: &SigningKey, activates_at: UnixTime, now: UnixTime) -> Result<Record, KeyringError> {
    let body = KeyBody {
        alg: key.alg().as_str().to_owned(),
        pkcs8_pem: key.to_pkcs8_pem(),
        activates_at: activates_at.as_secs(),
    };
    let body = serde_json::to_string(&body).map_err(|e| KeyringError::Record(e.to_string()))?;
    Ok(Record { id: key.kid().to_owned(), lookup: key.kid().to_owned(), body, created_at: now, expires_at: NEVER })
}

/// The ring the stored keys make at `now`: `None` when no key is active yet.
fn ring_at(mut keys: Vec<Stored>, now: UnixTime) -> Option<Ring> {
    keys.sort_by(|a, b| (a.activates_at, a.key.kid()).cmp(&(b.activates_at, b.key.kid())));
    let split = keys.iter().position(|k| k.activates_at > now).unwrap_or(keys.len());
    let next: Vec<SigningKey> = keys.split_off(split).into_iter().map(|k| k.key).collect();
    let active = keys.pop()?;
    // A previous key retired when its successor activated.
    let mut previous = Vec::with_capacity(keys.len());
    let mut retired_at = active.activates_at;
    for stored in keys.into_iter().rev() {
        previous.push(PreviousKey { key: stored.key, retired_at });
        retired_at = stored.activates_at;
    }
    Some(Ring { active: active.key, previous, next })
}

/// Loads the ring for a starting replica, adding a first key (active at once) to an empty store.
pub async fn load_or_create(store: &Store, alg: SigningAlg, now: UnixTime) -> Result<Ring, KeyringError> {
    let stored = store.list_signing_keys(now).await?.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    if let Some(ring) = ring_at(stored, now) {
        return Ok(ring);
    }
    let key = SigningKey::generate(alg)?;
    store.add_signing_key(&record(&key, now, now)?).await?;
    tracing::info!(kid = key.kid(), "Created the first store-managed signing key.");
    load(store, now).await?.ok_or_else(|| KeyringError::Record("the new key was not found".into()))
}

async fn load(store: &Store, now: UnixTime) -> Result<Option<Ring>, KeyringError> {
    let stored = store.list_signing_keys(now).await?.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    Ok(ring_at(stored, now))
}

/// The managed ring of a running replica.
pub struct ManagedKeys {
    store: Store,
    broker: Arc<Broker>,
    alg: SigningAlg,
}

impl ManagedKeys {
    pub fn new(store: Store, broker: Arc<Broker>, alg: SigningAlg) -> Self {
        Self { store, broker, alg }
    }

    /// Reloads the ring from the store and hands it to the minter when anything changed.
    pub async fn reload(&self, now: UnixTime) -> Result<(), KeyringError> {
        let Some(ring) = load(&self.store, now).await? else {
            return Ok(());
        };
        let minter = self.broker.minter();
        let kids: Vec<String> = std::iter::once(ring.active.kid())
            .chain(ring.previous.iter().map(|p| p.key.kid()))
            .chain(ring.next.iter().map(SigningKey::kid))
            .map(str::to_owned)
            .collect();
        if kids != minter.ring_kids() {
            tracing::info!(active = ring.active.kid(), keys = kids.len(), "The signing key ring changed.");
            minter.replace_ring(ring.active, ring.previous, ring.next);
        }
        Ok(())
    }

    /// Adds a new key that starts signing `ACTIVATION_DELAY_SECS` from now; the keys it supersedes are purged
    /// from the store once no token they signed can still be valid. The new key is stored first, and the work
    /// runs in its own task, so a dropped request cannot leave the store without a current key.
    pub async fn rotate(self: &Arc<Self>, now: UnixTime) -> Result<Rotated, KeyringError> {
        let this = Arc::clone(self);
        tokio::spawn(async move { this.rotate_now(now).await })
            .await
            .map_err(|e| KeyringError::Record(format!("the rotation task failed: {e}")))?
    }

    async fn rotate_now(&self, now: UnixTime) -> Result<Rotated, KeyringError> {
        let existing = self.store.list_signing_keys(now).await?;
        if existing.len() >= MAX_KEYS {
            return Err(KeyringError::Record(format!(
                "{} keys are stored (the last rotations' keys are kept until their tokens expired): rotate later",
                existing.len()
            )));
        }
        let key = SigningKey::generate(self.alg)?;
        let activates_at = now.plus_secs(ACTIVATION_DELAY_SECS);
        self.store.add_signing_key(&record(&key, activates_at, now)?).await?;
        let window = i64::from(self.broker.minter().config().max_ttl_secs) + MARGIN_SECS;
        for superseded in existing.iter().filter(|record| record.expires_at == NEVER) {
            self.store.expire_signing_key(&superseded.id, activates_at.plus_secs(window)).await?;
        }
        let rotated = Rotated { kid: key.kid().to_owned(), alg: key.alg().as_str(), activates_at };
        self.reload(now).await?;
        Ok(rotated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(at: i64) -> Stored {
        Stored { key: SigningKey::generate(SigningAlg::Es256).unwrap(), activates_at: UnixTime::from_secs(at) }
    }

    #[test]
    fn the_newest_activated_key_signs_older_ones_are_previous_and_newer_ones_next() {
        let keys = vec![stored(300), stored(100), stored(200), stored(900)];
        let kids: Vec<String> = keys.iter().map(|k| k.key.kid().to_owned()).collect();
        let ring = ring_at(keys, UnixTime::from_secs(500)).unwrap();
        assert_eq!(ring.active.kid(), kids[0], "activated at 300");
        let previous: Vec<(&str, i64)> = ring.previous.iter().map(|p| (p.key.kid(), p.retired_at.as_secs())).collect();
        assert_eq!(
            previous,
            [(kids[2].as_str(), 300), (kids[1].as_str(), 200)],
            "each retired when its successor activated"
        );
        assert_eq!(ring.next.iter().map(SigningKey::kid).collect::<Vec<_>>(), [kids[3].as_str()]);
        assert!(ring_at(vec![stored(900)], UnixTime::from_secs(500)).is_none(), "nothing active yet");
    }
}

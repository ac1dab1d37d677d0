//! Key caches of pattern-template issuers (e.g. one CircleCI org each), created on a token's first use.
//!
//! A token needs no valid signature to name a new org, so creation is bounded and fair: at most
//! `NEW_PER_MINUTE` new issuers a minute in all and `NEW_PER_CLIENT_PER_MINUTE` per client address; a cache is
//! kept only once its first fetch succeeded (so only real issuers are ever refreshed in the background); a
//! failed first fetch is remembered for `FAILURE_TTL_SECS` and not retried before. Concurrent first uses of
//! one issuer share one fetch. Time comes in as `now`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cache::{JwksSettings, KeyCache, KeyError, KeySource};
use super::fetch::Fetcher;
use super::jwks::KeySet;
use crate::clock::UnixTime;

/// How many pattern-template issuers keep a key cache at once.
const CAPACITY: u64 = 1_000;
/// New issuers admitted (each costs a discovery + JWKS fetch) per minute, in all and per client address.
const NEW_PER_MINUTE: u32 = 30;
const NEW_PER_CLIENT_PER_MINUTE: u32 = 10;
/// A failed first fetch is not retried for this long.
const FAILURE_TTL_SECS: i64 = 300;
/// Remembered failures (a bounded set; the oldest go first).
const FAILURE_CAPACITY: u64 = 10_000;

/// The caches of pattern-template issuers that answered once, and the bounds on creating more.
pub(super) struct DynamicIssuers {
    caches: moka::future::Cache<String, Arc<KeyCache>>,
    /// Issuer URL -> when its first fetch failed.
    failed: moka::future::Cache<String, UnixTime>,
    budget: Mutex<Budget>,
}

/// New issuers admitted in the current minute: in all, and per client address.
#[derive(Default)]
struct Budget {
    minute: i64,
    total: u32,
    per_client: HashMap<String, u32>,
}

/// What a new cache is built from.
pub(super) struct NewIssuer<'a> {
    pub url: &'a str,
    pub source: KeySource,
    pub static_keys: Option<&'a KeySet>,
    pub client: Option<&'a str>,
}

impl DynamicIssuers {
    pub(super) fn new(settings: &JwksSettings) -> Self {
        let idle = Duration::from_secs(u64::try_from(settings.max_staleness_secs).unwrap_or(86_400));
        let failure_ttl = Duration::from_secs(FAILURE_TTL_SECS.unsigned_abs());
        Self {
            caches: moka::future::Cache::builder().max_capacity(CAPACITY).time_to_idle(idle).build(),
            failed: moka::future::Cache::builder().max_capacity(FAILURE_CAPACITY).time_to_live(failure_ttl).build(),
            budget: Mutex::new(Budget::default()),
        }
    }

    /// The cache of `issuer.url`: the kept one, or a new one whose first fetch succeeded just now.
    pub(super) async fn get(
        &self,
        issuer: NewIssuer<'_>,
        fetcher: &Fetcher,
        settings: &Arc<JwksSettings>,
        now: UnixTime,
    ) -> Result<Arc<KeyCache>, KeyError> {
        if let Some(keys) = self.caches.get(issuer.url).await {
            return Ok(keys);
        }
        if let Some(failed_at) = self.failed.get(issuer.url).await
            && now.secs_since(failed_at) < FAILURE_TTL_SECS
        {
            return Err(KeyError::Unavailable(format!(
                "the first key fetch from {} failed at {failed_at}; not retried for {FAILURE_TTL_SECS} s",
                issuer.url
            )));
        }
        let url = issuer.url.to_owned();
        let created = self.caches.try_get_with(url, self.create(issuer, fetcher, settings, now)).await;
        created.map_err(|error| KeyError::Unavailable(error.to_string()))
    }

    /// Every kept cache (each answered at least once), for the background refresher.
    pub(super) fn all(&self) -> Vec<Arc<KeyCache>> {
        self.caches.iter().map(|(_, keys)| keys).collect()
    }

    async fn create(
        &self,
        issuer: NewIssuer<'_>,
        fetcher: &Fetcher,
        settings: &Arc<JwksSettings>,
        now: UnixTime,
    ) -> Result<Arc<KeyCache>, String> {
        if let Some(keys) = issuer.static_keys {
            return Ok(Arc::new(KeyCache::with_static(keys.clone(), Arc::clone(settings), now)));
        }
        self.admit(issuer.client, now)
            .map_err(|scope| format!("too many new issuers {scope} this minute; {} refused", issuer.url))?;
        let cache = Arc::new(KeyCache::new(issuer.source, Arc::clone(settings)));
        cache.refresh_if_due(fetcher, now, true).await;
        let status = cache.status(now);
        if status.last_success.is_some() {
            return Ok(cache);
        }
        self.failed.insert(issuer.url.to_owned(), now).await;
        Err(status.last_error.unwrap_or_else(|| "the first key fetch failed".to_owned()))
    }

    /// Counts one new issuer against the minute's budgets; `Err` names the budget that is spent.
    fn admit(&self, client: Option<&str>, now: UnixTime) -> Result<(), &'static str> {
        let Ok(mut budget) = self.budget.lock() else {
            return Err("(budget unavailable)");
        };
        let minute = now.as_secs().div_euclid(60);
        if budget.minute != minute {
            *budget = Budget { minute, ..Budget::default() };
        }
        if budget.total >= NEW_PER_MINUTE {
            return Err("in all");
        }
        if let Some(client) = client {
            // At most NEW_PER_MINUTE clients are admitted a minute, so this map stays that small.
            let used = budget.per_client.get(client).copied().unwrap_or(0);
            if used >= NEW_PER_CLIENT_PER_MINUTE {
                return Err("from this client");
            }
            budget.per_client.insert(client.to_owned(), used + 1);
        }
        budget.total += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_per_client_and_in_all_reset_each_minute() {
        let dynamic = DynamicIssuers::new(&JwksSettings::default());
        let at = UnixTime::from_secs(6_000);
        for _ in 0..NEW_PER_CLIENT_PER_MINUTE {
            assert_eq!(dynamic.admit(Some("10.0.0.1"), at), Ok(()));
        }
        assert_eq!(dynamic.admit(Some("10.0.0.1"), at), Err("from this client"));
        for n in NEW_PER_CLIENT_PER_MINUTE..NEW_PER_MINUTE {
            assert_eq!(dynamic.admit(Some(&format!("10.0.1.{n}")), at), Ok(()));
        }
        assert_eq!(dynamic.admit(Some("10.0.2.1"), at), Err("in all"));
        assert_eq!(dynamic.admit(None, at), Err("in all"));
        let next_minute = at.plus_secs(60);
        assert_eq!(dynamic.admit(Some("10.0.0.1"), next_minute), Ok(()));
    }
}

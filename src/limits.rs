//! Limits on what clients may ask of the service: the listener limits' settings (body size, header and
//! request timeouts, concurrency ceiling) and token-bucket rate limiters whose memory is bounded.
//!
//! Knows no HTTP: `http::limits` applies these settings to every listener, and the broker consults its
//! per-issuer limiter after verification (an issuer name is known only then). Elapsed time comes from a
//! `clock::Stopwatch`, or is passed in (`check_at`), so tests decide the time.

use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Stopwatch;

/// Most distinct keys (client addresses) a limiter tracks; beyond that the least recently used bucket goes.
pub const MAX_TRACKED_KEYS: u64 = 100_000;

/// Limits of every listener (config `limits:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// A connection must send a request's complete headers within this time (slow clients are cut off).
    pub header_read_timeout: Duration,
    /// A request must be answered within this time, else 503.
    pub request_timeout: Duration,
    /// Requests in flight at once on one listener; more are refused at once with 503 (never queued).
    pub max_concurrent_requests: usize,
    /// Optional token bucket per client IP address (429 past it).
    pub per_client_ip: Option<RateLimit>,
    /// Optional token bucket per trusted issuer and tenant (on a shared issuer, the pinned tenant claim's value
    /// or the template's value), counted after verification (429 past it).
    pub per_issuer: Option<RateLimit>,
    /// Optional ceiling per trusted issuer, all its tenants together.
    pub per_issuer_total: Option<RateLimit>,
}

/// A token bucket's shape: refilled at `requests_per_second`, holding at most `burst` requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests_per_second: u32,
    pub burst: u32,
}

/// Token buckets by key, at most `MAX_TRACKED_KEYS` of them.
pub struct RateLimiter<K> {
    limit: RateLimit,
    buckets: moka::future::Cache<K, Arc<Mutex<Bucket>>>,
    epoch: Stopwatch,
}

/// Over the limit: the next request would be admitted after this many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry after {retry_after_secs} s")]
pub struct RateLimited {
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date, as elapsed time since the limiter's epoch.
    updated: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            per_client_ip: None,
            per_issuer: None,
            per_issuer_total: None,
        }
    }
}

impl<K: Hash + Eq + Send + Sync + 'static> RateLimiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        // A bucket idle long enough to be full again is worth nothing: let it go.
        let refill_secs = u64::from(limit.burst).div_ceil(u64::from(limit.requests_per_second.max(1)));
        // LRU rather than moka's default TinyLFU admission: a new key is always tracked (and so limited), the
        // least recently seen one goes.
        let buckets = moka::future::Cache::builder()
            .max_capacity(MAX_TRACKED_KEYS)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_idle(Duration::from_secs(refill_secs.saturating_add(1)))
            .build();
        Self { limit, buckets, epoch: Stopwatch::start() }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one request from `key`'s bucket now.
    pub async fn check(&self, key: K) -> Result<(), RateLimited> {
        let now = self.epoch.elapsed();
        self.check_at(key, now).await
    }

    /// Takes one request from `key`'s bucket at `now` (elapsed time since the limiter's start).
    pub async fn check_at(&self, key: K, now: Duration) -> Result<(), RateLimited> {
        let limit = self.limit;
        let bucket = self
            .buckets
            .get_with(key, async move { Arc::new(Mutex::new(Bucket { tokens: f64::from(limit.burst), updated: now })) })
            .await;
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        bucket.take(limit, now)
    }
}

impl Bucket {
    fn take(&mut self, limit: RateLimit, now: Duration) -> Result<(), RateLimited> {
        let rate = f64::from(limit.requests_per_second.max(1));
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(limit.burst));
        self.updated = self.updated.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - self.tokens) / rate).ceil();
        // `wait` is at most 1/rate rounded up: a small positive whole number.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let retry_after_secs = (wait as u64).max(1);
        Err(RateLimited { retry_after_secs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_bucket_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimit { requests_per_second: 2, burst: 3 });
        for _ in 0..3 {
            assert_eq!(limiter.check_at("a", at(0)).await, Ok(()));
        }
        assert_eq!(limiter.check_at("a", at(0)).await, Err(RateLimited { retry_after_secs: 1 }));
        assert_eq!(limiter.check_at("a", at(400)).await.map_err(|e| e.retry_after_secs), Err(1));
        assert_eq!(limiter.check_at("a", at(600)).await, Ok(()), "one token every half second");
        assert!(limiter.check_at("a", at(600)).await.is_err());
        // Long idle: full again, never more than the burst.
        for _ in 0..3 {
            assert_eq!(limiter.check_at("a", at(60_000)).await, Ok(()));
        }
        assert!(limiter.check_at("a", at(60_000)).await.is_err());
    }

    #[tokio::test]
    async fn keys_have_their_own_buckets() {
        let limiter = RateLimiter::new(RateLimit { requests_per_second: 1, burst: 1 });
        assert_eq!(limiter.check_at("a", at(0)).await, Ok(()));
        assert!(limiter.check_at("a", at(10)).await.is_err());
        assert_eq!(limiter.check_at("b", at(10)).await, Ok(()));
    }

    #[tokio::test]
    async fn retry_after_counts_whole_seconds_until_the_next_token() {
        let limiter = RateLimiter::new(RateLimit { requests_per_second: 1, burst: 1 });
        assert_eq!(limiter.check_at(1u8, at(0)).await, Ok(()));
        assert_eq!(limiter.check_at(1u8, at(100)).await, Err(RateLimited { retry_after_secs: 1 }));
        // Time never runs backwards for a bucket (an earlier reading cannot mint tokens).
        assert!(limiter.check_at(1u8, at(50)).await.is_err());
        assert_eq!(limiter.check_at(1u8, at(1000)).await, Ok(()));
    }
}

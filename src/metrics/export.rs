//! Scrape time: reads the state other modules keep (issuer key caches, policy reload counters, the key ring, the
//! store's pool, the revocation view) into
//! the gauges and counters of `Metrics`, then renders the registry. Labels stay configured names: key caches are
//! summed per configured issuer name, never labelled by URL.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use prometheus::IntCounterVec;

use super::{KEY_STATES, Metrics, MetricsError, POOL_STATES, RESULTS};
use crate::broker::Broker;
use crate::clock::UnixTime;
use crate::issuers::Issuers;
use crate::reload::PolicyReloader;

/// What `GET /metrics` renders: the metrics plus the modules whose state is read at scrape time.
pub struct Exporter {
    metrics: Arc<Metrics>,
    issuers: Arc<Issuers>,
    reloader: Arc<PolicyReloader>,
    /// The candidate set's reloader (`shadow.policies`), when configured.
    shadow_reloader: Option<Arc<PolicyReloader>>,
    broker: Arc<Broker>,
}

/// One configured issuer's key caches, summed.
#[derive(Default)]
struct IssuerKeys {
    keys: i64,
    stale: i64,
    /// The oldest last success among its URLs; 0 if one never succeeded.
    oldest_success: Option<i64>,
    fetches_ok: u64,
    fetches_failed: u64,
}

impl Exporter {
    pub fn new(
        metrics: Arc<Metrics>,
        issuers: Arc<Issuers>,
        reloader: Arc<PolicyReloader>,
        broker: Arc<Broker>,
    ) -> Self {
        Self { metrics, issuers, reloader, shadow_reloader: None, broker }
    }

    /// Also reports the candidate set's reloads.
    pub fn with_shadow(mut self, shadow_reloader: Option<Arc<PolicyReloader>>) -> Self {
        self.shadow_reloader = shadow_reloader;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Refreshes what is read from other modules, then renders everything in the text format.
    pub fn render(&self) -> Result<String, MetricsError> {
        let _one_at_a_time = self.metrics.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh_issuers(self.broker.clock().now());
        self.refresh_policies();
        self.refresh_signing_keys();
        self.refresh_state();
        self.metrics.encode()
    }

    fn refresh_issuers(&self, now: UnixTime) {
        let mut by_name: BTreeMap<String, IssuerKeys> = BTreeMap::new();
        for health in self.issuers.health(now) {
            let status = health.status;
            let entry = by_name.entry(health.name).or_default();
            entry.keys += i64::try_from(status.keys).unwrap_or(i64::MAX);
            entry.stale += i64::from(status.stale);
            let success = status.last_success.map_or(0, UnixTime::as_secs);
            entry.oldest_success = Some(entry.oldest_success.map_or(success, |oldest| oldest.min(success)));
            entry.fetches_ok += status.fetches_ok;
            entry.fetches_failed += status.fetches_failed;
        }
        let m = &self.metrics;
        for (name, keys) in &by_name {
            let issuer = [m.issuer_label(Some(name))];
            let set = |gauges: &prometheus::IntGaugeVec, value: i64| {
                if let Ok(gauge) = gauges.get_metric_with_label_values(&issuer) {
                    gauge.set(value);
                }
            };
            set(&m.jwks_keys, keys.keys);
            set(&m.jwks_stale, keys.stale);
            set(&m.jwks_last_success, keys.oldest_success.unwrap_or(0));
            let [ok, error] = RESULTS;
            catch_up(&m.jwks_fetches, &[issuer[0], ok], keys.fetches_ok);
            catch_up(&m.jwks_fetches, &[issuer[0], error], keys.fetches_failed);
        }
    }

    fn refresh_policies(&self) {
        let stats = self.reloader.stats();
        let [ok, error] = RESULTS;
        catch_up(&self.metrics.policy_reloads, &[ok], stats.succeeded);
        catch_up(&self.metrics.policy_reloads, &[error], stats.failed);
        self.metrics.policies_loaded.set(i64::try_from(self.broker.policies().len()).unwrap_or(i64::MAX));
        self.metrics.policy_last_reload.set(stats.loaded_at.as_secs());
        if let Some(shadow) = &self.shadow_reloader {
            let stats = shadow.stats();
            catch_up(&self.metrics.shadow_policy_reloads, &[ok], stats.succeeded);
            catch_up(&self.metrics.shadow_policy_reloads, &[error], stats.failed);
        }
        let candidates = self.broker.shadow_policies().map_or(0, |set| set.len());
        self.metrics.shadow_policies_loaded.set(i64::try_from(candidates).unwrap_or(i64::MAX));
    }

    /// Replaced whole on every scrape, so a key that stopped being published stops being reported.
    fn refresh_signing_keys(&self) {
        let info = &self.metrics.signing_key_info;
        info.reset();
        for key in self.broker.minter().key_states(self.broker.clock().now()) {
            // Always one of the closed set, whatever the minter names.
            let state = KEY_STATES.into_iter().find(|state| *state == key.state).unwrap_or("previous");
            if let Ok(gauge) = info.get_metric_with_label_values(&[key.kid.as_str(), key.alg, state]) {
                gauge.set(1);
            }
        }
    }
}

impl Exporter {
    /// The store's pool and the revocation view's age and size.
    fn refresh_state(&self) {
        let m = &self.metrics;
        if let Some(pool) = self.broker.store().and_then(crate::store::Store::pool_status) {
            let [max, open, in_use] = POOL_STATES;
            for (state, value) in [(max, pool.max), (open, pool.open), (in_use, pool.in_use)] {
                if let Ok(gauge) = m.store_pool.get_metric_with_label_values(&[state]) {
                    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
                }
            }
        }
        if let Some(view) = self.broker.revocations() {
            m.revocations_age.set(i64::try_from(view.age().as_secs()).unwrap_or(i64::MAX));
            m.revocations_live.set(i64::try_from(view.len()).unwrap_or(i64::MAX));
        }
    }
}

/// Raises a counter to a total kept elsewhere (an atomic that only grows). Runs under the scrape lock.
fn catch_up(counters: &IntCounterVec, labels: &[&str], total: u64) {
    if let Ok(counter) = counters.get_metric_with_label_values(labels) {
        let seen = counter.get();
        if total > seen {
            counter.inc_by(total - seen);
        }
    }
}

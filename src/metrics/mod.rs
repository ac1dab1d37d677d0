//! Prometheus metrics: every metric's name (a const), its closed label sets, and `Metrics`, the registry that the
//! decision sink, the upstream STS observer and the HTTP middleware record into. `export` refreshes, at scrape
//! time, what is read from other modules' state (issuer key caches, policy reloads, signing keys).
//!
//! Label values come only from closed enums and configured names, never from a token or a request: an issuer
//! that is not configured and a role that names no loaded policy are both `other`, a path no route matched is
//! `unmatched`. No HTTP here: the middleware lives in `http/`, the listener in `admin/`.

mod export;

pub use export::Exporter;

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::broker::{DecisionEvent, DecisionSink, FrontDoor};
use crate::store::{StoreObserver, StoreOp};
use crate::sts::{StsError, StsObserver};

pub const EXCHANGES_TOTAL: &str = "tollgate_exchanges_total";
pub const EXCHANGE_DURATION_SECONDS: &str = "tollgate_exchange_duration_seconds";
pub const JWKS_FETCHES_TOTAL: &str = "tollgate_jwks_fetches_total";
pub const JWKS_LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "tollgate_jwks_last_success_timestamp_seconds";
pub const JWKS_KEYS: &str = "tollgate_jwks_keys";
pub const JWKS_STALE: &str = "tollgate_jwks_stale";
pub const POLICY_RELOADS_TOTAL: &str = "tollgate_policy_reloads_total";
pub const POLICIES_LOADED: &str = "tollgate_policies_loaded";
pub const SHADOW_POLICY_RELOADS_TOTAL: &str = "tollgate_shadow_policy_reloads_total";
pub const SHADOW_POLICIES_LOADED: &str = "tollgate_shadow_policies_loaded";
pub const POLICY_LAST_RELOAD_TIMESTAMP_SECONDS: &str = "tollgate_policy_last_reload_timestamp_seconds";
pub const STS_REQUESTS_TOTAL: &str = "tollgate_sts_requests_total";
pub const STS_DURATION_SECONDS: &str = "tollgate_sts_duration_seconds";
pub const STORE_OPERATIONS_TOTAL: &str = "tollgate_store_operations_total";
pub const STORE_DURATION_SECONDS: &str = "tollgate_store_duration_seconds";
pub const STORE_POOL_CONNECTIONS: &str = "tollgate_store_pool_connections";
pub const REVOCATIONS_VIEW_AGE_SECONDS: &str = "tollgate_revocations_view_age_seconds";
pub const REVOCATIONS_LIVE: &str = "tollgate_revocations_live";
pub const INTROSPECTIONS_TOTAL: &str = "tollgate_introspections_total";
pub const SHADOW_DECISIONS_TOTAL: &str = "tollgate_shadow_decisions_total";
pub const SIGNING_KEY_INFO: &str = "tollgate_signing_key_info";
pub const BUILD_INFO: &str = "tollgate_build_info";
pub const HTTP_REQUESTS_TOTAL: &str = "tollgate_http_requests_total";

/// Content type of `Metrics::encode`'s output: the Prometheus text exposition format 0.0.4.
pub const TEXT_FORMAT: &str = prometheus::TEXT_FORMAT;

/// The label value of anything outside a closed set: an issuer that is not configured, a role with no policy,
/// an HTTP method or status we do not name.
pub const OTHER: &str = "other";
/// The `route` of a request that no route matched.
pub const UNMATCHED: &str = "unmatched";
/// `result` of a JWKS fetch or a policy reload.
pub const RESULTS: [&str; 2] = ["ok", "error"];
/// `result` of an upstream STS call, one per `StsError` variant.
pub const STS_RESULTS: [&str; 10] = [
    "ok",
    "access_denied",
    "throttled",
    "invalid_token",
    "expired",
    "idp_rejected_claim",
    "validation",
    "policy_rejected",
    "idp_communication",
    "unavailable",
];
/// `method` values; anything else is `other`.
pub const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
/// `state` of a signing key.
pub const KEY_STATES: [&str; 3] = ["active", "previous", "next"];
/// `tollgate_store_pool_connections{state}`: the pool's bound, its open connections, those in use.
pub const POOL_STATES: [&str; 3] = ["max", "open", "in_use"];
/// `tollgate_introspections_total{result}`.
pub const INTROSPECTION_RESULTS: [&str; 4] = ["active", "inactive", "unauthenticated", "unavailable"];

/// Exchanges are sub-millisecond unless a key fetch or an STS call is on the path (deadlines up to 10 s).
pub const EXCHANGE_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upstream STS calls: a network round trip, retries, a deadline of at most 60 s.
pub const STS_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

const FRONT_DOORS: [FrontDoor; 4] = [FrontDoor::Exchange, FrontDoor::Sts, FrontDoor::Token, FrontDoor::Explain];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
    #[error("metrics text is not UTF-8")]
    Encoding,
}

/// Every metric Tollgate exports, in its own registry (no process-global one).
pub struct Metrics {
    registry: Registry,
    /// Configured issuer names: the only `issuer` values besides `other`.
    issuers: HashSet<String>,
    exchanges: IntCounterVec,
    exchange_duration: HistogramVec,
    sts_requests: IntCounterVec,
    sts_duration: Histogram,
    store_operations: IntCounterVec,
    store_duration: HistogramVec,
    http_requests: IntCounterVec,
    // Refreshed from other modules' state at scrape time (`export`).
    jwks_fetches: IntCounterVec,
    jwks_last_success: IntGaugeVec,
    jwks_keys: IntGaugeVec,
    jwks_stale: IntGaugeVec,
    policy_reloads: IntCounterVec,
    policies_loaded: IntGauge,
    /// The candidate set of shadow evaluation: its reloads, and its roles (0 without one).
    shadow_policy_reloads: IntCounterVec,
    shadow_policies_loaded: IntGauge,
    policy_last_reload: IntGauge,
    signing_key_info: IntGaugeVec,
    store_pool: IntGaugeVec,
    revocations_age: IntGauge,
    revocations_live: IntGauge,
    introspections: IntCounterVec,
    /// Decisions the candidate policy set (`shadow.policies`) also evaluated, by both verdicts.
    shadow_decisions: IntCounterVec,
    /// One scrape at a time refreshes the values above.
    scrape: Mutex<()>,
}

impl Metrics {
    /// Registers every metric; `issuer_names` are the configured trusted issuers.
    pub fn new<S: Into<String>>(issuer_names: impl IntoIterator<Item = S>) -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let issuers: HashSet<String> = issuer_names.into_iter().map(Into::into).collect();
        let r = &registry;
        let exchange_labels = ["front_door", "issuer", "role", "outcome", "reason"];
        let metrics = Self {
            exchanges: register(r, counters(EXCHANGES_TOTAL, "Exchange decisions.", &exchange_labels)?)?,
            exchange_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(EXCHANGE_DURATION_SECONDS, "Time to decide an exchange.")
                        .buckets(EXCHANGE_BUCKETS.to_vec()),
                    &["front_door"],
                )?,
            )?,
            sts_requests: register(r, counters(STS_REQUESTS_TOTAL, "Upstream STS calls by result.", &["result"])?)?,
            sts_duration: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(STS_DURATION_SECONDS, "Duration of upstream STS calls, retries included.")
                        .buckets(STS_BUCKETS.to_vec()),
                )?,
            )?,
            store_operations: register(
                r,
                counters(STORE_OPERATIONS_TOTAL, "State store calls by operation and result.", &["op", "result"])?,
            )?,
            store_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(STORE_DURATION_SECONDS, "Duration of state store calls.")
                        .buckets(EXCHANGE_BUCKETS.to_vec()),
                    &["op"],
                )?,
            )?,
            http_requests: register(
                r,
                counters(
                    HTTP_REQUESTS_TOTAL,
                    "Public HTTP requests by route template.",
                    &["route", "method", "status"],
                )?,
            )?,
            jwks_fetches: register(r, counters(JWKS_FETCHES_TOTAL, "Issuer key fetches.", &["issuer", "result"])?)?,
            jwks_last_success: register(
                r,
                gauges(
                    JWKS_LAST_SUCCESS_TIMESTAMP_SECONDS,
                    "Oldest last successful key fetch among the issuer's URLs (0: never).",
                    &["issuer"],
                )?,
            )?,
            jwks_keys: register(r, gauges(JWKS_KEYS, "Keys cached for the issuer.", &["issuer"])?)?,
            jwks_stale: register(
                r,
                gauges(JWKS_STALE, "Key sets served past their refresh because fetches failed.", &["issuer"])?,
            )?,
            policy_reloads: register(r, counters(POLICY_RELOADS_TOTAL, "Policy reloads by result.", &["result"])?)?,
            policies_loaded: register(r, IntGauge::new(POLICIES_LOADED, "Policies in force.")?)?,
            shadow_policy_reloads: register(
                r,
                counters(
                    SHADOW_POLICY_RELOADS_TOTAL,
                    "Reloads of the candidate policies (shadow) by result.",
                    &["result"],
                )?,
            )?,
            shadow_policies_loaded: register(
                r,
                IntGauge::new(SHADOW_POLICIES_LOADED, "Candidate policies evaluated in shadow (0: none).")?,
            )?,
            policy_last_reload: register(
                r,
                IntGauge::new(
                    POLICY_LAST_RELOAD_TIMESTAMP_SECONDS,
                    "When the policy set in force was loaded (start or last successful reload).",
                )?,
            )?,
            signing_key_info: register(
                r,
                gauges(SIGNING_KEY_INFO, "Published signing keys (value 1).", &["kid", "alg", "state"])?,
            )?,
            store_pool: register(
                r,
                gauges(STORE_POOL_CONNECTIONS, "State store connections (PostgreSQL pool).", &["state"])?,
            )?,
            revocations_age: register(
                r,
                IntGauge::new(REVOCATIONS_VIEW_AGE_SECONDS, "Seconds since the revocation view was last loaded.")?,
            )?,
            revocations_live: register(r, IntGauge::new(REVOCATIONS_LIVE, "Revocations in force in the view.")?)?,
            introspections: register(
                r,
                counters(INTROSPECTIONS_TOTAL, "POST /introspect answers by result.", &["result"])?,
            )?,
            shadow_decisions: register(
                r,
                counters(
                    SHADOW_DECISIONS_TOTAL,
                    "Decisions evaluated by the live and the candidate policy sets, by both verdicts.",
                    &["role", "live", "candidate"],
                )?,
            )?,
            scrape: Mutex::new(()),
            issuers,
            registry: registry.clone(),
        };
        let build_info = register(r, gauges(BUILD_INFO, "Tollgate's version (value 1).", &["version"])?)?;
        if let Ok(gauge) = build_info.get_metric_with_label_values(&[env!("CARGO_PKG_VERSION")]) {
            gauge.set(1);
        }
        #[cfg(target_os = "linux")]
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        metrics.initialize_series();
        Ok(metrics)
    }

    /// Counts one public HTTP request. `route` is the matched route template, `None` when no route matched.
    pub fn record_http(&self, route: Option<&str>, method: &str, status: &str) {
        let method = HTTP_METHODS.iter().find(|m| **m == method).copied().unwrap_or(OTHER);
        let status = if status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()) { status } else { OTHER };
        inc(&self.http_requests, &[route.unwrap_or(UNMATCHED), method, status]);
    }

    /// The registry's current content in the Prometheus text format (`TEXT_FORMAT`).
    /// Counts one `POST /introspect` answer (`result` from [`INTROSPECTION_RESULTS`]).
    pub fn record_introspection(&self, result: &'static str) {
        if let Ok(counter) = self.introspections.get_metric_with_label_values(&[result]) {
            counter.inc();
        }
    }

    pub fn encode(&self) -> Result<String, MetricsError> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|_| MetricsError::Encoding)
    }

    /// `issuer` label: a configured name, else `other`.
    pub fn issuer_label<'a>(&self, issuer: Option<&'a str>) -> &'a str {
        match issuer {
            Some(name) if self.issuers.contains(name) => name,
            _ => OTHER,
        }
    }

    /// Series whose label values are all known up front start at zero, so rates and alerts see them at once.
    fn initialize_series(&self) {
        for door in FRONT_DOORS {
            let _ = self.exchange_duration.get_metric_with_label_values(&[door.as_str()]);
        }
        for result in STS_RESULTS {
            let _ = self.sts_requests.get_metric_with_label_values(&[result]);
        }
        for op in StoreOp::ALL {
            let _ = self.store_duration.get_metric_with_label_values(&[op.as_str()]);
            for result in ["ok", "error"] {
                let _ = self.store_operations.get_metric_with_label_values(&[op.as_str(), result]);
            }
        }
        for result in INTROSPECTION_RESULTS {
            let _ = self.introspections.get_metric_with_label_values(&[result]);
        }
        for result in RESULTS {
            let _ = self.policy_reloads.get_metric_with_label_values(&[result]);
            let _ = self.shadow_policy_reloads.get_metric_with_label_values(&[result]);
            for issuer in &self.issuers {
                let _ = self.jwks_fetches.get_metric_with_label_values(&[issuer.as_str(), result]);
            }
        }
    }
}

impl DecisionSink for Metrics {
    fn record(&self, event: &DecisionEvent<'_>) {
        let door = event.front_door.as_str();
        let role = if event.role_known { event.role } else { OTHER };
        let issuer = self.issuer_label(event.issuer);
        inc(&self.exchanges, &[door, issuer, role, event.outcome.as_str(), event.reason.as_str()]);
        if let Ok(histogram) = self.exchange_duration.get_metric_with_label_values(&[door]) {
            histogram.observe(event.duration.as_secs_f64());
        }
        if let Some(shadow) = event.shadow {
            let role = if shadow.role_known { event.role } else { OTHER };
            inc(&self.shadow_decisions, &[role, shadow.live.as_str(), shadow.candidate.as_str()]);
        }
    }
}

impl StsObserver for Metrics {
    fn observe(&self, result: Result<(), &StsError>, elapsed: Duration) {
        inc(&self.sts_requests, &[sts_result(result)]);
        self.sts_duration.observe(elapsed.as_secs_f64());
    }
}

impl StoreObserver for Metrics {
    fn observe_store(&self, op: StoreOp, ok: bool, elapsed: Duration) {
        inc(&self.store_operations, &[op.as_str(), if ok { "ok" } else { "error" }]);
        if let Ok(histogram) = self.store_duration.get_metric_with_label_values(&[op.as_str()]) {
            histogram.observe(elapsed.as_secs_f64());
        }
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").field("issuers", &self.issuers).finish_non_exhaustive()
    }
}

/// `result` label of an upstream STS call: one of `STS_RESULTS`.
pub fn sts_result(result: Result<(), &StsError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(StsError::AccessDenied(_)) => "access_denied",
        Err(StsError::Throttled(_)) => "throttled",
        Err(StsError::InvalidIdentityToken(_)) => "invalid_token",
        Err(StsError::ExpiredToken(_)) => "expired",
        Err(StsError::IdpRejectedClaim(_)) => "idp_rejected_claim",
        Err(StsError::Validation(_)) => "validation",
        Err(StsError::PolicyRejected { .. }) => "policy_rejected",
        Err(StsError::IdpCommunication(_)) => "idp_communication",
        Err(StsError::Unavailable(_)) => "unavailable",
    }
}

fn counters(name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

fn gauges(name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, prometheus::Error> {
    IntGaugeVec::new(Opts::new(name, help), labels)
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// Label arity is fixed by the consts above, so the lookup cannot fail; if it did, the sample is dropped.
fn inc(counters: &IntCounterVec, labels: &[&str]) {
    if let Ok(counter) = counters.get_metric_with_label_values(labels) {
        counter.inc();
    }
}

#[cfg(test)]
mod tests;

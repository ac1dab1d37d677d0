//! The listener keys of the config file: `limits:`, `tls:` and `shutdown_grace_seconds`, raw (serde) and
//! validated into `limits::LimitsConfig`, `tls::TlsConfig` and a grace period. Nothing here serves.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::limits::{LimitsConfig, RateLimit};
use crate::tls::TlsConfig;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    max_body_bytes: Option<u32>,
    header_read_timeout_seconds: Option<u32>,
    request_timeout_seconds: Option<u32>,
    max_concurrent_requests: Option<u32>,
    per_client_ip: Option<RawRate>,
    per_issuer: Option<RawRate>,
    per_issuer_total: Option<RawRate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    requests_per_second: u32,
    burst: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: String,
    key_file: String,
}

/// Default `shutdown_grace_seconds`.
const DEFAULT_GRACE_SECS: u32 = 20;

/// The listener limits and the shutdown grace period; errors start with the key.
pub(super) fn limits(raw: &RawLimits, grace_secs: Option<u32>) -> Result<(LimitsConfig, Duration), String> {
    let grace_secs = grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace_secs > 3600 {
        return Err("shutdown_grace_seconds: must be 0..3600".into());
    }
    let limits = listener_limits(raw).map_err(|reason| format!("limits: {reason}"))?;
    Ok((limits, Duration::from_secs(u64::from(grace_secs))))
}

fn listener_limits(raw: &RawLimits) -> Result<LimitsConfig, String> {
    let defaults = LimitsConfig::default();
    let secs = |value: Option<u32>, default: Duration| value.map_or(default, |s| Duration::from_secs(u64::from(s)));
    let limits = LimitsConfig {
        max_body_bytes: raw.max_body_bytes.map_or(defaults.max_body_bytes, |b| b as usize),
        header_read_timeout: secs(raw.header_read_timeout_seconds, defaults.header_read_timeout),
        request_timeout: secs(raw.request_timeout_seconds, defaults.request_timeout),
        max_concurrent_requests: raw.max_concurrent_requests.map_or(defaults.max_concurrent_requests, |n| n as usize),
        per_client_ip: raw.per_client_ip.as_ref().map(|r| rate("per_client_ip", r)).transpose()?,
        per_issuer: raw.per_issuer.as_ref().map(|r| rate("per_issuer", r)).transpose()?,
        per_issuer_total: raw.per_issuer_total.as_ref().map(|r| rate("per_issuer_total", r)).transpose()?,
    };
    if !(1024..=16 * 1024 * 1024).contains(&limits.max_body_bytes) {
        return Err("max_body_bytes must be 1024..16777216".into());
    }
    if !(1..=300).contains(&limits.header_read_timeout.as_secs())
        || !(1..=600).contains(&limits.request_timeout.as_secs())
    {
        return Err("header_read_timeout_seconds must be 1..300 and request_timeout_seconds 1..600".into());
    }
    if !(1..=100_000).contains(&limits.max_concurrent_requests) {
        return Err("max_concurrent_requests must be 1..100000".into());
    }
    Ok(limits)
}

fn rate(key: &str, raw: &RawRate) -> Result<RateLimit, String> {
    let limit =
        RateLimit { requests_per_second: raw.requests_per_second, burst: raw.burst.unwrap_or(raw.requests_per_second) };
    if !(1..=1_000_000).contains(&limit.requests_per_second) || !(1..=1_000_000).contains(&limit.burst) {
        return Err(format!("{key}: requests_per_second and burst must be 1..1000000"));
    }
    Ok(limit)
}

pub(super) fn tls(raw: &RawTls, base: &Path) -> TlsConfig {
    TlsConfig { cert_file: base.join(&raw.cert_file), key_file: base.join(&raw.key_file) }
}

/// `audit.flush_interval_ms`: 0 (every line written before the answer) to 1000; default 5.
pub(super) fn audit_flush_interval(millis: Option<u64>) -> Result<Duration, String> {
    match millis {
        None => Ok(crate::audit::DEFAULT_FLUSH_INTERVAL),
        Some(millis @ 0..=1000) => Ok(Duration::from_millis(millis)),
        Some(other) => Err(format!("audit.flush_interval_ms: {other} is more than 1000")),
    }
}

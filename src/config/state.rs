//! The `state:` block (where durable state lives: one SQLite file, default `tollgate-state.db` beside the config
//! file, or a PostgreSQL database; its URL may also come from `TOLLGATE_STATE_URL`), and the `revocations:` block
//! (how each replica keeps its in-memory view fresh).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::store::{PostgresConfig, StateConfig};

/// The default file of the embedded store, relative to the config file.
const DEFAULT_SQLITE_FILE: &str = "tollgate-state.db";

/// The PostgreSQL URL, when not in the file (it usually carries a password).
pub const ENV_STATE_URL: &str = "TOLLGATE_STATE_URL";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    backend: Option<String>,
    path: Option<String>,
    url: Option<String>,
    pool_size: Option<u32>,
    connect_timeout_seconds: Option<u32>,
    statement_timeout_seconds: Option<u32>,
    ca_file: Option<String>,
}

pub(super) fn state(raw: &RawState, base: &Path, env_url: Option<String>) -> Result<StateConfig, String> {
    match raw.backend.as_deref() {
        None | Some("sqlite") => {
            let postgres_only = [raw.pool_size, raw.connect_timeout_seconds, raw.statement_timeout_seconds];
            if raw.url.is_some() || raw.ca_file.is_some() || postgres_only.iter().any(Option::is_some) {
                return Err("state: url, pool_size, *_timeout_seconds and ca_file are for backend: postgres".into());
            }
            let path = raw.path.as_deref().unwrap_or(DEFAULT_SQLITE_FILE);
            if path.is_empty() {
                return Err("state.path: must not be empty".into());
            }
            Ok(StateConfig::Sqlite { path: base.join(path) })
        }
        Some("postgres") => {
            let url = env_url.or_else(|| raw.url.clone()).ok_or_else(|| {
                format!(
                    "state.url: backend postgres needs a URL (state.url or the {ENV_STATE_URL} environment variable)"
                )
            })?;
            let seconds = |value: Option<u32>, key: &str, range: std::ops::RangeInclusive<u32>| {
                let value = value.unwrap_or(5);
                if range.contains(&value) {
                    Ok(Duration::from_secs(u64::from(value)))
                } else {
                    Err(format!("state.{key}: {value} is not in {}..{}", range.start(), range.end()))
                }
            };
            let pool_size = raw.pool_size.unwrap_or(16);
            if !(1..=1000).contains(&pool_size) {
                return Err(format!("state.pool_size: {pool_size} is not in 1..1000"));
            }
            let connect = seconds(raw.connect_timeout_seconds, "connect_timeout_seconds", 1..=60)?;
            let statement = seconds(raw.statement_timeout_seconds, "statement_timeout_seconds", 1..=60)?;
            let mut config = PostgresConfig::new(&url, pool_size as usize, connect, statement)
                .map_err(|reason| format!("state.url: {reason}"))?;
            if let Some(ca_file) = &raw.ca_file {
                config = config.with_ca_file(base.join(ca_file));
            }
            Ok(StateConfig::Postgres(config))
        }
        Some(other) => Err(format!("state.backend: {other:?} is not one of sqlite, postgres")),
    }
}

/// How a replica keeps its revocation view fresh (config `revocations:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationSettings {
    /// The view is reloaded at least this often (and at once on a PostgreSQL notification).
    pub poll: Duration,
    /// Past this age the view fails closed: exchanges and introspections answer "unavailable".
    pub max_staleness: Duration,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self { poll: Duration::from_secs(5), max_staleness: Duration::from_secs(60) }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRevocations {
    poll_seconds: Option<u32>,
    max_staleness_seconds: Option<u32>,
}

pub(super) fn revocations(raw: &RawRevocations) -> Result<RevocationSettings, String> {
    let defaults = RevocationSettings::default();
    let poll = raw.poll_seconds.map_or(defaults.poll, |s| Duration::from_secs(u64::from(s)));
    let max_staleness = raw.max_staleness_seconds.map_or(defaults.max_staleness, |s| Duration::from_secs(u64::from(s)));
    if poll.is_zero() || poll.as_secs() > 300 {
        return Err("revocations.poll_seconds: must be in 1..300".into());
    }
    if max_staleness < 2 * poll {
        return Err("revocations.max_staleness_seconds: must be at least twice poll_seconds".into());
    }
    Ok(RevocationSettings { poll, max_staleness })
}

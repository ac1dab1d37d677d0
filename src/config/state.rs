//! The `state:` block: where durable state (single-use claims) lives. Default: one SQLite file,
//! `tollgate-state.db`, beside the config file.

use std::path::Path;

use serde::Deserialize;

use crate::store::StateConfig;

/// The default file of the embedded store, relative to the config file.
const DEFAULT_SQLITE_FILE: &str = "tollgate-state.db";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    backend: Option<String>,
    path: Option<String>,
}

pub(super) fn state(raw: &RawState, base: &Path) -> Result<StateConfig, String> {
    match raw.backend.as_deref() {
        None | Some("sqlite") => {
            let path = raw.path.as_deref().unwrap_or(DEFAULT_SQLITE_FILE);
            if path.is_empty() {
                return Err("state.path: must not be empty".into());
            }
            Ok(StateConfig::Sqlite { path: base.join(path) })
        }
        Some(other) => Err(format!("state.backend: {other:?} is not supported (sqlite)")),
    }
}

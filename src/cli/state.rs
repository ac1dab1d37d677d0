//! `tollgate state migrate` (open the store and apply pending migrations) and `tollgate state check` (report
//! the schema version without changing anything; exit 1 when the store is behind this build or unreadable).

use std::path::Path;
use std::process::ExitCode;

use tollgate::config::{Config, process_env};
use tollgate::store::Store;

pub async fn migrate(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config, &process_env)?;
    let store = Store::open(&config.state).await?;
    let version = store.check().await?;
    println!("{}: schema version {version} (up to date)", store.describe());
    Ok(ExitCode::SUCCESS)
}

pub async fn check(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config, &process_env)?;
    let (current, latest) = Store::inspect(&config.state).await?;
    if current > latest {
        println!("state store: schema version {current}, newer than this build knows ({latest}): upgrade Tollgate");
        return Ok(ExitCode::FAILURE);
    }
    if current < latest {
        println!("state store: schema version {current}, this build needs {latest}: run `tollgate state migrate`");
        return Ok(ExitCode::FAILURE);
    }
    println!("state store: schema version {current} (this build knows {latest})");
    Ok(ExitCode::SUCCESS)
}

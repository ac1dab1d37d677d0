//! `tollgate serve` and `tollgate check`: start the service, or validate a config and its policies.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use tollgate::app::{App, Mode};
use tollgate::clock::SystemClock;
use tollgate::config::{Config, process_env};
use tollgate::credentials::SigningKey;
use tollgate::issuers::{KeysConfig, read_jwks_file};
use tollgate::policy::PolicySet;

pub async fn serve(config: Option<PathBuf>, dev: bool) -> anyhow::Result<ExitCode> {
    let (path, mode) = match (config, dev) {
        (Some(path), dev) => (path, if dev { Mode::Dev } else { Mode::Production }),
        (None, true) => (PathBuf::from(super::DEV_CONFIG), Mode::Dev),
        (None, false) => bail!("give --config FILE (or --dev for the embedded default)"),
    };
    let (config, moved) = match mode {
        Mode::Dev => Config::load_dev(&path, &process_env)?,
        Mode::Production => (Config::load(&path, &process_env)?, None),
    };
    let json_logs = super::init_logging(config.log);
    if mode == Mode::Dev {
        tracing::warn!(config = %path.display(), "DEV MODE: ephemeral keys and an embedded CI issuer that mints tokens for anyone. Never use this in production.");
        if let Some(base) = &moved {
            tracing::info!(base = %base, "Dev mode: the config's URLs on its written listen address now point at this one.");
        }
    }
    let mut app = App::build(&config, mode, Arc::new(SystemClock)).await?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let admin = config.admin_listen;
    let admin_listener =
        tokio::net::TcpListener::bind(admin).await.with_context(|| format!("binding the admin listener {admin}"))?;
    let facts = super::banner::facts(
        &config,
        mode,
        listener.local_addr().unwrap_or(config.listen),
        admin_listener.local_addr().unwrap_or(admin),
        app.state.broker.policies().len(),
    );
    if json_logs {
        let facts: Vec<String> = facts.iter().map(|(label, value)| format!("{label}: {value}")).collect();
        tracing::info!(facts = %facts.join("; "), "Tollgate is serving.");
    } else {
        eprint!("{}", super::banner::block(&facts, mode));
    }
    app.admin_listener = Some(admin_listener);
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("Tollgate stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM or Ctrl-C (SIGINT); serving then stops accepting and drains within the grace period.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
            tracing::info!(signal = name, "Shutdown requested.");
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!(signal = "SIGINT", "Shutdown requested.");
}

/// Validates the config, its policies (printing lint warnings), the signing key and static JWKS files.
pub fn check(path: &Path, strict: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(path, &process_env)?;
    let policies = PolicySet::load_dir(&config.policies_dir, &config.known_issuers())?;
    for lint in policies.lints() {
        println!("{lint}");
    }
    let candidate = match &config.shadow_policies_dir {
        Some(dir) => Some(
            PolicySet::load_dir(dir, &config.known_issuers())
                .map_err(|error| anyhow::anyhow!("shadow.policies (the candidate set): {error}"))?,
        ),
        None => None,
    };
    for lint in candidate.iter().flat_map(PolicySet::lints) {
        println!("shadow: {lint}");
    }
    if let Some(key_file) = &config.signing.key_file {
        SigningKey::load_file(config.signing.alg, key_file)?;
    }
    for issuer in &config.issuers {
        if let KeysConfig::JwksFile(file) = &issuer.keys {
            read_jwks_file(file, config.jwks.max_response_bytes)?;
        }
    }
    let findings = tollgate::relying_party::check(&config, &policies);
    for finding in &findings {
        println!("{finding}");
    }
    let party_warnings = findings.iter().filter(|f| f.severity == tollgate::relying_party::Severity::Warning).count();
    let lints = policies.lints().len() + candidate.as_ref().map_or(0, |set| set.lints().len()) + party_warnings;
    let (issuers, roles) = (config.issuers.len(), policies.len());
    let shadow = candidate.map(|set| format!(", {} candidate policies in shadow", set.len())).unwrap_or_default();
    println!("{}: ok ({issuers} trusted issuers, {roles} policies{shadow}, {lints} warnings)", path.display());
    if strict && lints > 0 {
        println!("--strict: warnings are errors");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

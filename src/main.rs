//! The `tollgate` command: parses arguments, sets up logging, and calls the library. No logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tollgate::app::{App, Mode};
use tollgate::clock::{Clock, SystemClock, UnixTime};
use tollgate::config::{Config, process_env};
use tollgate::credentials::{SigningAlg, SigningKey};
use tollgate::issuers::{Issuers, KeySet, known_alg, read_jwks_file};
use tollgate::policy::PolicySet;
use tollgate::verify::{self, ClaimRules, RawToken, Verifier};

/// Where `--dev` finds its config when none is given.
const DEV_CONFIG: &str = "deploy/dev/tollgate.yaml";

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "CI workload-identity token broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the public API.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Dev mode: ephemeral signing key, embedded dev CI issuer, POST /dev/token. Never for production.
        #[arg(long)]
        dev: bool,
    },
    /// Validate the config and the policies it names, without serving.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Verify a captured token offline and print its claims (exit 0) or the reason (exit 1).
    Verify {
        #[arg(long)]
        token: PathBuf,
        #[arg(long, conflicts_with = "config")]
        jwks: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Accepted audience (with --jwks; default: accept the token's own).
        #[arg(long)]
        audience: Option<String>,
        /// Verify as if the time were this RFC 3339 instant.
        #[arg(long)]
        at: Option<String>,
    },
    /// Signing-key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a signing key (PKCS#8 PEM) and print its kid.
    Generate {
        #[arg(long, default_value = "ES256")]
        alg: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if process_env("TOLLGATE_LOG_FORMAT").as_deref() == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, dev } => serve(config, dev).await,
        Command::Check { config } => check(&config),
        Command::Verify {
            token,
            jwks,
            config,
            audience,
            at,
        } => verify_token(&token, jwks, config, audience, at).await,
        Command::Keys {
            command: KeysCommand::Generate { alg, out },
        } => generate_key(&alg, &out),
    }
}

async fn serve(config: Option<PathBuf>, dev: bool) -> anyhow::Result<ExitCode> {
    let (path, mode) = match (config, dev) {
        (Some(path), dev) => (path, if dev { Mode::Dev } else { Mode::Production }),
        (None, true) => (PathBuf::from(DEV_CONFIG), Mode::Dev),
        (None, false) => bail!("give --config FILE (or --dev for the embedded default)"),
    };
    let config = Config::load(&path, &process_env)?;
    if mode == Mode::Dev {
        tracing::warn!(config = %path.display(), "DEV MODE: ephemeral keys and an embedded CI issuer that mints tokens for anyone. Never use this in production.");
    }
    let app = App::build(&config, mode, Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, issuer = %config.minter.issuer_url, policies = app.state.broker.policies().len(), "Tollgate is serving.");
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("Tollgate stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path, &process_env)?;
    let policies = PolicySet::load_dir(&config.policies_dir, &config.issuer_names())?;
    if let Some(key_file) = &config.signing.key_file {
        SigningKey::load_file(config.signing.alg, key_file)?;
    }
    for issuer in &config.issuers {
        if let tollgate::issuers::KeysConfig::JwksFile(file) = &issuer.keys {
            read_jwks_file(file, config.jwks.max_response_bytes)?;
        }
    }
    println!(
        "{}: ok ({} trusted issuers, {} policies)",
        path.display(),
        config.issuers.len(),
        policies.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify_token(
    token_file: &Path,
    jwks: Option<PathBuf>,
    config: Option<PathBuf>,
    audience: Option<String>,
    at: Option<String>,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading {}", token_file.display()))?;
    let now = match at {
        Some(at) => {
            UnixTime::parse_rfc3339(&at).with_context(|| format!("--at {at:?} is not RFC 3339"))?
        }
        None => SystemClock.now(),
    };
    let result = match (jwks, config) {
        (Some(jwks), _) => verify_with_jwks_file(&text, &jwks, audience, now),
        (None, Some(config)) => verify_with_config(&text, &config, now).await?,
        (None, None) => bail!("give --jwks FILE or --config FILE"),
    };
    match result {
        Ok(claims) => {
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("rejected: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

type Verdict = Result<serde_json::Map<String, serde_json::Value>, String>;

fn verify_with_jwks_file(
    text: &str,
    jwks: &Path,
    audience: Option<String>,
    now: UnixTime,
) -> Verdict {
    let keys: KeySet = read_jwks_file(jwks, 1024 * 1024).map_err(|e| e.to_string())?;
    let token = RawToken::parse(text).map_err(|e| e.to_string())?;
    let unverified = verify::unverified_claims(&token).map_err(|e| e.to_string())?;
    let iss = unverified
        .get("iss")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let audiences = match audience {
        Some(audience) => vec![audience],
        None => verify::audience_values(&unverified),
    };
    let algorithms: Vec<_> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ]
    .iter()
    .filter_map(|name| known_alg(name))
    .collect();
    let rules = ClaimRules {
        issuer_name: "cli",
        iss: &iss,
        audiences: &audiences,
        leeway_secs: 60,
    };
    verify::verify_with_keys(&token, &keys, &algorithms, &rules, now)
        .map(|verified| verified.claims().clone())
        .map_err(|e| e.to_string())
}

async fn verify_with_config(text: &str, path: &Path, now: UnixTime) -> anyhow::Result<Verdict> {
    let config = Config::load(path, &process_env)?;
    let issuers = Arc::new(Issuers::new(
        config.issuers.clone(),
        config.jwks.clone(),
        now,
    )?);
    let verifier = Verifier::new(issuers);
    let token = match RawToken::parse(text) {
        Ok(token) => token,
        Err(error) => return Ok(Err(error.to_string())),
    };
    Ok(verifier
        .verify(&token, now)
        .await
        .map(|v| v.claims().clone())
        .map_err(|e| e.to_string()))
}

fn generate_key(alg: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let alg: SigningAlg = alg
        .parse()
        .map_err(|_| anyhow::anyhow!("--alg must be ES256, EdDSA or RS256"))?;
    let key = SigningKey::generate(alg)?;
    write_private(out, key.to_pkcs8_pem().as_bytes())?;
    println!("{}", key.kid());
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

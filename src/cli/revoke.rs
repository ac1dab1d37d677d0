//! `tollgate revoke …`, `tollgate revocations list` and `tollgate revocations delete ID`, for operators with access to the store: a revocation
//! is written straight to the store (and announced to every replica on PostgreSQL); replicas enforce it from
//! their next view refresh (at once on a notification, else within `revocations.poll_seconds`). These commands
//! never migrate: the store must be at this build's schema version (`tollgate state migrate` first).
//! `tollgate introspection new-client NAME` makes a relying party's bearer secret and the config entry that
//! holds only its SHA-256.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;
use tollgate::clock::{Clock, SystemClock, UnixTime};
use tollgate::config::{Config, process_env};
use tollgate::revocation::{Matcher, Revocation, Target};
use tollgate::store::{Migrations, Store};

#[derive(clap::Args)]
pub struct Common {
    #[arg(long)]
    config: PathBuf,
    /// Why (kept with the revocation and shown by `revocations list`).
    #[arg(long)]
    reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// Applies until this RFC 3339 instant (default: until every credential it can hit has expired).
    #[arg(long)]
    until: Option<String>,
}

/// What to revoke, with the options `C` its command adds (`Common` here, the admin API's in `admin_write`).
#[derive(clap::Subcommand)]
pub enum RevokeCommand<C: clap::Args> {
    /// One Tollgate-issued token, by its `jti` (introspection answers inactive).
    #[command(
        after_help = "Examples:\n  tollgate revoke jti JTI --config tollgate.yaml --reason 'token pasted in a ticket'\n  tollgate admin revoke jti JTI --reason 'token pasted in a ticket'"
    )]
    Jti {
        jti: String,
        #[command(flatten)]
        common: C,
    },
    /// One inbound CI token, by its issuer (configured name) and `jti`: it is no longer exchanged.
    #[command(
        after_help = "Examples:\n  tollgate revoke inbound-jti --issuer github JTI --config tollgate.yaml --reason 'job log leaked its token'\n  tollgate admin revoke inbound-jti --issuer github JTI --reason 'job log leaked its token'"
    )]
    InboundJti {
        #[arg(long)]
        issuer: String,
        jti: String,
        #[command(flatten)]
        common: C,
    },
    /// Every token of a CI identity: a claim that equals a value or matches a glob (`*`, `?`).
    #[command(
        after_help = "Examples:\n  tollgate revoke identity --issuer github --claim sub --glob 'repo:acme/web:*' --config tollgate.yaml --reason 'compromised repository'\n  tollgate admin revoke identity --issuer github --claim repository_owner_id --equals 1000 --reason 'org offboarded' --until 2027-01-01T00:00:00Z"
    )]
    Identity {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        claim: String,
        #[arg(long, conflicts_with = "glob", required_unless_present = "glob")]
        equals: Option<String>,
        #[arg(long)]
        glob: Option<String>,
        #[command(flatten)]
        common: C,
    },
    /// Every Tollgate token minted for a role before a time (RFC 3339, default now); exchanges for it until then.
    #[command(
        after_help = "Examples:\n  tollgate revoke role deploy-web --config tollgate.yaml --reason 'policy was too wide'\n  tollgate admin revoke role deploy-web --before 2026-12-03T10:00:00Z --reason 'policy was too wide'"
    )]
    Role {
        role: String,
        #[arg(long)]
        before: Option<String>,
        #[command(flatten)]
        common: C,
    },
    /// A signing key: Tollgate tokens it signed, and inbound tokens signed with it (of --issuer, or of any).
    #[command(
        after_help = "Examples:\n  tollgate revoke kid KID --config tollgate.yaml --reason 'signing key exposed'\n  tollgate admin revoke kid KID --issuer github --reason 'issuer key compromised'"
    )]
    Kid {
        kid: String,
        #[arg(long)]
        issuer: Option<String>,
        #[command(flatten)]
        common: C,
    },
}

impl<C: clap::Args> RevokeCommand<C> {
    /// The library's target (a role's `--before` defaults to `now`), and the command's own options.
    pub fn into_target(self, now: UnixTime) -> anyhow::Result<(Target, C)> {
        Ok(match self {
            RevokeCommand::Jti { jti, common } => (Target::TollgateJti { jti }, common),
            RevokeCommand::InboundJti { issuer, jti, common } => (Target::InboundJti { issuer, jti }, common),
            RevokeCommand::Identity { issuer, claim, equals, glob, common } => {
                let matcher = match (equals, glob) {
                    (Some(value), _) => Matcher::Equals(value),
                    (None, Some(pattern)) => Matcher::Glob(pattern),
                    (None, None) => bail!("give --equals VALUE or --glob PATTERN"),
                };
                (Target::Identity { issuer, claim, matcher }, common)
            }
            RevokeCommand::Role { role, before, common } => {
                let before = before.as_deref().map(|text| instant("--before", text)).transpose()?.unwrap_or(now);
                (Target::Role { role, before }, common)
            }
            RevokeCommand::Kid { kid, issuer, common } => (Target::Kid { kid, issuer }, common),
        })
    }
}

pub async fn revoke(command: RevokeCommand<Common>) -> anyhow::Result<ExitCode> {
    let now = SystemClock.now();
    let (target, common) = command.into_target(now)?;
    let config = Config::load(&common.config, &process_env)?;
    let expires_at = match common.until.as_deref() {
        Some(until) => instant("--until", until)?,
        None => config.lifetimes().default_expiry(&target, now).map_err(anyhow::Error::msg)?,
    };
    let author = common.author.or_else(|| process_env("USER")).unwrap_or_else(|| "unknown".into());
    let revocation =
        Revocation { id: random_id()?, target, reason: common.reason, author, created_at: now, expires_at };
    revocation.validate(now)?;
    let store = Store::open_with(&config.state, Migrations::RequireCurrent).await?;
    store.add_revocation(&revocation).await?;
    println!("{}", revocation.describe());
    Ok(ExitCode::SUCCESS)
}

/// Deletes a revocation before its time (a mistake); exit 1 when no revocation has that id.
pub async fn delete(config: &Path, id: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(config, &process_env)?;
    let store = Store::open_with(&config.state, Migrations::RequireCurrent).await?;
    if !store.delete_revocation(id).await? {
        eprintln!("no revocation has the id {id:?}");
        return Ok(ExitCode::FAILURE);
    }
    println!("{}", json!({"deleted": id}));
    Ok(ExitCode::SUCCESS)
}

pub async fn list(config: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(config, &process_env)?;
    let store = Store::open_with(&config.state, Migrations::RequireCurrent).await?;
    for revocation in store.list_revocations(SystemClock.now(), u32::MAX).await? {
        println!("{}", revocation.describe());
    }
    Ok(ExitCode::SUCCESS)
}

/// A new random secret for an introspection client, and its config entry.
pub fn new_introspection_client(name: &str) -> anyhow::Result<ExitCode> {
    let secret = random_id()? + &random_id()?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let hash = tollgate::text::hex(digest.as_ref());
    eprintln!("The client's secret (shown once; give it to the relying party, keep it out of logs):");
    println!("{secret}");
    eprintln!("\nAdd to the config:\nintrospection:\n  clients:\n    - name: {name}\n      secret_sha256: {hash}");
    Ok(ExitCode::SUCCESS)
}

/// An RFC 3339 instant given with `flag`.
pub(super) fn instant(flag: &str, text: &str) -> anyhow::Result<UnixTime> {
    UnixTime::parse_rfc3339(text).with_context(|| format!("{flag} {text:?} is not an RFC 3339 instant"))
}

fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(tollgate::text::hex(&bytes))
}

//! `tollgate admin …`: a thin client of the admin API (the admin listener, `admin.listen`). `login` opens a
//! session and caches it (`admin_login`, `admin_session`); every other command sends the cached session to the
//! admin URL it belongs to (`--url`, default the session's) and prints the answer (`--output table|json`,
//! `admin_output`). The reads are here; the changes (revocations, runners, reload) in `admin_write`.
//! A refusal prints the API's error code and description to stderr and exits 1. No secret reaches stdout or
//! stderr except a new runner credential, which is printed once, to stdout, on purpose.

use std::process::ExitCode;

use serde_json::Value;

use super::admin_api::{Answer, Api, on_success};
use super::admin_login::LoginArgs;
use super::admin_output::{self, Column, Output};
use super::admin_session;
use super::admin_write::{RevocationsCommand, RevokeCommon, RunnersCommand};
use super::revoke::RevokeCommand;

/// `tollgate admin`'s options and command.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// The admin API's base URL (default: the cached session's), e.g. http://127.0.0.1:8471.
    #[arg(long, global = true)]
    url: Option<String>,
    /// table (aligned columns) or json (the API's JSON as it came).
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Sign in through an OpenID provider (browser, or --device) or with the break-glass secret; caches the session.
    #[command(
        after_help = "Examples:\n  tollgate admin login --url http://127.0.0.1:8471                    # browser, authorization code + PKCE\n  tollgate admin login --url http://127.0.0.1:8471 --device           # no browser here (RFC 8628)\n  tollgate admin login --url http://127.0.0.1:8471 --scope admin --ttl 900\n  tollgate admin login --url http://127.0.0.1:8471 --bootstrap-secret-file bootstrap-secret   # break-glass"
    )]
    Login(LoginArgs),
    /// The signed-in identity, its roles and the session's scope.
    #[command(after_help = "Example:\n  tollgate admin whoami --output json | jq .roles")]
    Whoami,
    /// End the session at the server and forget it here.
    #[command(after_help = "Example:\n  tollgate admin logout")]
    Logout,
    /// Trusted issuers and the state of their keys.
    #[command(after_help = "Example:\n  tollgate admin issuers")]
    Issuers,
    /// Roles: their policies' files, hashes, lints and trusted issuers.
    #[command(after_help = "Example:\n  tollgate admin roles --output json | jq -r '.roles[].role'")]
    Roles,
    /// Tollgate's signing keys and their states; `keys rotate` rotates a store-managed ring (needs scope admin).
    #[command(
        after_help = "Examples:\n  tollgate admin keys\n  tollgate admin keys rotate   # a store-managed ring (signing.managed), in a session with scope admin"
    )]
    Keys {
        #[command(subcommand)]
        command: Option<KeysCommand>,
    },
    /// Sessions in force, and ending anyone's (needs scope admin).
    #[command(after_help = "Examples:\n  tollgate admin sessions list\n  tollgate admin sessions end ID")]
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Recent exchange decisions of the replica answering.
    #[command(
        after_help = "Examples:\n  tollgate admin decisions --outcome deny --limit 20\n  tollgate admin decisions --role deploy-web --output json"
    )]
    Decisions {
        #[arg(long)]
        role: Option<String>,
        /// allow, deny or error.
        #[arg(long, value_parser = ["allow", "deny", "error"])]
        outcome: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// The revocations in force.
    #[command(after_help = "Example:\n  tollgate admin revocations list")]
    Revocations {
        #[command(subcommand)]
        command: RevocationsCommand,
    },
    /// Revoke credentials or identities (needs scope admin).
    #[command(
        after_help = "Example:\n  tollgate admin revoke identity --issuer github --claim sub --glob 'repo:acme/web:*' --reason 'compromised repository'"
    )]
    Revoke {
        #[command(subcommand)]
        command: RevokeCommand<RevokeCommon>,
    },
    /// Delete a revocation before its time, by its id (needs scope admin).
    #[command(after_help = "Example:\n  tollgate admin unrevoke ID   # the id in admin revocations list")]
    Unrevoke { id: String },
    /// Runner credentials for CI systems without OIDC.
    #[command(
        after_help = "Examples:\n  tollgate admin runners create jenkins-prod --label team=platform --expires-at 2027-06-01T00:00:00Z\n  tollgate admin runners list"
    )]
    Runners {
        #[command(subcommand)]
        command: RunnersCommand,
    },
    /// Reload the trust policies from disk on the replica answering (needs scope admin).
    #[command(after_help = "Example:\n  tollgate admin reload")]
    Reload,
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Add a new store-managed key: published at once, signing once relying parties can have fetched it.
    #[command(after_help = "Example:\n  tollgate admin keys rotate")]
    Rotate,
}

#[derive(clap::Subcommand)]
pub enum SessionsCommand {
    #[command(after_help = "Example:\n  tollgate admin sessions list")]
    List,
    /// End a session at once, by its id (from `sessions list` or `whoami`).
    #[command(after_help = "Example:\n  tollgate admin sessions end ID   # the id in sessions list or whoami")]
    End { id: String },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let AdminArgs { url, output, command } = args;
    let url = url.as_deref();
    match command {
        AdminCommand::Login(login) => super::admin_login::login(url, output, login).await,
        AdminCommand::Logout => logout(url).await,
        AdminCommand::Whoami => {
            let api = signed_in(url)?;
            let answer = api.get("/admin/v1/whoami", &[]).await?;
            Ok(on_success(&api, answer, |body| match output {
                Output::Json => admin_output::json(&body),
                Output::Table => print_identity(&body),
            }))
        }
        AdminCommand::Issuers => list(url, output, "/admin/v1/issuers", &[], "issuers", ISSUER_COLUMNS).await,
        AdminCommand::Roles => list(url, output, "/admin/v1/roles", &[], "roles", ROLE_COLUMNS).await,
        AdminCommand::Keys { command: None } => list(url, output, "/admin/v1/keys", &[], "keys", KEY_COLUMNS).await,
        AdminCommand::Keys { command: Some(KeysCommand::Rotate) } => {
            super::admin_write::rotate_key(&signed_in(url)?, output).await
        }
        AdminCommand::Sessions { command: SessionsCommand::List } => {
            list(url, output, "/admin/v1/sessions", &[], "sessions", SESSION_COLUMNS).await
        }
        AdminCommand::Sessions { command: SessionsCommand::End { id } } => {
            super::admin_write::end_session(&signed_in(url)?, output, &id).await
        }
        AdminCommand::Decisions { role, outcome, limit } => {
            let mut query = Vec::new();
            query.extend(role.map(|role| ("role", role)));
            query.extend(outcome.map(|outcome| ("outcome", outcome)));
            query.extend(limit.map(|limit| ("limit", limit.to_string())));
            list(url, output, "/admin/v1/decisions", &query, "decisions", DECISION_COLUMNS).await
        }
        AdminCommand::Revocations { command: RevocationsCommand::List } => {
            list(url, output, "/admin/v1/revocations", &[], "revocations", REVOCATION_COLUMNS).await
        }
        AdminCommand::Revoke { command } => super::admin_write::revoke(&signed_in(url)?, output, command).await,
        AdminCommand::Unrevoke { id } => super::admin_write::unrevoke(&signed_in(url)?, output, &id).await,
        AdminCommand::Runners { command: RunnersCommand::List } => {
            list(url, output, "/admin/v1/runners", &[], "runners", RUNNER_COLUMNS).await
        }
        AdminCommand::Runners { command } => super::admin_write::runners(&signed_in(url)?, output, command).await,
        AdminCommand::Reload => super::admin_write::reload(&signed_in(url)?, output).await,
    }
}

/// A client of the admin API holding the cached session (which must belong to `url` when given).
pub fn signed_in(url: Option<&str>) -> anyhow::Result<Api> {
    let (base, token) = admin_session::current(url)?;
    Api::new(&base, Some(token))
}

/// Columns of the lists.
const ISSUER_COLUMNS: &[Column] = &[
    ("NAME", "/name"),
    ("URL", "/url"),
    ("KEYS", "/keys"),
    ("STALE", "/stale"),
    ("UNUSABLE", "/unusable"),
    ("LAST FETCH", "/last_fetch"),
    ("LAST ERROR", "/last_error"),
];
const ROLE_COLUMNS: &[Column] = &[
    ("ROLE", "/role"),
    ("GRANT", "/grant"),
    ("SINGLE USE", "/single_use"),
    ("ISSUERS", "/trusted_issuers"),
    ("FILE", "/file"),
    ("SHA256", "/sha256"),
];
const KEY_COLUMNS: &[Column] = &[("KID", "/kid"), ("ALG", "/alg"), ("STATE", "/state")];
const SESSION_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("USER", "/identity/user"),
    ("PROVIDER", "/identity/provider"),
    ("SCOPE", "/scope"),
    ("ROLES", "/roles"),
    ("EXPIRES AT", "/expires_at"),
];
const DECISION_COLUMNS: &[Column] = &[
    ("TIME", "/time"),
    ("ROLE", "/role"),
    ("OUTCOME", "/outcome"),
    ("ISSUER", "/issuer"),
    ("SUB", "/sub"),
    ("REASON", "/reason"),
    ("REQUEST", "/request_id"),
];
pub const REVOCATION_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("KIND", "/kind"),
    ("TARGET", "/target"),
    ("EXPIRES AT", "/expires_at"),
    ("AUTHOR", "/author"),
    ("REASON", "/reason"),
];
pub const RUNNER_COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("LABELS", "/labels"),
    ("CREATED BY", "/created_by"),
    ("CREATED AT", "/created_at"),
    ("EXPIRES AT", "/expires_at"),
    ("ROTATED AT", "/rotated_at"),
];

/// GETs a list and prints it.
async fn list(
    url: Option<&str>,
    output: Output,
    path: &str,
    query: &[(&str, String)],
    key: &str,
    columns: &[Column],
) -> anyhow::Result<ExitCode> {
    let api = signed_in(url)?;
    let answer = api.get(path, query).await?;
    Ok(on_success(&api, answer, |body| match output {
        Output::Json => admin_output::json(&body),
        Output::Table => admin_output::list(&body, key, columns),
    }))
}

/// A session's description (`whoami`, `login`) as `key  value` lines.
pub fn print_identity(session: &Value) {
    admin_output::record(
        session,
        &[
            ("user", "/identity/user"),
            ("provider", "/identity/provider"),
            ("subject", "/identity/subject"),
            ("email", "/identity/email"),
            ("groups", "/identity/groups"),
            ("roles", "/roles"),
            ("scope", "/scope"),
            ("admin eligible", "/admin_eligible"),
            ("session", "/id"),
            ("expires at", "/expires_at"),
        ],
    );
}

/// Ends the session at the server and removes the cache file whatever the server says (a session the server
/// no longer knows is gone anyway); exit 1 when the server did not confirm.
async fn logout(url: Option<&str>) -> anyhow::Result<ExitCode> {
    let dir = admin_session::config_dir()?;
    let Some(cached) = admin_session::load(&dir)? else {
        eprintln!("Not signed in.");
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(url) = url
        && admin_session::normalize(url) != admin_session::normalize(&cached.url)
    {
        anyhow::bail!("the cached session is for {}, not {url}", cached.url);
    }
    let api = Api::new(&cached.url, Some(cached.session_token))?;
    let answer = api.delete("/admin/v1/session").await;
    admin_session::remove(&dir)?;
    match answer {
        Ok(Answer::Done(_)) => {
            eprintln!("Signed out of {}.", api.base());
            Ok(ExitCode::SUCCESS)
        }
        Ok(Answer::Refused { status, .. }) if status == reqwest::StatusCode::UNAUTHORIZED => {
            eprintln!("The session had already ended at {}; forgot it here.", api.base());
            Ok(ExitCode::SUCCESS)
        }
        Ok(Answer::Refused { status, code, description }) => {
            eprintln!("Forgot the session here, but the server did not end it (it stays valid until it expires).");
            Ok(super::admin_api::report(api.base(), status, &code, &description))
        }
        Err(error) => {
            eprintln!(
                "Forgot the session here, but could not reach the server to end it (it stays valid until it expires)."
            );
            Err(error)
        }
    }
}

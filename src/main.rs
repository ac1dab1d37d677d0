//! The `tollgate` command: parses arguments, sets up logging, and calls the subcommands in `cli/`. No logic here.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tollgate", version, about = "CI workload-identity token broker")]
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
    /// Validate the config and the policies it names (lint warnings printed), without serving.
    Check {
        #[arg(long)]
        config: PathBuf,
        /// Treat policy lint warnings as errors.
        #[arg(long)]
        strict: bool,
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
    /// Trace a role's policy over a token (verified with --config) or a claims file, condition by condition.
    Explain {
        #[arg(long)]
        role: String,
        #[arg(long, conflicts_with = "claims", required_unless_present = "claims")]
        token: Option<PathBuf>,
        /// A JSON object of claims, evaluated without any signature check.
        #[arg(long)]
        claims: Option<PathBuf>,
        /// The trusted issuer the claims come from (with --claims; default: the role's first).
        #[arg(long)]
        issuer: Option<String>,
        /// Config with trusted issuers and policies (default without it: ./policies and the built-in profiles).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        at: Option<String>,
    },
    /// From a CI job: find the job's OIDC token, exchange it at Tollgate, print the credential.
    Exchange {
        /// Tollgate's base URL.
        #[arg(long)]
        url: String,
        #[arg(long)]
        role: String,
        /// Audience to request from the CI provider where the job chooses it (GitHub Actions, Buildkite).
        #[arg(long, default_value = "tollgate")]
        audience: String,
        /// json, env (export lines) or credential-process (AWS CLI credential_process JSON).
        #[arg(long, default_value = "json")]
        format: String,
        /// Read the CI token from this file.
        #[arg(long, conflicts_with = "token_env")]
        token_file: Option<PathBuf>,
        /// Read the CI token from this environment variable (GitLab: the name given in `id_tokens:`).
        #[arg(long)]
        token_env: Option<String>,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: cli::policy_tools::PolicyCommand,
    },
    /// Signing-key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Revoke credentials or identities (written to the store; every replica enforces it).
    Revoke {
        #[command(subcommand)]
        command: cli::revoke::RevokeCommand<cli::revoke::Common>,
    },
    /// The revocations in force.
    Revocations {
        #[command(subcommand)]
        command: RevocationsCommand,
    },
    /// `POST /introspect` clients.
    Introspection {
        #[command(subcommand)]
        command: IntrospectionCommand,
    },
    /// The durable state store (`state:` in the config).
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// The operator plane: sign in to a Tollgate admin API (`login`) and read or act on it.
    Admin(cli::admin::AdminArgs),
}

#[derive(Subcommand)]
enum StateCommand {
    /// Open the store and apply pending schema migrations (serve does this at start too).
    Migrate {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the store's schema version without changing it; exit 1 if it is behind this build.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum RevocationsCommand {
    /// Print the revocations in force, one JSON object per line.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Delete a revocation before its time (by the id `revoke` printed).
    Delete {
        #[arg(long)]
        config: PathBuf,
        id: String,
    },
}

#[derive(Subcommand)]
enum IntrospectionCommand {
    /// Make a client's random secret (stdout) and its config entry with the secret's SHA-256 (stderr).
    NewClient { name: String },
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
    if !matches!(cli.command, Command::Serve { .. }) {
        cli::init_logging(tollgate::config::LogFormat::Pretty); // `serve` starts logging once its config is read
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, dev } => cli::serve::serve(config, dev).await,
        Command::Check { config, strict } => cli::serve::check(&config, strict),
        Command::Verify { token, jwks, config, audience, at } => {
            cli::verify::verify_token(&token, jwks, config, audience, at).await
        }
        Command::Explain { role, token, claims, issuer, config, at } => {
            let subject = match (token, claims) {
                (Some(token), _) => cli::policy::Subject::Token(token),
                (None, Some(claims)) => cli::policy::Subject::Claims(claims),
                (None, None) => anyhow::bail!("give --token FILE or --claims FILE"),
            };
            cli::policy::explain(&role, subject, issuer, config, at).await
        }
        Command::Policy { command } => cli::policy_tools::run(command).await,
        Command::Exchange { url, role, audience, format, token_file, token_env } => {
            cli::exchange::run(cli::exchange::Options { url, role, audience, format, token_file, token_env }).await
        }
        Command::Keys { command: KeysCommand::Generate { alg, out } } => cli::keys::generate_key(&alg, &out),
        Command::State { command: StateCommand::Migrate { config } } => cli::state::migrate(&config).await,
        Command::State { command: StateCommand::Check { config } } => cli::state::check(&config).await,
        Command::Revoke { command } => cli::revoke::revoke(command).await,
        Command::Revocations { command: RevocationsCommand::List { config } } => cli::revoke::list(&config).await,
        Command::Revocations { command: RevocationsCommand::Delete { config, id } } => {
            cli::revoke::delete(&config, &id).await
        }
        Command::Introspection { command: IntrospectionCommand::NewClient { name } } => {
            cli::revoke::new_introspection_client(&name)
        }
        Command::Admin(args) => cli::admin::run(args).await,
    }
}

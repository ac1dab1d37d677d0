//! The `tollgate` command line: every subcommand's arguments and its help, with examples a user can copy
//! (`after_help`). `main.rs` dispatches on these; the subcommands live beside this file.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The top-level help's examples and pointers.
const TOP_EXAMPLES: &str = "\
Examples:
  tollgate serve --dev                              # dev issuer, example policies, ephemeral key (what `make run` does)
  tollgate serve --config /etc/tollgate/tollgate.yaml
  tollgate check --strict --config tollgate.yaml    # config, policies, keys and relying parties, without serving
  tollgate policy test policies                     # the *.test.yaml cases beside the policies
  tollgate exchange --url https://tollgate.example.com --role deploy-web --format env   # from a CI job
  tollgate completions bash > /etc/bash_completion.d/tollgate

Every option is also documented in deploy/tollgate.example.yaml and docs/ (operations.md, operators.md).";

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "CI workload-identity token broker",
    long_about = "CI workload-identity token broker: verifies CI jobs' OIDC tokens, decides with trust policies kept as \
                  files, and returns short-lived credentials (its own JWT, or AWS credentials through STS).",
    after_help = TOP_EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the public API (exchange, STS, RFC 8693, discovery, JWKS) and the admin listener (metrics, admin API).
    #[command(after_help = "\
Examples:
  tollgate serve --dev
  TOLLGATE_LISTEN=127.0.0.1:8081 TOLLGATE_ADMIN_LISTEN=127.0.0.1:8472 tollgate serve --dev
  tollgate serve --config /etc/tollgate/tollgate.yaml

At start it prints where it serves (public, issuer, discovery, admin, dev issuers) and where logs and audit go.
SIGHUP reloads the policies and reopens the audit log; SIGTERM drains and stops.")]
    Serve {
        /// The config file (deploy/tollgate.example.yaml documents every key).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Dev mode: ephemeral signing key, embedded dev CI issuer, POST /dev/token. Never for production.
        #[arg(long)]
        dev: bool,
    },
    /// Validate the config, the policies it names and its keys, and what its relying parties require, without
    /// serving (lint warnings printed).
    #[command(after_help = "\
Examples:
  tollgate check --config tollgate.yaml
  tollgate check --strict --config tollgate.yaml   # in CI: exit 1 on any warning")]
    Check {
        #[arg(long)]
        config: PathBuf,
        /// Treat warnings (policy lints, relying-party requirements) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Verify a captured token offline and print its claims (exit 0) or the reason (exit 1).
    #[command(after_help = "\
Examples:
  tollgate verify --token ci-token.jwt --config tollgate.yaml
  tollgate verify --token ci-token.jwt --jwks github-jwks.json --audience tollgate --at 2026-11-01T12:00:00Z")]
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
    #[command(after_help = "\
Examples:
  tollgate explain --role deploy-web --claims claims.json
  tollgate explain --role deploy-web --token ci-token.jwt --config tollgate.yaml")]
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
    #[command(after_help = "\
Examples (in a CI job):
  eval \"$(tollgate exchange --url https://tollgate.example.com --role deploy-web --format env)\"
  tollgate exchange --url https://tollgate.example.com --role deploy-web-aws --format credential-process
  tollgate exchange --url https://tollgate.example.com --role deploy-k8s --format kubernetes   # kubectl's exec plugin
  tollgate exchange --url https://tollgate.example.com --role build --token-env TOLLGATE_ID_TOKEN   # GitLab")]
    Exchange {
        /// Tollgate's base URL.
        #[arg(long)]
        url: String,
        #[arg(long)]
        role: String,
        /// Audience to request from the CI provider where the job chooses it (GitHub Actions, Buildkite).
        #[arg(long, default_value = "tollgate")]
        audience: String,
        /// json, env (export lines), credential-process (AWS CLI credential_process JSON) or kubernetes (kubectl's
        /// client.authentication.k8s.io/v1 ExecCredential, for `tollgate kubeconfig`).
        #[arg(long, default_value = "json")]
        format: String,
        /// Read the CI token from this file.
        #[arg(long, conflicts_with = "token_env")]
        token_file: Option<PathBuf>,
        /// Read the CI token from this environment variable (GitLab: the name given in `id_tokens:`).
        #[arg(long)]
        token_env: Option<String>,
    },
    /// Policy tools: test cases, replay of audit logs, diff of two folders, promotion of the shadow set.
    Policy {
        #[command(subcommand)]
        command: super::policy_tools::PolicyCommand,
    },
    /// Signing-key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Revoke credentials or identities (written to the store; every replica enforces it).
    #[command(after_help = "\
Examples:
  tollgate revoke identity --config tollgate.yaml --issuer github --claim sub --glob 'repo:acme/web:*' --reason 'leaked runner'
  tollgate revoke role deploy-web --config tollgate.yaml --reason 'policy fix'
  tollgate revocations list --config tollgate.yaml")]
    Revoke {
        #[command(subcommand)]
        command: super::revoke::RevokeCommand<super::revoke::Common>,
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
    #[command(after_help = "\
Examples:
  tollgate admin login --url http://127.0.0.1:8471                 # through the configured OpenID provider
  tollgate admin login --url http://127.0.0.1:8471 --scope admin   # admin rights, for this session only
  tollgate admin whoami
  tollgate admin decisions --outcome deny")]
    Admin(super::admin::AdminArgs),
    /// Print a kubeconfig whose user gets its token from Tollgate (kubectl's exec credential plugin).
    #[command(after_help = "\
Examples:
  tollgate kubeconfig --url https://tollgate.example.com --role deploy-k8s --cluster prod \\
    --server https://k8s.example.com:6443 --certificate-authority prod-ca.crt > kubeconfig
  KUBECONFIG=kubeconfig kubectl auth whoami

The user runs `tollgate exchange --format kubernetes`, which finds the CI token as `tollgate exchange` does;
kubectl keeps the credential until it expires. Merge with others: KUBECONFIG=a:b kubectl config view --flatten")]
    Kubeconfig(super::kubernetes::KubeconfigOptions),
    /// The Kubernetes API server's side of trusting Tollgate, generated from a role.
    Kubernetes {
        #[command(subcommand)]
        command: KubernetesCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(after_help = "\
Examples:
  tollgate completions bash > ~/.local/share/bash-completion/completions/tollgate
  tollgate completions zsh > \"${fpath[1]}/_tollgate\"
  tollgate completions fish > ~/.config/fish/completions/tollgate.fish")]
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
pub enum StateCommand {
    /// Open the store and apply pending schema migrations (serve does this at start too).
    #[command(after_help = "Example:\n  tollgate state migrate --config tollgate.yaml")]
    Migrate {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the store's schema version without changing it; exit 1 if it is behind this build.
    #[command(after_help = "Example:\n  tollgate state check --config tollgate.yaml")]
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum RevocationsCommand {
    /// Print the revocations in force, one JSON object per line.
    #[command(after_help = "Example:\n  tollgate revocations list --config tollgate.yaml | jq .")]
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Delete a revocation before its time (by the id `revoke` printed).
    #[command(
        after_help = "Example:\n  tollgate revocations delete --config tollgate.yaml ID   # the id that revoke printed"
    )]
    Delete {
        #[arg(long)]
        config: PathBuf,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum IntrospectionCommand {
    /// Make a client's random secret (stdout) and its config entry with the secret's SHA-256 (stderr).
    #[command(after_help = "Example:\n  tollgate introspection new-client vault > vault-introspection.secret")]
    NewClient { name: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key (PKCS#8 PEM) and print its kid.
    #[command(after_help = "\
Examples:
  tollgate keys generate --alg ES256 --out signing.pem
  tollgate keys generate --alg RS256 --out signing.pem   # the Kubernetes API server's default --oidc-signing-algs")]
    Generate {
        /// ES256, EdDSA or RS256.
        #[arg(long, default_value = "ES256")]
        alg: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum KubernetesCommand {
    /// Print the API server's AuthenticationConfiguration (or --oidc-* flags) for a role's tokens; exit 1 with the
    /// reason when the API server could not accept them (EdDSA key, http issuer, a claim the grant lacks).
    #[command(after_help = "\
Examples:
  tollgate kubernetes apiserver-config --config tollgate.yaml --role deploy-k8s > authentication-config.yaml
  tollgate kubernetes apiserver-config --config tollgate.yaml --role deploy-k8s --format flags
  tollgate kubernetes apiserver-config --config tollgate.yaml --role deploy-k8s --certificate-authority ca.pem")]
    ApiserverConfig(super::kubernetes::ApiServerOptions),
}

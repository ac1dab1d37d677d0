//! `tollgate policy …`: the tools for changing a policy safely — `test` (the `*.test.yaml` cases), `diff` (two
//! folders compared without traffic), `replay` (recorded decisions re-decided under a candidate folder) and
//! `promote` (the candidate set of shadow evaluation put in force, through the admin API).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use tollgate::clock::UnixTime;
use tollgate::config::{Config, process_env, profile_known_issuers};
use tollgate::policy::{KnownIssuer, PolicySet};
use tollgate::review::{self, Format, ReplayOptions};

use super::admin::signed_in;
use super::admin_api::on_success;
use super::admin_output::{self, Output};

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Run the *.test.yaml cases beside the policies; prints failures and `N passed, N failed`.
    #[command(
        after_help = "Examples:\n  tollgate policy test policies\n  tollgate policy test --config tollgate.yaml   # the config's policy folder and trusted issuers"
    )]
    Test {
        /// The policy folder (default: the config's, else ./policies).
        dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Re-decide the decisions recorded in audit logs under a candidate policy folder.
    ///
    /// Prints, per role, how many decisions flip each way, with examples. Exit 1 when a decision denied today
    /// would be allowed (new access), unless --allow-new-access; 3 when some are undetermined, unless
    /// --allow-undetermined; 2 when the inputs cannot be read or hold nothing to replay.
    #[command(
        after_help = "Example, in a pull request:\n  tollgate policy replay --audit audit.jsonl --policies policies --config tollgate.yaml --since 2026-11-01T00:00:00Z --format markdown"
    )]
    Replay {
        /// Audit log files (JSON lines) from Tollgate with audit.claims: referenced or all.
        #[arg(long, required = true, num_args = 1..)]
        audit: Vec<PathBuf>,
        /// The candidate policy folder.
        #[arg(long)]
        policies: PathBuf,
        /// The server config, for its trusted issuers (default: the built-in profiles' issuers).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only decisions at or after this RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
        /// Examples shown per role and direction.
        #[arg(long, default_value_t = 5)]
        examples: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit 0 even when decisions denied today would be allowed.
        #[arg(long)]
        allow_new_access: bool,
        /// Exit 0 even when some decisions are undetermined (the candidate reads claims the log did not record).
        #[arg(long)]
        allow_undetermined: bool,
    },
    /// Compare two policy folders without traffic: what changed, and whether NEW allows what OLD denies.
    ///
    /// Per role: the changes, and new access with a witness claim set checked under both folders, or "cannot
    /// decide" and why. Exit 1 on new access unless
    /// --allow-new-access; 3 when a role cannot be decided, unless --allow-undecided; 2 when a folder does not
    /// load.
    #[command(
        after_help = "Example, in a pull request (the base branch's policies checked out in base/):\n  tollgate policy diff base/policies policies --config tollgate.yaml --format markdown"
    )]
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// The server config, for its trusted issuers (default: the built-in profiles' issuers).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit 0 even when NEW allows what OLD denies.
        #[arg(long)]
        allow_new_access: bool,
        /// Exit 0 even when some role cannot be decided (its conditions are outside what the diff decides).
        #[arg(long)]
        allow_undecided: bool,
    },
    /// Put the candidate policies (shadow.policies) in force, and the policies in force in shadow.
    ///
    /// Acts on the instance answering; promoting again swaps back. Needs an admin session with scope admin
    /// (`tollgate admin login --scope admin`). The swap lasts until that instance restarts: make the config say
    /// the same before then.
    #[command(
        after_help = "Examples:\n  tollgate admin login --url http://127.0.0.1:8471 --scope admin\n  tollgate policy promote --expect SHA256   # sha256 of shadow in GET /admin/v1/policies"
    )]
    Promote {
        /// The admin API's base URL (default: the cached session's).
        #[arg(long)]
        url: Option<String>,
        /// Promote only if the candidate set's fingerprint is this one (`sha256` of `shadow` in
        /// GET /admin/v1/policies): a retry cannot swap back.
        #[arg(long)]
        expect: Option<String>,
        /// table (a sentence) or json (the API's answer).
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Test { dir, config } => super::policy::test(dir, config),
        PolicyCommand::Promote { url, expect, output } => promote(url.as_deref(), expect, output).await,
        PolicyCommand::Diff { old, new, config, format, allow_new_access, allow_undecided } => {
            Ok(exit_2_on_error(diff(&old, &new, config, format, (allow_new_access, allow_undecided))))
        }
        PolicyCommand::Replay {
            audit,
            policies,
            config,
            since,
            examples,
            format,
            allow_new_access,
            allow_undetermined,
        } => Ok(exit_2_on_error((|| {
            let options = ReplayOptions { since: since.as_deref().map(instant).transpose()?, examples };
            replay(&audit, &policies, config, &options, format, (allow_new_access, allow_undetermined))
        })())),
    }
}

/// Review tools exit 1 for a finding (new access) and 2 when they could not look: a pipeline tells them apart.
fn exit_2_on_error(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::from(2)
    })
}

fn instant(text: &str) -> anyhow::Result<UnixTime> {
    UnixTime::parse_rfc3339(text).with_context(|| format!("--since {text:?} is not an RFC 3339 instant"))
}

/// The trusted issuers of the config, or the built-in profiles'.
fn known_issuers(config: Option<PathBuf>) -> anyhow::Result<Vec<KnownIssuer>> {
    Ok(match config {
        Some(path) => Config::load(&path, &process_env)?.known_issuers(),
        None => profile_known_issuers(),
    })
}

/// A policy folder, loaded with the config's trusted issuers (or the built-in profiles').
fn candidate(dir: &std::path::Path, config: Option<PathBuf>) -> anyhow::Result<PolicySet> {
    let known = known_issuers(config)?;
    PolicySet::load_dir(dir, &known).with_context(|| format!("the policies in {}", dir.display()))
}

fn diff(
    old: &std::path::Path,
    new: &std::path::Path,
    config: Option<PathBuf>,
    format: Format,
    (allow_new_access, allow_undecided): (bool, bool),
) -> anyhow::Result<ExitCode> {
    let known = known_issuers(config)?;
    let load = |dir: &std::path::Path| {
        PolicySet::load_dir(dir, &known).with_context(|| format!("the policies in {}", dir.display()))
    };
    let roles = tollgate::policy::diff::diff(&load(old)?, &load(new)?);
    print!("{}", review::diff::render(&roles, format, &old.display().to_string(), &new.display().to_string()));
    if review::diff::new_access(&roles) > 0 && !allow_new_access {
        if format != Format::Json {
            eprintln!("exit 1: new access (pass --allow-new-access to accept it)");
        }
        return Ok(ExitCode::FAILURE);
    }
    if review::diff::undecided(&roles) > 0 && !allow_undecided {
        if format != Format::Json {
            eprintln!("exit 3: some roles could not be decided (pass --allow-undecided once reviewed by hand)");
        }
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn replay(
    audit: &[PathBuf],
    policies: &std::path::Path,
    config: Option<PathBuf>,
    options: &ReplayOptions,
    format: Format,
    (allow_new_access, allow_undetermined): (bool, bool),
) -> anyhow::Result<ExitCode> {
    let candidate = candidate(policies, config)?;
    let files: Vec<&std::path::Path> = audit.iter().map(PathBuf::as_path).collect();
    let replayed = review::replay(&files, &candidate, options).context("reading the audit logs")?;
    let skipped = &replayed.skipped;
    if replayed.decisions() == 0 && skipped.too_old == 0 {
        // Nothing could be replayed at all: a wrong file, or a log without claims. Not a pass.
        anyhow::bail!(
            "no decision in the audit files could be replayed ({} lines were not policy decisions, {} had no recorded claims, {} hashed claims, {} were unreadable)",
            skipped.not_policy_decisions,
            skipped.without_claims,
            skipped.hashed_claims,
            skipped.unreadable
        );
    }
    print!("{}", replayed.render(format, &policies.display().to_string()));
    if replayed.new_access() > 0 && !allow_new_access {
        if format != Format::Json {
            eprintln!("exit 1: new access (pass --allow-new-access to accept it)");
        }
        return Ok(ExitCode::FAILURE);
    }
    if replayed.undetermined() > 0 && !allow_undetermined {
        if format != Format::Json {
            eprintln!("exit 3: undetermined decisions (record audit.claims: all, or pass --allow-undetermined)");
        }
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

async fn promote(url: Option<&str>, expect: Option<String>, output: Output) -> anyhow::Result<ExitCode> {
    let api = signed_in(url)?;
    let body = match expect {
        Some(sha256) => json!({"expect_candidate_sha256": sha256}),
        None => json!({}),
    };
    let answer = api.post("/admin/v1/policies/promote", &body).await?;
    Ok(on_success(&api, answer, |body| match output {
        Output::Json => admin_output::json(&body),
        Output::Table => {
            let side = |name: &str| {
                let side = body.get(name).unwrap_or(&Value::Null);
                let (dir, roles, sha256) = (side.get("dir"), side.get("roles"), side.get("sha256"));
                let (dir, roles, sha256) =
                    (admin_output::cell(dir), admin_output::cell(roles), admin_output::cell(sha256));
                format!("{dir} ({roles} roles, sha256 {sha256})")
            };
            println!("Promoted: in force now {}; in shadow now {}.", side("live"), side("shadow"));
            eprintln!("Until this instance restarts: make the config's policies: and shadow.policies: say the same.");
        }
    }))
}

//! `tollgate policy …`: the tools for changing a policy safely — `test` (the `*.test.yaml` cases) and
//! `promote` (the candidate set of shadow evaluation put in force, through the admin API).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::admin::signed_in;
use super::admin_api::on_success;
use super::admin_output::{self, Output};

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Run the *.test.yaml cases beside the policies; prints failures and `N passed, N failed`.
    Test {
        /// The policy folder (default: the config's, else ./policies).
        dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Put the candidate policies (shadow.policies) in force on the instance answering, and the policies in
    /// force in shadow; promoting again swaps back. Needs an admin session with scope admin
    /// (`tollgate admin login --scope admin`). The swap lasts until that instance restarts: make the config say
    /// the same before then.
    Promote {
        /// The admin API's base URL (default: the cached session's).
        #[arg(long)]
        url: Option<String>,
        /// table (a sentence) or json (the API's answer).
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Test { dir, config } => super::policy::test(dir, config),
        PolicyCommand::Promote { url, output } => promote(url.as_deref(), output).await,
    }
}

async fn promote(url: Option<&str>, output: Output) -> anyhow::Result<ExitCode> {
    let api = signed_in(url)?;
    let answer = api.post("/admin/v1/policies/promote", &json!({})).await?;
    Ok(on_success(&api, answer, |body| match output {
        Output::Json => admin_output::json(&body),
        Output::Table => {
            let side = |name: &str| {
                let side = body.get(name).unwrap_or(&Value::Null);
                format!("{} ({} roles)", admin_output::cell(side.get("dir")), admin_output::cell(side.get("roles")))
            };
            println!("Promoted: in force now {}; in shadow now {}.", side("live"), side("shadow"));
            eprintln!("Until this instance restarts: make the config's policies: and shadow.policies: say the same.");
        }
    }))
}

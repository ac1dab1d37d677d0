//! The changes `tollgate admin` makes through the admin API, each needing a session with scope admin
//! (`role/runner.admin` suffices for runners): revoke and un-revoke (the same targets as `tollgate revoke`, sent
//! as the library's `revocation::Target`), runner credentials (create, rotate, delete; a new credential is
//! printed once, to stdout, with a warning on stderr), and a policy reload.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tollgate::clock::{Clock, SystemClock};

use super::admin::{REVOCATION_COLUMNS, RUNNER_COLUMNS};
use super::admin_api::{Api, on_success};
use super::admin_output::{self, Output};
use super::revoke::{RevokeCommand, instant};

#[derive(clap::Subcommand)]
pub enum RevocationsCommand {
    /// The revocations in force.
    #[command(after_help = "Example:\n  tollgate admin revocations list --output json")]
    List,
}

/// `--reason` and `--until`, common to every revocation.
#[derive(clap::Args)]
pub struct RevokeCommon {
    /// Why (kept with the revocation and shown by `revocations list`).
    #[arg(long)]
    reason: String,
    /// Applies until this RFC 3339 instant (default: until every credential it can hit has expired).
    #[arg(long)]
    until: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum RunnersCommand {
    /// The runners (never their credentials).
    #[command(after_help = "Example:\n  tollgate admin runners list")]
    List,
    /// Create a runner; its credential is printed once.
    #[command(
        after_help = "Example:\n  tollgate admin runners create jenkins-prod --label team=platform --expires-at 2027-06-01T00:00:00Z   # prints the credential once"
    )]
    Create {
        name: String,
        /// A label (repeat for more).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// The credential stops working at this RFC 3339 instant.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Replace a runner's credential; the new one is printed once and the old one stops working.
    #[command(after_help = "Example:\n  tollgate admin runners rotate ID   # prints the new credential once")]
    Rotate { id: String },
    /// Delete a runner: its credential stops working.
    #[command(after_help = "Example:\n  tollgate admin runners delete ID")]
    Delete { id: String },
}

pub async fn revoke(api: &Api, output: Output, command: RevokeCommand<RevokeCommon>) -> anyhow::Result<ExitCode> {
    let (target, common) = command.into_target(SystemClock.now())?;
    let mut body = serde_json::Map::new();
    body.insert("target".into(), serde_json::to_value(&target).context("encoding the target")?);
    body.insert("reason".into(), json!(common.reason));
    if let Some(until) = common.until {
        instant("--until", &until)?;
        body.insert("expires_at".into(), json!(until));
    }
    let answer = api.post("/admin/v1/revocations", &Value::Object(body)).await?;
    Ok(on_success(api, answer, |created| match output {
        Output::Json => admin_output::json(&created),
        Output::Table => print!("{}", admin_output::table(std::slice::from_ref(&created), REVOCATION_COLUMNS)),
    }))
}

pub async fn unrevoke(api: &Api, output: Output, id: &str) -> anyhow::Result<ExitCode> {
    let answer = api.delete(&format!("/admin/v1/revocations/{}", segment(id)?)).await?;
    Ok(on_success(api, answer, |_| deleted(output, "revocation", id)))
}

pub async fn end_session(api: &Api, output: Output, id: &str) -> anyhow::Result<ExitCode> {
    let answer = api.delete(&format!("/admin/v1/sessions/{}", segment(id)?)).await?;
    Ok(on_success(api, answer, |_| deleted(output, "session", id)))
}

pub async fn rotate_key(api: &Api, output: Output) -> anyhow::Result<ExitCode> {
    let answer = api.post("/admin/v1/keys/rotate", &json!({})).await?;
    Ok(on_success(api, answer, |body| match output {
        Output::Json => admin_output::json(&body),
        Output::Table => println!(
            "New signing key {} ({}): published now, signing from {}.",
            admin_output::cell(body.get("kid")),
            admin_output::cell(body.get("alg")),
            admin_output::cell(body.get("activates_at"))
        ),
    }))
}

pub async fn runners(api: &Api, output: Output, command: RunnersCommand) -> anyhow::Result<ExitCode> {
    let answer = match &command {
        RunnersCommand::List => bail!("`runners list` is a read"),
        RunnersCommand::Create { name, labels, expires_at } => {
            let mut body = serde_json::Map::new();
            body.insert("name".into(), json!(name));
            body.insert("labels".into(), json!(labels));
            if let Some(expires_at) = expires_at {
                instant("--expires-at", expires_at)?;
                body.insert("expires_at".into(), json!(expires_at));
            }
            api.post("/admin/v1/runners", &Value::Object(body)).await?
        }
        RunnersCommand::Rotate { id } => {
            api.post(&format!("/admin/v1/runners/{}/rotate", segment(id)?), &json!({})).await?
        }
        RunnersCommand::Delete { id } => api.delete(&format!("/admin/v1/runners/{}", segment(id)?)).await?,
    };
    Ok(on_success(api, answer, |body| match command {
        RunnersCommand::Delete { id } => deleted(output, "runner", &id),
        _ => print_credential(&body, output),
    }))
}

pub async fn reload(api: &Api, output: Output) -> anyhow::Result<ExitCode> {
    let answer = api.post("/admin/v1/policies/reload", &json!({})).await?;
    Ok(on_success(api, answer, |body| match output {
        Output::Json => admin_output::json(&body),
        Output::Table => match body.get("roles") {
            Some(Value::Array(roles)) => {
                println!("Policies reloaded: {} roles ({}).", roles.len(), admin_output::cell(body.get("roles")))
            }
            roles => println!("Policies reloaded: {} roles.", admin_output::cell(roles)),
        },
    }))
}

/// A new or rotated runner: the credential alone on stdout (table) or in the API's JSON, and a warning on stderr.
fn print_credential(body: &Value, output: Output) {
    let name = admin_output::cell(body.get("name"));
    let id = admin_output::cell(body.get("id"));
    eprintln!(
        "warning: the credential of runner {name} (id {id}) is shown once, now: store it in the runner's secret store. \
         Tollgate keeps only its hash."
    );
    match output {
        Output::Json => admin_output::json(body),
        Output::Table => {
            let mut shown = body.clone();
            if let Some(object) = shown.as_object_mut() {
                object.remove("credential");
            }
            eprint!("{}", admin_output::table(std::slice::from_ref(&shown), RUNNER_COLUMNS));
            println!("{}", body.get("credential").and_then(Value::as_str).unwrap_or_default());
        }
    }
}

fn deleted(output: Output, what: &str, id: &str) {
    match output {
        Output::Json => admin_output::json(&json!({ "deleted": id })),
        Output::Table => println!("Deleted {what} {id}."),
    }
}

/// An id as one URL path segment (percent-encoded, so it cannot reach another route).
fn segment(id: &str) -> anyhow::Result<String> {
    if id.is_empty() || id.bytes().all(|b| b == b'.') {
        bail!("{id:?} is not an id");
    }
    Ok(url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(segment("abc123").unwrap(), "abc123");
        assert_eq!(segment("../runners/x y+").unwrap(), "..%2Frunners%2Fx%20y%2B");
        assert!(segment("..").is_err() && segment("").is_err());
    }

    #[test]
    fn targets_are_the_api_s_wire_shape() {
        let common = || RevokeCommon { reason: "r".into(), until: None };
        let now = tollgate::clock::UnixTime::from_secs(0);
        let (identity, _) = RevokeCommand::Identity {
            issuer: "github".into(),
            claim: "repository".into(),
            equals: None,
            glob: Some("acme/*".into()),
            common: common(),
        }
        .into_target(now)
        .unwrap();
        assert_eq!(
            serde_json::to_value(identity).unwrap(),
            json!({"kind": "identity", "issuer": "github", "claim": "repository", "matcher": {"glob": "acme/*"}})
        );
        let (role, _) = RevokeCommand::Role {
            role: "deploy".into(),
            before: Some("2026-01-01T00:00:00Z".into()),
            common: common(),
        }
        .into_target(now)
        .unwrap();
        assert_eq!(
            serde_json::to_value(role).unwrap(),
            json!({"kind": "role", "role": "deploy", "before": 1_767_225_600})
        );
    }
}

//! `tollgate exchange`: the CI-side client. Finds the job's OIDC token itself (GitHub Actions, Semaphore,
//! GitLab via `--token-env`, CircleCI, Buildkite, or `--token-file`), exchanges it at Tollgate and prints the
//! result as JSON, `export` lines, AWS `credential_process` JSON or kubectl's `ExecCredential`. Never prints the
//! CI token.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;

/// Where the CI token was found, for messages. No `Debug`: it holds the token.
pub struct Found {
    pub source: &'static str,
    pub token: String,
}

/// Options of `tollgate exchange`.
pub struct Options {
    pub url: String,
    pub role: String,
    /// Audience requested from the CI provider where it lets the job choose (GitHub Actions, Buildkite).
    pub audience: String,
    pub format: String,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
}

pub async fn run(options: Options) -> anyhow::Result<ExitCode> {
    let format = match options.format.as_str() {
        "json" => "json",
        "env" => "env",
        "credential-process" | "credential_process" => "credential_process",
        "kubernetes" => "kubernetes",
        other => bail!("--format {other:?} is not one of json, env, credential-process, kubernetes"),
    };
    let base = reqwest::Url::parse(&options.url).with_context(|| format!("--url {:?} is not a URL", options.url))?;
    if !tollgate::issuers::is_allowed_url(&base) {
        bail!(
            "--url must be https (plain http only to a loopback host): the CI token must not cross the network in clear"
        );
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let found = find_token(&options, &|name| std::env::var(name).ok().filter(|v| !v.is_empty()), &client).await?;
    // kubectl's ExecCredential is made here, from the JSON answer.
    let asked = if format == "kubernetes" { "json" } else { format };
    let url = format!("{}/exchange?format={asked}", options.url.trim_end_matches('/'));
    let response = client
        .post(&url)
        .bearer_auth(found.token.trim())
        .json(&json!({"role": options.role}))
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = response.status();
    let body = response.text().await.context("reading Tollgate's answer")?;
    if status.is_success() && format == "kubernetes" {
        println!("{}", super::kubernetes::exec_credential(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    if status.is_success() {
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("error: Tollgate refused the exchange (HTTP {status}, token from {}): {body}", found.source);
    Ok(ExitCode::FAILURE)
}

/// The first token source that applies, in the documented order.
pub async fn find_token(
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
    client: &reqwest::Client,
) -> anyhow::Result<Found> {
    if let Some(file) = &options.token_file {
        let token =
            std::fs::read_to_string(file).with_context(|| format!("reading --token-file {}", file.display()))?;
        return Ok(Found { source: "--token-file", token });
    }
    if let Some(name) = &options.token_env {
        let token = env(name).with_context(|| format!("--token-env {name}: the variable is unset or empty"))?;
        return Ok(Found { source: "--token-env", token });
    }
    if let (Some(url), Some(bearer)) = (env("ACTIONS_ID_TOKEN_REQUEST_URL"), env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")) {
        return github_token(client, &url, &bearer, &options.audience).await;
    }
    if let Some(token) = env("SEMAPHORE_OIDC_TOKEN") {
        return Ok(Found { source: "SEMAPHORE_OIDC_TOKEN", token });
    }
    if let Some(token) = env("CIRCLE_OIDC_TOKEN_V2") {
        return Ok(Found { source: "CIRCLE_OIDC_TOKEN_V2", token });
    }
    if let Some(token) = env("CIRCLE_OIDC_TOKEN") {
        return Ok(Found { source: "CIRCLE_OIDC_TOKEN", token });
    }
    if env("BUILDKITE").as_deref() == Some("true") {
        return buildkite_token(&options.audience).await;
    }
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        bail!(
            "running in GitHub Actions but ACTIONS_ID_TOKEN_REQUEST_URL is unset: give the job `permissions: id-token: write`"
        );
    }
    bail!(
        "no CI token found: use --token-file FILE or --token-env NAME (GitLab: the variable named in id_tokens), \
         or run in GitHub Actions (permissions: id-token: write), Semaphore, CircleCI or Buildkite"
    )
}

async fn github_token(client: &reqwest::Client, url: &str, bearer: &str, audience: &str) -> anyhow::Result<Found> {
    let mut url = reqwest::Url::parse(url).context("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")?;
    url.query_pairs_mut().append_pair("audience", audience);
    let response = client
        .get(url)
        .header(reqwest::header::AUTHORIZATION, format!("bearer {bearer}"))
        .send()
        .await
        .context("requesting the GitHub Actions OIDC token")?;
    let status = response.status();
    if !status.is_success() {
        bail!("GitHub's token endpoint answered HTTP {status}");
    }
    let body: serde_json::Value = response.json().await.context("GitHub's token endpoint did not answer JSON")?;
    let token = body.get("value").and_then(|v| v.as_str()).context("GitHub's answer has no \"value\"")?.to_owned();
    Ok(Found { source: "GitHub Actions", token })
}

async fn buildkite_token(audience: &str) -> anyhow::Result<Found> {
    let command = tokio::process::Command::new("buildkite-agent")
        .args(["oidc", "request-token", "--audience", audience])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), command)
        .await
        .context("`buildkite-agent oidc request-token` did not answer within 30 s")?
        .context("running `buildkite-agent oidc request-token`")?;
    if !output.status.success() {
        bail!("`buildkite-agent oidc request-token` failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(Found { source: "buildkite-agent", token: String::from_utf8_lossy(&output.stdout).trim().to_owned() })
}

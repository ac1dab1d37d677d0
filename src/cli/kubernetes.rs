//! Tollgate in kubectl and in the API server: the `ExecCredential` that `tollgate exchange --format kubernetes`
//! prints for kubectl's credential plugin protocol, `tollgate kubeconfig` (a cluster, a user whose token comes
//! from that plugin, a context), and `tollgate kubernetes apiserver-config` (the API server's side, from a role).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use tollgate::config::{Config, process_env};
use tollgate::policy::PolicySet;
use tollgate::relying_party::kubernetes::{Choices, apiserver_config, quoted};

/// kubectl's credential plugin API version.
const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// An `ExecCredential` from the JSON answer of `POST /exchange` (a token grant): the token and its expiry, so
/// kubectl caches it and runs the plugin again only once it expired.
pub fn exec_credential(answer: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = serde_json::from_str(answer).context("Tollgate's answer is not JSON")?;
    let Some(token) = body.get("access_token").and_then(serde_json::Value::as_str) else {
        bail!("the role grants no token (an AWS role?): --format kubernetes needs a role with a token grant");
    };
    let expiration =
        body.get("expiration").and_then(serde_json::Value::as_str).context("the answer has no expiration")?;
    let credential = serde_json::json!({
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expiration},
    });
    Ok(credential.to_string())
}

/// Options of `tollgate kubeconfig`.
#[derive(clap::Args)]
pub struct KubeconfigOptions {
    /// Tollgate's base URL.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub role: String,
    /// The cluster's (and the context's) name in the kubeconfig.
    #[arg(long)]
    pub cluster: String,
    /// The API server's https URL.
    #[arg(long)]
    pub server: String,
    /// PEM of the CA that signed the API server's certificate (embedded as certificate-authority-data).
    #[arg(long)]
    pub certificate_authority: Option<PathBuf>,
    /// Passed on to `tollgate exchange`: the audience asked of the CI provider.
    #[arg(long)]
    pub audience: Option<String>,
    /// Passed on to `tollgate exchange`.
    #[arg(long, conflicts_with = "token_env")]
    pub token_file: Option<PathBuf>,
    /// Passed on to `tollgate exchange`.
    #[arg(long)]
    pub token_env: Option<String>,
    /// The plugin's command: the tollgate binary, if not on PATH.
    #[arg(long, default_value = "tollgate")]
    pub command: String,
}

/// A kubeconfig with one cluster, one user whose token comes from `tollgate exchange --format kubernetes`, and
/// one context, current. `KUBECONFIG=a:b kubectl config view --flatten` merges it with others.
pub fn kubeconfig(options: &KubeconfigOptions) -> anyhow::Result<String> {
    let server = reqwest::Url::parse(&options.server).with_context(|| format!("--server {:?}", options.server))?;
    if server.scheme() != "https" {
        bail!("--server must be https: the API server receives the token as a bearer credential");
    }
    let mut args = vec!["exchange", "--url", &options.url, "--role", &options.role, "--format", "kubernetes"];
    if let Some(audience) = &options.audience {
        args.extend(["--audience", audience]);
    }
    let token_file = options.token_file.as_ref().map(|f| f.display().to_string());
    if let Some(file) = &token_file {
        args.extend(["--token-file", file]);
    }
    if let Some(name) = &options.token_env {
        args.extend(["--token-env", name]);
    }
    let user = format!("tollgate-{}@{}", options.role, options.cluster);
    let mut cluster = format!("      server: {}\n", quoted(server.as_str().trim_end_matches('/')));
    if let Some(file) = &options.certificate_authority {
        let pem = std::fs::read(file).with_context(|| format!("reading --certificate-authority {}", file.display()))?;
        let data = base64::engine::general_purpose::STANDARD.encode(pem);
        cluster.push_str(&format!("      certificate-authority-data: {}\n", quoted(&data)));
    }
    let args: Vec<String> = args.iter().map(|arg| quoted(arg)).collect();
    Ok(format!(
        "apiVersion: v1\nkind: Config\nclusters:\n  - name: {name}\n    cluster:\n{cluster}users:\n  - name: {user}\n    user:\n      exec:\n        apiVersion: {EXEC_API_VERSION}\n        command: {command}\n        args: [{args}]\n        interactiveMode: Never\n        provideClusterInfo: false\ncontexts:\n  - name: {name}\n    context:\n      cluster: {name}\n      user: {user}\ncurrent-context: {name}\n",
        name = quoted(&options.cluster),
        user = quoted(&user),
        command = quoted(&options.command),
        args = args.join(", "),
    ))
}

/// Options of `tollgate kubernetes apiserver-config`.
#[derive(clap::Args)]
pub struct ApiServerOptions {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub role: String,
    /// authentication-config (apiserver.config.k8s.io/v1beta1, for --authentication-config) or flags.
    #[arg(long, default_value = "authentication-config", value_parser = ["authentication-config", "flags"])]
    pub format: String,
    /// PEM of the CA of Tollgate's certificate, when private (certificateAuthority, --oidc-ca-file).
    #[arg(long)]
    pub certificate_authority: Option<PathBuf>,
    /// Default: a kind: kubernetes relying party's username_claim for the grant's audience, else sub.
    #[arg(long)]
    pub username_claim: Option<String>,
    /// Default tollgate: (an empty value keeps names as they are).
    #[arg(long)]
    pub username_prefix: Option<String>,
    /// Default: that relying party's groups_claim, else groups when the grant sets it.
    #[arg(long)]
    pub groups_claim: Option<String>,
    /// Default tollgate:.
    #[arg(long)]
    pub groups_prefix: Option<String>,
}

/// Prints the API server's side for the role; exit 1 with the reason when its tokens could not be accepted.
pub fn print_apiserver_config(options: ApiServerOptions) -> anyhow::Result<ExitCode> {
    let config = Config::load(&options.config, &process_env)?;
    let policies = PolicySet::load_dir(&config.policies_dir, &config.known_issuers())?;
    let certificate_authority = match &options.certificate_authority {
        Some(file) => Some((file.display().to_string(), read_pem(file)?)),
        None => None,
    };
    let choices = Choices {
        username_claim: options.username_claim,
        username_prefix: options.username_prefix,
        groups_claim: options.groups_claim,
        groups_prefix: options.groups_prefix,
        certificate_authority,
    };
    let settings = match apiserver_config(&config, &policies, &options.role, choices) {
        Ok(settings) => settings,
        Err(reason) => {
            eprintln!("error: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match options.format.as_str() {
        "authentication-config" => print!("{}", settings.authentication_config()),
        "flags" => print!("{}", settings.flags()),
        other => bail!("--format {other:?} is not one of authentication-config, flags"),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_pem(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        bail!("{} holds no PEM certificate", file.display());
    }
    Ok(text)
}

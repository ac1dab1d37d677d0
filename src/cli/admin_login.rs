//! `tollgate admin login`: opens an admin session and caches it (`admin_session`).
//!
//! With a provider (the default): reads `GET /admin/v1/providers`, then the provider's discovery document, and
//! runs the OpenID Connect authorization-code flow with PKCE (S256) on a loopback redirect (`admin_callback`),
//! with a random `state` and `nonce`. The authorization URL goes to stderr (and to a browser unless
//! `--no-browser`); the code comes back to the loopback listener, and Tollgate's server redeems it
//! (`POST /admin/v1/session` with the code, the verifier, the redirect URI and the nonce), using the client
//! secret where the provider needs one: the CLI never holds a client secret. With `--device`, the device
//! authorization grant (RFC 8628, `admin_device`) gets an ID token, which is sent instead.
//! With `--bootstrap-secret-file`: the break-glass sign-in.
//! The session token goes to the cache file only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::admin_api::{Answer, Api, report, report_refusal};
use super::admin_callback::Callback;
use super::admin_output::{self, Output};
use super::admin_session::{self, CachedSession};

/// The largest discovery document read.
const MAX_DISCOVERY_BYTES: usize = 100 * 1024;

/// `tollgate admin login`'s options.
#[derive(clap::Args)]
pub struct LoginArgs {
    /// The provider's name in Tollgate's config (default: the only one).
    #[arg(long)]
    provider: Option<String>,
    /// `admin` asks for admin rights (only identities eligible for them get it); without it the session reads.
    #[arg(long, value_parser = ["admin"])]
    scope: Option<String>,
    /// The session's lifetime in seconds (default and ceiling: the server's).
    #[arg(long)]
    ttl: Option<u32>,
    /// Only print the authorization URL; do not try to open a browser.
    #[arg(long)]
    no_browser: bool,
    /// The loopback port of the redirect (default: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Sign in with the device authorization grant (RFC 8628) where the provider offers it.
    #[arg(long, conflicts_with_all = ["no_browser", "port"])]
    device: bool,
    /// Break-glass: sign in with the bootstrap secret in this file (first line).
    #[arg(long, conflicts_with_all = ["provider", "device", "no_browser", "port"])]
    bootstrap_secret_file: Option<PathBuf>,
}

/// A provider as `GET /admin/v1/providers` lists it.
pub struct Provider {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
}

pub async fn login(url: Option<&str>, output: Output, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let dir = admin_session::config_dir()?;
    // Always named: credentials (a code and its verifier, a break-glass secret) never go to a URL read from a
    // file someone else could have written.
    let Some(base) = url.map(str::to_owned) else {
        bail!("give --url ADMIN_URL (the Tollgate admin listener, e.g. http://127.0.0.1:8471)");
    };
    let api = Api::new(&base, None)?;
    let mut body = Map::new();
    if let Some(scope) = &args.scope {
        body.insert("scope".into(), json!(scope));
    }
    if let Some(ttl) = args.ttl {
        body.insert("ttl_seconds".into(), json!(ttl));
    }
    if let Some(file) = &args.bootstrap_secret_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let secret = text.lines().next().unwrap_or_default().trim().to_owned();
        if secret.is_empty() {
            bail!("{} is empty", file.display());
        }
        body.insert("bootstrap_secret".into(), json!(secret));
    } else {
        let Some(provider) = pick_provider(&api, args.provider.as_deref()).await? else {
            return Ok(ExitCode::FAILURE);
        };
        let discovery = discovery(&provider.issuer).await?;
        body.insert("provider".into(), json!(provider.name));
        let limit = Duration::from_secs(args.timeout);
        if args.device {
            let id_token = super::admin_device::id_token(&discovery, &provider, limit).await?;
            body.insert("id_token".into(), json!(id_token));
        } else {
            let proof = authorize(&discovery, &provider, &args, limit).await?;
            body.extend(proof);
        }
    }
    let answer = api.post("/admin/v1/session", &Value::Object(body)).await?;
    let session = match answer {
        Answer::Done(session) => session,
        Answer::Refused { status, code, description } => return Ok(report_refusal(status, &code, &description)),
    };
    let path = save(&dir, api.base(), &session)?;
    eprintln!("Session saved to {} (mode 0600).", path.display());
    print_session(&session, output);
    Ok(ExitCode::SUCCESS)
}

/// The named provider, or the only one; `None` after reporting a refusal.
async fn pick_provider(api: &Api, name: Option<&str>) -> anyhow::Result<Option<Provider>> {
    let listed = match api.get("/admin/v1/providers", &[]).await? {
        Answer::Done(listed) => listed,
        Answer::Refused { status, code, description } => {
            report(api.base(), status, &code, &description);
            return Ok(None);
        }
    };
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let providers: Vec<Provider> = listed
        .get("providers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| Provider {
            name: text(p, "name"),
            issuer: text(p, "issuer"),
            client_id: text(p, "client_id"),
            scopes: scopes(p.get("scopes")),
        })
        .collect();
    let names = providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    let mut providers = providers.into_iter();
    match (name, providers.len()) {
        (_, 0) => bail!("{} has no identity provider configured (break-glass: --bootstrap-secret-file)", api.base()),
        (Some(name), _) => match providers.find(|p| p.name == name) {
            Some(provider) => Ok(Some(provider)),
            None => bail!("no provider is named {name:?} (configured: {names})"),
        },
        (None, 1) => Ok(providers.next()),
        (None, _) => bail!("several providers are configured ({names}): name one with --provider"),
    }
}

/// The scopes to ask for: the provider's configured ones, with `openid` always.
fn scopes(listed: Option<&Value>) -> String {
    let mut scopes: Vec<&str> = listed
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !scopes.contains(&"openid") {
        scopes.insert(0, "openid");
    }
    scopes.join(" ")
}

/// The provider's discovery document, whose `issuer` must be the configured one.
pub async fn discovery(issuer: &str) -> anyhow::Result<Map<String, Value>> {
    let issuer_url =
        reqwest::Url::parse(issuer).with_context(|| format!("the provider's issuer {issuer:?} is not a URL"))?;
    if !tollgate::issuers::is_allowed_url(&issuer_url) {
        bail!("the provider's issuer {issuer} is not https (plain http only on a loopback host)");
    }
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let client = super::admin_api::http_client()?;
    let mut response = client.get(&url).send().await.with_context(|| format!("reading {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered HTTP {}", response.status().as_u16());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.with_context(|| format!("reading {url}"))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_DISCOVERY_BYTES {
            bail!("{url} is larger than {MAX_DISCOVERY_BYTES} bytes");
        }
    }
    let document: Map<String, Value> =
        serde_json::from_slice(&bytes).with_context(|| format!("{url} is not a JSON object"))?;
    let named = document.get("issuer").and_then(Value::as_str).unwrap_or_default();
    // Exactly, as the server compares it (a provider whose issuer ends in `/` says so in both places).
    if named != issuer {
        bail!("the discovery document at {url} names the issuer {named:?}, not {issuer:?}");
    }
    Ok(document)
}

/// An endpoint named in the discovery document, which must be https (plain http only on a loopback host).
pub fn endpoint(discovery: &Map<String, Value>, key: &str) -> anyhow::Result<reqwest::Url> {
    let text =
        discovery.get(key).and_then(Value::as_str).with_context(|| format!("the discovery document has no {key}"))?;
    let url = reqwest::Url::parse(text).with_context(|| format!("{key} {text:?} is not a URL"))?;
    if !tollgate::issuers::is_allowed_url(&url) {
        bail!("{key} {text} is not https (plain http only on a loopback host)");
    }
    Ok(url)
}

/// The authorization-code flow up to the code: the fields of the sign-in request that prove it.
async fn authorize(
    discovery: &Map<String, Value>,
    provider: &Provider,
    args: &LoginArgs,
    limit: Duration,
) -> anyhow::Result<Map<String, Value>> {
    let mut url = endpoint(discovery, "authorization_endpoint")?;
    let callback = Callback::bind(args.port).await?;
    let (state, nonce, verifier) = (random_text(16)?, random_text(16)?, random_text(32)?);
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &callback.redirect_uri)
        .append_pair("scope", &provider.scopes)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    eprintln!("Open this URL to sign in: {url}");
    if !args.no_browser {
        open_browser(url.as_str());
    }
    eprintln!("Waiting up to {} s for the sign-in to come back to {} …", limit.as_secs(), callback.redirect_uri);
    let redirect_uri = callback.redirect_uri.clone();
    let code = callback.wait(&state, limit).await?;
    let mut proof = Map::new();
    proof.insert("code".into(), json!(code));
    proof.insert("code_verifier".into(), json!(verifier));
    proof.insert("redirect_uri".into(), json!(redirect_uri));
    proof.insert("nonce".into(), json!(nonce));
    Ok(proof)
}

/// Tries to open a browser; failing is fine (the URL is on stderr).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// `bytes` random bytes as unpadded base64url.
pub fn random_text(bytes: usize) -> anyhow::Result<String> {
    let mut random = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(random))
}

fn save(dir: &std::path::Path, base: &str, session: &Value) -> anyhow::Result<PathBuf> {
    let text = |key: &str| session.pointer(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let token = text("/session_token");
    if token.is_empty() {
        bail!("the admin API's answer has no session_token");
    }
    let scope = session.get("scope").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let cached = CachedSession {
        url: base.to_owned(),
        session_token: token,
        expires_at: text("/expires_at"),
        id: text("/id"),
        provider: text("/identity/provider"),
        user: text("/identity/user"),
        scope: scope.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
    };
    admin_session::save(dir, &cached)
}

/// What a new session is, on stdout (its token left out).
fn print_session(session: &Value, output: Output) {
    let mut shown = session.clone();
    if let Some(object) = shown.as_object_mut() {
        object.remove("session_token");
    }
    match output {
        Output::Json => admin_output::json(&shown),
        Output::Table => super::admin::print_identity(&shown),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openid_is_always_asked_for() {
        assert_eq!(scopes(Some(&json!(["openid", "email", "groups"]))), "openid email groups");
        assert_eq!(scopes(Some(&json!(["email"]))), "openid email");
        assert_eq!(scopes(None), "openid");
    }

    #[test]
    fn endpoints_must_not_cross_the_network_in_clear() {
        let document = |url: &str| json!({"authorization_endpoint": url}).as_object().unwrap().clone();
        assert!(endpoint(&document("http://127.0.0.1:8200/ui/authorize"), "authorization_endpoint").is_ok());
        assert!(endpoint(&document("https://idp.example/authorize"), "authorization_endpoint").is_ok());
        assert!(endpoint(&document("http://idp.example/authorize"), "authorization_endpoint").is_err());
        assert!(endpoint(&document("https://idp.example/authorize"), "token_endpoint").is_err());
    }

    #[test]
    fn pkce_values_are_long_and_random() {
        let (first, second) = (random_text(32).unwrap(), random_text(32).unwrap());
        assert_eq!(first.len(), 43, "a 43-character verifier (RFC 7636 §4.1)");
        assert_ne!(first, second);
    }
}

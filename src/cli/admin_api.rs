//! The HTTP client of the admin API for `tollgate admin …`: one base URL (https, or plain http to a loopback
//! host only: session tokens and the break-glass secret must not cross the network in clear), the session token
//! as a bearer credential, bounded timeouts, no redirects followed. A refusal is reported as the API's error code
//! and description on stderr (exit 1); nothing here prints a secret.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// How long one admin call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the admin API answered.
pub enum Answer {
    /// A 2xx answer and its JSON body (`Null` when there is none, as for 204).
    Done(Value),
    /// Any other status, with the API's stable error code and description.
    Refused { status: StatusCode, code: String, description: String },
}

/// A client of one admin API. No `Debug`: it may hold a session token.
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client of the admin API at `base`, sending `token` (if any) as the bearer credential.
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Api> {
        let base = super::admin_session::normalize(base);
        let url = reqwest::Url::parse(&base).with_context(|| format!("--url {base:?} is not a URL"))?;
        if !tollgate::issuers::is_allowed_url(&url) {
            bail!(
                "--url must be https (plain http only to a loopback host): session tokens must not cross the network in clear"
            );
        }
        Ok(Api { client: http_client()?, base, token })
    }

    /// The admin API's base URL, as given (without trailing slashes).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Answer> {
        self.call(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Answer> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Answer> {
        self.call(Method::DELETE, path, &[], None).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let mut url =
            reqwest::Url::parse(&format!("{}{path}", self.base)).with_context(|| format!("{path} on {}", self.base))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| format!("calling {method} {url}"))?;
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("reading the answer of {method} {url}"))?;
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(Answer::Done(body));
        }
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let code = text("error").unwrap_or_else(|| "http_error".to_owned());
        let description = text("error_description").unwrap_or_else(|| {
            String::from_utf8_lossy(bytes.get(..bytes.len().min(200)).unwrap_or_default()).trim().to_owned()
        });
        Ok(Answer::Refused { status, code, description })
    }
}

/// The HTTP client the admin commands use: bounded, no redirects, no proxy surprises beyond reqwest's defaults.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

/// Prints a refusal (code and description) to stderr with a hint where one helps; exit 1.
pub fn report(base: &str, status: StatusCode, code: &str, description: &str) -> ExitCode {
    report_refusal(status, code, description);
    if status == StatusCode::UNAUTHORIZED && code != "sign_in_refused" {
        eprintln!("hint: sign in again: tollgate admin login --url {base}");
    } else if status == StatusCode::FORBIDDEN && code == "forbidden" {
        eprintln!("hint: changes need a session with scope admin: tollgate admin login --url {base} --scope admin");
    }
    ExitCode::FAILURE
}

/// Prints a refusal (code and description) to stderr, without hints (a failed sign-in); exit 1.
pub fn report_refusal(status: StatusCode, code: &str, description: &str) -> ExitCode {
    let description = description.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    eprintln!("error: {code}: {description} (HTTP {})", status.as_u16());
    ExitCode::FAILURE
}

/// Runs `then` on a 2xx answer's body, else reports the refusal.
pub fn on_success(api: &Api, answer: Answer, then: impl FnOnce(Value)) -> ExitCode {
    match answer {
        Answer::Done(body) => {
            then(body);
            ExitCode::SUCCESS
        }
        Answer::Refused { status, code, description } => report(api.base(), status, &code, &description),
    }
}

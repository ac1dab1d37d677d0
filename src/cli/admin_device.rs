//! `tollgate admin login --device`: the OAuth 2.0 device authorization grant (RFC 8628) for terminals without a
//! browser. Asks the provider's `device_authorization_endpoint` for a user code, prints where to enter it (stderr),
//! then polls the `token_endpoint` at the interval the provider asks (slower on `slow_down`), bounded by the
//! code's lifetime and `--timeout`, for an ID token, which the login then sends to Tollgate. For public clients
//! (no client secret: the CLI never holds one).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use super::admin_login::{Provider, endpoint};

/// The grant type of a device-code token request.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Polling never goes faster than this, whatever the provider says.
const MIN_INTERVAL_SECS: u64 = 1;

/// The ID token the device flow ends with.
pub async fn id_token(discovery: &Map<String, Value>, provider: &Provider, limit: Duration) -> anyhow::Result<String> {
    let device_endpoint = endpoint(discovery, "device_authorization_endpoint")
        .context("the provider does not offer the device flow; sign in without --device")?;
    let token_endpoint = endpoint(discovery, "token_endpoint")?;
    let client = super::admin_api::http_client()?;
    let form = [("client_id", provider.client_id.as_str()), ("scope", provider.scopes.as_str())];
    let response = client
        .post(device_endpoint.clone())
        .form(&form)
        .send()
        .await
        .with_context(|| format!("calling {device_endpoint}"))?;
    let status = response.status();
    let grant: Map<String, Value> = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the provider refused the device authorization: HTTP {} {}", status.as_u16(), error_of(&grant));
    }
    let text = |key: &str| grant.get(key).and_then(Value::as_str).map(str::to_owned);
    let device_code = text("device_code").context("the device authorization has no device_code")?;
    let user_code = text("user_code").context("the device authorization has no user_code")?;
    let verification = text("verification_uri")
        .or_else(|| text("verification_url"))
        .context("the device authorization has no verification_uri")?;
    eprintln!("To sign in, open {verification} and enter the code {user_code}");
    if let Some(complete) = text("verification_uri_complete") {
        eprintln!("(or open {complete})");
    }
    let expires_in = grant.get("expires_in").and_then(Value::as_u64).unwrap_or(600);
    let interval = grant.get("interval").and_then(Value::as_u64).unwrap_or(5).max(MIN_INTERVAL_SECS);
    let limit = limit.min(Duration::from_secs(expires_in));
    let poll = Poll { client: &client, token_endpoint, device_code: &device_code, client_id: &provider.client_id };
    match tokio::time::timeout(limit, poll.until_done(interval)).await {
        Ok(result) => result,
        Err(_) => bail!("the device sign-in was not completed within {} s", limit.as_secs()),
    }
}

struct Poll<'a> {
    client: &'a reqwest::Client,
    token_endpoint: reqwest::Url,
    device_code: &'a str,
    client_id: &'a str,
}

impl Poll<'_> {
    /// Polls the token endpoint until it answers an ID token or a final refusal.
    async fn until_done(&self, mut interval: u64) -> anyhow::Result<String> {
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let form = [("grant_type", DEVICE_GRANT), ("device_code", self.device_code), ("client_id", self.client_id)];
            let response = self
                .client
                .post(self.token_endpoint.clone())
                .form(&form)
                .send()
                .await
                .with_context(|| format!("calling {}", self.token_endpoint))?;
            let status = response.status();
            let answer: Map<String, Value> = response.json().await.unwrap_or_default();
            if status.is_success() {
                return answer
                    .get("id_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .context("the token response has no id_token (is `openid` among the provider's scopes?)");
            }
            match answer.get("error").and_then(Value::as_str) {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                Some("access_denied") => bail!("the sign-in was denied at the provider"),
                Some("expired_token") => bail!("the device code expired; run `tollgate admin login --device` again"),
                _ => bail!("the provider's token endpoint answered HTTP {} {}", status.as_u16(), error_of(&answer)),
            }
        }
    }
}

/// `error: description` of an OAuth error answer, shortened for a terminal.
fn error_of(answer: &Map<String, Value>) -> String {
    let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or_default();
    let joined = format!("{} {}", text("error"), text("error_description"));
    joined.trim().chars().filter(|c| !c.is_control()).take(300).collect()
}

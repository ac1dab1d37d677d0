//! Bounded HTTP fetches from issuers: OIDC discovery documents and JWKS.
//!
//! Owns the outbound HTTP clients and every limit on them: a response size cap, one overall timeout, redirects
//! re-validated (https only; plain http only to a loopback host), no proxies. On the public network (every
//! issuer unless `allow_private_network: true`) https never reaches a loopback, private, link-local or
//! otherwise non-public address (`network`: IP literals are refused before connecting, names are checked on
//! the addresses they resolve to, the very ones connected to). It parses nothing: discovery documents are
//! parsed by `discovery`, key sets by `jwks`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url, redirect};

use super::discovery::parse_discovery;
use super::jwks::{JwksError, KeySet};
use super::network::{Network, PublicResolver, reaches_allowed_host};

/// Why a fetch from an issuer failed. Every variant leaves the last good key set in place.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("URL {0:?} is not allowed: only https, or http to a loopback host")]
    InsecureUrl(String),
    #[error(
        "URL {0:?} points to a loopback, private or link-local address (set allow_private_network: true on the issuer to allow it)"
    )]
    PrivateAddress(String),
    #[error("request to {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("discovery document from {url} is invalid: {reason}")]
    Discovery { url: String, reason: String },
    #[error("key set from {url} is unusable: {source}")]
    Jwks { url: String, source: JwksError },
    #[error("fetching keys timed out after {0} s")]
    TimedOut(u64),
    #[error("reading {path}: {reason}")]
    File { path: String, reason: String },
}

/// A fetched key set and how long the issuer said it may be cached.
#[derive(Debug)]
pub struct FetchedKeys {
    pub keys: KeySet,
    pub max_age_secs: Option<u64>,
}

/// The outbound HTTP clients for issuer metadata, one per [`Network`].
#[derive(Clone, Debug)]
pub struct Fetcher {
    public: reqwest::Client,
    private: reqwest::Client,
    /// For form POSTs (token requests): redirects never followed, so a code and verifier go to one URL only.
    post_public: reqwest::Client,
    post_private: reqwest::Client,
    max_bytes: usize,
}

impl Fetcher {
    pub fn new(timeout: Duration, max_bytes: usize) -> Result<Self, FetchError> {
        Ok(Self {
            public: client(timeout, Network::Public, true)?,
            private: client(timeout, Network::Private, true)?,
            post_public: client(timeout, Network::Public, false)?,
            post_private: client(timeout, Network::Private, false)?,
            max_bytes,
        })
    }

    /// Reads `{issuer}/.well-known/openid-configuration` and returns its `jwks_uri`, after checking that the
    /// document names the same issuer and that the URI is allowed.
    pub async fn discover_jwks_uri(&self, issuer: &str, network: Network) -> Result<String, FetchError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let (body, _) = self.get(&url, network).await?;
        parse_discovery(&body, issuer, &url)
    }

    /// Fetches and parses a JWKS.
    pub async fn fetch_jwks(&self, uri: &str, network: Network) -> Result<FetchedKeys, FetchError> {
        let (body, cache_control) = self.get(uri, network).await?;
        let keys = KeySet::parse(&body).map_err(|source| FetchError::Jwks { url: uri.into(), source })?;
        Ok(FetchedKeys { keys, max_age_secs: cache_control.as_deref().and_then(max_age) })
    }

    /// The discovery document of `issuer`, whole (the operator plane needs its endpoints), after checking that
    /// it names the same issuer.
    pub async fn discovery_document(&self, issuer: &str, network: Network) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let (body, _) = self.get(&url, network).await?;
        parse_discovery(&body, issuer, &url)?;
        Ok(body)
    }

    /// POSTs a form (an OAuth token request) under the same rules as every fetch; returns the status and the
    /// body, whatever the status (OAuth errors come as 400 with a JSON body).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        network: Network,
    ) -> Result<(u16, Vec<u8>), FetchError> {
        let parsed = self.checked(url, network)?;
        let transport = |e: reqwest::Error| FetchError::Transport { url: url.to_owned(), reason: error_chain(&e) };
        let client = match network {
            Network::Public => &self.post_public,
            Network::Private => &self.post_private,
        };
        let mut request = client.post(parsed).form(form);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        Ok((status, self.read_capped(url, response).await?))
    }

    fn checked(&self, url: &str, network: Network) -> Result<Url, FetchError> {
        let parsed = parse_allowed(url)?;
        if !reaches_allowed_host(&parsed, network) {
            return Err(FetchError::PrivateAddress(url.to_owned()));
        }
        Ok(parsed)
    }

    fn client(&self, network: Network) -> &reqwest::Client {
        match network {
            Network::Public => &self.public,
            Network::Private => &self.private,
        }
    }

    /// GET with the size cap; returns the body and the `Cache-Control` header.
    async fn get(&self, url: &str, network: Network) -> Result<(Vec<u8>, Option<String>), FetchError> {
        let parsed = self.checked(url, network)?;
        let transport = |e: reqwest::Error| FetchError::Transport { url: url.to_owned(), reason: error_chain(&e) };
        let response = self.client(network).get(parsed).send().await.map_err(transport)?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status { url: url.into(), status: response.status().as_u16() });
        }
        let cache_control =
            response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok((self.read_capped(url, response).await?, cache_control))
    }

    /// The body, at most `max_bytes` (checked on Content-Length and while streaming).
    async fn read_capped(&self, url: &str, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let transport = |e: reqwest::Error| FetchError::Transport { url: url.to_owned(), reason: error_chain(&e) };
        let too_large = || FetchError::TooLarge { url: url.into(), limit: self.max_bytes };
        if response.content_length().is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn client(timeout: Duration, network: Network, follow_redirects: bool) -> Result<reqwest::Client, FetchError> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")));
    let mut builder = if !follow_redirects {
        builder.redirect(redirect::Policy::none())
    } else {
        builder.redirect(redirect::Policy::custom(move |attempt| {
            let downgrade =
                attempt.previous().iter().any(|u| u.scheme() == "https") && attempt.url().scheme() != "https";
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if !is_allowed_url(attempt.url()) || downgrade {
                let refused = attempt.url().to_string();
                attempt.error(FetchError::InsecureUrl(refused))
            } else if !reaches_allowed_host(attempt.url(), network) {
                let refused = attempt.url().to_string();
                attempt.error(FetchError::PrivateAddress(refused))
            } else {
                attempt.follow()
            }
        }))
    };
    if network == Network::Public {
        builder = builder.dns_resolver(Arc::new(PublicResolver));
    }
    builder.build().map_err(|e| FetchError::Transport { url: String::new(), reason: e.to_string() })
}

/// Reads a static JWKS file (air-gapped issuers, captured tokens in tests).
pub fn read_jwks_file(path: &std::path::Path, max_bytes: usize) -> Result<KeySet, FetchError> {
    let file_error = |reason: String| FetchError::File { path: path.display().to_string(), reason };
    let meta = std::fs::metadata(path).map_err(|e| file_error(e.to_string()))?;
    if meta.len() > max_bytes as u64 {
        return Err(file_error(format!("larger than {max_bytes} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    KeySet::parse(&bytes).map_err(|e| file_error(e.to_string()))
}

/// https anywhere; http only to 127.0.0.0/8, ::1 or `localhost`. No credentials in URLs.
pub fn is_allowed_url(url: &Url) -> bool {
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// Parses and checks a URL against `is_allowed_url`.
pub fn parse_allowed(text: &str) -> Result<Url, FetchError> {
    Url::parse(text).ok().filter(is_allowed_url).ok_or_else(|| FetchError::InsecureUrl(text.to_owned()))
}

/// `max-age` from a `Cache-Control` header; `no-store`/`no-cache` mean zero (the configured minimum applies).
pub fn max_age(header: &str) -> Option<u64> {
    let mut result = None;
    for directive in header.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            result = value.trim_matches('"').parse().ok();
        }
    }
    result
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        for ok in [
            "https://token.actions.githubusercontent.com",
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert!(parse_allowed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/jwks",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "not a url",
            "http://127.0.0.1.nip.io/",
        ] {
            assert!(parse_allowed(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_private_jwks_uri_is_refused_before_connecting() {
        // Loopback only: were the check broken, the attempt would stay on this machine.
        let fetcher = Fetcher::new(Duration::from_secs(1), 1024).unwrap();
        for url in ["https://127.0.0.1:9/jwks", "https://[::1]:9/", "https://localhost:9/"] {
            let error = fetcher.fetch_jwks(url, Network::Public).await.unwrap_err();
            assert!(matches!(error, FetchError::PrivateAddress(_)), "{url}: {error}");
        }
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=3600"), Some(3600));
        assert_eq!(max_age("max-age=\"60\", must-revalidate"), Some(60));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=-5"), None);
    }
}

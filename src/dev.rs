//! Dev mode's embedded CI issuer: mints GitHub- and Semaphore-shaped OIDC tokens with an ephemeral key, so a
//! newcomer can run a real exchange with no CI system at hand.
//!
//! Exists only when `tollgate serve --dev` is given (never from a config file). Tollgate verifies its tokens
//! exactly as it verifies any issuer's: discovery and JWKS over HTTP, from its own `/dev/issuer/...` routes.

use serde_json::{Map, Value, json};

use crate::clock::UnixTime;
use crate::credentials::{KeyError, SigningAlg, SigningKey};

/// The shapes the dev issuer can mint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevProvider {
    Github,
    Semaphore,
}

/// What `POST /dev/token` asks for.
pub struct DevTokenRequest {
    pub provider: DevProvider,
    /// Default: `tollgate` for GitHub-shaped tokens; the organisation's URL, `https://<org>.semaphoreci.com`,
    /// for Semaphore-shaped ones (as real Semaphore tokens have; it does not depend on where dev mode listens).
    pub audience: Option<String>,
    pub ttl_secs: u32,
    /// Overrides of the provider's default claims (any claim, even `iss`, to try out rejections).
    pub claims: Map<String, Value>,
}

pub struct DevIssuer {
    key: SigningKey,
    base_url: String,
    /// Numbers the tokens minted, so each has its own `jti` (single-use roles record them).
    minted: std::sync::atomic::AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("dev issuer key: {0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Invalid(String),
}

impl DevIssuer {
    /// `base_url` is Tollgate's own issuer URL; dev issuers live under `{base_url}/dev/issuer/`.
    pub fn generate(base_url: &str) -> Result<Self, DevError> {
        Ok(Self {
            key: SigningKey::generate(SigningAlg::Rs256)?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            minted: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn github_issuer(&self) -> String {
        format!("{}/dev/issuer/github", self.base_url)
    }

    pub fn semaphore_issuer(&self, org: &str) -> String {
        format!("{}/dev/issuer/semaphore/{org}", self.base_url)
    }

    /// The discovery document for one of the dev issuer URLs.
    pub fn discovery(&self, issuer: &str) -> Value {
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.key.alg().as_str()],
        })
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [Value::Object(self.key.public_jwk().clone())] })
    }

    pub fn mint(&self, request: DevTokenRequest, now: UnixTime) -> Result<String, DevError> {
        if !(1..=3600).contains(&request.ttl_secs) {
            return Err(DevError::Invalid("ttl_seconds must be 1..3600".into()));
        }
        let mut claims = match request.provider {
            DevProvider::Github => github_defaults(),
            DevProvider::Semaphore => semaphore_defaults(),
        };
        let given_sub = request.claims.contains_key("sub");
        claims.extend(request.claims);
        let org = claims.get("org").and_then(Value::as_str).unwrap_or("acme").to_owned();
        let iss = match request.provider {
            DevProvider::Github => self.github_issuer(),
            DevProvider::Semaphore => self.semaphore_issuer(&org),
        };
        if !given_sub {
            claims.insert("sub".into(), Value::String(derive_sub(request.provider, &claims)));
        }
        let standard = json!({
            "aud": request.audience.unwrap_or_else(|| match request.provider {
                DevProvider::Github => "tollgate".to_owned(),
                DevProvider::Semaphore => format!("https://{org}.semaphoreci.com"),
            }),
            "iss": iss, "iat": now.as_secs(), "nbf": now.as_secs(),
            "exp": now.plus_secs(i64::from(request.ttl_secs)).as_secs(),
            "jti": format!(
                "dev-{}-{}",
                self.key.kid().get(..8).unwrap_or_default(),
                self.minted.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        });
        // Claims given explicitly (even `iss` or `exp`, to try out rejections) win over the computed ones.
        if let Value::Object(standard) = standard {
            for (name, value) in standard {
                claims.entry(name).or_insert(value);
            }
        }
        Ok(self.key.sign(&claims)?)
    }
}

fn github_defaults() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "repository": "acme/web", "repository_id": "2000", "repository_owner": "acme",
        "repository_owner_id": "1000", "ref": "refs/heads/main", "ref_type": "branch", "ref_protected": "true",
        "sha": "0000000000000000000000000000000000000000", "event_name": "push", "workflow": "deploy",
        "job_workflow_ref": "acme/web/.github/workflows/deploy.yml@refs/heads/main", "actor": "dev",
        "run_id": "1", "run_number": "1", "run_attempt": "1", "runner_environment": "github-hosted",
    }) else {
        return Map::new();
    };
    map
}

fn semaphore_defaults() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "org": "acme", "org_id": "7f3c1a52-2d0a-4a8e-9b1e-3f1c8a0b5d11", "prj": "web",
        "prj_id": "0b2f6a8e-5c41-4d7b-a0c9-1e2d3f4a5b6c", "repo": "web", "repo_slug": "acme/web",
        "branch": "main", "pr_branch": "", "ref": "refs/heads/main", "ref_type": "branch", "tag": "",
        "wf_id": "a1", "ppl_id": "b2", "job_id": "c3", "job_type": "pipeline_job", "trg": "push",
    }) else {
        return Map::new();
    };
    map
}

fn derive_sub(provider: DevProvider, claims: &Map<String, Value>) -> String {
    let get = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    match provider {
        DevProvider::Github => match claims.get("environment").and_then(Value::as_str) {
            Some(env) => format!("repo:{}:environment:{env}", get("repository")),
            None => format!("repo:{}:ref:{}", get("repository"), get("ref")),
        },
        DevProvider::Semaphore => format!(
            "org:{}:project:{}:repo:{}:ref_type:{}:ref:{}",
            get("org"),
            get("prj_id"),
            get("repo"),
            get("ref_type"),
            get("ref")
        ),
    }
}

//! Runner credentials, for CI systems with no OIDC of their own (self-hosted Jenkins, on-prem runners): an admin
//! creates one (`tgr_…`, shown once, stored as its SHA-256), may rotate it (a new secret, the same runner) and
//! deletes it; a runner exchanges it at `/exchange` as a bearer credential. Every exchange looks the digest up in
//! the store, so a deleted or rotated credential fails at once on every replica.
//!
//! To the broker a runner is an identity of the built-in issuer `tollgate-runners` with the claims `sub`
//! (`runner:NAME`), `runner_id`, `name`, `labels` and `created_by`, which trust policies pin like any claim.
//! Each exchange gets a fresh `jti`: the credential is meant to be used many times, and revocations (by
//! `runner_id`, by role…) apply as to any identity.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::secret::{Secret, SecretKind, sha256_hex};
use super::{OperatorError, Operators, RUNNERS_ISSUER};
use crate::clock::UnixTime;
use crate::store::{NEVER, Record};

/// The most runners listed at once.
const LIST_LIMIT: u32 = 10_000;

/// How long a runner identity lasts within one exchange (it caps nothing but the issued token's `cap_at_inbound_exp`).
pub const RUNNER_IDENTITY_SECS: i64 = 3600;

/// What an admin asks for.
#[derive(Clone, Debug)]
pub struct NewRunner {
    pub name: String,
    pub labels: Vec<String>,
    pub expires_at: Option<UnixTime>,
}

/// A runner, as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runner {
    pub id: String,
    pub name: String,
    pub labels: Vec<String>,
    pub created_by: String,
    #[serde(skip)]
    pub created_at: UnixTime,
    /// `None`: until deleted.
    #[serde(skip)]
    pub expires_at: Option<UnixTime>,
    pub rotated_at: Option<i64>,
}

/// A runner as the broker sees it: an identity Tollgate vouches for.
#[derive(Clone, Debug)]
pub struct RunnerIdentity {
    pub issuer_name: &'static str,
    pub iss: String,
    pub sub: String,
    pub jti: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub claims: Map<String, Value>,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Runner {
    fn from_record(record: Record) -> Result<Runner, OperatorError> {
        let mut runner: Runner = serde_json::from_str(&record.body)
            .map_err(|e| OperatorError::BadRequest(format!("runner {} is unreadable: {e}", record.id)))?;
        runner.created_at = record.created_at;
        runner.expires_at = (record.expires_at != NEVER).then_some(record.expires_at);
        Ok(runner)
    }
}

impl Operators {
    /// Creates a runner credential; the secret is returned once.
    pub async fn create_runner(&self, new: NewRunner, created_by: &str) -> Result<(Runner, Secret), OperatorError> {
        let now = self.clock.now();
        if !valid_name(&new.name) {
            return Err(OperatorError::BadRequest("name: 1-64 of A-Z a-z 0-9 . _ -".into()));
        }
        if new.labels.len() > 64 || new.labels.iter().any(|label| label.is_empty() || label.len() > 128) {
            return Err(OperatorError::BadRequest("labels: at most 64, each 1-128 characters".into()));
        }
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(OperatorError::BadRequest("expires_at: must be in the future".into()));
        }
        if self.list_runners().await?.iter().any(|runner| runner.name == new.name) {
            return Err(OperatorError::BadRequest(format!("a runner named {:?} exists", new.name)));
        }
        let secret = Secret::generate(SecretKind::Runner).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        let id = format!("r-{}", sha256_hex(secret.digest().as_bytes()).chars().take(12).collect::<String>());
        let runner = Runner {
            id,
            name: new.name,
            labels: new.labels,
            created_by: created_by.to_owned(),
            created_at: now,
            expires_at: new.expires_at,
            rotated_at: None,
        };
        let body = serde_json::to_string(&runner).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        let expires_at = runner.expires_at.unwrap_or(NEVER);
        let record = Record { id: runner.id.clone(), lookup: secret.digest(), body, created_at: now, expires_at };
        match self.store.add_runner(&record).await {
            Err(crate::store::StoreError::Duplicate(_)) => {
                Err(OperatorError::BadRequest(format!("a runner named {:?} exists", runner.name)))
            }
            added => added.map(|()| (runner, secret)).map_err(OperatorError::from),
        }
    }

    /// Every runner in force.
    pub async fn list_runners(&self) -> Result<Vec<Runner>, OperatorError> {
        let records = self.store.list_runners(self.clock.now(), LIST_LIMIT).await?;
        records.into_iter().map(Runner::from_record).collect()
    }

    /// A new secret for an existing runner; the old one stops working at once.
    pub async fn rotate_runner(&self, id: &str) -> Result<(Runner, Secret), OperatorError> {
        let mut runner = self
            .list_runners()
            .await?
            .into_iter()
            .find(|runner| runner.id == id)
            .ok_or_else(|| OperatorError::NotFound(format!("runner {id:?}")))?;
        runner.rotated_at = Some(self.clock.now().as_secs());
        let secret = Secret::generate(SecretKind::Runner).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        let body = serde_json::to_string(&runner).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        if !self.store.replace_runner(id, &secret.digest(), &body).await? {
            return Err(OperatorError::NotFound(format!("runner {id:?}")));
        }
        Ok((runner, secret))
    }

    /// Deletes a runner credential: refused at once on every replica.
    pub async fn delete_runner(&self, id: &str) -> Result<(), OperatorError> {
        if self.store.delete_runner(id).await? {
            Ok(())
        } else {
            Err(OperatorError::NotFound(format!("runner {id:?}")))
        }
    }

    /// The identity a presented runner credential proves, if it is well formed, known and unexpired; `None`
    /// when it is not a runner credential at all. `issuer_url` is Tollgate's, which vouches for it.
    pub async fn runner_identity(
        &self,
        presented: &str,
        issuer_url: &str,
        now: UnixTime,
    ) -> Result<RunnerIdentity, OperatorError> {
        let secret = Secret::parse(SecretKind::Runner, presented)
            .map_err(|_| OperatorError::Unauthenticated("not a Tollgate runner credential"))?;
        let record = self
            .store
            .runner_by_digest(&secret.digest(), now)
            .await?
            .ok_or(OperatorError::Unauthenticated("unknown, deleted, rotated or expired runner credential"))?;
        let runner = Runner::from_record(record)?;
        let jti = Secret::generate(SecretKind::Runner).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        let exp = runner
            .expires_at
            .map_or(now.plus_secs(RUNNER_IDENTITY_SECS), |at| at.min(now.plus_secs(RUNNER_IDENTITY_SECS)));
        let sub = format!("runner:{}", runner.name);
        let iss = format!("{issuer_url}/runners");
        let claims = json!({
            "iss": iss, "sub": sub, "aud": RUNNERS_ISSUER, "iat": now.as_secs(), "exp": exp.as_secs(),
            "runner_id": runner.id, "name": runner.name, "labels": runner.labels, "created_by": runner.created_by,
        });
        let Value::Object(claims) = claims else { return Err(OperatorError::BadRequest("claims".into())) };
        Ok(RunnerIdentity {
            issuer_name: RUNNERS_ISSUER,
            iss,
            sub,
            jti: sha256_hex(jti.digest().as_bytes()).chars().take(32).collect(),
            iat: now,
            exp,
            claims,
        })
    }
}

//! Token verification: `RawToken` in, `VerifiedToken` out. The only place inbound JWT payloads are decoded.
//!
//! Order: split and refuse unsupported headers; read the unverified `iss` only to select a configured issuer;
//! check `alg` against that issuer's allow-list; select the key by `kid` among its cached keys (one bounded
//! refresh for an unknown `kid`); check the signature; then the registered claims against `now` with leeway.
//! jsonwebtoken is used only for the signature primitive, so it reads no clock here.

mod claims;
mod token;

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

pub use claims::{ClaimRules, VerifiedToken};
pub use token::{MAX_TOKEN_BYTES, RawToken};

use crate::clock::UnixTime;
use crate::issuers::{Issuers, KeyError, KeyMatch, KeySet, Profile, VerifyKey, known_alg};
use crate::text::shorten;
use token::Jws;

/// Why a token was refused. Display texts are safe to show a client: they never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("encrypted or nested tokens (JWE) are not accepted")]
    Encrypted,
    #[error("the header parameter {0:?} is not accepted")]
    UnsupportedHeader(&'static str),
    #[error("algorithm {0:?} is not allowed for this issuer")]
    AlgorithmNotAllowed(String),
    #[error("issuer {0:?} is not trusted")]
    UnknownIssuer(String),
    #[error("the signing key was not found: {0}")]
    Key(#[from] KeyError),
    #[error("the key selected by kid cannot verify algorithm {0:?}")]
    KeyAlgorithmMismatch(String),
    #[error("the signature is invalid")]
    BadSignature,
    #[error("the token expired at {exp}")]
    Expired { exp: UnixTime },
    #[error("the token is not valid before {nbf}")]
    NotYetValid { nbf: UnixTime },
    #[error("the token was issued in the future ({iat})")]
    IssuedInFuture { iat: UnixTime },
    #[error("the claim {0:?} is missing")]
    MissingClaim(&'static str),
    #[error("the claim {0:?} {1}")]
    InvalidClaim(&'static str, &'static str),
    #[error("the token's audience is not accepted by this issuer's configuration")]
    AudienceNotAccepted,
    #[error("the token's validity window is invalid: {0}")]
    InvalidWindow(&'static str),
    #[error("the token's lifetime (exp - iat = {lifetime} s) is longer than this issuer allows ({max} s)")]
    LifetimeTooLong { lifetime: i64, max: i64 },
}

impl VerifyError {
    /// True when the failure is ours (issuer keys unreachable), not the token's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, VerifyError::Key(KeyError::Unavailable(_)))
    }
}

/// Verifies tokens against the trusted issuers.
pub struct Verifier {
    issuers: Arc<Issuers>,
}

impl Verifier {
    pub fn new(issuers: Arc<Issuers>) -> Self {
        Self { issuers }
    }

    pub fn issuers(&self) -> &Arc<Issuers> {
        &self.issuers
    }

    pub async fn verify(&self, token: &RawToken, now: UnixTime) -> Result<VerifiedToken, VerifyError> {
        self.verify_from(token, now, None).await
    }

    /// Verifies a token sent from `client` (its address counts against the budget of new template issuers).
    pub async fn verify_from(
        &self,
        token: &RawToken,
        now: UnixTime,
        client: Option<&str>,
    ) -> Result<VerifiedToken, VerifyError> {
        let jws = Jws::split(token)?;
        let untrusted = payload_object(&jws.payload)?;
        let iss = match untrusted.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(VerifyError::InvalidClaim("iss", "must be a string")),
            None => return Err(VerifyError::MissingClaim("iss")),
        };
        let selected = self.issuers.select(iss).ok_or_else(|| VerifyError::UnknownIssuer(shorten(iss)))?;
        let issuer = &selected.issuer;
        let alg = allowed_alg(&jws.header.alg, &issuer.algorithms)?;
        let keys = self.issuers.keys(&selected, now, client).await?;
        let key = keys.key_for(self.issuers.fetcher(), jws.header.kid.as_deref(), now).await?;
        check_signature(&jws, &key, alg)?;
        let placeholder_claim = issuer.profile.and_then(Profile::placeholder_claim);
        let rules = ClaimRules {
            issuer_name: &issuer.name,
            iss: selected.url(),
            audiences: &issuer.audiences,
            leeway_secs: issuer.leeway_secs,
            max_lifetime_secs: issuer.max_lifetime_secs,
            placeholder: placeholder_claim.zip(selected.template_value()),
        };
        let verified = claims::check(untrusted, &rules, now)?.with_kid(jws.header.kid.clone());
        let (tenancy, template_value) = selected.into_tenancy();
        Ok(verified.with_tenancy(tenancy, template_value))
    }
}

/// Offline verification against a given key set (`tollgate verify --jwks`, tests). `rules.iss` is matched exactly.
pub fn verify_with_keys(
    token: &RawToken,
    keys: &KeySet,
    algorithms: &[Algorithm],
    rules: &ClaimRules<'_>,
    now: UnixTime,
) -> Result<VerifiedToken, VerifyError> {
    let jws = Jws::split(token)?;
    let alg = allowed_alg(&jws.header.alg, algorithms)?;
    let key = match keys.find(jws.header.kid.as_deref()) {
        KeyMatch::Found(key) => key,
        KeyMatch::UnknownKid => {
            return Err(KeyError::UnknownKid(shorten(jws.header.kid.as_deref().unwrap_or_default())).into());
        }
        KeyMatch::KidRequired => return Err(KeyError::KidRequired.into()),
    };
    check_signature(&jws, &key, alg)?;
    Ok(claims::check(payload_object(&jws.payload)?, rules, now)?.with_kid(jws.header.kid.clone()))
}

/// Checks only the header and signature of a compact JWS (Wycheproof vectors): returns the payload bytes.
pub fn verify_signature_only(
    token: &RawToken,
    keys: &KeySet,
    algorithms: &[Algorithm],
) -> Result<Vec<u8>, VerifyError> {
    let jws = Jws::split(token)?;
    let alg = allowed_alg(&jws.header.alg, algorithms)?;
    let KeyMatch::Found(key) = keys.find(jws.header.kid.as_deref()) else {
        return Err(KeyError::UnknownKid(shorten(jws.header.kid.as_deref().unwrap_or_default())).into());
    };
    check_signature(&jws, &key, alg)?;
    Ok(jws.payload)
}

fn allowed_alg(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, VerifyError> {
    known_alg(name).filter(|alg| allowed.contains(alg)).ok_or_else(|| VerifyError::AlgorithmNotAllowed(shorten(name)))
}

fn check_signature(jws: &Jws<'_>, key: &VerifyKey, alg: Algorithm) -> Result<(), VerifyError> {
    if !key.allows(alg) {
        return Err(VerifyError::KeyAlgorithmMismatch(format!("{alg:?}")));
    }
    match key.verifies(alg, jws.signing_input, &jws.signature) {
        true => Ok(()),
        false => Err(VerifyError::BadSignature),
    }
}

fn payload_object(payload: &[u8]) -> Result<Map<String, Value>, VerifyError> {
    match serde_json::from_slice(payload) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(VerifyError::Malformed("the payload is not a JSON object".into())),
    }
}

/// The payload of a token, *unverified*: for the offline CLI to choose what to check against. Never used to
/// decide anything in the exchange path.
pub fn unverified_claims(token: &RawToken) -> Result<Map<String, Value>, VerifyError> {
    payload_object(&Jws::split(token)?.payload)
}

/// The `aud` claim as a list of strings (empty when absent or malformed).
pub fn audience_values(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(values)) => values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

//! Minting Tollgate tokens: standard claims, TTL ceilings, `jti`, `act`, and the published JWKS.

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::keys::{KeyError, SigningKey};
use crate::clock::UnixTime;

/// Limits on minted tokens (config `tokens:`).
#[derive(Clone, Debug)]
pub struct MinterConfig {
    /// Tollgate's own `iss`.
    pub issuer_url: String,
    /// No minted token lives longer than this, whatever a grant says.
    pub max_ttl_secs: u32,
    /// Also end minted tokens no later than the inbound token's `exp`.
    pub cap_at_inbound_exp: bool,
}

/// What the broker asks to be minted.
pub struct TokenRequest {
    pub subject: String,
    pub audience: String,
    pub ttl_secs: u32,
    /// The inbound token's `exp`, for `cap_at_inbound_exp`.
    pub inbound_exp: UnixTime,
    /// `act` (RFC 8693 §4.1): who the CI identity is.
    pub actor_iss: String,
    pub actor_sub: String,
    pub role: String,
    /// Claims mapped by the grant; reserved names were refused when the policy loaded.
    pub extra: Map<String, Value>,
}

/// Why minting failed: always our fault, never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("signing failed: {0}")]
    Key(#[from] KeyError),
    #[error("the system random generator failed")]
    Random,
}

#[derive(Debug)]
pub struct Minted {
    pub token: String,
    pub jti: String,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

struct KeyRing {
    active: SigningKey,
    previous: Vec<SigningKey>,
}

/// Signs Tollgate tokens with the active key; publishes active and previous keys.
pub struct Minter {
    config: MinterConfig,
    ring: ArcSwap<KeyRing>,
}

impl Minter {
    pub fn new(config: MinterConfig, active: SigningKey, previous: Vec<SigningKey>) -> Self {
        Self {
            config,
            ring: ArcSwap::from_pointee(KeyRing { active, previous }),
        }
    }

    pub fn config(&self) -> &MinterConfig {
        &self.config
    }

    pub fn issuer_url(&self) -> &str {
        &self.config.issuer_url
    }

    /// The signing algorithm of the active key, as a JOSE name.
    pub fn active_alg(&self) -> &'static str {
        self.ring.load().active.alg().as_str()
    }

    pub fn mint(&self, request: TokenRequest, now: UnixTime) -> Result<Minted, MintError> {
        let ttl = request.ttl_secs.min(self.config.max_ttl_secs).max(1);
        let mut expires_at = now.plus_secs(i64::from(ttl));
        if self.config.cap_at_inbound_exp && request.inbound_exp < expires_at {
            expires_at = request.inbound_exp.max(now.plus_secs(1));
        }
        let jti = random_id()?;
        let mut claims = request.extra;
        let standard = json!({
            "iss": self.config.issuer_url,
            "sub": request.subject,
            "aud": request.audience,
            "iat": now.as_secs(),
            "nbf": now.as_secs(),
            "exp": expires_at.as_secs(),
            "jti": jti,
            "act": {"iss": request.actor_iss, "sub": request.actor_sub},
            "role": request.role,
        });
        if let Value::Object(standard) = standard {
            claims.extend(standard);
        }
        let token = self.ring.load().active.sign(&claims)?;
        Ok(Minted {
            token,
            jti,
            issued_at: now,
            expires_at,
        })
    }

    /// The public JWKS: active key first, then previous keys still within their publication window.
    pub fn jwks(&self) -> Value {
        let ring = self.ring.load();
        let keys: Vec<Value> = std::iter::once(&ring.active)
            .chain(ring.previous.iter())
            .map(|key| Value::Object(key.public_jwk().clone()))
            .collect();
        json!({ "keys": keys })
    }

    /// The OpenID Provider metadata (OIDC Discovery 1.0 §3) for Tollgate as an issuer.
    pub fn discovery(&self) -> Value {
        let issuer = &self.config.issuer_url;
        let ring = self.ring.load();
        let mut algs: Vec<&str> = std::iter::once(&ring.active)
            .chain(ring.previous.iter())
            .map(|k| k.alg().as_str())
            .collect();
        algs.dedup();
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "token_endpoint": format!("{issuer}/exchange"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "act", "role"],
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        })
    }
}

/// 128 random bits, base64url.
fn random_id() -> Result<String, MintError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| MintError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

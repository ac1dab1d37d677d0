//! Minting Tollgate tokens: standard claims, TTL ceilings, `jti`, `act`, and the published JWKS.

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::keys::{KeyError, SigningKey};
use crate::clock::UnixTime;

/// How long relying parties may cache Tollgate's JWKS (`Cache-Control: max-age` on `/.well-known/jwks.json`).
pub const JWKS_MAX_AGE_SECS: i64 = 300;

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

/// A key that signed tokens before the active one; published until every token it could have signed expired.
pub struct PreviousKey {
    pub key: SigningKey,
    /// When it stopped signing.
    pub retired_at: UnixTime,
}

/// A published key and its state, for operators (metrics, logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    pub kid: String,
    pub alg: &'static str,
    pub state: &'static str,
}

struct KeyRing {
    active: SigningKey,
    previous: Vec<PreviousKey>,
    /// Published ahead of signing (a rotation in progress), so relying parties know a key before any token
    /// carries it.
    next: Vec<SigningKey>,
}

/// Signs Tollgate tokens with the active key; publishes active and previous keys.
pub struct Minter {
    config: MinterConfig,
    ring: ArcSwap<KeyRing>,
}

impl Minter {
    pub fn new(config: MinterConfig, active: SigningKey, previous: Vec<PreviousKey>) -> Self {
        Self::with_next(config, active, previous, Vec::new())
    }

    /// A minter that also publishes `next` keys ahead of signing with them (a rotation in progress).
    pub fn with_next(
        config: MinterConfig,
        active: SigningKey,
        previous: Vec<PreviousKey>,
        next: Vec<SigningKey>,
    ) -> Self {
        Self { config, ring: ArcSwap::from_pointee(KeyRing { active, previous, next }) }
    }

    /// Replaces the whole key ring at once (store-managed keys: `keyring`); tokens in flight keep theirs.
    pub fn replace_ring(&self, active: SigningKey, previous: Vec<PreviousKey>, next: Vec<SigningKey>) {
        self.ring.store(std::sync::Arc::new(KeyRing { active, previous, next }));
    }

    /// The `kid`s of the ring: active, then previous, then next (to tell whether a reload changed anything).
    pub fn ring_kids(&self) -> Vec<String> {
        let ring = self.ring.load();
        std::iter::once(ring.active.kid())
            .chain(ring.previous.iter().map(|p| p.key.kid()))
            .chain(ring.next.iter().map(SigningKey::kid))
            .map(str::to_owned)
            .collect()
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
        let claims = Claims {
            iss: &self.config.issuer_url,
            sub: &request.subject,
            aud: &request.audience,
            iat: now.as_secs(),
            nbf: now.as_secs(),
            exp: expires_at.as_secs(),
            jti: &jti,
            act: Actor { iss: &request.actor_iss, sub: &request.actor_sub },
            role: &request.role,
            extra: Extra(&request.extra),
        };
        let token = self.ring.load().active.sign(&claims)?;
        Ok(Minted { token, jti, issued_at: now, expires_at })
    }

    /// The keys to publish at `now`: the active key, then each previous key while a token it signed could still
    /// be valid (its retirement plus the longest TTL any minted token can have).
    fn published<'r>(&self, ring: &'r KeyRing, now: UnixTime) -> Vec<(&'r SigningKey, &'static str)> {
        let window = i64::from(self.config.max_ttl_secs);
        std::iter::once((&ring.active, "active"))
            .chain(ring.previous.iter().filter(|p| now <= p.retired_at.plus_secs(window)).map(|p| (&p.key, "previous")))
            .chain(ring.next.iter().map(|key| (key, "next")))
            .collect()
    }

    /// The public JWKS at `now`.
    pub fn jwks(&self, now: UnixTime) -> Value {
        let ring = self.ring.load();
        let keys: Vec<Value> =
            self.published(&ring, now).into_iter().map(|(key, _)| Value::Object(key.public_jwk().clone())).collect();
        json!({ "keys": keys })
    }

    /// The algorithms of the keys published at `now` (to verify our own tokens).
    pub fn published_algorithms(&self, now: UnixTime) -> Vec<jsonwebtoken::Algorithm> {
        let ring = self.ring.load();
        let mut algorithms = Vec::new();
        for (key, _) in self.published(&ring, now) {
            let alg = key.alg().to_jsonwebtoken();
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        algorithms
    }

    /// The published keys and their states at `now`.
    pub fn key_states(&self, now: UnixTime) -> Vec<KeyState> {
        let ring = self.ring.load();
        self.published(&ring, now)
            .into_iter()
            .map(|(key, state)| KeyState { kid: key.kid().to_owned(), alg: key.alg().as_str(), state })
            .collect()
    }

    /// The OpenID Provider metadata (OIDC Discovery 1.0 §3) for Tollgate as an issuer.
    pub fn discovery(&self, now: UnixTime) -> Value {
        let issuer = &self.config.issuer_url;
        let ring = self.ring.load();
        let mut algs: Vec<&str> = Vec::new();
        for (key, _) in self.published(&ring, now) {
            if !algs.contains(&key.alg().as_str()) {
                algs.push(key.alg().as_str());
            }
        }
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

/// The payload of a minted token, serialized straight into the JWS: the standard claims, then the grant's.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: &'a str,
    act: Actor<'a>,
    role: &'a str,
    #[serde(flatten)]
    extra: Extra<'a>,
}

/// `act` (RFC 8693 §4.1).
#[derive(Serialize)]
struct Actor<'a> {
    iss: &'a str,
    sub: &'a str,
}

/// The grant's claims. A name the broker sets is left out (policies refuse them when they load; this keeps a
/// payload from ever holding one name twice).
struct Extra<'a>(&'a Map<String, Value>);

/// The names `Claims` sets itself.
const STANDARD_CLAIMS: [&str; 9] = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "act", "role"];

impl Serialize for Extra<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.0.iter().filter(|(name, _)| !STANDARD_CLAIMS.contains(&name.as_str())) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// 128 random bits, base64url.
fn random_id() -> Result<String, MintError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| MintError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::SigningAlg;

    const NOW: i64 = 1_767_225_600;

    fn minter(cap_at_inbound_exp: bool) -> Minter {
        let config =
            MinterConfig { issuer_url: "https://tollgate.example".into(), max_ttl_secs: 600, cap_at_inbound_exp };
        let previous = vec![PreviousKey {
            key: SigningKey::generate(SigningAlg::EdDsa).unwrap(),
            retired_at: UnixTime::from_secs(NOW),
        }];
        Minter::new(config, SigningKey::generate(SigningAlg::Es256).unwrap(), previous)
    }

    fn request(ttl_secs: u32, inbound_exp: i64) -> TokenRequest {
        let mut extra = Map::new();
        extra.insert("repository".into(), json!("acme/web"));
        TokenRequest {
            subject: "s".into(),
            audience: "a".into(),
            ttl_secs,
            inbound_exp: UnixTime::from_secs(inbound_exp),
            actor_iss: "https://ci".into(),
            actor_sub: "repo:acme/web".into(),
            role: "r".into(),
            extra,
        }
    }

    fn payload(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn ttl_is_capped_by_the_ceiling_and_optionally_by_the_inbound_exp() {
        let now = UnixTime::from_secs(NOW);
        let minted = minter(false).mint(request(900, NOW + 60), now).unwrap();
        assert_eq!(minted.expires_at.as_secs(), NOW + 600, "ceiling 600 beats grant 900");
        let minted = minter(false).mint(request(300, NOW + 60), now).unwrap();
        assert_eq!(minted.expires_at.as_secs(), NOW + 300);
        let minted = minter(true).mint(request(300, NOW + 60), now).unwrap();
        assert_eq!(minted.expires_at.as_secs(), NOW + 60, "capped at the inbound exp");
        let claims = payload(&minted.token);
        assert_eq!(claims["exp"], NOW + 60);
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["act"], json!({"iss": "https://ci", "sub": "repo:acme/web"}));
        assert_eq!(claims["repository"], "acme/web");
        assert_eq!(claims["jti"], minted.jti.as_str());
    }

    #[test]
    fn a_grant_claim_never_overrides_or_doubles_a_standard_one() {
        let mut asked = request(300, NOW + 600);
        asked.extra.insert("sub".into(), json!("forged"));
        asked.extra.insert("role".into(), json!("admin"));
        let minted = minter(false).mint(asked, UnixTime::from_secs(NOW)).unwrap();
        let part = minted.token.split('.').nth(1).unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
        assert!(!text.contains("forged") && !text.contains("admin"), "{text}");
        assert_eq!(text.matches("\"role\"").count(), 1, "{text}");
        let claims = payload(&minted.token);
        assert_eq!((claims["sub"].as_str(), claims["role"].as_str()), (Some("s"), Some("r")));
        assert_eq!(claims["repository"], "acme/web");
    }

    #[test]
    fn jwks_publishes_active_then_previous_keys_and_discovery_lists_their_algorithms() {
        let minter = minter(false);
        let now = UnixTime::from_secs(NOW);
        let jwks = minter.jwks(now);
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!((keys[0]["alg"].as_str(), keys[1]["alg"].as_str()), (Some("ES256"), Some("EdDSA")));
        let states: Vec<_> = minter.key_states(now).into_iter().map(|k| k.state).collect();
        assert_eq!(states, ["active", "previous"]);
        // The previous key retired at NOW; the ceiling is 600 s: published through NOW + 600, gone after.
        assert_eq!(minter.jwks(now.plus_secs(600))["keys"].as_array().unwrap().len(), 2);
        assert_eq!(minter.jwks(now.plus_secs(601))["keys"].as_array().unwrap().len(), 1);
        assert_eq!(minter.discovery(now.plus_secs(601))["id_token_signing_alg_values_supported"], json!(["ES256"]));
        let discovery = minter.discovery(now);
        assert_eq!(discovery["jwks_uri"], "https://tollgate.example/.well-known/jwks.json");
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
        let token = minter.mint(request(60, NOW + 600), UnixTime::from_secs(NOW)).unwrap().token;
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["kid"], keys[0]["kid"], "signed with the active key");
    }
}

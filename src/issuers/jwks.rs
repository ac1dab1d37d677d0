//! JSON Web Key Sets of trusted issuers: parsing a fetched or configured JWKS into verification keys.
//!
//! Owns the rules for which published keys are usable (signature keys of supported types and sizes) and how a key
//! is found by `kid`. It does no I/O and never sees a token.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::public_key::PublicKey;

/// Most keys one set may hold; real issuers publish two to five.
pub const MAX_KEYS: usize = 100;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// Why a key set could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("the key set is not valid JSON with a \"keys\" array: {0}")]
    Malformed(String),
    #[error("the key set holds no usable signature key")]
    Empty,
    #[error("the key set holds more than {MAX_KEYS} keys")]
    TooManyKeys,
}

/// The key types Tollgate can verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyFamily {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyFamily::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyFamily::EcP256 => alg == ES256,
            KeyFamily::EcP384 => alg == ES384,
            KeyFamily::Ed25519 => alg == EdDSA,
        }
    }
}

/// One public verification key.
pub struct VerifyKey {
    kid: Option<String>,
    family: KeyFamily,
    /// The JWK's own `alg`, when it names one we know; a key so marked verifies only that algorithm.
    pinned_alg: Option<Algorithm>,
    public: PublicKey,
}

impl VerifyKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// Whether this key may verify a signature made with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.family.fits(alg) && self.pinned_alg.is_none_or(|pinned| pinned == alg)
    }

    /// Whether `signature` (decoded; JOSE form) over `message` verifies with `alg`, which this key must allow.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.allows(alg) && self.public.verify(alg, message, signature)
    }
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey").field("kid", &self.kid).field("family", &self.family).finish_non_exhaustive()
    }
}

/// An issuer's usable keys, indexed by `kid`. Cloning shares the keys.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerifyKey>>,
    all: Vec<Arc<VerifyKey>>,
}

/// How a key lookup by `kid` ended.
#[derive(Debug)]
pub enum KeyMatch {
    Found(Arc<VerifyKey>),
    UnknownKid,
    /// The token names no `kid` and the set holds several keys: refusing beats guessing.
    KidRequired,
}

impl KeySet {
    /// Parses a JWKS document. Keys that are not signature keys of a supported type are skipped;
    /// a set left with no key is an error, so a broken publication never replaces a good set.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, JwksError> {
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet = serde_json::from_slice(bytes).map_err(|e| JwksError::Malformed(e.to_string()))?;
        if raw.keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys);
        }
        let mut set = KeySet::default();
        for value in raw.keys {
            if let Ok(raw_key) = serde_json::from_value::<RawJwk>(value)
                && let Some(key) = raw_key.into_key()
            {
                set.insert(key);
            }
        }
        if set.all.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(set)
    }

    fn insert(&mut self, key: VerifyKey) {
        let key = Arc::new(key);
        if let Some(kid) = key.kid.clone() {
            // First publication of a kid wins; a duplicate cannot shadow it.
            if self.by_kid.contains_key(&kid) {
                return;
            }
            self.by_kid.insert(kid, Arc::clone(&key));
        }
        self.all.push(key);
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// The `kid`s of the set, in publication order (keys without one are left out).
    pub fn kids(&self) -> Vec<String> {
        self.all.iter().filter_map(|key| key.kid.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Selects a key by the token's (untrusted) `kid`; selection is all a `kid` is ever used for.
    pub fn find(&self, kid: Option<&str>) -> KeyMatch {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(key) => KeyMatch::Found(Arc::clone(key)),
                None => KeyMatch::UnknownKid,
            },
            None => match self.all.as_slice() {
                [only] => KeyMatch::Found(Arc::clone(only)),
                _ => KeyMatch::KidRequired,
            },
        }
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
}

impl RawJwk {
    fn into_key(self) -> Option<VerifyKey> {
        if self.key_use.as_deref().is_some_and(|u| u != "sig")
            || self.key_ops.as_ref().is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
            || self.d.is_some()
        {
            return None;
        }
        let (family, public) = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => (KeyFamily::Rsa, rsa_key(self.n.as_deref()?, self.e.as_deref()?)?),
            ("EC", Some("P-256")) => (KeyFamily::EcP256, ec_key(Algorithm::ES256, &self.x?, &self.y?, 32)?),
            ("EC", Some("P-384")) => (KeyFamily::EcP384, ec_key(Algorithm::ES384, &self.x?, &self.y?, 48)?),
            ("OKP", Some("Ed25519")) => (KeyFamily::Ed25519, ed_key(&self.x?)?),
            _ => return None,
        };
        let pinned_alg = match self.alg.as_deref() {
            None => None,
            Some(name) => Some(known_alg(name).filter(|alg| family.fits(*alg))?),
        };
        Some(VerifyKey { kid: self.kid, family, pinned_alg, public })
    }
}

/// Asymmetric algorithms by their JOSE name; HMAC and `none` are not in this list, so they never verify.
pub fn known_alg(name: &str) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match name {
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        "EdDSA" => EdDSA,
        _ => return None,
    })
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn rsa_key(n: &str, e: &str) -> Option<PublicKey> {
    let modulus = decode_b64(n)?;
    let exponent = decode_b64(e)?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_RSA_MODULUS_BYTES || exponent.is_empty() || exponent.len() > 8 {
        return None;
    }
    PublicKey::rsa(&modulus, &exponent)
}

fn ec_key(alg: Algorithm, x: &str, y: &str, coordinate_len: usize) -> Option<PublicKey> {
    let (x_bytes, y_bytes) = (decode_b64(x)?, decode_b64(y)?);
    if x_bytes.len() != coordinate_len || y_bytes.len() != coordinate_len {
        return None;
    }
    PublicKey::ec(alg, &x_bytes, &y_bytes)
}

fn ed_key(x: &str) -> Option<PublicKey> {
    let x_bytes = decode_b64(x)?;
    if x_bytes.len() != 32 {
        return None;
    }
    PublicKey::ed25519(&x_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_X: &str = "04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY";
    const EC_Y: &str = "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw";

    fn ec(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": kid})
    }

    fn parse(keys: Vec<serde_json::Value>) -> Result<KeySet, JwksError> {
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn finds_keys_by_kid_and_requires_kid_when_several() {
        let set = parse(vec![ec("a"), ec("b")]).unwrap();
        assert_eq!(set.len(), 2);
        assert!(matches!(set.find(Some("b")), KeyMatch::Found(k) if k.kid() == Some("b")));
        assert!(matches!(set.find(Some("zz")), KeyMatch::UnknownKid));
        assert!(matches!(set.find(None), KeyMatch::KidRequired));
        let single = parse(vec![ec("a")]).unwrap();
        assert!(matches!(single.find(None), KeyMatch::Found(_)));
    }

    #[test]
    fn skips_unusable_keys_and_refuses_an_empty_set() {
        let unusable = vec![
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "use": "enc"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "d": "AAAA"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": EC_Y}),
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "alg": "HS256"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "key_ops": ["encrypt"]}),
            serde_json::json!("not an object"),
        ];
        assert_eq!(parse(unusable.clone()).unwrap_err(), JwksError::Empty);
        let mut with_good = unusable;
        with_good.push(ec("good"));
        assert_eq!(parse(with_good).unwrap().len(), 1);
        assert!(matches!(KeySet::parse(b"{}"), Err(JwksError::Malformed(_))));
        assert!(matches!(KeySet::parse(b"[1,2"), Err(JwksError::Malformed(_))));
    }

    #[test]
    fn a_duplicate_kid_cannot_shadow_the_first() {
        let set = parse(vec![ec("a"), ec("a")]).unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn algorithm_fits_key_family_and_pin() {
        let set = parse(vec![serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "alg": "ES256"})])
            .unwrap();
        let KeyMatch::Found(key) = set.find(None) else { panic!("key expected") };
        assert!(key.allows(Algorithm::ES256));
        assert!(!key.allows(Algorithm::RS256));
        assert!(!key.allows(Algorithm::HS256));
        assert!(known_alg("none").is_none() && known_alg("HS256").is_none());
    }

    #[test]
    fn too_many_keys_is_refused() {
        let keys = (0..=MAX_KEYS).map(|i| ec(&i.to_string())).collect();
        assert_eq!(parse(keys).unwrap_err(), JwksError::TooManyKeys);
    }
}

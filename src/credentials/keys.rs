//! Tollgate's own signing keys, as an OIDC issuer: generating them, loading them from a PEM file
//! or a private JWK, their public JWK and RFC 7638 `kid`, PKCS#8 export, and signing JWTs with
//! ES256 (default), EdDSA or RS256.
//!
//! Invariants: no symmetric key can become a `SigningKey` (no HMAC here, ever); every key is
//! validated by aws-lc-rs before use; key material never reaches a `Debug` or error message.
//! This module does not choose claims (minting does), does not rotate or store keys, and never
//! reads the clock. Its helper `jwk_der` turns key files into PKCS#8 DER and DER into JWK members.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::{Map, Value};

use super::signer::Signer;

// A private helper of this module, so its file is declared here rather than in `mod.rs`.
#[path = "jwk_der.rs"]
mod jwk_der;

/// Key files are small; anything bigger is the wrong file.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
const EC_P256: &str = "an EC P-256 key";
const ED25519: &str = "an Ed25519 key";
const RSA: &str = "an RSA key";

/// The algorithms Tollgate signs with. There is deliberately no HMAC variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    Es256,
    EdDsa,
    Rs256,
}

/// A validated private signing key with its public JWK and `kid`; only this module builds one.
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    signer: Signer,
    public_jwk: Map<String, Value>,
    pkcs8_der: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported signing algorithm {0:?}: expected ES256, EdDSA or RS256")]
    UnsupportedAlgorithm(String),
    #[error("the key is {found}, but the signing algorithm is {expected}")]
    AlgorithmMismatch { expected: SigningAlg, found: String },
    #[error("invalid signing key: {0}")]
    InvalidKey(String),
    #[error("cannot read signing key file {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("signing key file {path} was refused")]
    InvalidKeyFile { path: PathBuf, source: Box<KeyError> },
    #[error("generating a {0} signing key failed")]
    Generation(SigningAlg),
    #[error("signing a JWT failed: {0}")]
    Signing(String),
}

impl SigningAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }

    /// What a key for this algorithm is, in the words of `KeyError::AlgorithmMismatch`.
    fn key_kind(self) -> &'static str {
        match self {
            Self::Es256 => EC_P256,
            Self::EdDsa => ED25519,
            Self::Rs256 => RSA,
        }
    }
}

impl FromStr for SigningAlg {
    type Err = KeyError;

    fn from_str(name: &str) -> Result<Self, KeyError> {
        match name {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            other => Err(KeyError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SigningKey {
    /// Fresh key from the system CSPRNG (aws-lc-rs): P-256, Ed25519 or RSA-2048.
    pub fn generate(alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let pkcs8 = match alg {
            SigningAlg::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|pair| pair.to_pkcs8v1())
                .map(|document| document.as_ref().to_vec()),
            SigningAlg::EdDsa => {
                Ed25519KeyPair::generate().and_then(|pair| pair.to_pkcs8v1()).map(|document| document.as_ref().to_vec())
            }
            SigningAlg::Rs256 => {
                RsaKeyPair::generate(KeySize::Rsa2048).and_then(|pair| pair.as_der()).map(|der| der.as_ref().to_vec())
            }
        };
        Self::from_pkcs8(alg, pkcs8.map_err(|_| KeyError::Generation(alg))?)
    }

    /// Loads a PEM (PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY", SEC1 "EC PRIVATE KEY") or a
    /// private JWK (EC/P-256, OKP/Ed25519 or RSA). The key's type must agree with `alg`.
    pub fn from_bytes(alg: SigningAlg, bytes: &[u8]) -> Result<SigningKey, KeyError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| invalid("expected a PEM private key or a private JWK, found binary"))?;
        let pkcs8 = if text.contains("-----BEGIN ") {
            jwk_der::pem_to_pkcs8(alg, text)?
        } else if text.trim_start().starts_with('{') {
            jwk_der::jwk_to_pkcs8(alg, text)?
        } else if text.trim().is_empty() {
            return Err(invalid("the key is empty"));
        } else {
            return Err(invalid("expected a PEM private key or a private JWK"));
        };
        Self::from_pkcs8(alg, pkcs8)
    }

    /// Reads and loads a key file of at most 64 KiB. Errors name the path, never the contents.
    pub fn load_file(alg: SigningAlg, path: &Path) -> Result<SigningKey, KeyError> {
        let path_buf = || path.to_path_buf();
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|file| file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|source| KeyError::Io { path: path_buf(), source })?;
        let loaded = if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
            Err(invalid("the file is larger than 64 KiB"))
        } else {
            Self::from_bytes(alg, &bytes)
        };
        loaded.map_err(|source| KeyError::InvalidKeyFile { path: path_buf(), source: source.into() })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Public JWK: kty, crv/x(/y) or n/e, plus "kid", "alg" and "use": "sig". Never private parts.
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.public_jwk
    }

    /// Signs a JWT with header {"typ": "JWT", "alg", "kid"} and the given claims (a JSON object: a `Map` or a
    /// struct).
    pub fn sign<T: Serialize + ?Sized>(&self, claims: &T) -> Result<String, KeyError> {
        self.signer.sign(claims)
    }

    /// PKCS#8 PEM of the private key in 64-column lines (for `tollgate keys generate --out F`).
    pub fn to_pkcs8_pem(&self) -> String {
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for (index, character) in STANDARD.encode(&self.pkcs8_der).chars().enumerate() {
            if index > 0 && index % 64 == 0 {
                pem.push('\n');
            }
            pem.push(character);
        }
        pem.push_str("\n-----END PRIVATE KEY-----\n");
        pem
    }

    /// Every path ends here: validates the PKCS#8 document for `alg` and derives the rest.
    fn from_pkcs8(alg: SigningAlg, pkcs8_der: Vec<u8>) -> Result<SigningKey, KeyError> {
        let mut public_jwk =
            jwk_der::public_members(alg, &pkcs8_der).ok_or_else(|| jwk_der::refusal(alg, &pkcs8_der))?;
        let kid = thumbprint(&public_jwk)?;
        let signer = Signer::new(alg, &pkcs8_der, &kid)?;
        public_jwk.insert("kid".into(), kid.clone().into());
        public_jwk.insert("alg".into(), alg.as_str().into());
        public_jwk.insert("use".into(), "sig".into());
        Ok(SigningKey { alg, kid, signer, public_jwk, pkcs8_der })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SigningKey");
        debug.field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint: SHA-256 of the required members, sorted, without whitespace; base64url.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Result<String, KeyError> {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        _ => return Err(invalid("thumbprint: kty must be EC, OKP or RSA")),
    };
    let mut canonical = Map::new();
    for name in required {
        let value = jwk.get(*name).filter(|value| value.is_string());
        let value = value.ok_or_else(|| invalid(format!("thumbprint: no string {name:?}")))?;
        canonical.insert((*name).to_owned(), value.clone());
    }
    // Inserted in sorted order: canonical whether or not serde_json preserves insertion order.
    let canonical = Value::Object(canonical).to_string();
    Ok(URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())))
}

fn invalid(reason: impl Into<String>) -> KeyError {
    KeyError::InvalidKey(reason.into())
}

fn mismatch(expected: SigningAlg, found: impl Into<String>) -> KeyError {
    KeyError::AlgorithmMismatch { expected, found: found.into() }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::json;

    use super::*;

    const ALGS: [SigningAlg; 3] = [SigningAlg::Es256, SigningAlg::EdDsa, SigningAlg::Rs256];

    /// Verifies `token` with a DecodingKey built from the key's public JWK only.
    fn verify(key: &SigningKey, token: &str) -> Map<String, Value> {
        let text = |name: &str| key.public_jwk()[name].as_str().unwrap();
        let decoding_key = match text("kty") {
            "EC" => DecodingKey::from_ec_components(text("x"), text("y")),
            "OKP" => DecodingKey::from_ed_components(text("x")),
            _ => DecodingKey::from_rsa_components(text("n"), text("e")),
        };
        let mut validation = Validation::new(key.alg().to_jsonwebtoken());
        validation.validate_exp = false; // no clock here: only the signature is under test
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode(token, &decoding_key.unwrap(), &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
        data.claims
    }

    #[test]
    fn generated_keys_sign_tokens_that_their_public_jwk_verifies() {
        let claims = json!({"iss": "https://tollgate.test", "sub": "repo:o/r", "exp": 1});
        let claims = claims.as_object().unwrap();
        for alg in ALGS {
            let key = SigningKey::generate(alg).unwrap();
            assert_eq!(key.alg(), alg);
            assert_eq!(&verify(&key, &key.sign(claims).unwrap()), claims);
            let jwk = Value::Object(key.public_jwk().clone());
            assert_eq!([&jwk["alg"], &jwk["use"], &jwk["kid"]], [alg.as_str(), "sig", key.kid()]);
            assert_eq!(thumbprint(key.public_jwk()).unwrap(), key.kid());
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(jwk.get(private).is_none(), "{alg}: {private}");
            }
        }
    }

    #[test]
    fn pkcs8_pem_export_reloads_to_the_same_key_and_debug_shows_no_key_material() {
        for alg in ALGS {
            let key = SigningKey::generate(alg).unwrap();
            let pem = key.to_pkcs8_pem();
            assert!(pem.lines().all(|line| line.len() <= 64), "{pem}");
            let reloaded = SigningKey::from_bytes(alg, pem.as_bytes()).unwrap();
            assert_eq!(reloaded.kid(), key.kid());
            verify(&key, &reloaded.sign(&Map::new()).unwrap());
            let expected = format!("SigningKey {{ alg: {alg:?}, kid: {:?}, .. }}", key.kid());
            assert_eq!(format!("{reloaded:?}"), expected);
        }
    }

    #[test]
    fn thumbprint_matches_rfc_7638() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo\
            c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR\
            0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW\
            hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let check = |jwk: Value| thumbprint(jwk.as_object().unwrap());
        let rsa = json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
        let expected = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(check(rsa).unwrap(), expected);
        assert!(check(json!({"kty": "oct", "k": "AA"})).is_err());
        assert!(check(json!({"kty": "EC", "crv": "P-256", "x": "AA"})).is_err());
    }

    #[test]
    fn algorithm_names_are_exact() {
        for alg in ALGS {
            assert_eq!(alg.as_str().parse::<SigningAlg>().unwrap(), alg);
        }
        for name in ["es256", "HS256", "none", "ES384", "", "RS256 "] {
            let error = name.parse::<SigningAlg>().unwrap_err();
            assert!(matches!(error, KeyError::UnsupportedAlgorithm(ref got) if got == name));
        }
        assert_eq!(SigningAlg::EdDsa.to_jsonwebtoken(), jsonwebtoken::Algorithm::EdDSA);
    }

    #[test]
    fn load_file_reads_keys_and_names_the_path_in_errors() {
        let path = std::env::temp_dir().join(format!("tollgate-keys-{}.pem", std::process::id()));
        let key = SigningKey::generate(SigningAlg::EdDsa).unwrap();
        std::fs::write(&path, key.to_pkcs8_pem()).unwrap();
        let loaded = SigningKey::load_file(SigningAlg::EdDsa, &path).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        let refused = |alg, expected: &str| {
            let error = SigningKey::load_file(alg, &path).unwrap_err();
            assert!(error.to_string().contains(&*path.to_string_lossy()), "{error}");
            let KeyError::InvalidKeyFile { source, .. } = &error else { panic!("{error:?}") };
            assert!(source.to_string().contains(expected), "{source}");
        };
        refused(SigningAlg::Es256, "is an Ed25519 key, but the signing algorithm is ES256");
        std::fs::write(&path, vec![b' '; 64 * 1024 + 1]).unwrap();
        refused(SigningAlg::EdDsa, "larger than 64 KiB");
        std::fs::remove_file(&path).unwrap();
        let error = SigningKey::load_file(SigningAlg::EdDsa, &path).unwrap_err();
        assert!(matches!(&error, KeyError::Io { path: got, .. } if *got == path), "{error:?}");
    }
}

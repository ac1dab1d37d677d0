//! Compact JWS signing with a key pair parsed once: the private key is read from its PKCS#8 document when the
//! `SigningKey` is built, and the protected header (`typ`, `alg`, `kid`) is serialized and base64url-encoded
//! then too, so a signature costs one payload serialization, one base64 pass and the signature itself.
//!
//! This is the only place Tollgate signs. It goes straight to aws-lc-rs: jsonwebtoken re-parses its
//! `EncodingKey` on every `encode`, which for ECDSA costs about as much as the signature.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::keys::{KeyError, SigningAlg};

/// A parsed private key of one of the algorithms Tollgate signs with.
enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// Signs JWTs `{"typ":"JWT","alg":ALG,"kid":KID}.payload.signature` with one key.
pub(super) struct Signer {
    pair: Pair,
    /// `base64url(header) "."`, ready to be followed by the payload.
    header_prefix: String,
    rng: SystemRandom,
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
}

impl Signer {
    /// Parses the PKCS#8 document for `alg`.
    pub(super) fn new(alg: SigningAlg, pkcs8_der: &[u8], kid: &str) -> Result<Self, KeyError> {
        let rejected = |error: aws_lc_rs::error::KeyRejected| KeyError::InvalidKey(error.to_string());
        let pair = match alg {
            SigningAlg::Es256 => {
                Pair::Es256(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der).map_err(rejected)?)
            }
            SigningAlg::EdDsa => Pair::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(rejected)?),
            SigningAlg::Rs256 => Pair::Rs256(RsaKeyPair::from_pkcs8(pkcs8_der).map_err(rejected)?),
        };
        let header = serde_json::to_vec(&Header { typ: "JWT", alg: alg.as_str(), kid })
            .map_err(|error| KeyError::Signing(error.to_string()))?;
        let mut header_prefix = URL_SAFE_NO_PAD.encode(header);
        header_prefix.push('.');
        Ok(Signer { pair, header_prefix, rng: SystemRandom::new() })
    }

    /// Serializes `claims` as the payload and signs.
    pub(super) fn sign<T: Serialize + ?Sized>(&self, claims: &T) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|error| KeyError::Signing(error.to_string()))?;
        // header + payload in base64 + "." + the largest signature (RSA-4096: 683 characters).
        let mut token = String::with_capacity(self.header_prefix.len() + payload.len() * 4 / 3 + 700);
        token.push_str(&self.header_prefix);
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let failed = |_| KeyError::Signing("the signature primitive failed".into());
        match &self.pair {
            Pair::Es256(pair) => {
                let signature = pair.sign(&self.rng, token.as_bytes()).map_err(failed)?;
                push_signature(&mut token, signature.as_ref());
            }
            Pair::EdDsa(pair) => {
                let signature = pair.sign(token.as_bytes());
                push_signature(&mut token, signature.as_ref());
            }
            Pair::Rs256(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature).map_err(failed)?;
                push_signature(&mut token, &signature);
            }
        }
        Ok(token)
    }
}

fn push_signature(token: &mut String, signature: &[u8]) {
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, token);
}

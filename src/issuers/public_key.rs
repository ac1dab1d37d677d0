//! A trusted issuer's public key, parsed once by aws-lc-rs when its key set is accepted, and the signature check
//! itself: the hot path verifies with a ready key instead of rebuilding it from `n`/`e` or `x`/`y` per token.
//!
//! An RSA key may verify six algorithms (RS256…PS512), each a distinct aws-lc-rs verification algorithm: the
//! key is parsed for each on first use and kept. EC and Ed25519 keys verify exactly one algorithm and are parsed
//! up front. Nothing here sees a token or a `kid`; `jwks` decides which published keys become one of these.

use std::sync::OnceLock;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512, RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384,
    RSA_PSS_2048_8192_SHA512, RsaParameters, RsaPublicKeyComponents,
};
use jsonwebtoken::Algorithm;

/// The RSA algorithms, in the order of `Rsa::parsed`.
const RSA_ALGORITHMS: [(Algorithm, &RsaParameters); 6] = [
    (Algorithm::RS256, &RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &RSA_PSS_2048_8192_SHA512),
];

/// Key material ready to verify signatures.
pub(super) enum PublicKey {
    Rsa(Box<Rsa>),
    /// A P-256 or P-384 point, or an Ed25519 key: one algorithm each, parsed already.
    Single(Algorithm, ParsedPublicKey),
}

pub(super) struct Rsa {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    /// One slot per entry of `RSA_ALGORITHMS`; `None` inside when aws-lc-rs refused the key for it.
    parsed: [OnceLock<Option<ParsedPublicKey>>; 6],
}

impl PublicKey {
    /// An RSA key from its big-endian modulus and exponent; checked by parsing it for RS256 once.
    pub(super) fn rsa(modulus: &[u8], exponent: &[u8]) -> Option<PublicKey> {
        let significant =
            |bytes: &[u8]| bytes.iter().position(|b| *b != 0).and_then(|at| bytes.get(at..)).map(<[u8]>::to_vec);
        let rsa = Rsa { modulus: significant(modulus)?, exponent: significant(exponent)?, parsed: Default::default() };
        rsa.parsed_for(Algorithm::RS256)?;
        Some(PublicKey::Rsa(Box::new(rsa)))
    }

    /// An EC key from its coordinates (each exactly as long as the curve's field).
    pub(super) fn ec(alg: Algorithm, x: &[u8], y: &[u8]) -> Option<PublicKey> {
        let verification = match alg {
            Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
            _ => return None,
        };
        let mut point = Vec::with_capacity(1 + x.len() + y.len());
        point.push(4); // uncompressed (SEC 1 §2.3.3)
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        ParsedPublicKey::new(verification, point).ok().map(|parsed| PublicKey::Single(alg, parsed))
    }

    /// An Ed25519 key from its 32 octets.
    pub(super) fn ed25519(x: &[u8]) -> Option<PublicKey> {
        ParsedPublicKey::new(&ED25519, x).ok().map(|parsed| PublicKey::Single(Algorithm::EdDSA, parsed))
    }

    /// Whether `signature` (JOSE form: r‖s for ECDSA) over `message` verifies with `alg`. An algorithm the key
    /// cannot serve is a failed check, never an error path of its own.
    pub(super) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        let parsed = match self {
            PublicKey::Single(own, parsed) if *own == alg => Some(parsed),
            PublicKey::Single(..) => None,
            PublicKey::Rsa(rsa) => rsa.parsed_for(alg),
        };
        parsed.is_some_and(|key| key.verify_sig(message, signature).is_ok())
    }
}

impl Rsa {
    fn parsed_for(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        let index = RSA_ALGORITHMS.iter().position(|(known, _)| *known == alg)?;
        let (_, params) = RSA_ALGORITHMS.get(index)?;
        let slot = self.parsed.get(index)?;
        slot.get_or_init(|| {
            let components = RsaPublicKeyComponents { n: self.modulus.as_slice(), e: self.exponent.as_slice() };
            components.to_parsed_public_key(params).ok()
        })
        .as_ref()
    }
}

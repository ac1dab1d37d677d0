//! Fuzz target: any bytes as an inbound token, against a fixed key set (Ed25519, P-256, RSA) and fixed claim rules.
//! Parsing and verifying must never panic; a token that verifies names the fixed issuer and audience and is valid
//! at the fixed instant. The same bytes are also signed with the fixed Ed25519 key (as payload, or as
//! `header \n payload`), so the claim checks after the signature are fuzzed too: a genuinely signed token always
//! passes the signature check and yields exactly the signed payload.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use tollgate::clock::UnixTime;
use tollgate::issuers::KeySet;
use tollgate::verify::{self, ClaimRules, MAX_TOKEN_BYTES, RawToken};

const ISS: &str = "https://token.actions.githubusercontent.com";
const AUDIENCE: &str = "tollgate";
const LEEWAY: i64 = 60;
const NOW: i64 = 1_700_000_000;
const ED_HEADER: &[u8] = br#"{"alg":"EdDSA","kid":"fuzz-ed","typ":"JWT"}"#;
/// HS256 is listed on purpose: it must never verify, whatever the configuration says.
const ALGORITHMS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA, Algorithm::HS256];
/// A public P-256 point (the one in `issuers::jwks`' tests) and a 2048-bit RSA modulus made for this target.
const EC_X: &str = "04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY";
const EC_Y: &str = "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw";
const RSA_N: &str = concat!(
    "psrfTIYemYRooawOUTdQsZU6dy7d4wCHux_Es80m_Y8Ul5eMeMszhwZ0rCXjzmD3ooyfABe6gH6gw5zFJfMu5ze5_y6Fqzsj",
    "Q2qcVaNoR2QcA8SHg2tHRCfs1F10HSTrsPLVENebd2Uly7fzlH4zjRyFXNK1IAd0kl7LDB8xzL52lDJ9qT3JpOdmnB55sSAg",
    "o7VxkVpEunuBPLJPxjnczYCS6b7tQTkZ7wCz7oZuFZO58TegGL4pE-tB2FX2Fj2xHBoPyO7KXx_HwuxaiiU-iVnQVZ9yfese",
    "7iRad9XKwK71mYFT_5zzC_AG2lvvc27GuiMXB7oi-1GdzWcb3UP2qw",
);

struct Fixture {
    keys: KeySet,
    signer: Ed25519KeyPair,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let signer = Ed25519KeyPair::from_seed_unchecked(&[0x5a; 32]).expect("a fixed Ed25519 seed");
    let ed_x = URL_SAFE_NO_PAD.encode(signer.public_key().as_ref());
    let jwks = serde_json::json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": ed_x, "kid": "fuzz-ed", "use": "sig"},
        {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "fuzz-ec", "alg": "ES256"},
        {"kty": "RSA", "n": RSA_N, "e": "AQAB", "kid": "fuzz-rsa"},
    ]});
    let keys = KeySet::parse(jwks.to_string().as_bytes()).expect("the fixed key set parses");
    assert_eq!(keys.len(), 3);
    Fixture { keys, signer }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(token) = RawToken::parse(text)
    {
        check(&token, fixture);
    }
    let (header, payload) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (data.get(..at).unwrap_or_default(), data.get(at + 1..).unwrap_or_default()),
        None => (ED_HEADER, data),
    };
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = fixture.signer.sign(signing_input.as_bytes());
    let text = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    let Ok(token) = RawToken::parse(&text) else {
        assert!(text.len() > MAX_TOKEN_BYTES, "a signed compact JWS of base64url and dots was refused");
        return;
    };
    let signed = verify::verify_signature_only(&token, &fixture.keys, ALGORITHMS);
    if header == ED_HEADER {
        assert_eq!(signed.as_deref().ok(), Some(payload), "a genuinely signed token failed: {signed:?}");
    } else if let Ok(bytes) = &signed {
        assert_eq!(bytes.as_slice(), payload);
    }
    check(&token, fixture);
});

/// Every entry point on one token; whatever verifies must satisfy the fixed rules.
fn check(token: &RawToken, fixture: &Fixture) {
    let audiences = [AUDIENCE.to_owned()];
    let rules = ClaimRules {
        issuer_name: "fuzz",
        iss: ISS,
        audiences: &audiences,
        leeway_secs: LEEWAY,
        max_lifetime_secs: 86_400,
        placeholder: Some(("org", "acme")),
    };
    let verified = verify::verify_with_keys(token, &fixture.keys, ALGORITHMS, &rules, UnixTime::from_secs(NOW));
    let signed = verify::verify_signature_only(token, &fixture.keys, ALGORITHMS);
    let claims = verify::unverified_claims(token);
    if let Ok(verified) = verified {
        assert_eq!(verified.iss(), ISS);
        assert_eq!(verified.issuer_name(), "fuzz");
        assert!(!verified.sub().is_empty());
        assert!(verified.audiences().iter().any(|a| a == AUDIENCE));
        assert!(verified.exp().as_secs() >= NOW - LEEWAY);
        assert!(verified.iat().as_secs() <= NOW + LEEWAY);
        assert!(signed.is_ok(), "verified but the signature-only check failed");
        assert_eq!(claims.ok().as_ref(), Some(verified.claims()));
    }
}

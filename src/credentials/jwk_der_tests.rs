//! Tests of the key-file helpers: PEM and JWK forms of every supported key, and their refusals.
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rsa::KeySize;
use serde_json::json;

use super::super::{SigningKey, thumbprint};
use super::*;
use SigningAlg::{EdDsa, Es256, Rs256};

/// RFC 8037 §A.1: an Ed25519 private key `d` and its public key `x`.
const OKP_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const OKP_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn load(alg: SigningAlg, input: impl AsRef<[u8]>) -> Result<SigningKey, KeyError> {
    SigningKey::from_bytes(alg, input.as_ref())
}

fn refused(alg: SigningAlg, input: impl AsRef<[u8]>) -> String {
    load(alg, input).unwrap_err().to_string()
}

fn b64(bytes: &[u8]) -> Value {
    URL_SAFE_NO_PAD.encode(bytes).into()
}

/// The INTEGER contents of a PKCS#1 `RSAPrivateKey`, version first.
fn rsa_private_key_integers(pkcs1: &[u8]) -> Option<Vec<&[u8]>> {
    let (mut body, _) = read_tlv(pkcs1, TAG_SEQUENCE)?;
    let mut integers = Vec::new();
    while let Some((integer, rest)) = read_tlv(body, TAG_INTEGER) {
        integers.push(integer);
        body = rest;
    }
    body.is_empty().then_some(integers)
}

#[test]
fn ec_keys_load_from_private_jwk_and_sec1_pem() {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
    let mut private = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
    let public_only = private.to_string();
    private["d"] = b64(pair.private_key().as_be_bytes().unwrap().as_ref());
    let kid = thumbprint(private.as_object().unwrap()).unwrap();
    assert_eq!(load(Es256, private.to_string()).unwrap().kid(), kid);
    assert!(refused(Es256, public_only).contains("it is a public key"));
    let sec1 = pair.private_key().as_der().unwrap();
    let openssl_style =
        pem("EC PARAMETERS", &[6, 8, 42, 134, 72, 206, 61, 3, 1, 7]) + &pem("EC PRIVATE KEY", sec1.as_ref());
    assert_eq!(load(Es256, openssl_style).unwrap().kid(), kid);
    private["y"] = private["x"].clone();
    let error = refused(Es256, private.to_string());
    assert!(error.contains("do not form an EC P-256 key"), "{error}");
    assert!(!error.contains(private["d"].as_str().unwrap()), "{error}");
}

#[test]
fn rfc_8037_ed25519_jwk_loads_with_its_published_thumbprint() {
    let private = json!({"kty": "OKP", "crv": "Ed25519", "d": OKP_D, "x": OKP_X});
    let key = load(EdDsa, private.to_string()).unwrap();
    assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(key.public_jwk()["x"], OKP_X);
    let reloaded = load(EdDsa, key.to_pkcs8_pem()).unwrap();
    assert_eq!(reloaded.sign(&Map::new()).ok(), key.sign(&Map::new()).ok());
}

#[test]
fn rsa_keys_load_from_private_jwk_and_pkcs1_pem() {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap();
    let pkcs1 = pkcs8_private_key(pkcs8.as_ref()).unwrap();
    let names = ["version", "n", "e", "d", "p", "q", "dp", "dq", "qi"];
    let integers = rsa_private_key_integers(pkcs1).unwrap();
    let mut private = json!({"kty": "RSA"});
    for (name, integer) in names.into_iter().zip(integers).skip(1) {
        let unsigned = &integer[integer.iter().take_while(|byte| **byte == 0).count()..];
        private[name] = b64(unsigned);
    }
    let kid = thumbprint(private.as_object().unwrap()).unwrap();
    assert_eq!(load(Rs256, private.to_string()).unwrap().kid(), kid);
    assert_eq!(load(Rs256, pem("RSA PRIVATE KEY", pkcs1)).unwrap().kid(), kid);
    let error = refused(Es256, pem("RSA PRIVATE KEY", pkcs1));
    assert_eq!(error, "the key is an RSA key, but the signing algorithm is ES256");
    let error = refused(EdDsa, pem("PRIVATE KEY", pkcs8.as_ref()));
    assert_eq!(error, "the key is an RSA key, but the signing algorithm is EdDSA");
}

#[test]
fn keys_of_another_type_are_refused_naming_both() {
    let ec = SigningKey::generate(Es256).unwrap().to_pkcs8_pem();
    let okp = SigningKey::generate(EdDsa).unwrap().to_pkcs8_pem();
    let mut okp_jwk = json!({"kty": "OKP", "crv": "Ed25519", "d": OKP_D, "x": OKP_X});
    let p384 = json!({"kty": "EC", "crv": "P-384", "d": "AA", "x": "AA", "y": "AA"});
    let okp_text = okp_jwk.to_string();
    okp_jwk["alg"] = "ES256".into();
    let cases = [
        (Rs256, ec.clone(), "an EC P-256 key"),
        (EdDsa, ec, "an EC P-256 key"),
        (Es256, okp, "an Ed25519 key"),
        (Es256, okp_text, "an Ed25519 key"),
        (Es256, p384.to_string(), "an EC key on a curve"),
        (EdDsa, okp_jwk.to_string(), "a JWK for alg \"ES256\""),
    ];
    for (alg, input, found) in cases {
        let error = load(alg, input).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with(&format!("the key is {found}")), "{message}");
        assert!(message.ends_with(&format!("the signing algorithm is {alg}")), "{message}");
        assert!(matches!(error, KeyError::AlgorithmMismatch { expected, .. } if expected == alg));
    }
}

#[test]
fn unusable_inputs_are_refused_with_a_reason_and_without_key_material() {
    let okp = |members: String| format!(r#"{{"kty":"OKP","crv":"Ed25519",{members}}}"#);
    let truncated = r#"{"kty": "EC", "d": "secret"#;
    let cases = [
        (String::new(), "the key is empty"),
        (" \n\t".into(), "the key is empty"),
        ("ssh-ed25519 AAAA".into(), "expected a PEM private key"),
        (r#"{"kty":"oct","k":"c2VjcmV0"}"#.into(), "no HMAC, ever"),
        (okp(format!(r#""x":"{OKP_X}""#)), "it is a public key"),
        (okp(format!(r#""d":"{OKP_D}","x":"AA""#)), "do not form"),
        (okp(format!(r#""d":"{OKP_D}=""#)), "is not base64url"),
        (truncated.into(), "not a JSON object (line 1"),
        (pem("PUBLIC KEY", b"key"), "not a private key"),
        (pem("PRIVATE KEY", b"key").replace('a', "!"), "not base64"),
        (pem("PRIVATE KEY", &[0x30, 0]), "not a usable EdDSA key"),
        (pem("PRIVATE KEY", b"").replace("-----END", ""), "no END"),
        (pem("ENCRYPTED PRIVATE KEY", b""), "encrypted keys are"),
    ];
    for (input, expected) in cases {
        let error = load(EdDsa, &input).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, KeyError::InvalidKey(_)), "{error:?}");
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        assert!(!message.contains(OKP_D), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
    assert!(refused(Es256, b"\xff\xfe\x00garbage").contains("found binary"));
}

#[test]
fn der_integers_are_minimal_and_malformed_der_is_refused() {
    let der = rsa_private_key_der(&[&[], &[0, 0], &[0, 0x7f], &[0x80], &[0, 0xff, 1]]);
    let expected: [&[u8]; 6] = [&[0], &[0], &[0], &[0x7f], &[0, 0x80], &[0, 0xff, 1]];
    assert_eq!(rsa_private_key_integers(&der).unwrap(), expected);
    let long = rsa_private_key_der(&[&[0x55; 300]]);
    assert_eq!(long[..4], [0x30, 0x82, 0x01, 0x33]);
    let malformed: [&[u8]; 5] = [&[], &[48, 5, 2], &[48, 128], &[48, 133, 1], &[2, 1, 0]];
    for input in malformed {
        assert_eq!(pkcs8_private_key(input), None, "{input:02x?}");
        assert_eq!(rsa_private_key_integers(input), None, "{input:02x?}");
    }
}

//! Key encodings for `keys`: key files (PEM: PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE
//! KEY"; private JWKs) into PKCS#8 DER, and PKCS#8 DER into public JWK members. The only DER it
//! writes is a PKCS#1 `RSAPrivateKey` from RSA JWK members; the only DER it reads is the PKCS#1
//! key inside a PKCS#8 document that aws-lc-rs already accepted (jsonwebtoken's RSA signer wants
//! PKCS#1). Every key it produces is validated by aws-lc-rs, never here. It refuses symmetric,
//! public-only, encrypted and wrong-type keys, never quotes key material and never panics.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use super::{EC_P256, ED25519, KeyError, RSA, SigningAlg, invalid, mismatch};

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;

enum PemFormat {
    Pkcs8,
    Sec1Ec,
    Pkcs1Rsa,
}

/// Converts the single private key PEM block in `text` to PKCS#8 DER.
pub(super) fn pem_to_pkcs8(alg: SigningAlg, text: &str) -> Result<Vec<u8>, KeyError> {
    let (format, der) = pem_private_block(text)?;
    match (format, alg) {
        (PemFormat::Pkcs8, _) => Ok(der),
        (PemFormat::Sec1Ec, SigningAlg::Es256) => {
            let p256 = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let pair = EcdsaKeyPair::from_private_key_der(p256, &der)
                .map_err(|rejected| invalid(format!("not a usable EC P-256 key ({rejected})")))?;
            Ok(pair.to_pkcs8v1().map_err(reencoding)?.as_ref().to_vec())
        }
        (PemFormat::Sec1Ec, _) => Err(mismatch(alg, "an EC key")),
        (PemFormat::Pkcs1Rsa, SigningAlg::Rs256) => rsa_pkcs1_to_pkcs8(&der),
        (PemFormat::Pkcs1Rsa, _) => Err(mismatch(alg, RSA)),
    }
}

/// Converts a private JWK (JSON object text) to PKCS#8 DER.
pub(super) fn jwk_to_pkcs8(alg: SigningAlg, text: &str) -> Result<Vec<u8>, KeyError> {
    // serde_json's messages can quote the input: report only the position.
    let jwk: Map<String, Value> = serde_json::from_str(text)
        .map_err(|error| invalid(format!("not a JSON object (line {}, column {})", error.line(), error.column())))?;
    let found = check_jwk_header(alg, &jwk)?;
    let text_member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let member = |name: &str| -> Result<Vec<u8>, KeyError> {
        let value = text_member(name).ok_or_else(|| invalid(format!("JWK has no string {name:?}")))?;
        let decoded = URL_SAFE_NO_PAD.decode(value);
        decoded.map_err(|_| invalid(format!("JWK member {name:?} is not base64url")))
    };
    let inconsistent = |rejected| invalid(format!("JWK members do not form {found} ({rejected})"));
    let document = match alg {
        SigningAlg::Es256 => {
            let point = [vec![0x04], member("x")?, member("y")?].concat();
            let p256 = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let pair =
                EcdsaKeyPair::from_private_key_and_public_key(p256, &member("d")?, &point).map_err(inconsistent)?;
            pair.to_pkcs8v1()
        }
        SigningAlg::EdDsa => {
            let pair = Ed25519KeyPair::from_seed_and_public_key(&member("d")?, &member("x")?).map_err(inconsistent)?;
            pair.to_pkcs8v1()
        }
        SigningAlg::Rs256 => {
            let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
            let members: Vec<Vec<u8>> = names.into_iter().map(member).collect::<Result<_, _>>()?;
            let slices: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
            return rsa_pkcs1_to_pkcs8(&rsa_private_key_der(&slices));
        }
    };
    Ok(document.map_err(reencoding)?.as_ref().to_vec())
}

/// Public JWK members (without kid/alg/use) of a PKCS#8 key aws-lc-rs accepts for `alg`.
pub(super) fn public_members(alg: SigningAlg, pkcs8: &[u8]) -> Option<Map<String, Value>> {
    let b64 = |bytes: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(bytes));
    let mut jwk = Map::new();
    match alg {
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).ok()?;
            let point = pair.public_key().as_ref(); // 0x04 || x || y
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), "P-256".into());
            jwk.insert("x".into(), b64(point.get(1..33)?));
            jwk.insert("y".into(), b64(point.get(33..65)?));
        }
        SigningAlg::EdDsa => {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8).ok()?;
            jwk.insert("kty".into(), "OKP".into());
            jwk.insert("crv".into(), "Ed25519".into());
            jwk.insert("x".into(), b64(pair.public_key().as_ref()));
        }
        SigningAlg::Rs256 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).ok()?;
            let (modulus, exponent) = (pair.public_key().modulus(), pair.public_key().exponent());
            jwk.insert("kty".into(), "RSA".into());
            jwk.insert("n".into(), b64(modulus.big_endian_without_leading_zero()));
            jwk.insert("e".into(), b64(exponent.big_endian_without_leading_zero()));
        }
    }
    Some(jwk)
}

/// Why a PKCS#8 document is no key for `alg`: it is another kind of key, or no usable key at all.
pub(super) fn refusal(alg: SigningAlg, pkcs8: &[u8]) -> KeyError {
    let ec = |curve| EcdsaKeyPair::from_pkcs8(curve, pkcs8).is_ok();
    let found = if ec(&ECDSA_P256_SHA256_FIXED_SIGNING) {
        EC_P256
    } else if ec(&ECDSA_P384_SHA384_FIXED_SIGNING) {
        "an EC P-384 key"
    } else if ec(&ECDSA_P521_SHA512_FIXED_SIGNING) {
        "an EC P-521 key"
    } else if Ed25519KeyPair::from_pkcs8(pkcs8).is_ok() {
        ED25519
    } else {
        match RsaKeyPair::from_pkcs8(pkcs8) {
            Ok(_) => RSA,
            Err(rejected) => return invalid(format!("not a usable {alg} key ({rejected})")),
        }
    };
    match found == alg.key_kind() {
        true => invalid(format!("not a usable {alg} key")),
        false => mismatch(alg, found),
    }
}

/// The `privateKey` octets of a PKCS#8 `PrivateKeyInfo` (for RSA: the PKCS#1 `RSAPrivateKey`).
pub(super) fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (info, _) = read_tlv(pkcs8, TAG_SEQUENCE)?;
    let (_version, rest) = read_tlv(info, TAG_INTEGER)?;
    let (_algorithm, rest) = read_tlv(rest, TAG_SEQUENCE)?;
    let (private_key, _attributes) = read_tlv(rest, TAG_OCTET_STRING)?;
    Some(private_key)
}

/// Refuses symmetric, public-only and wrong-type JWKs; says what kind of key it is.
fn check_jwk_header(alg: SigningAlg, jwk: &Map<String, Value>) -> Result<&'static str, KeyError> {
    let text_member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let found = match (text_member("kty"), text_member("crv")) {
        (Some("EC"), Some("P-256")) => EC_P256,
        (Some("EC"), _) => "an EC key on a curve other than P-256",
        (Some("OKP"), Some("Ed25519")) => ED25519,
        (Some("OKP"), _) => "an OKP key other than Ed25519",
        (Some("RSA"), _) => RSA,
        (Some("oct"), _) => return Err(invalid("symmetric (oct) JWK refused: no HMAC, ever")),
        _ => return Err(invalid("the JWK kty must be EC, OKP or RSA")),
    };
    if found != alg.key_kind() {
        return Err(mismatch(alg, found));
    }
    if let Some(jwk_alg) = text_member("alg").filter(|jwk_alg| *jwk_alg != alg.as_str()) {
        return Err(mismatch(alg, format!("a JWK for alg {jwk_alg:?}")));
    }
    match jwk.contains_key("d") {
        true => Ok(found),
        false => Err(invalid("the JWK has no private member \"d\": it is a public key")),
    }
}

/// Finds the one private key block, skipping others ("EC PARAMETERS", certificates).
fn pem_private_block(text: &str) -> Result<(PemFormat, Vec<u8>), KeyError> {
    let (mut found, mut saw_public, mut rest) = (None, false, text);
    while let Some((_, after_begin)) = rest.split_once("-----BEGIN ") {
        let (label, after_label) = after_begin.split_once("-----").ok_or_else(|| invalid("malformed PEM BEGIN"))?;
        let end_line = format!("-----END {label}-----");
        let (body, after_end) = after_label.split_once(&end_line).ok_or_else(|| invalid("PEM block has no END"))?;
        rest = after_end;
        let format = match label {
            "PRIVATE KEY" => PemFormat::Pkcs8,
            "EC PRIVATE KEY" => PemFormat::Sec1Ec,
            "RSA PRIVATE KEY" => PemFormat::Pkcs1Rsa,
            "ENCRYPTED PRIVATE KEY" => return Err(invalid("encrypted keys are not supported")),
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
                saw_public = true;
                continue;
            }
            _ => continue,
        };
        if body.contains(':') {
            return Err(invalid("encrypted (Proc-Type) PEM keys are not supported"));
        }
        let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(base64).map_err(|_| invalid("PEM body is not base64"))?;
        if found.replace((format, der)).is_some() {
            return Err(invalid("the PEM holds more than one private key"));
        }
    }
    found.ok_or_else(|| match saw_public {
        true => invalid("the PEM holds a public key or certificate, not a private key"),
        false => invalid("no private key PEM block found"),
    })
}

fn rsa_pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Vec<u8>, KeyError> {
    let pair = RsaKeyPair::from_der(pkcs1).map_err(|rejected| invalid(format!("not a usable RSA key ({rejected})")))?;
    Ok(pair.as_der().map_err(reencoding)?.as_ref().to_vec())
}

fn reencoding(_: aws_lc_rs::error::Unspecified) -> KeyError {
    invalid("cannot re-encode the key as PKCS#8")
}

/// DER of a two-prime PKCS#1 `RSAPrivateKey` (version 0) from unsigned big-endian members in
/// RFC 8017 §A.1.2 order: n, e, d, p, q, dp, dq, qi.
fn rsa_private_key_der(members: &[&[u8]]) -> Vec<u8> {
    const VERSION_0: &[u8] = &[0];
    let mut body = Vec::new();
    for member in std::iter::once(&VERSION_0).chain(members) {
        push_unsigned_integer(&mut body, member);
    }
    let mut der = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut der, TAG_SEQUENCE, &body);
    der
}

fn push_unsigned_integer(out: &mut Vec<u8>, big_endian: &[u8]) {
    let zeros = big_endian.iter().take_while(|byte| **byte == 0).count();
    let magnitude = big_endian.get(zeros..).unwrap_or_default();
    // Two's complement: zero is one 0x00 octet, and a set top bit needs a 0x00 in front.
    let pad = magnitude.first().is_none_or(|byte| byte & 0x80 != 0);
    let contents = [if pad { &[0u8][..] } else { &[] }, magnitude].concat();
    push_tlv(out, TAG_INTEGER, &contents);
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let length = contents.len().to_be_bytes();
    let significant = length.get(length.iter().take_while(|b| **b == 0).count()..);
    match contents.len() {
        short @ 0..=0x7f => out.push(short as u8),
        _ => {
            let significant = significant.unwrap_or_default();
            out.push(0x80 | significant.len() as u8);
            out.extend_from_slice(significant);
        }
    }
    out.extend_from_slice(contents);
}

/// Reads one definite-length TLV with the expected tag: (contents, what follows).
fn read_tlv(input: &[u8], expected_tag: u8) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first_length, mut rest) = rest.split_first().filter(|_| tag == expected_tag)?;
    let length = match first_length {
        short @ 0..=0x7f => usize::from(short),
        0x81..=0x84 => {
            let (length_bytes, after) = rest.split_at_checked(usize::from(first_length & 0x7f))?;
            rest = after;
            length_bytes.iter().fold(0, |length, byte| (length << 8) | usize::from(*byte))
        }
        _ => return None,
    };
    rest.split_at_checked(length)
}

#[cfg(test)]
mod tests {
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
}

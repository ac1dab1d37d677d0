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
#[cfg(test)]
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

/// The `privateKey` octets of a PKCS#8 `PrivateKeyInfo` (for RSA: the PKCS#1 `RSAPrivateKey`); the tests read
/// RSA keys' integers through it.
#[cfg(test)]
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
#[cfg(test)]
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
#[path = "jwk_der_tests.rs"]
mod tests;

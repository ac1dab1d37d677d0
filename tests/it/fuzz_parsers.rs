//! Property tests for every parser a peer can reach, the proptest twins of the cargo-fuzz targets in `fuzz/`:
//! tokens, JWKS and discovery documents here, the STS and RFC 8693 forms, config and policy files in `forms`,
//! introspection requests in `introspect`.
//! Arbitrary bytes, then structured inputs with an oracle (what must parse, what must be refused, and with which
//! result), then mutations of real vectors (`../shared/vectors`, by path, never copied) and of our own files.

mod forms;
mod introspect;

use std::path::Path;
use std::sync::LazyLock;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use tollgate::clock::UnixTime;
use tollgate::credentials::{SigningAlg, SigningKey};
use tollgate::issuers::{KeyMatch, KeySet, parse_allowed, parse_discovery, read_jwks_file};
use tollgate::verify::{self, ClaimRules, RawToken, VerifiedToken, VerifyError};

use crate::support::vectors;

const ISS: &str = "https://token.actions.githubusercontent.com";
const AUDIENCE: &str = "tollgate";
const NOW: i64 = 1_700_000_000;
const ED_HEADER: &str = r#"{"alg":"EdDSA","kid":"fuzz-ed","typ":"JWT"}"#;
/// HS256 is listed on purpose: it must never verify, whatever the configuration says.
const ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];

/// One fixed key set: a seeded Ed25519 key (kid `fuzz-ed`) and generated P-256 and RSA keys.
struct Fixture {
    keys: KeySet,
    ed: Ed25519KeyPair,
    es: SigningKey,
    rs: SigningKey,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let ed = Ed25519KeyPair::from_seed_unchecked(&[0x5a; 32]).unwrap();
    let ed_jwk =
        json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(ed.public_key()), "kid": "fuzz-ed"});
    let (es, rs) = (SigningKey::generate(SigningAlg::Es256).unwrap(), SigningKey::generate(SigningAlg::Rs256).unwrap());
    let jwks = json!({"keys": [ed_jwk, es.public_jwk(), rs.public_jwk()]});
    let keys = KeySet::parse(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 3);
    Fixture { keys, ed, es, rs }
});

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS over exactly these header and payload bytes, signed with the fixed Ed25519 key.
fn ed_signed(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    format!("{input}.{}", b64(FIXTURE.ed.sign(input.as_bytes())))
}

/// Every token entry point on one token; whatever verifies satisfies the fixed rules, and the three agree.
fn check(token: &RawToken) -> Result<VerifiedToken, VerifyError> {
    let audiences = [AUDIENCE.to_owned()];
    let rules = ClaimRules {
        issuer_name: "fuzz",
        iss: ISS,
        audiences: &audiences,
        leeway_secs: 60,
        max_lifetime_secs: 86_400,
        placeholder: None,
    };
    let verified = verify::verify_with_keys(token, &FIXTURE.keys, ALGORITHMS, &rules, UnixTime::from_secs(NOW));
    let signed = verify::verify_signature_only(token, &FIXTURE.keys, ALGORITHMS);
    let claims = verify::unverified_claims(token);
    if let Ok(verified) = &verified {
        assert_eq!((verified.iss(), verified.issuer_name()), (ISS, "fuzz"));
        assert!(!verified.sub().is_empty() && verified.audiences().iter().any(|a| a == AUDIENCE));
        assert!(verified.exp().as_secs() >= NOW - 60 && verified.iat().as_secs() <= NOW + 60);
        assert!(signed.is_ok(), "verified, yet the signature-only check failed");
        assert_eq!(claims.as_ref().ok(), Some(verified.claims()));
    }
    verified
}

/// The cross-claim rule on claims whose times are each valid: the window opens before it closes
/// (`nbf` < `exp`, `iat` ≤ `exp`) and lasts at most the rules' 86,400 s (`exp - iat`).
fn window_holds(claims: &Map<String, Value>) -> bool {
    let secs = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t.floor() as i64);
    let (Some(exp), Some(iat)) = (secs("exp"), secs("iat")) else { return false };
    secs("nbf").is_none_or(|nbf| exp > nbf) && exp >= iat && exp - iat <= 86_400
}

/// A registered claim: its value (`None`: absent) and whether the rules accept it. Accepted values come four times
/// in five, so tokens with exactly one bad claim are common.
fn claim(cases: Vec<(Option<Value>, bool)>) -> impl Strategy<Value = (Option<Value>, bool)> {
    let (good, bad): (Vec<_>, Vec<_>) = cases.into_iter().partition(|(_, ok)| *ok);
    prop_oneof![4 => proptest::sample::select(good), 1 => proptest::sample::select(bad)]
}

fn registered_claims() -> impl Strategy<Value = Vec<(&'static str, (Option<Value>, bool))>> {
    let time = |ok: &[i64], bad: &[i64]| {
        let mut cases: Vec<_> = ok.iter().map(|s| (Some(json!(NOW + s)), true)).collect();
        cases.extend(bad.iter().map(|s| (Some(json!(NOW + s)), false)));
        cases.extend([(Some(json!("1700000000")), false), (Some(json!(1.5e20)), false), (Some(json!(null)), false)]);
        cases
    };
    let mut exp = time(&[300, -60, 0], &[-61, -100_000]);
    exp.extend([(Some(json!(NOW as f64 + 0.5)), true), (None, false)]);
    let mut iat = time(&[0, 60, -3600], &[61]);
    iat.push((None, false));
    let mut nbf = time(&[0, 60, -10], &[61, 3600]);
    nbf.push((None, true));
    (
        claim(vec![
            (Some(json!(ISS)), true),
            (Some(json!(format!("{ISS}/"))), false),
            (Some(json!(1)), false),
            (None, false),
        ]),
        claim(vec![
            (Some(json!("repo:acme/web")), true),
            (Some(json!("")), false),
            (Some(json!(5)), false),
            (None, false),
        ]),
        claim(vec![
            (Some(json!(AUDIENCE)), true),
            (Some(json!(["x", AUDIENCE])), true),
            (Some(json!(["x"])), false),
            (Some(json!([])), false),
            (Some(json!([AUDIENCE, 1])), false),
            (Some(json!({"aud": AUDIENCE})), false),
            (None, false),
        ]),
        (claim(exp), claim(iat), claim(nbf)),
        claim(vec![(None, true), (Some(json!("j-1")), true), (Some(json!(7)), false)]),
    )
        .prop_map(|(iss, sub, aud, (exp, iat, nbf), jti)| {
            vec![("iss", iss), ("sub", sub), ("aud", aud), ("exp", exp), ("iat", iat), ("nbf", nbf), ("jti", jti)]
        })
}

/// Header parameters and whether the verifier lets a token carrying them reach the signature check.
fn header_extra() -> impl Strategy<Value = (Option<(&'static str, Value)>, bool)> {
    let refused = ["crit", "jku", "x5u", "jwk", "x5c", "b64", "zip", "enc"].map(|name| (Some((name, json!(1))), false));
    let mut cases = refused.to_vec();
    cases.extend([
        (None, true),
        (Some(("cty", json!("JWT"))), false),
        (Some(("cty", json!("json"))), true),
        (Some(("typ", json!("at+jwt"))), true),
        (Some(("x5t", json!("abc"))), true),
    ]);
    proptest::sample::select(cases)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_tokens_never_verify(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        text in "[A-Za-z0-9_.-]{0,400}",
    ) {
        for candidate in [String::from_utf8_lossy(&bytes).into_owned(), text] {
            if let Ok(token) = RawToken::parse(&candidate) {
                prop_assert!(check(&token).is_err(), "random text verified: {candidate}");
            }
        }
    }

    #[test]
    fn signed_claims_verify_exactly_when_the_rules_hold(
        registered in registered_claims(),
        extra in proptest::collection::btree_map("[a-z_]{1,8}", "[ -~]{0,12}", 0..4),
        signer in 0..3usize,
    ) {
        let mut claims: Map<String, Value> =
            extra.into_iter().map(|(k, v)| (format!("x_{k}"), Value::from(v))).collect();
        let mut expected = true;
        for (name, (value, ok)) in registered {
            expected &= ok;
            if let Some(value) = value {
                claims.insert(name.to_owned(), value);
            }
        }
        expected &= !expected || window_holds(&claims);
        let text = match signer {
            0 => ed_signed(ED_HEADER.as_bytes(), Value::Object(claims.clone()).to_string().as_bytes()),
            1 => FIXTURE.es.sign(&claims).unwrap(),
            _ => FIXTURE.rs.sign(&claims).unwrap(),
        };
        let token = RawToken::parse(&text).unwrap();
        let verified = check(&token);
        prop_assert_eq!(verified.is_ok(), expected, "{:?} for {:?}", verified.err(), claims);
        prop_assert_eq!(verify::unverified_claims(&token).unwrap(), claims);
    }

    #[test]
    fn only_allowed_headers_reach_a_good_signature(
        alg in proptest::sample::select(vec!["EdDSA", "ES256", "RS256", "HS256", "none", "PS256", "eddsa"]),
        kid in proptest::sample::select(vec![Some("fuzz-ed"), None, Some("zz"), Some("")]),
        (extra, extra_ok) in header_extra(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut header = json!({"alg": alg});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        if let Some((name, value)) = extra {
            header[name] = value;
        }
        let token = RawToken::parse(&ed_signed(header.to_string().as_bytes(), &payload)).unwrap();
        let signed = verify::verify_signature_only(&token, &FIXTURE.keys, ALGORITHMS);
        let expected = alg == "EdDSA" && kid == Some("fuzz-ed") && extra_ok;
        prop_assert_eq!(signed.as_ref().ok(), expected.then_some(&payload), "{} -> {:?}", header, signed);
    }

    #[test]
    fn arbitrary_key_sets_hold_at_most_100_keys(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(set) = KeySet::parse(&bytes) {
            prop_assert!((1..=100).contains(&set.len()));
        }
    }

    #[test]
    fn structured_key_sets_keep_exactly_the_usable_keys(keys in proptest::collection::vec(jwk(), 0..8)) {
        let usable = keys.iter().filter(|(_, ok)| *ok).count();
        let doc = json!({"keys": keys.iter().enumerate().map(|(i, (k, _))| {
            let mut k = k.clone();
            k["kid"] = json!(format!("k{i}"));
            k
        }).collect::<Vec<_>>()});
        match KeySet::parse(doc.to_string().as_bytes()) {
            Ok(set) => {
                prop_assert_eq!(set.len(), usable);
                for (i, (_, ok)) in keys.iter().enumerate() {
                    prop_assert_eq!(matches!(set.find(Some(&format!("k{i}"))), KeyMatch::Found(_)), *ok);
                }
            }
            Err(error) => prop_assert!(usable == 0, "{error} with {usable} usable keys"),
        }
    }

    #[test]
    fn more_than_100_keys_are_refused(count in 95..106usize) {
        let key = FIXTURE.es.public_jwk();
        let keys: Vec<_> = (0..count)
            .map(|i| {
                let mut k = key.clone();
                k.insert("kid".into(), json!(i.to_string()));
                k
            })
            .collect();
        let parsed = KeySet::parse(json!({ "keys": keys }).to_string().as_bytes());
        prop_assert_eq!(parsed.map(|set| set.len()).ok(), (count <= 100).then_some(count));
    }

    #[test]
    fn discovery_documents_yield_only_allowed_uris(
        issuer in proptest::sample::select(vec![ISS, "http://127.0.0.1:8080/dev/issuer/github"]),
        named in proptest::sample::select(vec![(0, true), (1, false), (2, false)]),
        (uri, uri_ok_https, uri_ok_http) in proptest::sample::select(vec![
            ("https://token.actions.githubusercontent.com/.well-known/jwks", true, true),
            ("https://keys.example/jwks", true, true),
            ("http://127.0.0.1:9/jwks", false, true),
            ("http://localhost/jwks", false, true),
            ("http://example.com/jwks", false, false),
            ("https://user:pw@example.com/jwks", false, false),
            ("ftp://127.0.0.1/jwks", false, false),
            ("not a url", false, false),
        ]),
        junk in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let names = [issuer.to_owned(), format!("{issuer}/"), "https://evil.example".to_owned()];
        let doc = json!({"issuer": names[named.0], "jwks_uri": uri, "extra": String::from_utf8_lossy(&junk)});
        let result = parse_discovery(doc.to_string().as_bytes(), issuer, "https://fetched/from");
        let uri_ok = if issuer.starts_with("https:") { uri_ok_https } else { uri_ok_http };
        prop_assert_eq!(result.as_deref().ok(), (named.1 && uri_ok).then_some(uri), "{:?}", result);
        let raw = parse_discovery(&junk, issuer, "https://fetched/from");
        prop_assert!(raw.is_err());
    }
}

/// A public JWK, sometimes spoilt, and whether `KeySet::parse` must keep it.
fn jwk() -> impl Strategy<Value = (Value, bool)> {
    let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(FIXTURE.ed.public_key())});
    let bases =
        vec![ed, Value::Object(FIXTURE.es.public_jwk().clone()), Value::Object(FIXTURE.rs.public_jwk().clone())];
    let spoilers: Vec<(&str, Value, bool)> = vec![
        ("", json!(null), true),
        ("use", json!("enc"), false),
        ("use", json!("sig"), true),
        ("key_ops", json!(["encrypt"]), false),
        ("key_ops", json!(["verify", "sign"]), true),
        ("d", json!("AAAA"), false),
        ("alg", json!("HS256"), false),
        ("alg", json!("none"), false),
        ("kty", json!("oct"), false),
        ("kty", json!(5), false),
        ("x", json!("AAAA"), false),
        ("crv", json!("P-521"), false),
    ];
    (proptest::sample::select(bases), proptest::sample::select(spoilers)).prop_map(|(mut key, (name, value, ok))| {
        let is_rsa = key["kty"] == "RSA";
        if !name.is_empty() {
            key[name] = value;
        }
        // RSA keys have no x or crv: spoiling those leaves them usable.
        (key, ok || (is_rsa && matches!(name, "x" | "crv")))
    })
}

/// The real GitHub Actions tokens with their own key set, acceptance instant and audience.
fn github_tokens(dir: &Path) -> Vec<(String, KeySet, i64, String)> {
    let gh = dir.join("github-actions");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(gh.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["tokens"].as_array().unwrap();
    entries
        .iter()
        .map(|e| {
            let token = std::fs::read_to_string(gh.join(e["file"].as_str().unwrap())).unwrap().trim().to_owned();
            let keys = read_jwks_file(&gh.join(e["jwks"].as_str().unwrap()), 1 << 20).unwrap();
            let expect = &e["expect"];
            let audience = expect["accept_with_audience"].as_str().unwrap().to_owned();
            (token, keys, expect["accept_at_unix"].as_i64().unwrap(), audience)
        })
        .collect()
}

#[test]
fn mutated_real_tokens_never_verify() {
    let Some(dir) = vectors() else { return };
    let tokens = github_tokens(&dir);
    let verify_real = |text: &str, (_, keys, at, audience): &(String, KeySet, i64, String)| {
        let audiences = [audience.clone()];
        let rules = ClaimRules {
            issuer_name: "github",
            iss: ISS,
            audiences: &audiences,
            leeway_secs: 60,
            max_lifetime_secs: 86_400,
            placeholder: None,
        };
        let token = RawToken::parse(text).ok()?;
        verify::verify_with_keys(&token, keys, &[Algorithm::RS256], &rules, UnixTime::from_secs(*at)).ok()
    };
    for entry in &tokens {
        assert!(verify_real(&entry.0, entry).is_some(), "the unmutated token must verify");
    }
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.".chars().collect();
    let strategy = (0..tokens.len(), any::<proptest::sample::Index>(), proptest::sample::select(alphabet));
    let mut runner = TestRunner::new(Config::with_cases(200));
    runner
        .run(&strategy, |(which, at, replacement)| {
            let entry = &tokens[which];
            let mut chars: Vec<char> = entry.0.chars().collect();
            let index = at.index(chars.len());
            chars[index] = replacement;
            let mutated: String = chars.into_iter().collect();
            prop_assert!(mutated == entry.0 || verify_real(&mutated, entry).is_none(), "{mutated} verified");
            if let Ok(token) = RawToken::parse(&mutated) {
                let _ = verify::verify_signature_only(&token, &entry.1, ALGORITHMS);
                let _ = check(&token);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn mutated_real_key_sets_and_discovery_documents() {
    let Some(dir) = vectors() else { return };
    let gh = dir.join("github-actions");
    // (bytes, keys it holds): every key GitHub publishes is usable, so no edit can make the set grow.
    let mut files: Vec<(Vec<u8>, usize)> = ["jwks_github_2022-2023.json", "jwks_github_2025-2026.json"]
        .iter()
        .map(|name| {
            let bytes = std::fs::read(gh.join(name)).unwrap();
            let published = serde_json::from_slice::<Value>(&bytes).unwrap()["keys"].as_array().unwrap().len();
            assert_eq!(KeySet::parse(&bytes).unwrap().len(), published, "{name}");
            (bytes, published)
        })
        .collect();
    let discovery = std::fs::read(gh.join("openid-configuration_github_2023.json")).unwrap();
    assert!(parse_discovery(&discovery, ISS, "https://x").is_ok());
    files.push((discovery, 0));
    let strategy = (0..files.len(), proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4));
    TestRunner::new(Config::with_cases(300))
        .run(&strategy, |(which, edits)| {
            let (original, keys) = &files[which];
            let mut bytes = original.clone();
            for (at, byte) in &edits {
                let index = at.index(bytes.len());
                bytes[index] = *byte;
            }
            if let Ok(set) = KeySet::parse(&bytes) {
                prop_assert!(set.len() <= *keys, "{} keys from a set of {keys}", set.len());
            }
            if let Ok(uri) = parse_discovery(&bytes, ISS, "https://x") {
                let parsed = parse_allowed(&uri).unwrap();
                prop_assert_eq!(parsed.scheme(), "https");
            }
            Ok(())
        })
        .unwrap();
}

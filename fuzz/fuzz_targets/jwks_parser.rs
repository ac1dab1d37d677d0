//! Fuzz target: any bytes as a JWKS document (`KeySet::parse`). Parsing must never panic; a set that parses holds
//! 1 to 100 keys, selection by `kid` finds the key that carries it, and no key ever allows an HMAC algorithm.
#![no_main]

use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate::issuers::{KeyMatch, KeySet};

const MAX_KEYS: usize = 100;

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::parse(data) else { return };
    assert!(!set.is_empty() && set.len() <= MAX_KEYS, "{} keys", set.len());
    match set.find(None) {
        KeyMatch::Found(key) => {
            assert_eq!(set.len(), 1);
            assert_no_hmac(&key);
        }
        KeyMatch::KidRequired => assert!(set.len() > 1),
        KeyMatch::UnknownKid => panic!("no kid asked, yet UnknownKid"),
    }
    // Not every set that parses is a Value: serde_json skips the members it ignores without validating UTF-8.
    let Ok(doc) = serde_json::from_slice::<Value>(data) else { return };
    let kids = doc.get("keys").and_then(Value::as_array).into_iter().flatten().filter_map(|k| k.get("kid")?.as_str());
    for kid in kids {
        if let KeyMatch::Found(key) = set.find(Some(kid)) {
            assert_eq!(key.kid(), Some(kid));
            assert_no_hmac(&key);
        }
    }
});

fn assert_no_hmac(key: &tollgate::issuers::VerifyKey) {
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        assert!(!key.allows(alg), "a published key allows {alg:?}");
    }
}

//! Fuzz target: any bytes as an OIDC discovery document (`issuers::parse_discovery`), for an https issuer, a
//! loopback http issuer and the issuer the document itself names. Parsing must never panic; a `jwks_uri` that is
//! returned is allowed, and https for an https issuer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate::issuers::{parse_allowed, parse_discovery};

const ISSUERS: [&str; 2] = ["https://token.actions.githubusercontent.com", "http://127.0.0.1:8080/dev/issuer/github"];

fuzz_target!(|data: &[u8]| {
    let named = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|doc| doc.get("issuer").and_then(Value::as_str).map(str::to_owned));
    for issuer in ISSUERS.iter().copied().chain(named.as_deref()) {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let Ok(jwks_uri) = parse_discovery(data, issuer, &url) else { continue };
        let parsed = parse_allowed(&jwks_uri).expect("a returned jwks_uri is allowed");
        if issuer.starts_with("https:") {
            assert_eq!(parsed.scheme(), "https", "{issuer} -> {jwks_uri}");
        }
        // Only the issuer the document names is accepted. (Not checked against `named`: serde_json skips the
        // members it ignores without validating their UTF-8, so a document may parse here and not as a Value.)
        let other = format!("{issuer}x");
        assert!(parse_discovery(data, &other, &url).is_err(), "accepted for {issuer} and for {other}");
    }
});

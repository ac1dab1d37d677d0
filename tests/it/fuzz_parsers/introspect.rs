//! Property tests of `POST /introspect`'s parsing (the proptest twin of `fuzz/fuzz_targets/introspect_request.rs`):
//! any header value and body give a summary or one of the two stable codes, never a panic; HTTP Basic
//! credentials round-trip through RFC 6749's form encoding and base64, whatever characters name and secret hold;
//! a form with the token twice, none, or one over 16 KiB is refused.

use base64::Engine as _;
use proptest::prelude::*;
use tollgate::http::fuzzing::introspect_request;

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_headers_and_bodies_answer_a_summary_or_a_stable_code(
        header in "[ -~]{0,80}",
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let raw_header = String::from_utf8_lossy(&raw).into_owned();
        for header in [header, raw_header, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&raw))] {
            match introspect_request(&header, &body) {
                Ok(summary) => prop_assert!(!summary.secret.is_empty() && !summary.token.is_empty()),
                Err(code) => prop_assert!(matches!(code, "invalid_client" | "invalid_request"), "{}", code),
            }
        }
    }

    #[test]
    fn basic_credentials_round_trip_whatever_they_contain(
        name in "[^:]{0,30}",
        secret in "\\PC{1,40}",
        token in "[A-Za-z0-9._-]{1,100}",
    ) {
        let pair = format!("{}:{}", form_encode(&name), form_encode(&secret));
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
        let body = format!("token={token}&token_type_hint=access_token");
        let summary = introspect_request(&header, body.as_bytes()).unwrap();
        prop_assert_eq!(summary.client.as_deref(), Some(name.as_str()));
        prop_assert_eq!(&summary.secret, &secret);
        prop_assert_eq!(&summary.token, &token);
        let bearer = introspect_request(&format!("Bearer {}", form_encode(&secret)), body.as_bytes()).unwrap();
        prop_assert_eq!(bearer.client, None);
    }
}

#[test]
fn a_missing_repeated_or_oversized_token_is_refused_and_credentials_come_first() {
    let bearer = "Bearer s3cret";
    assert_eq!(introspect_request(bearer, b"token=a").map(|s| s.token), Ok("a".to_owned()));
    assert_eq!(introspect_request(bearer, b"token=a&token=b"), Err("invalid_request"));
    assert_eq!(introspect_request(bearer, b"token_type_hint=x"), Err("invalid_request"));
    assert_eq!(introspect_request(bearer, b"token="), Err("invalid_request"));
    let big = format!("token={}", "a".repeat(16 * 1024 + 1));
    assert_eq!(introspect_request(bearer, big.as_bytes()), Err("invalid_request"));
    for header in ["", "Bearer ", "Bearer", "Basic !!!", "Basic Zm9v", "Digest x", "bearer  "] {
        assert_eq!(introspect_request(header, b"token=a"), Err("invalid_client"), "{header:?}");
    }
    assert_eq!(introspect_request("bEaReR  spaced ", b"token=a").map(|s| s.secret), Ok("spaced".to_owned()));
}

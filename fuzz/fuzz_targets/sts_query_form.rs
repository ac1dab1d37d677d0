//! Fuzz target: any bytes as an STS Query request, `query-string \n form-body` (no newline: body only), through
//! the STS front door's parameter parsing and validation. Must never panic; a request that passes has a role ARN
//! of 20..=2048 characters, a session name AWS accepts, a duration within 900..=43200 and a bounded token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::http::fuzzing::sts_query;
use tollgate::verify::MAX_TOKEN_BYTES;

const CODES: [&str; 4] = ["MissingAction", "InvalidAction", "ValidationError", "InvalidIdentityToken"];

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => {
            let Ok(query) = std::str::from_utf8(data.get(..at).unwrap_or_default()) else { return };
            (Some(query), data.get(at + 1..).unwrap_or_default())
        }
        None => (None, data),
    };
    match sts_query(query, body) {
        Ok(request) => {
            assert!((20..=2048).contains(&request.role_arn.chars().count()));
            assert!((2..=64).contains(&request.session_name.chars().count()));
            assert!(request.session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)));
            assert!(request.duration_secs.is_none_or(|d| (900..=43_200).contains(&d)));
            assert!(request.policy.as_ref().is_none_or(|p| (1..=2048).contains(&p.len())));
            assert!((1..=MAX_TOKEN_BYTES).contains(&request.token_len));
        }
        Err(code) => assert!(CODES.contains(&code), "unexpected code {code}"),
    }
});

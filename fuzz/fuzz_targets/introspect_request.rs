//! Fuzz target: any bytes as `POST /introspect`'s Authorization header value (the first line) and form body (the
//! rest), through the endpoint's credential and form parsing. Must never panic; a request that passes carries a
//! secret and a token, and a refusal is one of the two stable codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::http::fuzzing::introspect_request;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => data.split_at(at),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    match introspect_request(&header, body.get(1..).unwrap_or_default()) {
        Ok(request) => assert!(!request.secret.is_empty() && !request.token.is_empty()),
        Err(code) => assert!(matches!(code, "invalid_client" | "invalid_request"), "unexpected code {code}"),
    }
});

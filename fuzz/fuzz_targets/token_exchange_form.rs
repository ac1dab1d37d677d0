//! Fuzz target: any bytes as an RFC 8693 token-exchange form body, through the `/token` front door's decoding and
//! validation. Must never panic; a form that passes names exactly one role (no whitespace) and answers only the
//! two error codes form checks may give.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::http::fuzzing::token_form;

fuzz_target!(|data: &[u8]| {
    match token_form(data) {
        Ok(form) => {
            assert!(!form.role.is_empty(), "an empty role");
            assert!(!form.role.chars().any(char::is_whitespace), "more than one role: {:?}", form.role);
        }
        Err(code) => assert!(matches!(code, "invalid_request" | "unsupported_grant_type"), "unexpected code {code}"),
    }
});

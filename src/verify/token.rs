//! The inbound token as bytes: size and charset checks, compact-JWS splitting, strict base64url, and the
//! untrusted header with every parameter Tollgate refuses.
//!
//! Nothing here is trusted: the header only names an algorithm to check against an allow-list and a `kid`
//! to select among configured keys.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::VerifyError;

/// Largest token accepted, in bytes (CI tokens are 1–3 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A compact-serialised JWT as received: bounded in size, base64url characters and dots only.
/// Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct RawToken(String);

impl RawToken {
    pub fn parse(text: &str) -> Result<Self, VerifyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VerifyError::Malformed("the token is empty".into()));
        }
        if text.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::TooLarge);
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return Err(VerifyError::Malformed("the token holds characters outside base64url and '.'".into()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawToken(<{} bytes, redacted>)", self.0.len())
    }
}

/// The JOSE header, as the (unverified) sender wrote it.
#[derive(Debug, Deserialize)]
pub struct UntrustedHeader {
    pub alg: String,
    pub kid: Option<String>,
    cty: Option<String>,
    crit: Option<serde_json::Value>,
    jku: Option<serde_json::Value>,
    x5u: Option<serde_json::Value>,
    jwk: Option<serde_json::Value>,
    x5c: Option<serde_json::Value>,
    enc: Option<serde_json::Value>,
    b64: Option<serde_json::Value>,
    zip: Option<serde_json::Value>,
}

/// A split compact JWS.
pub struct Jws<'a> {
    pub header: UntrustedHeader,
    /// `base64(header) "." base64(payload)`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub payload: Vec<u8>,
    /// The signature, decoded.
    pub signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    pub fn split(token: &'a RawToken) -> Result<Self, VerifyError> {
        let text = token.as_str();
        let parts: Vec<&str> = text.split('.').collect();
        let [header_b64, payload_b64, signature_b64] = parts.as_slice() else {
            if parts.len() == 5 {
                return Err(VerifyError::Encrypted);
            }
            return Err(VerifyError::Malformed(format!("expected 3 dot-separated parts, found {}", parts.len())));
        };
        let header_bytes = decode(header_b64, "header")?;
        let header: UntrustedHeader = serde_json::from_slice(&header_bytes).map_err(|e| {
            let reason = crate::text::shorten(&e.to_string());
            VerifyError::Malformed(format!("header is not a JSON object with \"alg\": {reason}"))
        })?;
        header.refuse_unsupported()?;
        // An empty payload is a valid JWS (RFC 7515); it is refused later as "not a JSON object".
        let payload = if payload_b64.is_empty() { Vec::new() } else { decode(payload_b64, "payload")? };
        let signature = decode(signature_b64, "signature")?;
        if signature.is_empty() {
            return Err(VerifyError::Malformed("the signature is empty".into()));
        }
        let signing_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = text.as_bytes().get(..signing_len).unwrap_or_default();
        Ok(Self { header, signing_input, payload, signature })
    }
}

impl UntrustedHeader {
    fn refuse_unsupported(&self) -> Result<(), VerifyError> {
        if self.enc.is_some() {
            return Err(VerifyError::Encrypted);
        }
        if self.alg == "none" {
            return Err(VerifyError::AlgorithmNotAllowed("none".into()));
        }
        let refused = [
            ("crit", self.crit.is_some()),
            ("jku", self.jku.is_some()),
            ("x5u", self.x5u.is_some()),
            ("jwk", self.jwk.is_some()),
            ("x5c", self.x5c.is_some()),
            ("b64", self.b64.is_some()),
            ("zip", self.zip.is_some()),
        ];
        if let Some((name, _)) = refused.iter().find(|(_, present)| *present) {
            return Err(VerifyError::UnsupportedHeader(name));
        }
        if self.cty.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("JWT")) {
            return Err(VerifyError::Encrypted);
        }
        Ok(())
    }
}

/// Strict base64url: no padding, no `+`/`/`, canonical trailing bits.
fn decode(part: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    if part.is_empty() {
        return Err(VerifyError::Malformed(format!("the {what} is empty")));
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| VerifyError::Malformed(format!("the {what} is not valid base64url")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(header: &str) -> RawToken {
        RawToken::parse(&format!("{}.{}.c2ln", b64(header), b64(r#"{"iss":"x"}"#))).unwrap()
    }

    #[test]
    fn raw_token_limits() {
        assert!(matches!(RawToken::parse(""), Err(VerifyError::Malformed(_))));
        assert!(matches!(RawToken::parse(&"a".repeat(MAX_TOKEN_BYTES + 1)), Err(VerifyError::TooLarge)));
        assert!(matches!(RawToken::parse("a.b.c d"), Err(VerifyError::Malformed(_))));
        assert!(matches!(RawToken::parse("a.b+c.d"), Err(VerifyError::Malformed(_))));
        assert_eq!(format!("{:?}", RawToken::parse("abc.def.ghi").unwrap()), "RawToken(<11 bytes, redacted>)");
    }

    #[test]
    fn header_parameters_that_are_refused() {
        let cases: &[(&str, &str)] = &[
            (r#"{"alg":"none"}"#, "none"),
            (r#"{"alg":"RS256","crit":["exp"]}"#, "crit"),
            (r#"{"alg":"RS256","jku":"https://evil/jwks"}"#, "jku"),
            (r#"{"alg":"RS256","x5u":"https://evil/cert"}"#, "x5u"),
            (r#"{"alg":"RS256","jwk":{"kty":"EC"}}"#, "jwk"),
            (r#"{"alg":"RS256","x5c":["MII"]}"#, "x5c"),
            (r#"{"alg":"RS256","b64":false}"#, "b64"),
            (r#"{"alg":"RS256","cty":"JWT"}"#, "nested"),
            (r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#, "jwe"),
            (r#"{"kid":"x"}"#, "no alg"),
            (r#"[1]"#, "not object"),
        ];
        for (header, why) in cases {
            assert!(Jws::split(&token(header)).is_err(), "{why}");
        }
        assert!(Jws::split(&token(r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#)).is_ok());
    }

    #[test]
    fn shapes_and_base64_are_strict() {
        let good_header = b64(r#"{"alg":"RS256"}"#);
        let cases = [
            format!("{good_header}.e30"),
            format!("{good_header}.e30.c2ln.x.y"),
            format!("{good_header}..c2ln"), // empty payload: splits, refused when the claims are read
            format!("{good_header}.e30."),
            format!("{good_header}.e30.c2lu"),
            ".e30.c2ln".to_owned(),
        ];
        assert!(matches!(Jws::split(&RawToken::parse(&cases[1]).unwrap()), Err(VerifyError::Encrypted)));
        assert!(Jws::split(&RawToken::parse(&cases[2]).unwrap()).unwrap().payload.is_empty());
        for case in [&cases[0], &cases[3], &cases[5]] {
            assert!(Jws::split(&RawToken::parse(case).unwrap()).is_err(), "{case}");
        }
        // "c2lv" decodes; "c2lx" has non-zero trailing bits in the last char and must be refused.
        assert!(decode("c2k", "x").is_ok());
        assert!(decode("c2l", "x").is_err());
        let raw = RawToken::parse(&cases[4]).unwrap();
        let split = Jws::split(&raw).unwrap();
        assert_eq!(split.signing_input, format!("{good_header}.e30").as_bytes());
    }
}

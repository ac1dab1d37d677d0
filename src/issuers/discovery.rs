//! OIDC discovery documents (`/.well-known/openid-configuration`) of trusted issuers: bytes in, `jwks_uri` out.
//!
//! Pure: reads only `issuer` and `jwks_uri`, checks that the document names the issuer it was fetched for and that
//! the key set's URL is allowed (`fetch::parse_allowed`; an https issuer needs an https `jwks_uri`). It does no I/O
//! (`fetch` gets the bytes) and never sees a token.

use serde::Deserialize;

use super::fetch::{FetchError, parse_allowed};

/// Parses a discovery document fetched from `url` for `issuer` and returns its `jwks_uri`.
pub fn parse_discovery(body: &[u8], issuer: &str, url: &str) -> Result<String, FetchError> {
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let doc: Discovery = serde_json::from_slice(body)
        .map_err(|e| FetchError::Discovery { url: url.to_owned(), reason: e.to_string() })?;
    if doc.issuer != issuer {
        return Err(FetchError::Discovery {
            url: url.to_owned(),
            reason: format!("it names issuer {:?}, expected {issuer:?}", doc.issuer),
        });
    }
    let jwks_uri = parse_allowed(&doc.jwks_uri)?;
    if issuer.starts_with("https:") && jwks_uri.scheme() != "https" {
        return Err(FetchError::InsecureUrl(doc.jwks_uri));
    }
    Ok(doc.jwks_uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    const URL: &str = "https://token.actions.githubusercontent.com/.well-known/openid-configuration";

    fn parse(doc: serde_json::Value, issuer: &str) -> Result<String, FetchError> {
        parse_discovery(doc.to_string().as_bytes(), issuer, URL)
    }

    #[test]
    fn returns_the_jwks_uri_of_the_same_issuer() {
        let doc = serde_json::json!({"issuer": GITHUB, "jwks_uri": format!("{GITHUB}/.well-known/jwks"), "x": [1]});
        assert_eq!(parse(doc, GITHUB).unwrap(), format!("{GITHUB}/.well-known/jwks"));
        let local = "http://127.0.0.1:8080/dev/issuer/github";
        let doc = serde_json::json!({"issuer": local, "jwks_uri": format!("{local}/jwks")});
        assert_eq!(parse(doc, local).unwrap(), format!("{local}/jwks"));
    }

    #[test]
    fn refuses_another_issuer_a_bad_uri_and_malformed_json() {
        let other = serde_json::json!({"issuer": "https://evil.example", "jwks_uri": "https://evil.example/jwks"});
        assert!(matches!(parse(other, GITHUB), Err(FetchError::Discovery { .. })));
        let downgrade = serde_json::json!({"issuer": GITHUB, "jwks_uri": "http://127.0.0.1/jwks"});
        assert!(matches!(parse(downgrade, GITHUB), Err(FetchError::InsecureUrl(_))));
        let plain = serde_json::json!({"issuer": GITHUB, "jwks_uri": "http://example.com/jwks"});
        assert!(matches!(parse(plain, GITHUB), Err(FetchError::InsecureUrl(_))));
        let missing = serde_json::json!({"issuer": GITHUB});
        assert!(matches!(parse(missing, GITHUB), Err(FetchError::Discovery { .. })));
        for body in [&b"[]"[..], b"", b"{\"issuer\":1,\"jwks_uri\":\"x\"}", b"\xff"] {
            assert!(matches!(parse_discovery(body, GITHUB, URL), Err(FetchError::Discovery { .. })));
        }
    }
}

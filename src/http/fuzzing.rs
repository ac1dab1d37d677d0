//! Entry points for fuzz targets and property tests into the front doors' form parsers and the introspection
//! endpoint's client credentials (hidden from the docs).
//!
//! Thin wrappers: bytes in, a small summary or the stable error code out, so the parsers' own types stay private
//! to `http`. They run exactly the code the handlers run before any broker call; nothing here is served.

use super::{introspect, sts_query, token_exchange};

/// What an STS `AssumeRoleWithWebIdentity` request that passed validation asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsSummary {
    pub role_arn: String,
    pub session_name: String,
    pub duration_secs: Option<u32>,
    pub policy: Option<String>,
    /// Length of the (parsed, unverified) web identity token.
    pub token_len: usize,
}

/// What an RFC 8693 token-exchange form that passed validation asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFormSummary {
    /// The one role `scope` named.
    pub role: String,
    pub audience: Option<String>,
    pub subject_token: String,
}

/// The STS front door's parsing of a query string and a form body; `Err` is the AWS error code it answers.
pub fn sts_query(query: Option<&str>, body: &[u8]) -> Result<StsSummary, &'static str> {
    let params = sts_query::params(query, body);
    let parsed = sts_query::parse_assume(&params).map_err(|fault| fault.code)?;
    Ok(StsSummary {
        role_arn: parsed.role_arn.to_owned(),
        session_name: parsed.session_name.to_owned(),
        duration_secs: parsed.duration,
        policy: parsed.policy,
        token_len: parsed.token.as_str().len(),
    })
}

/// The RFC 8693 front door's parsing of a form body; `Err` is the OAuth error code it answers.
pub fn token_form(body: &[u8]) -> Result<TokenFormSummary, &'static str> {
    let form = token_exchange::parse_form(body).map_err(|error| error.code)?;
    Ok(TokenFormSummary { role: form.role, audience: form.audience, subject_token: form.subject_token })
}

/// What an introspection request that passed parsing carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntrospectSummary {
    /// The client name, when it came by HTTP Basic.
    pub client: Option<String>,
    pub secret: String,
    pub token: String,
}

/// `POST /introspect`'s parsing of the Authorization header's value and the form body; `Err` is the OAuth
/// error code it answers (`invalid_client` before the body is looked at).
pub fn introspect_request(authorization: &str, body: &[u8]) -> Result<IntrospectSummary, &'static str> {
    let (client, secret) = introspect::client_credentials(authorization).ok_or("invalid_client")?;
    let token = introspect::token_param(body).map_err(|_| "invalid_request")?;
    Ok(IntrospectSummary { client, secret, token })
}

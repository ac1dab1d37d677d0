//! Wire shapes of an exchange result: Tollgate JSON for tokens, the `aws sts assume-role-with-web-identity`
//! JSON for AWS credentials, shell `export` lines (`?format=env`), and the AWS CLI `credential_process` JSON.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use crate::broker::{Credential, Exchanged};

/// How the caller wants the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Env,
    CredentialProcess,
}

impl Format {
    /// `?format=` wins; otherwise `Accept: text/x-shellscript` means `env`.
    pub fn choose(query: Option<&str>, accept: Option<&str>) -> Result<Format, ApiError> {
        match query {
            Some("json") => Ok(Format::Json),
            Some("env") => Ok(Format::Env),
            Some("credential_process") => Ok(Format::CredentialProcess),
            Some(other) => {
                Err(ApiError::invalid_request(format!("format {other:?} is not one of json, env, credential_process")))
            }
            None if accept.is_some_and(|a| a.contains("text/x-shellscript")) => Ok(Format::Env),
            None => Ok(Format::Json),
        }
    }
}

pub fn render(exchanged: Exchanged, format: Format) -> Result<Response, ApiError> {
    let expiration = exchanged.expires_at.to_rfc3339();
    let response = match (exchanged.credential, format) {
        (Credential::Token { access_token, .. }, Format::Json) => Json(json!({
            "access_token": access_token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_type": "Bearer",
            "expires_in": exchanged.expires_in,
            "expiration": expiration,
        }))
        .into_response(),
        (Credential::Token { access_token, .. }, Format::Env) => {
            shell(&[("TOLLGATE_TOKEN", &access_token), ("TOLLGATE_TOKEN_EXPIRATION", &expiration)])
        }
        (Credential::Token { .. }, Format::CredentialProcess) => {
            return Err(ApiError::invalid_request("format credential_process needs a role with an aws grant"));
        }
        (Credential::Aws(c), Format::Json) => Json(json!({
            "Credentials": {
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key,
                "SessionToken": c.session_token,
                "Expiration": expiration,
            },
            "SubjectFromWebIdentityToken": c.subject_from_web_identity_token,
            "AssumedRoleUser": {"AssumedRoleId": c.assumed_role_id, "Arn": c.assumed_role_arn},
            "Provider": c.provider,
            "Audience": c.audience,
        }))
        .into_response(),
        (Credential::Aws(c), Format::Env) => shell(&[
            ("AWS_ACCESS_KEY_ID", &c.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &c.secret_access_key),
            ("AWS_SESSION_TOKEN", &c.session_token),
            ("AWS_CREDENTIAL_EXPIRATION", &expiration),
        ]),
        (Credential::Aws(c), Format::CredentialProcess) => Json(json!({
            "Version": 1,
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret_access_key,
            "SessionToken": c.session_token,
            "Expiration": expiration,
        }))
        .into_response(),
    };
    let mut response = response;
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// An error as shell that `eval` can run safely: the message to stderr, then a failing status. The HTTP status and
/// the JSON error code are kept (the code also in the message).
pub fn shell_error(error: ApiError) -> Response {
    let status = error.status();
    tracing::info!(status = status.as_u16(), error = error.code(), description = ?error.description(), "Request refused.");
    let line = format!("tollgate: {}: {}", error.code(), error.description());
    let body = format!("printf '%s\\n' {} >&2\nfalse\n", shell_quote(&line));
    let mut response = (status, [(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")], body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// `export NAME='value'` lines, safe for `eval` whatever the bytes of the value.
fn shell(pairs: &[(&str, &str)]) -> Response {
    let body: String = pairs.iter().map(|(name, value)| format!("export {name}={}\n", shell_quote(value))).collect();
    ([(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")], body).into_response()
}

/// Single-quotes a value for POSIX shells: `'` becomes `'\''`; nothing else is special inside single quotes.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_hostile_bytes() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /); `x` \"y\" \\ \n"), "'$(rm -rf /); `x` \"y\" \\ \n'");
    }

    #[test]
    fn errors_in_env_format_are_harmless_shell() {
        let error =
            ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "invalid_token", "issuer \"$(touch pwned)\" `x` it's");
        let response = shell_error(error);
        assert_eq!(response.status(), 401);
    }

    #[test]
    fn format_choice() {
        assert_eq!(Format::choose(None, None).unwrap(), Format::Json);
        assert_eq!(Format::choose(None, Some("text/x-shellscript")).unwrap(), Format::Env);
        assert_eq!(Format::choose(Some("json"), Some("text/x-shellscript")).unwrap(), Format::Json);
        assert_eq!(Format::choose(Some("credential_process"), None).unwrap(), Format::CredentialProcess);
        assert!(Format::choose(Some("yaml"), None).is_err());
    }
}

//! Front door 3: RFC 8693 token exchange at `POST /token` (form-encoded), with RFC 6749 §5.2 errors.
//!
//! Role selection rule: `scope` names the role (exactly one value); `audience` (or, if absent, `resource`)
//! picks one of the grant's audiences, default its first. Only roles with a token grant are exchangeable here:
//! an AWS grant answers `invalid_target` (use `/exchange` or the STS endpoint), but only once the token
//! verified and the policy allowed it, so the answer reveals nothing to anyone else.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::broker::{BrokerError, Credential, ExchangeRequest, FrontDoor, RequestContext};
use crate::verify::RawToken;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An RFC 6749 §5.2 error.
pub struct OAuthError {
    status: StatusCode,
    pub(super) code: &'static str,
    description: String,
    retry_after_secs: Option<u64>,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, description: description.into(), retry_after_secs: None }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::info!(error = self.code, description = ?self.description, "Token exchange refused.");
        let body = Json(json!({"error": self.code, "error_description": self.description}));
        let mut response = no_store((self.status, body).into_response());
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A decoded and checked token-exchange form; the subject token is not parsed yet.
pub(super) struct TokenForm {
    pub(super) subject_token: String,
    /// The one role `scope` names.
    pub(super) role: String,
    pub(super) audience: Option<String>,
}

/// Decodes the form and checks its parameters, up to (not including) the role lookup and the token.
pub(super) fn parse_form(body: &[u8]) -> Result<TokenForm, OAuthError> {
    let mut params: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body).into_owned() {
        params.entry(name).or_default().push(value);
    }
    let one = |name: &str| -> Result<Option<String>, OAuthError> {
        match params.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some(value.clone())),
            Some(_) => Err(OAuthError::new("invalid_request", format!("{name} may be given once"))),
        }
    };
    match one("grant_type")?.as_deref() {
        Some(GRANT_TYPE) => {}
        Some(other) => {
            return Err(OAuthError::new("unsupported_grant_type", format!("grant_type {other:?} is not supported")));
        }
        None => return Err(OAuthError::new("invalid_request", "grant_type is required")),
    }
    let subject_token =
        one("subject_token")?.ok_or_else(|| OAuthError::new("invalid_request", "subject_token is required"))?;
    match one("subject_token_type")?.as_deref() {
        Some(JWT | ID_TOKEN) => {}
        Some(other) => {
            return Err(OAuthError::new("invalid_request", format!("subject_token_type {other:?} is not supported")));
        }
        None => return Err(OAuthError::new("invalid_request", "subject_token_type is required")),
    }
    if one("actor_token")?.is_some() {
        return Err(OAuthError::new("invalid_request", "actor_token is not supported"));
    }
    if let Some(requested) = one("requested_token_type")?
        && requested != JWT
        && requested != ACCESS_TOKEN
    {
        return Err(OAuthError::new("invalid_request", format!("requested_token_type {requested:?} is not supported")));
    }
    let role = match one("scope")?.as_deref().map(str::split_whitespace).map(Iterator::collect::<Vec<_>>).as_deref() {
        Some([role]) => (*role).to_owned(),
        _ => return Err(OAuthError::new("invalid_request", "scope must name exactly one role")),
    };
    let audience = match one("audience")? {
        Some(audience) => Some(audience),
        None => one("resource")?,
    };
    Ok(TokenForm { subject_token, role, audience })
}

pub async fn token(
    State(state): State<Arc<AppState>>,
    context: Option<Extension<RequestContext>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let body = body.map_err(|_| OAuthError::new("invalid_request", "the body could not be read or is too large"))?;
    let TokenForm { subject_token, role, audience } = parse_form(&body)?;
    let token = RawToken::parse(&subject_token).map_err(|e| OAuthError::new("invalid_grant", e.to_string()))?;
    let request = ExchangeRequest {
        token: token.into(),
        role: role.clone(),
        role_arn: None,
        audience,
        ttl_secs: None,
        session_policy: None,
        tokens_only: true,
        front_door: FrontDoor::Token,
        context: context.map(|Extension(c)| c).unwrap_or_default(),
    };
    let exchanged = state.broker.exchange(request).await.map_err(oauth_error)?;
    let Credential::Token { access_token, .. } = exchanged.credential else {
        return Err(OAuthError::new("invalid_target", "this role issues AWS credentials"));
    };
    let body = Json(json!({
        "access_token": access_token,
        "issued_token_type": JWT,
        "token_type": "Bearer",
        "expires_in": exchanged.expires_in,
        "scope": role,
    }));
    Ok(no_store(body.into_response()))
}

fn oauth_error(error: BrokerError) -> OAuthError {
    let text = error.to_string();
    match error {
        BrokerError::Verify(verify) if verify.is_unavailable() => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            OAuthError { status, code: "temporarily_unavailable", description: text, retry_after_secs: Some(5) }
        }
        BrokerError::Verify(_)
        | BrokerError::Replayed { .. }
        | BrokerError::JtiRequired { .. }
        | BrokerError::RunnerRefused(_) => OAuthError::new("invalid_grant", text),
        BrokerError::StateUnavailable { .. } | BrokerError::RevocationsUnavailable { .. } => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            OAuthError { status, code: "temporarily_unavailable", description: text, retry_after_secs: Some(5) }
        }
        BrokerError::UnknownRole(_)
        | BrokerError::IssuerNotTrustedByRole { .. }
        | BrokerError::AudienceNotAcceptedByRole(_)
        | BrokerError::RoleUnavailable(_) => OAuthError::new("invalid_scope", text),
        BrokerError::RateLimited { retry_after_secs, .. } => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            OAuthError { status, code: "rate_limited", description: text, retry_after_secs: Some(retry_after_secs) }
        }
        BrokerError::AudienceNotGranted { .. } | BrokerError::GrantMismatch { .. } => {
            OAuthError::new("invalid_target", text)
        }
        BrokerError::Denied { .. }
        | BrokerError::NotBound { .. }
        | BrokerError::AccessDenied { .. }
        | BrokerError::Render { .. }
        | BrokerError::Revoked { .. } => OAuthError::new("unauthorized_client", text),
        BrokerError::Mint(_) | BrokerError::Upstream(_) => {
            tracing::error!(error = ?text, "Token exchange failed on our side.");
            OAuthError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "server_error",
                description: "internal error".into(),
                retry_after_secs: None,
            }
        }
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

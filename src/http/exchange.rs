//! Front door 1: `POST /exchange` — JSON body (or `Authorization: Bearer` with `role` in body or query) in,
//! a Tollgate token out. The bearer may also be a runner credential (`tgr_…`) instead of a CI token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::formats::{self, Format};
use crate::broker::{ExchangeRequest, FrontDoor, Presented, RequestContext};
use crate::operators::{Secret, SecretKind};
use crate::text::shorten;
use crate::verify::RawToken;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    token: Option<String>,
    role: Option<String>,
    audience: Option<String>,
    ttl_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeQuery {
    role: Option<String>,
    format: Option<String>,
}

pub async fn exchange(
    State(state): State<Arc<AppState>>,
    context: Option<Extension<RequestContext>>,
    query: Result<Query<ExchangeQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::invalid_request(format!("bad query string: {}", shorten(&e.body_text()))))?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::choose(query.format.as_deref(), accept)?;
    let result = async {
        let mut request = to_request(query, &headers, &body_bytes(body)?)?;
        request.context = context.map(|Extension(c)| c).unwrap_or_default();
        let exchanged = state.broker.exchange(request).await?;
        formats::render(exchanged, format)
    };
    match (result.await, format) {
        (Ok(response), _) => Ok(response),
        // Someone may `eval` this answer: errors, too, must be harmless shell.
        (Err(error), Format::Env) => Ok(formats::shell_error(error)),
        (Err(error), _) => Err(error),
    }
}

/// The exchange request as `/exchange` and `/explain` both take it.
pub(super) fn parse_request(
    query: Result<Query<ExchangeQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ExchangeRequest, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::invalid_request(format!("bad query string: {}", shorten(&e.body_text()))))?;
    to_request(query, headers, &body_bytes(body)?)
}

pub(super) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(),
        _ => ApiError::invalid_request(format!("could not read the body: {}", rejection.body_text())),
    })
}

fn to_request(query: ExchangeQuery, headers: &HeaderMap, body: &[u8]) -> Result<ExchangeRequest, ApiError> {
    let body: ExchangeBody = if body.iter().all(u8::is_ascii_whitespace) {
        ExchangeBody { token: None, role: None, audience: None, ttl_seconds: None }
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid_request(format!("the body is not a valid exchange request: {}", shorten(&e.to_string())))
        })?
    };
    let token = match (body.token, bearer(headers)?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request("send the token in the body or the Authorization header, not both"));
        }
        (Some(token), None) | (None, Some(token)) => token,
        (None, None) => {
            return Err(ApiError::invalid_request("missing \"token\" (or Authorization: Bearer)"));
        }
    };
    let role = match (body.role, query.role) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid_request("\"role\" differs between body and query"));
        }
        (Some(role), _) | (None, Some(role)) => role,
        (None, None) => return Err(ApiError::invalid_request("missing \"role\"")),
    };
    if role.is_empty() || role.len() > 128 {
        return Err(ApiError::invalid_request("\"role\" must be 1 to 128 characters"));
    }
    if body.ttl_seconds == Some(0) {
        return Err(ApiError::invalid_request("\"ttl_seconds\" must be positive"));
    }
    Ok(ExchangeRequest {
        token: presented(&token)?,
        role,
        role_arn: None,
        audience: body.audience,
        ttl_secs: body.ttl_seconds,
        session_policy: None,
        tokens_only: false,
        front_door: FrontDoor::Exchange,
        context: RequestContext::default(),
    })
}

/// A CI token, or a runner credential (`tgr_…`, checked for its prefix and checksum here).
fn presented(text: &str) -> Result<Presented, ApiError> {
    if text.starts_with(SecretKind::Runner.prefix()) {
        return Secret::parse(SecretKind::Runner, text)
            .map(Presented::Runner)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", e.to_string()));
    }
    Ok(RawToken::parse(text).map_err(ApiError::from)?.into())
}

fn bearer(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::invalid_request("the Authorization header is not ASCII"))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim().to_owned())),
        _ => Err(ApiError::invalid_request("the Authorization header must be \"Bearer <token>\"")),
    }
}

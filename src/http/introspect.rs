//! `POST /introspect` (RFC 7662) for relying parties: the caller authenticates with its bearer secret
//! (`Authorization: Bearer <secret>`, or HTTP Basic with its client name and secret), and posts
//! `token=<a Tollgate token>` form-encoded. The answer is `{"active": false}` for anything not active, else
//! `{"active": true, …claims}`; never cached. An unauthenticated call gets 401 `invalid_client` and learns
//! nothing about the token.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::AppState;
use crate::broker::Introspection;
use crate::verify::MAX_TOKEN_BYTES;

pub(super) async fn introspect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &state.metrics;
    let Some((name, secret)) = credentials(&headers) else {
        metrics.record_introspection("unauthenticated");
        return unauthenticated();
    };
    let Some(client) = state.broker.introspection_clients().authenticate(name.as_deref(), &secret) else {
        let client = name.as_deref().map(crate::text::shorten);
        tracing::info!(client = ?client, "Introspection refused: unknown client or wrong secret.");
        metrics.record_introspection("unauthenticated");
        return unauthenticated();
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return oauth(rejection.status(), "invalid_request", "the body could not be read"),
    };
    let token = match token_param(&body) {
        Ok(token) => token,
        Err(reason) => return oauth(StatusCode::BAD_REQUEST, "invalid_request", reason),
    };
    match state.broker.introspect(client, &token) {
        Ok(Introspection::Active(mut claims)) => {
            metrics.record_introspection("active");
            claims.insert("active".into(), Value::Bool(true));
            no_store(Json(Value::Object(claims)).into_response())
        }
        Ok(Introspection::Inactive) => {
            metrics.record_introspection("inactive");
            no_store(Json(json!({"active": false})).into_response())
        }
        Err(unavailable) => {
            metrics.record_introspection("unavailable");
            let mut response =
                oauth(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &unavailable.to_string());
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

/// `(client name if Basic, secret)` from the Authorization header.
fn credentials(headers: &HeaderMap) -> Option<(Option<String>, String)> {
    client_credentials(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// `(client name if Basic, secret)` from an Authorization header's value: `Bearer <secret>`, or
/// `Basic base64(name:secret)` with both parts form-encoded (RFC 6749 §2.3.1). Anything else is no credential.
pub(super) fn client_credentials(value: &str) -> Option<(Option<String>, String)> {
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let secret = rest.trim();
        return (!secret.is_empty()).then(|| (None, secret.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, secret) = text.split_once(':')?;
        let decode = |part: &str| percent_decode(&part.replace('+', " "));
        let (name, secret) = (decode(name)?, decode(secret)?);
        return (!secret.is_empty()).then_some((Some(name), secret));
    }
    None
}

/// Percent-decodes `text` (after `+` became a space); `None` when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        match (byte, hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).ok()?);
                index += 3;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The one `token` parameter of the form (other parameters, such as `token_type_hint`, are ignored).
pub(super) fn token_param(body: &[u8]) -> Result<String, &'static str> {
    let mut token = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == "token" {
            if token.is_some() {
                return Err("token is given more than once");
            }
            token = Some(value.into_owned());
        }
    }
    let token = token.filter(|token| !token.is_empty()).ok_or("the token parameter is missing")?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err("the token is too large");
    }
    Ok(token)
}

fn unauthenticated() -> Response {
    let mut response = oauth(StatusCode::UNAUTHORIZED, "invalid_client", "introspection needs a client's credentials");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tollgate\""));
    response
}

fn oauth(status: StatusCode, code: &'static str, description: &str) -> Response {
    no_store((status, Json(json!({"error": code, "error_description": description}))).into_response())
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

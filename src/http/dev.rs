//! Dev-mode routes (mounted only with `--dev`): the dev issuer's discovery and JWKS, and `POST /dev/token`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;
use super::exchange::body_bytes;
use crate::dev::{DevIssuer, DevProvider, DevTokenRequest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenBody {
    #[serde(default)]
    provider: Option<String>,
    audience: Option<String>,
    ttl_seconds: Option<u32>,
    #[serde(default)]
    claims: Map<String, Value>,
}

fn dev(state: &AppState) -> Result<&DevIssuer, ApiError> {
    state.dev.as_deref().ok_or_else(ApiError::not_found)
}

pub async fn github_discovery(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let dev = dev(&state)?;
    Ok(Json(dev.discovery(&dev.github_issuer())))
}

pub async fn semaphore_discovery(
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let dev = dev(&state)?;
    Ok(Json(dev.discovery(&dev.semaphore_issuer(&org))))
}

pub async fn jwks(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(dev(&state)?.jwks()))
}

pub async fn semaphore_jwks(
    State(state): State<Arc<AppState>>,
    Path(_org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(dev(&state)?.jwks()))
}

/// Mints a dev CI token. Body: `{"provider"?: "github"|"semaphore", "audience"?: "...", "ttl_seconds"?: 300, "claims"?: {...}}`.
pub async fn token(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let dev = dev(&state)?;
    let bytes = body_bytes(body)?;
    let body: DevTokenBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        DevTokenBody { provider: None, audience: None, ttl_seconds: None, claims: Map::new() }
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid_request(format!("bad dev token request: {e}")))?
    };
    let provider = match body.provider.as_deref() {
        None | Some("github") => DevProvider::Github,
        Some("semaphore") => DevProvider::Semaphore,
        Some(other) => {
            return Err(ApiError::invalid_request(format!("unknown provider {other:?}; use github or semaphore")));
        }
    };
    let request = DevTokenRequest {
        provider,
        audience: body.audience,
        ttl_secs: body.ttl_seconds.unwrap_or(300),
        claims: body.claims,
    };
    let token = dev.mint(request, state.broker.clock().now()).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/jwt")], token).into_response())
}

//! Tollgate as an OIDC issuer: `/.well-known/openid-configuration` and `/.well-known/jwks.json`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

pub async fn openid_configuration(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(state.broker.minter().discovery(state.broker.clock().now())),
    )
}

pub async fn jwks(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let cache_control = format!("public, max-age={}", crate::credentials::JWKS_MAX_AGE_SECS);
    ([(header::CACHE_CONTROL, cache_control)], Json(state.broker.minter().jwks(state.broker.clock().now())))
}

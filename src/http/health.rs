//! `/healthz` (the process answers) and `/readyz` (policies and signing key loaded, every fixed issuer's keys
//! fetched and younger than the maximum staleness, the state store answering when a policy needs it, and the
//! revocation view fresh). Public: issuer names and booleans only; fetch errors and URLs go to the log.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;

#[derive(Serialize)]
pub struct Readiness {
    ready: bool,
    policies: usize,
    issuers: Vec<IssuerReadiness>,
    /// Whether the state store answers; absent when no loaded policy records uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<bool>,
    /// Whether the revocation view is fresh enough to decide (when revocations are kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    revocations: Option<bool>,
}

#[derive(Serialize)]
struct IssuerReadiness {
    name: String,
    ready: bool,
    keys: usize,
    stale: bool,
    last_success: Option<String>,
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Readiness>) {
    let now = state.broker.clock().now();
    let issuers: Vec<IssuerReadiness> = state
        .broker
        .verifier()
        .issuers()
        .health(now)
        .into_iter()
        .map(|h| IssuerReadiness {
            ready: !h.status.unusable,
            keys: h.status.keys,
            stale: h.status.stale,
            last_success: h.status.last_success.map(|t| t.to_rfc3339()),
            name: h.name,
        })
        .collect();
    let policies = state.broker.policies().len();
    let state_ready = state.broker.store_ready().await;
    let revocations = state.broker.revocations().map(|view| view.is_fresh());
    let ready =
        policies > 0 && issuers.iter().all(|i| i.ready) && state_ready != Some(false) && revocations != Some(false);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { ready, policies, issuers, state: state_ready, revocations }))
}

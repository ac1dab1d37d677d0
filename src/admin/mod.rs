//! The operator listener: `GET /metrics` in the Prometheus text format, on its own address (config
//! `admin.listen`, default 127.0.0.1:9090). With `http/`, the only code that imports axum.
//!
//! Never merged into the public router: nothing here is reachable on the public listener, and nothing of the
//! public API is reachable here. Handlers only render what `metrics::Exporter` gathers.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::{Exporter, TEXT_FORMAT};

/// Path of the Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// The admin router; tests serve it on 127.0.0.1:0 themselves.
pub fn router(exporter: Arc<Exporter>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(exporter)
}

async fn metrics(State(exporter): State<Arc<Exporter>>) -> Response {
    match exporter.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "Rendering metrics failed.");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response()
        }
    }
}

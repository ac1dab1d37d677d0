//! The public HTTP listener: routes, the request body limit, and the front doors. With `admin/`, the only
//! code that imports axum.
//!
//! Handlers extract, convert to broker types, call the `Broker`, and convert back; `error.rs` is the one
//! place errors become status codes. `router` builds the app without a socket, so tests drive it directly.

mod context;
mod dev;
mod discovery;
pub mod error;
mod exchange;
mod explain;
mod formats;
mod health;
mod metrics;
mod sts_query;
mod token_exchange;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::dev::DevIssuer;
use crate::metrics::Metrics;
use error::ApiError;

/// Largest request body accepted on any route.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared state of every handler.
pub struct AppState {
    pub broker: Arc<Broker>,
    /// Present only in dev mode.
    pub dev: Option<Arc<DevIssuer>>,
    /// Counts requests by matched route (the admin listener serves them).
    pub metrics: Arc<Metrics>,
}

/// The public router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/exchange", post(exchange::exchange))
        .route("/explain", post(explain::explain))
        .route("/", post(sts_query::handle))
        .route("/sts", post(sts_query::handle))
        .route("/token", post(token_exchange::token))
        .route("/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if state.dev.is_some() {
        router = router
            .route("/dev/token", post(dev::token))
            .route("/dev/issuer/github/.well-known/openid-configuration", get(dev::github_discovery))
            .route("/dev/issuer/github/jwks", get(dev::jwks))
            .route("/dev/issuer/semaphore/{org}/.well-known/openid-configuration", get(dev::semaphore_discovery))
            .route("/dev/issuer/semaphore/{org}/jwks", get(dev::semaphore_jwks));
    }
    router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(context::middleware))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state.metrics), metrics::middleware))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}

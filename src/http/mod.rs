//! The public HTTP listener: routes, the listener limits (`limits`), serving with graceful shutdown and
//! optional TLS (`serve`), and the front doors. With `admin/`, the only code that imports axum.
//!
//! Handlers extract, convert to broker types, call the `Broker`, and convert back; `error.rs` is the one
//! place errors become status codes. `router` builds the app without a socket, so tests drive it directly.

pub mod context;
mod dev;
mod discovery;
pub mod error;
mod exchange;
mod explain;
mod formats;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod introspect;
pub mod limits;
mod metrics;
mod serve;
mod sts_query;
mod token_exchange;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::broker::Broker;
use crate::dev::DevIssuer;
use crate::limits::LimitsConfig;
use crate::metrics::Metrics;
use error::ApiError;
pub use serve::{ServeOptions, serve};

/// Shared state of every handler.
pub struct AppState {
    pub broker: Arc<Broker>,
    /// Present only in dev mode.
    pub dev: Option<Arc<DevIssuer>>,
    /// The public listener's limits.
    pub limits: LimitsConfig,
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
        .route("/introspect", post(introspect::introspect))
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
    let (limits, metrics) = (state.limits.clone(), Arc::clone(&state.metrics));
    let router = router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state);
    limits::apply(router, &limits)
        .layer(axum::middleware::from_fn(context::middleware))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::middleware))
}

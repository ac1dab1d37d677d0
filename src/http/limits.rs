//! Limits on every listener, as one function any listener's router goes through (`admin` too): the request
//! body size, the request timeout, load shedding at the concurrency ceiling (503 + `Retry-After` at once,
//! never a queue) and the optional per-client-address rate limit (429 + `Retry-After`).
//!
//! The header read timeout belongs to the connection and is set in `serve`. `/healthz` is exempt from
//! shedding and rate limits (a liveness probe must not fail because the service is busy), not from the rest.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::limits::{LimitsConfig, RateLimiter};

/// Paths answered even when the listener sheds load or a client is over its rate.
const EXEMPT_PATHS: [&str; 1] = ["/healthz"];

struct Guard {
    in_flight: Arc<Semaphore>,
    per_client_ip: Option<RateLimiter<IpAddr>>,
    request_timeout: Duration,
}

/// Wraps `router` in the listener limits; each call has its own concurrency ceiling and rate buckets.
pub fn apply(router: Router, limits: &LimitsConfig) -> Router {
    let guard = Arc::new(Guard {
        in_flight: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        per_client_ip: limits.per_client_ip.map(RateLimiter::new),
        request_timeout: limits.request_timeout,
    });
    router
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(guard, guard_middleware))
}

async fn guard_middleware(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if EXEMPT_PATHS.contains(&request.uri().path()) {
        return with_timeout(guard.request_timeout, next.run(request)).await;
    }
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    if let (Some(limiter), Some(client)) = (&guard.per_client_ip, client)
        && let Err(limited) = limiter.check(client).await
    {
        let description = "too many requests from this client address";
        return ApiError::rate_limited(limited.retry_after_secs, description).into_response();
    }
    let Ok(_permit) = Arc::clone(&guard.in_flight).try_acquire_owned() else {
        return ApiError::overloaded().into_response();
    };
    with_timeout(guard.request_timeout, next.run(request)).await
}

async fn with_timeout(timeout: Duration, response: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(timeout, response).await {
        Ok(response) => response,
        Err(_) => ApiError::timed_out(timeout).into_response(),
    }
}

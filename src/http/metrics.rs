//! Counts every request of the public listener by its matched route template (never the raw path: a path no
//! route matched is `unmatched`), method and status, into `metrics::Metrics`.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::Metrics;

pub async fn middleware(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    metrics.record_http(route.as_deref(), method.as_str(), response.status().as_str());
    response
}

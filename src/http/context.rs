//! Per-request context: a request id (a well-formed incoming `x-request-id`, else a random one), the client
//! address and user agent. Every log line of the request carries the id (a tracing span); the response echoes it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::broker::RequestContext;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let incoming = request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
    let request_id = match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => random_id(),
    };
    let user_agent = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    let client_addr = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
    let span = tracing::info_span!("request", request_id = %request_id);
    request.extensions_mut().insert(RequestContext { request_id: request_id.clone(), client_addr, user_agent });
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    crate::text::hex(&bytes)
}

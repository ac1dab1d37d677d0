//! The single mapping from domain errors to HTTP responses: status, stable `error` code, safe description.
//!
//! Internal detail is logged here and never sent; client errors log at info, server errors at error.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::broker::BrokerError;
use crate::issuers::KeyError;
use crate::sts::StsError;
use crate::verify::VerifyError;

/// An error as a client sees it: `{"error": code, "error_description": text}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    /// `Retry-After` seconds of a 429 or 503 (default 5).
    retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into(), retry_after_secs: None }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is larger than this service accepts",
        )
    }

    /// 429: a rate limit is exhausted; the client may retry after `retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64, description: impl Into<String>) -> Self {
        let error = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", description);
        Self { retry_after_secs: Some(retry_after_secs), ..error }
    }

    /// 503 at once: the listener's concurrency ceiling is reached (load shedding, never queueing).
    pub fn overloaded() -> Self {
        tracing::warn!("Request shed: too many requests in flight.");
        let error =
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "too many requests in flight");
        Self { retry_after_secs: Some(1), ..error }
    }

    /// 503: the request was not answered within the request timeout.
    pub fn timed_out(timeout: std::time::Duration) -> Self {
        tracing::warn!(timeout_secs = timeout.as_secs(), "Request timed out.");
        let description = format!("the request was not answered within {} s", timeout.as_secs());
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", description)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method")
    }

    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = ?detail.to_string(), "Request failed on our side.");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error; see the server log")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        if let VerifyError::Key(KeyError::Unavailable(detail)) = &error {
            tracing::warn!(detail = ?detail, "Issuer keys are unavailable.");
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", error.to_string());
        }
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", error.to_string())
    }
}

impl From<BrokerError> for ApiError {
    fn from(error: BrokerError) -> Self {
        match error {
            BrokerError::Verify(verify) => verify.into(),
            BrokerError::Replayed { .. } | BrokerError::JtiRequired { .. } | BrokerError::RunnerRefused(_) => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_token", error.to_string())
            }
            BrokerError::StateUnavailable { .. } | BrokerError::RevocationsUnavailable { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", error.to_string())
            }
            BrokerError::Revoked { .. } | BrokerError::NotBound { .. } => {
                Self::new(StatusCode::FORBIDDEN, "access_denied", error.to_string())
            }
            BrokerError::UnknownRole(_)
            | BrokerError::IssuerNotTrustedByRole { .. }
            | BrokerError::AudienceNotAcceptedByRole(_)
            | BrokerError::RoleUnavailable(_)
            | BrokerError::Denied { .. }
            | BrokerError::AccessDenied { .. }
            | BrokerError::Render { .. } => Self::new(StatusCode::FORBIDDEN, "access_denied", error.to_string()),
            BrokerError::AudienceNotGranted { .. } | BrokerError::GrantMismatch { .. } => {
                Self::invalid_request(error.to_string())
            }
            BrokerError::Mint(mint) => Self::internal(&mint),
            BrokerError::Upstream(upstream) => upstream.into(),
            BrokerError::RateLimited { retry_after_secs, .. } => {
                Self::rate_limited(retry_after_secs, error.to_string())
            }
        }
    }
}

impl From<StsError> for ApiError {
    fn from(error: StsError) -> Self {
        let text = error.to_string();
        match error {
            StsError::AccessDenied(_) | StsError::InvalidIdentityToken(_) | StsError::IdpRejectedClaim(_) => {
                Self::new(StatusCode::FORBIDDEN, "access_denied", text)
            }
            StsError::ExpiredToken(_) => Self::new(StatusCode::UNAUTHORIZED, "invalid_token", text),
            StsError::Throttled(_) => Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", text),
            StsError::Validation(_) | StsError::PolicyRejected { .. } => Self::invalid_request(text),
            StsError::IdpCommunication(_) => Self::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", text),
            StsError::Unavailable(detail) => {
                tracing::warn!(detail = ?detail, "Upstream STS is unavailable.");
                Self::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", "AWS STS did not answer usefully; try again")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(status = self.status.as_u16(), error = self.code, description = ?self.description, "Request refused.");
        }
        let body = ErrorBody { error: self.code, error_description: &self.description };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self.status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            let secs = self.retry_after_secs.unwrap_or(5);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

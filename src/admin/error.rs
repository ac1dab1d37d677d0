//! The admin API's one error mapping: every `OperatorError` (and a failed audit write) becomes a status and a
//! stable code, as JSON `{"error": CODE, "error_description": TEXT}`. A 401 carries `WWW-Authenticate: Bearer`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::operators::OperatorError;

/// Why an admin call failed.
#[derive(Debug)]
pub enum AdminError {
    Operator(OperatorError),
    /// The action's audit line could not be written: the action was refused.
    AuditUnavailable,
    /// The request could not be read.
    BadRequest(String),
    /// The request cannot be carried out in the current state (409), with its own stable code.
    Conflict {
        code: &'static str,
        description: String,
    },
    /// Too many sign-ins from this client address.
    RateLimited {
        retry_after_secs: u64,
    },
}

impl From<OperatorError> for AdminError {
    fn from(error: OperatorError) -> Self {
        AdminError::Operator(error)
    }
}

impl AdminError {
    /// The status and the stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AdminError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            AdminError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AdminError::Operator(error) => match error {
                OperatorError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
                OperatorError::SignInRefused(_) => (StatusCode::UNAUTHORIZED, "sign_in_refused"),
                OperatorError::NotEligible(_) => (StatusCode::FORBIDDEN, "not_eligible"),
                OperatorError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                OperatorError::UnknownProvider(_) => (StatusCode::BAD_REQUEST, "unknown_provider"),
                OperatorError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                OperatorError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                OperatorError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
                OperatorError::Provider(_) => (StatusCode::BAD_GATEWAY, "provider_unavailable"),
            },
        }
    }

    fn description(&self) -> String {
        match self {
            AdminError::AuditUnavailable => "the audit log cannot be written; the action was refused".into(),
            AdminError::BadRequest(text) | AdminError::Conflict { description: text, .. } => text.clone(),
            AdminError::RateLimited { retry_after_secs } => {
                format!("too many sign-ins from this address; retry after {retry_after_secs} s")
            }
            // Detail of store and provider failures goes to the log, not to the caller.
            AdminError::Operator(OperatorError::Unavailable(_)) => "the state store is unavailable; try again".into(),
            AdminError::Operator(error) => error.to_string(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AdminError::Operator(OperatorError::Unavailable(error)) = &self {
            tracing::error!(error = ?error.to_string(), "An admin call failed: the state store is unavailable.");
        }
        if let AdminError::Operator(OperatorError::Provider(error)) = &self {
            tracing::warn!(error = ?error, "An admin sign-in failed at the identity provider.");
        }
        let body = Json(json!({"error": code, "error_description": self.description()}));
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        if let AdminError::RateLimited { retry_after_secs } = self
            && let Ok(value) = header::HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

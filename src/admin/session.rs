//! Sign-in and sessions: `GET /admin/v1/providers` (what `tollgate admin login` needs to start a flow; no
//! secret), `POST /admin/v1/session` (an ID token, an authorization code with its PKCE verifier, or the
//! break-glass secret in; a session token out, once), `GET /admin/v1/whoami` and `DELETE /admin/v1/session`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminError, AdminState, Ctx, Routes, event};
use crate::broker::RequestContext;
use crate::operators::{OperatorError, Permission, Proof, SessionView, SignIn};
use crate::verify::RawToken;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add(Method::GET, ("/admin/v1/whoami", "session.whoami", Permission::SignedIn), whoami)
        .add(Method::DELETE, ("/admin/v1/session", "session.delete", Permission::SignedIn), sign_out)
        .add(Method::GET, ("/admin/v1/sessions", "sessions.list", Permission::Administer), list_sessions)
        .add(Method::DELETE, ("/admin/v1/sessions/{id}", "sessions.delete", Permission::Administer), end_session)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    provider: Option<String>,
    id_token: Option<String>,
    nonce: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    bootstrap_secret: Option<String>,
    /// Space-separated; `admin` is the only scope.
    scope: Option<String>,
    ttl_seconds: Option<u32>,
}

pub(super) async fn providers(State(state): State<Arc<AdminState>>) -> Json<Value> {
    let providers: Vec<Value> = state
        .operators
        .config()
        .providers
        .iter()
        .map(|p| json!({"name": p.name, "issuer": p.issuer, "client_id": p.client_id, "scopes": p.scopes}))
        .collect();
    Json(json!({ "providers": providers }))
}

pub(super) async fn sign_in(
    State(state): State<Arc<AdminState>>,
    context: Option<Extension<RequestContext>>,
    body: Bytes,
) -> Response {
    let context = context.map(|Extension(c)| c).unwrap_or_default();
    let client = context.client_addr.clone().unwrap_or_default();
    if let Err(limited) = state.sign_ins.check(client).await {
        return AdminError::RateLimited { retry_after_secs: limited.retry_after_secs }.into_response();
    }
    let request = match parse(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let provider = if matches!(request.proof, Proof::Bootstrap(_)) {
        "bootstrap".to_owned()
    } else {
        request.provider.clone().unwrap_or_default()
    };
    let target = format!("provider={provider} scope={}", if request.admin_scope { "admin" } else { "" });
    // Written before anything is verified or stored: a sign-in the audit cannot record does not happen.
    if state.audit.admin(&event(&context, None, "session.create", &target, "attempt", &state)).is_err() {
        return AdminError::AuditUnavailable.into_response();
    }
    match state.operators.sign_in(request).await {
        Ok(issued) => {
            let line = event(&context, Some(&issued.session), "session.create", &target, "allowed", &state);
            if state.audit.admin(&line).is_err() {
                let _ = state.operators.end_session(&issued.session).await;
                return AdminError::AuditUnavailable.into_response();
            }
            let body = super::with_field(describe(&issued.session), "session_token", json!(issued.secret.expose()));
            super::secret_answer(StatusCode::CREATED, body)
        }
        Err(error) => {
            let error = AdminError::from(error);
            let actor = match &error {
                AdminError::Operator(OperatorError::NotEligible(user)) => Some(user.as_str()),
                _ => None,
            };
            let result = format!("denied: {}", error.status_and_code().1);
            let mut line = event(&context, None, "session.create", &target, &result, &state);
            line.actor = actor;
            let _ = state.audit.admin(&line);
            error.into_response()
        }
    }
}

fn parse(body: &[u8]) -> Result<SignIn, AdminError> {
    let body: SignInBody = serde_json::from_slice(body).map_err(|e| {
        AdminError::BadRequest(format!("not a sign-in request: {}", crate::text::shorten(&e.to_string())))
    })?;
    let admin_scope = match body.scope.as_deref().map(str::split_whitespace) {
        None => false,
        Some(mut scopes) => match (scopes.next(), scopes.next()) {
            (None, _) => false,
            (Some("admin"), None) => true,
            _ => return Err(AdminError::BadRequest("scope: the only scope is \"admin\"".into())),
        },
    };
    let proof = match (body.id_token, body.code, body.bootstrap_secret) {
        (Some(token), None, None) => Proof::IdToken {
            token: RawToken::parse(&token).map_err(|e| AdminError::BadRequest(format!("id_token: {e}")))?,
            nonce: body.nonce,
        },
        (None, Some(code), None) => Proof::Code {
            code,
            code_verifier: body.code_verifier.ok_or_else(|| missing("code_verifier"))?,
            redirect_uri: body.redirect_uri.ok_or_else(|| missing("redirect_uri"))?,
            nonce: body.nonce,
        },
        (None, None, Some(secret)) => Proof::Bootstrap(secret),
        _ => return Err(AdminError::BadRequest("send exactly one of id_token, code, bootstrap_secret".into())),
    };
    Ok(SignIn { provider: body.provider, proof, admin_scope, ttl_seconds: body.ttl_seconds })
}

fn missing(field: &str) -> AdminError {
    AdminError::BadRequest(format!("{field} is required with code"))
}

/// What a session holds, as the API shows it (never its secret).
pub(super) fn describe(session: &SessionView) -> Value {
    let operator = &session.operator;
    json!({
        "id": session.id,
        "identity": {
            "provider": operator.provider,
            "subject": operator.subject,
            "user": operator.user,
            "email": operator.email,
            "groups": operator.groups,
            "admin_claim": operator.admin_claim,
            "bootstrap": operator.bootstrap,
        },
        "roles": session.roles.iter().map(crate::operators::IamRole::name).collect::<Vec<_>>(),
        "scope": session.scopes(),
        "admin_eligible": session.is_admin_eligible(),
        "created_at": session.created_at.to_rfc3339(),
        "expires_at": session.expires_at.to_rfc3339(),
    })
}

async fn whoami(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, &ctx.session.id, async { Ok(Json(describe(&ctx.session))) }).await
}

async fn sign_out(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<StatusCode, AdminError> {
    ctx.act(&state, &ctx.session.id, async {
        state.operators.end_session(&ctx.session).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn list_sessions(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let sessions: Vec<Value> = state.operators.list_sessions().await?.iter().map(describe).collect();
        Ok(Json(json!({ "sessions": sessions })))
    })
    .await
}

async fn end_session(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, AdminError> {
    ctx.act(&state, &id, async {
        state.operators.end_session_by_id(&id).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

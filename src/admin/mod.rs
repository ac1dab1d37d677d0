//! The operator listener (config `admin.listen`, default 127.0.0.1:8471; TLS with `admin.tls`): `GET /healthz`,
//! `GET /metrics` (open, or for `role/viewer`: `admin.metrics`) and the admin API under `/admin/v1/` (JSON,
//! described in `docs/openapi/admin.yaml`). With `http/`, the only code that imports axum.
//!
//! Every admin route is added through `Routes::add`, which names its action and the `Permission` it needs and
//! puts the route behind `guard`: the session is looked up, `Operators::authorize` (the one authorization
//! function) decides, and a refusal is audited. Handlers then write the action's audit line *before* acting
//! (`Ctx::act`), so an action whose audit line cannot be written is refused (the audit fails closed). Only
//! `GET /admin/v1/providers` and `POST /admin/v1/session` (sign-in) need no session.
//!
//! Never merged into the public router: nothing here is reachable on the public listener, and nothing of the
//! public API is reachable here.

mod error;
mod read;
mod session;
mod write;

pub use error::AdminError;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on, post};

use crate::audit::{AdminEvent, Audit};
use crate::broker::{Broker, RequestContext};
use crate::config::MetricsAccess;
use crate::issuers::Issuers;
use crate::metrics::{Exporter, TEXT_FORMAT};
use crate::operators::{Operators, Permission, SessionView};
use crate::recent::RecentDecisions;
use crate::reload::PolicyReloader;
use crate::revocation::{Lifetimes, RevocationView};
use crate::store::Store;

/// Path of the Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// Everything the admin listener reads and acts on.
pub struct AdminState {
    pub exporter: Arc<Exporter>,
    pub operators: Arc<Operators>,
    pub broker: Arc<Broker>,
    pub issuers: Arc<Issuers>,
    pub reloader: Arc<PolicyReloader>,
    /// The candidate set's reloader (`shadow.policies`), which a promotion swaps with the live one.
    pub shadow_reloader: Option<Arc<PolicyReloader>>,
    pub audit: Arc<Audit>,
    pub store: Store,
    pub revocations: Arc<RevocationView>,
    /// Wakes this replica's revocation refresh after an admin call changed revocations.
    pub revocations_changed: Arc<tokio::sync::Notify>,
    pub recent: Arc<RecentDecisions>,
    pub lifetimes: Lifetimes,
    /// Sign-ins per client address (`POST /admin/v1/session` needs no session, so it is limited here).
    pub sign_ins: crate::limits::RateLimiter<String>,
    /// The store-managed key ring (`signing.managed`); `None` when keys come from files.
    pub keyring: Option<Arc<crate::keyring::ManagedKeys>>,
    pub metrics_access: MetricsAccess,
}

/// What a guarded handler knows of its request: the session (already authorized), the action, the context.
#[derive(Clone)]
pub struct Ctx {
    pub session: SessionView,
    pub action: &'static str,
    pub context: RequestContext,
}

/// One route of the admin API, as the route table lists it (the tidy test walks it).
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub action: &'static str,
    pub permission: Permission,
}

struct Routes {
    router: Router<Arc<AdminState>>,
    state: Arc<AdminState>,
    table: Vec<RouteSpec>,
}

impl Routes {
    /// Adds a route behind the guard: no handler is reachable without its permission.
    fn add<H, T>(mut self, method: Method, spec: (&'static str, &'static str, Permission), handler: H) -> Self
    where
        H: axum::handler::Handler<T, Arc<AdminState>>,
        T: 'static,
    {
        let (path, action, permission) = spec;
        let state = Arc::clone(&self.state);
        let guarded = on(MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET), handler).route_layer(
            axum::middleware::from_fn(move |request: Request, next: Next| {
                guard(Arc::clone(&state), action, permission, request, next)
            }),
        );
        self.router = self.router.route(path, guarded);
        let method = if method == Method::POST {
            "POST"
        } else if method == Method::DELETE {
            "DELETE"
        } else {
            "GET"
        };
        self.table.push(RouteSpec { method, path, action, permission });
        self
    }
}

/// The admin router and its route table; tests serve it on 127.0.0.1:0 themselves.
pub fn router(state: Arc<AdminState>) -> (Router, Vec<RouteSpec>) {
    let routes = Routes { router: Router::new(), state: Arc::clone(&state), table: Vec::new() };
    let routes = session::routes(routes);
    let routes = read::routes(routes);
    let routes = write::routes(routes);
    let (table, router) = (routes.table, routes.router);
    let router = router
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route(METRICS_PATH, get(metrics))
        .route("/admin/v1/providers", get(session::providers))
        .route("/admin/v1/session", post(session::sign_in))
        .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "not_found"}))) })
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::http::context::middleware));
    (router, table)
}

/// The bearer credential of a request (`Authorization: Bearer tgs_…`).
fn bearer(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
}

/// The session a bearer credential opens.
async fn session_of(state: &AdminState, bearer: Option<String>) -> Result<SessionView, AdminError> {
    let presented =
        bearer.ok_or(crate::operators::OperatorError::Unauthenticated("send Authorization: Bearer <session token>"))?;
    Ok(state.operators.session(&presented).await?)
}

/// Looks the session up, authorizes, audits a refusal, and hands the handler a `Ctx`.
async fn guard(
    state: Arc<AdminState>,
    action: &'static str,
    permission: Permission,
    mut request: Request,
    next: Next,
) -> Response {
    let context = request.extensions().get::<RequestContext>().cloned().unwrap_or_default();
    let session = match session_of(&state, bearer(&request)).await {
        Ok(session) => session,
        Err(error) => {
            let result = format!("denied: {}", error.status_and_code().1);
            let _ = state.audit.admin(&event(&context, None, action, "", &result, &state));
            return error.into_response();
        }
    };
    if let Err(error) = state.operators.authorize(&session, permission) {
        let _ = state.audit.admin(&event(&context, Some(&session), action, "", "denied: forbidden", &state));
        return AdminError::from(error).into_response();
    }
    request.extensions_mut().insert(Ctx { session, action, context });
    next.run(request).await
}

fn event<'a>(
    context: &'a RequestContext,
    session: Option<&'a SessionView>,
    action: &'a str,
    target: &'a str,
    result: &'a str,
    state: &AdminState,
) -> AdminEvent<'a> {
    AdminEvent {
        time: state.broker.clock().now(),
        request_id: &context.request_id,
        actor: session.map(|s| s.operator.user.as_str()),
        provider: session.map(|s| s.operator.provider.as_str()),
        subject: session.map(|s| s.operator.subject.as_str()),
        session_id: session.map(|s| s.id.as_str()),
        action,
        target,
        result,
        client_addr: context.client_addr.as_deref(),
    }
}

impl Ctx {
    /// Writes the action's audit line, then acts; refuses when the line cannot be written. A failure after the
    /// line was written adds a second line with the failure's code.
    pub async fn act<T>(
        &self,
        state: &AdminState,
        target: &str,
        work: impl Future<Output = Result<T, AdminError>>,
    ) -> Result<T, AdminError> {
        let allowed = event(&self.context, Some(&self.session), self.action, target, "allowed", state);
        state.audit.admin(&allowed).map_err(|_| AdminError::AuditUnavailable)?;
        let result = work.await;
        if let Err(error) = &result {
            let outcome = format!("failed: {}", error.status_and_code().1);
            let _ = state.audit.admin(&event(&self.context, Some(&self.session), self.action, target, &outcome, state));
        }
        result
    }
}

/// A JSON answer that carries a secret: never cached anywhere.
fn secret_answer(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    response
}

/// `value` (a JSON object) with one more field.
fn with_field(mut value: serde_json::Value, key: &str, field: serde_json::Value) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.to_owned(), field);
    }
    value
}

async fn metrics(State(state): State<Arc<AdminState>>, request: Request) -> Response {
    if state.metrics_access == MetricsAccess::Viewer {
        let allowed = match session_of(&state, bearer(&request)).await {
            Ok(session) => state.operators.authorize(&session, Permission::View).map_err(AdminError::from),
            Err(error) => Err(error),
        };
        if let Err(error) = allowed {
            return error.into_response();
        }
    }
    match state.exporter.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "Rendering metrics failed.");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response()
        }
    }
}

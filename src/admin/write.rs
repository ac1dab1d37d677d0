//! The admin API's writes, each in a session with `scope=admin`: reload and promote policies, revoke and
//! un-revoke, and create, rotate and delete runner credentials (`role/runner.admin` suffices for runners). A new
//! secret is in the answer once and nowhere else.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::read::describe_runner;
use super::{AdminError, AdminState, Ctx, Routes};
use crate::clock::UnixTime;
use crate::operators::{NewRunner, OperatorError, Permission, sha256_hex};
use crate::revocation::{Revocation, Target};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add(Method::POST, ("/admin/v1/policies/reload", "policies.reload", Permission::Administer), reload)
        .add(Method::POST, ("/admin/v1/policies/promote", "policies.promote", Permission::Administer), promote)
        .add(Method::POST, ("/admin/v1/keys/rotate", "keys.rotate", Permission::Administer), rotate_key)
        .add(Method::POST, ("/admin/v1/revocations", "revocations.create", Permission::Administer), revoke)
        .add(Method::DELETE, ("/admin/v1/revocations/{id}", "revocations.delete", Permission::Administer), unrevoke)
        .add(Method::POST, ("/admin/v1/runners", "runners.create", Permission::ManageRunners), create_runner)
        .add(
            Method::POST,
            ("/admin/v1/runners/{id}/rotate", "runners.rotate", Permission::ManageRunners),
            rotate_runner,
        )
        .add(Method::DELETE, ("/admin/v1/runners/{id}", "runners.delete", Permission::ManageRunners), delete_runner)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError::BadRequest(crate::text::shorten(&e.to_string())))
}

fn instant(field: &str, text: &str) -> Result<UnixTime, AdminError> {
    UnixTime::parse_rfc3339(text).map_err(|_| AdminError::BadRequest(format!("{field}: not an RFC 3339 instant")))
}

async fn reload(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "policies", async {
        let reloader = Arc::clone(&state.reloader);
        let reloaded = tokio::task::spawn_blocking(move || reloader.reload())
            .await
            .map_err(|e| AdminError::BadRequest(e.to_string()))?;
        match reloaded {
            Ok(roles) => Ok(Json(json!({ "reloaded": true, "roles": roles }))),
            // The set in force stays; the error names the file and line.
            Err(error) => Err(AdminError::BadRequest(format!("the policies were not reloaded: {error}"))),
        }
    })
    .await
}

/// `{"expect_candidate_sha256": HEX}`, optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    expect_candidate_sha256: Option<String>,
}

/// Puts the candidate set (`shadow.policies`) in force and the set in force in shadow (see `reload::promote`).
async fn promote(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let body: PromoteBody =
        if body.iter().all(u8::is_ascii_whitespace) { PromoteBody::default() } else { json_body(&body)? };
    let Some(shadow) = state.shadow_reloader.clone() else {
        let description = "no candidate policies to promote: shadow.policies is not configured".into();
        return Err(AdminError::Conflict { code: "no_candidate", description });
    };
    let target = shadow.dir().display().to_string();
    ctx.act(&state, &target, async {
        let live = Arc::clone(&state.reloader);
        let expect = body.expect_candidate_sha256;
        let promoted = tokio::task::spawn_blocking(move || crate::reload::promote(&live, &shadow, expect.as_deref()))
            .await
            .map_err(|e| AdminError::BadRequest(e.to_string()))?;
        let promoted = promoted.map_err(|error| {
            let code = match error {
                crate::reload::PromoteError::NoCandidate => "no_candidate",
                crate::reload::PromoteError::Changed { .. } => "candidate_changed",
            };
            AdminError::Conflict { code, description: format!("nothing changed: {error}") }
        })?;
        Ok(Json(json!({
            "promoted": true,
            "live": set_info(&promoted.live),
            "shadow": set_info(&promoted.shadow),
            "durable": false,
            "note": "this process only, until it restarts: make the config's policies: and shadow.policies: say the same (or move the files) before then; promote again to swap back",
        })))
    })
    .await
}

pub(super) fn set_info(info: &crate::reload::SetInfo) -> Value {
    json!({"dir": info.dir, "roles": info.roles, "sha256": info.sha256})
}

async fn rotate_key(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    ctx.act(&state, "signing key", async {
        let Some(keys) = &state.keyring else {
            return Err(AdminError::BadRequest(
                "signing keys come from files (signing.key_file): rotate them with previous_keys (docs/operations.md), or set signing.managed".into(),
            ));
        };
        let rotated = keys.rotate(state.broker.clock().now()).await.map_err(|e| {
            tracing::error!(error = %e, "Rotating the signing key failed.");
            OperatorError::Unavailable(crate::store::StoreError::Unavailable(e.to_string()))
        })?;
        let body = json!({"kid": rotated.kid, "alg": rotated.alg, "activates_at": rotated.activates_at.to_rfc3339()});
        Ok((StatusCode::CREATED, Json(body)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    target: Target,
    reason: String,
    /// RFC 3339; default: until every credential it can hit has expired.
    expires_at: Option<String>,
}

async fn revoke(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    // A request that does not parse is audited too (`failed: invalid_request`).
    let revocation = revocation_of(&state, &ctx, &body);
    let target =
        revocation.as_ref().map_or_else(|_| "-".to_owned(), |r| format!("{} {}", r.target.kind(), r.target_json()));
    ctx.act(&state, &target, async {
        let revocation = revocation?;
        state.store.add_revocation(&revocation).await.map_err(OperatorError::from)?;
        state.revocations_changed.notify_one();
        Ok((StatusCode::CREATED, Json(revocation.describe())))
    })
    .await
}

fn revocation_of(state: &AdminState, ctx: &Ctx, body: &[u8]) -> Result<Revocation, AdminError> {
    let body: RevokeBody = json_body(body)?;
    let now = state.broker.clock().now();
    let expires_at = match body.expires_at.as_deref() {
        Some(text) => instant("expires_at", text)?,
        None => state.lifetimes.default_expiry(&body.target, now).map_err(AdminError::BadRequest)?,
    };
    let mut random = [0u8; 16];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| AdminError::BadRequest("no randomness".into()))?;
    let revocation = Revocation {
        id: sha256_hex(&random).chars().take(32).collect(),
        target: body.target,
        reason: body.reason,
        author: format!("{}:{}", ctx.session.operator.provider, ctx.session.operator.user),
        created_at: now,
        expires_at,
    };
    revocation.validate(now).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    Ok(revocation)
}

async fn unrevoke(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<StatusCode, AdminError> {
    ctx.act(&state, &id, async {
        if !state.store.delete_revocation(&id).await.map_err(OperatorError::from)? {
            return Err(OperatorError::NotFound(format!("revocation {id:?}")).into());
        }
        state.revocations_changed.notify_one();
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunnerBody {
    name: String,
    #[serde(default)]
    labels: Vec<String>,
    expires_at: Option<String>,
}

async fn create_runner(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<axum::response::Response, AdminError> {
    let new = json_body::<RunnerBody>(&body).and_then(|body| {
        let expires_at = body.expires_at.as_deref().map(|text| instant("expires_at", text)).transpose()?;
        Ok(NewRunner { name: body.name, labels: body.labels, expires_at })
    });
    let target = new.as_ref().map_or_else(|_| "-".to_owned(), |new| format!("name={}", new.name));
    let created_by = format!("{}:{}", ctx.session.operator.provider, ctx.session.operator.user);
    ctx.act(&state, &target, async {
        let (runner, secret) = state.operators.create_runner(new?, &created_by).await?;
        let body = super::with_field(describe_runner(&runner), "credential", json!(secret.expose()));
        Ok(super::secret_answer(StatusCode::CREATED, body))
    })
    .await
}

async fn rotate_runner(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, AdminError> {
    ctx.act(&state, &id, async {
        let (runner, secret) = state.operators.rotate_runner(&id).await?;
        let body = super::with_field(describe_runner(&runner), "credential", json!(secret.expose()));
        Ok(super::secret_answer(StatusCode::OK, body))
    })
    .await
}

async fn delete_runner(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<StatusCode, AdminError> {
    ctx.act(&state, &id, async {
        state.operators.delete_runner(&id).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

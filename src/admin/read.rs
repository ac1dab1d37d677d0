//! The admin API's reads (`role/viewer`): trusted issuers with their key status, the policy sets in force and
//! in shadow, roles with their policy's file and hash, lints and trusted issuers, signing keys and their states,
//! the recent decisions of this replica, revocations, and runners (never a secret).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminError, AdminState, Ctx, Routes};
use crate::operators::{OperatorError, Permission, Runner};
use crate::policy::{Grant, SingleUse};

/// The most revocations listed at once.
const LIST_LIMIT: u32 = 10_000;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add(Method::GET, ("/admin/v1/issuers", "issuers.list", Permission::View), issuers)
        .add(Method::GET, ("/admin/v1/roles", "roles.list", Permission::View), roles)
        .add(Method::GET, ("/admin/v1/policies", "policies.show", Permission::View), policies)
        .add(Method::GET, ("/admin/v1/keys", "keys.list", Permission::View), keys)
        .add(Method::GET, ("/admin/v1/decisions", "decisions.list", Permission::View), decisions)
        .add(Method::GET, ("/admin/v1/revocations", "revocations.list", Permission::View), revocations)
        .add(Method::GET, ("/admin/v1/runners", "runners.list", Permission::ViewRunners), runners)
}

/// The set in force and the candidate set (shadow evaluation): folder, roles, fingerprint (what `promote` may
/// be asked to expect).
async fn policies(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let live = state.reloader.info().map(|info| super::write::set_info(&info));
        let shadow = state.shadow_reloader.as_ref().and_then(|reloader| reloader.info());
        Ok(Json(json!({"live": live, "shadow": shadow.map(|info| super::write::set_info(&info))})))
    })
    .await
}

async fn issuers(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let now = state.broker.clock().now();
        let issuers: Vec<Value> = state
            .issuers
            .health(now)
            .into_iter()
            .map(|issuer| {
                let status = issuer.status;
                json!({
                    "name": issuer.name,
                    "url": issuer.url,
                    "keys": status.keys,
                    "kids": status.kids,
                    "last_fetch": status.last_success.map(|at| at.to_rfc3339()),
                    "staleness_seconds": status.last_success.map(|at| now.secs_since(at)),
                    "stale": status.stale,
                    "unusable": status.unusable,
                    "last_error": status.last_error,
                    "fetches_ok": status.fetches_ok,
                    "fetches_failed": status.fetches_failed,
                })
            })
            .collect();
        Ok(Json(json!({ "issuers": issuers })))
    })
    .await
}

async fn roles(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let policies = state.broker.policies();
        let mut names: Vec<&str> = policies.roles().collect();
        names.sort_unstable();
        let roles: Vec<Value> = names
            .into_iter()
            .filter_map(|role| policies.get(role))
            .map(|policy| {
                let lints: Vec<Value> = policies
                    .lints()
                    .iter()
                    .filter(|lint| lint.role == policy.role())
                    .map(|lint| json!({"code": lint.code, "line": lint.line, "message": lint.message}))
                    .collect();
                let single_use = match policy.replay().single_use {
                    SingleUse::PerRole => "per_role",
                    SingleUse::Strict => "strict",
                    SingleUse::Off => "off",
                };
                json!({
                    "role": policy.role(),
                    "description": policy.description(),
                    "trusted_issuers": policy.issuers(),
                    "grant": match policy.grant() { Grant::Token(_) => "token", Grant::Aws(_) => "aws" },
                    "single_use": single_use,
                    "file": policy.source().path,
                    "sha256": policy.source().sha256,
                    "lints": lints,
                })
            })
            .collect();
        Ok(Json(json!({ "roles": roles })))
    })
    .await
}

async fn keys(State(state): State<Arc<AdminState>>, Extension(ctx): Extension<Ctx>) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let now = state.broker.clock().now();
        let keys: Vec<Value> = state
            .broker
            .minter()
            .key_states(now)
            .into_iter()
            .map(|key| json!({"kid": key.kid, "alg": key.alg, "state": key.state}))
            .collect();
        Ok(Json(json!({ "keys": keys })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionQuery {
    role: Option<String>,
    outcome: Option<String>,
    limit: Option<usize>,
}

async fn decisions(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
    query: Result<Query<DecisionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let Query(query) = query.map_err(|e| AdminError::BadRequest(crate::text::shorten(&e.body_text())))?;
        if query.outcome.as_deref().is_some_and(|o| !["allow", "deny", "error"].contains(&o)) {
            return Err(AdminError::BadRequest("outcome: one of allow, deny, error".into()));
        }
        let limit = query.limit.unwrap_or(100).min(crate::recent::CAPACITY);
        let found = state.recent.list(query.role.as_deref(), query.outcome.as_deref(), limit);
        let decisions: Vec<Value> = found
            .into_iter()
            .map(|d| {
                json!({
                    "time": d.time.to_rfc3339(), "request_id": d.request_id, "front_door": d.front_door, "issuer": d.issuer,
                    "sub": d.sub, "role": d.role, "outcome": d.outcome, "reason": d.reason, "detail": d.detail,
                })
            })
            .collect();
        Ok(Json(json!({ "decisions": decisions })))
    })
    .await
}

async fn revocations(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let now = state.broker.clock().now();
        let listed = state.store.list_revocations(now, LIST_LIMIT).await.map_err(OperatorError::from)?;
        let revocations: Vec<Value> = listed.iter().map(crate::revocation::Revocation::describe).collect();
        Ok(Json(json!({ "revocations": revocations })))
    })
    .await
}

async fn runners(
    State(state): State<Arc<AdminState>>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<Value>, AdminError> {
    ctx.act(&state, "", async {
        let runners: Vec<Value> = state.operators.list_runners().await?.iter().map(describe_runner).collect();
        Ok(Json(json!({ "runners": runners })))
    })
    .await
}

pub(super) fn describe_runner(runner: &Runner) -> Value {
    json!({
        "id": runner.id,
        "name": runner.name,
        "labels": runner.labels,
        "created_by": runner.created_by,
        "created_at": runner.created_at.to_rfc3339(),
        "expires_at": runner.expires_at.map(|at| at.to_rfc3339()),
        "rotated_at": runner.rotated_at.map(|secs| crate::clock::UnixTime::from_secs(secs).to_rfc3339()),
    })
}

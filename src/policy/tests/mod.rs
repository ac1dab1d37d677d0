//! Tests of the policy module as a whole, split by concern: operators and combination rules, the AWS form,
//! tenant pinning, lints, the explain trace, loading, policy test files, and property/fuzz tests. Shared
//! fixtures live here.

mod aws_form;
mod aws_load;
mod aws_render;
mod diff;
mod eval;
mod fuzz;
mod lints;
mod load;
mod operators;
mod operators_typed;
mod set;
mod tenant;
mod testing;
mod trace;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::policy::{KnownIssuer, Policy, PolicyError, PolicySet};

/// The issuers tests configure: shared GitHub, GitLab and Buildkite (with their tenant claims), per-org
/// Semaphore and CircleCI (templates), and `ci`, a per-tenant issuer at `ci.example.com`.
pub(super) fn known() -> Vec<KnownIssuer> {
    let issuer = |name: &str, prefix: Option<&str>, tenant: &[&str]| KnownIssuer {
        name: name.to_owned(),
        url_prefix: prefix.map(str::to_owned),
        tenant_claims: tenant.iter().map(|claim| (*claim).to_owned()).collect(),
    };
    vec![
        issuer("github", Some("token.actions.githubusercontent.com"), &["repository_owner_id", "repository_owner"]),
        issuer("gitlab", Some("gitlab.com"), &["namespace_id", "namespace_path"]),
        issuer("buildkite", Some("agent.buildkite.com"), &["organization_slug"]),
        issuer("semaphore", None, &[]),
        issuer("circleci", None, &[]),
        issuer("ci", Some("ci.example.com"), &[]),
    ]
}

/// A JSON object literal as a claim map.
pub(super) fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

/// Loads one policy file named `p.yaml`.
pub(super) fn load(text: &str) -> Result<PolicySet, PolicyError> {
    PolicySet::from_sources(&[("p.yaml".into(), text.into())], &known())
}

/// A policy for issuer `ci` and audience `tollgate` from `(effect, condition block in YAML flow style)` pairs.
pub(super) fn policy(statements: &[(&str, &str)]) -> Arc<Policy> {
    let mut text = String::from(
        "role: r\nissuer: ci\naudience: tollgate\ngrant: {type: token, audience: x, ttl: 60}\nstatements:\n",
    );
    for (effect, condition) in statements {
        text.push_str(&format!("  - effect: {effect}\n    condition: {condition}\n"));
    }
    let set = load(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    Arc::clone(set.get("r").unwrap())
}

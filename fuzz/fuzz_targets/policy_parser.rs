//! Fuzz target: any bytes as a policy file. Loading must never panic; whatever loads must evaluate and explain
//! a fixed claim set without panicking, and explain must agree with evaluate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tollgate::policy::{ClaimDisplay, Decision, KnownIssuer, PolicySet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let known = [
        KnownIssuer {
            name: "github".into(),
            url_prefix: Some("token.actions.githubusercontent.com".into()),
            tenant_claims: vec!["repository_owner_id".into(), "repository_owner".into()],
        },
        KnownIssuer::named("semaphore"),
    ];
    for name in ["fuzz.yaml", "fuzz.json"] {
        let Ok(set) = PolicySet::from_sources(&[(name.to_owned(), text.to_owned())], &known) else { continue };
        let Value::Object(claims) = json!({
            "iss": "https://token.actions.githubusercontent.com", "aud": ["tollgate", "x"], "sub": "repo:acme/web:ref:refs/heads/main",
            "repository_owner_id": "1000", "ref_protected": true, "run_attempt": 3, "exp": 1767225600,
            "oidc.circleci.com/context-ids": ["a", "b"], "nothing": null,
        }) else { return };
        let claims: Map<String, Value> = claims;
        for role in set.roles().map(str::to_owned).collect::<Vec<_>>() {
            let Some(policy) = set.get(&role) else { continue };
            let decision = policy.evaluate(&claims);
            let trace = policy.explain(&claims, ClaimDisplay::Hashed);
            assert_eq!(matches!(decision, Decision::Allow { .. }), matches!(trace.decision, Decision::Allow { .. }));
        }
    }
});

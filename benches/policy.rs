//! Criterion bench: one policy decision (role lookup + evaluate) with 1, 100 and 10,000 roles loaded.
//! The cost must not grow with the number of roles: lookup is a hash map, evaluation touches one policy.

// Bench setup: a failure is a broken bench, not an input path.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use tollgate::policy::{Decision, KnownIssuer, PolicySet};

fn policy(i: usize) -> (String, String) {
    let text = format!(
        "role: role-{i}\nissuer: github\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"\n        ref_type: branch\n      StringLike:\n        sub: [\"repo:acme/app-{i}:ref:refs/heads/main\", \"repo:acme/app-{i}:environment:prod*\"]\n  - effect: deny\n    condition:\n      StringEquals:\n        event_name: pull_request_target\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n"
    );
    (format!("role-{i}.yaml"), text)
}

fn claims(i: usize) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "iss": "https://token.actions.githubusercontent.com", "aud": "tollgate",
        "sub": format!("repo:acme/app-{i}:ref:refs/heads/main"), "repository_owner_id": "1000",
        "ref_type": "branch", "event_name": "push",
    }) else {
        unreachable!()
    };
    map
}

fn benches(c: &mut Criterion) {
    let github = KnownIssuer {
        name: "github".into(),
        url_prefix: Some("token.actions.githubusercontent.com".into()),
        tenant_claims: vec!["repository_owner_id".into(), "repository_owner".into()],
    };
    let mut group = c.benchmark_group("policy_decision");
    for roles in [1usize, 100, 10_000] {
        let sources: Vec<_> = (0..roles).map(policy).collect();
        let set = PolicySet::from_sources(&sources, std::slice::from_ref(&github)).expect("policies load");
        let target = roles / 2;
        let role = format!("role-{target}");
        let allowed = claims(target);
        group.bench_with_input(BenchmarkId::new("allow", roles), &roles, |b, _| {
            b.iter(|| {
                let policy = set.get(&role).expect("role");
                assert!(matches!(policy.evaluate(&allowed), Decision::Allow { .. }));
            })
        });
        let mut denied = allowed.clone();
        denied.insert("sub".into(), json!("repo:acme/other:ref:refs/heads/main"));
        group.bench_with_input(BenchmarkId::new("deny", roles), &roles, |b, _| {
            b.iter(|| {
                let policy = set.get(&role).expect("role");
                assert!(matches!(policy.evaluate(&denied), Decision::Deny(_)));
            })
        });
    }
    group.finish();
}

criterion_group!(policy_benches, benches);
criterion_main!(policy_benches);

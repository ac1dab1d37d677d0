//! Criterion bench: one single-use claim on the embedded store (SQLite, WAL, `synchronous=FULL`), as the
//! exchange makes it after issuing: wall time per call, which includes the commit's fsync; and the revocation
//! check every allowed exchange makes against the in-memory view, empty and holding 10,000 revocations of
//! every kind (the exchange path never asks the database).

// Bench setup: a failure is a broken bench, not an input path.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use tollgate::clock::UnixTime;
use tollgate::revocation::{InboundQuery, Matcher, Revocation, RevocationView, Target};
use tollgate::store::{Claim, JtiKey, StateConfig, Store};

fn claim(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = runtime.block_on(Store::open(&StateConfig::Sqlite { path: dir.path().join("state.db") })).unwrap();
    let serial = AtomicU64::new(0);
    let now = UnixTime::from_secs(1_767_225_600);
    c.bench_function("store/sqlite_claim_jti", |b| {
        b.iter(|| {
            let jti = format!("jti-{}", serial.fetch_add(1, Ordering::Relaxed));
            let key = JtiKey { issuer: "https://token.actions.githubusercontent.com", jti: &jti, scope: "role:deploy" };
            let claimed = runtime.block_on(store.claim_jti(key, now.plus_secs(960), now)).unwrap();
            assert_eq!(claimed, Claim::First);
        })
    });
}

fn revocation_check(c: &mut Criterion) {
    let now = UnixTime::from_secs(1_767_225_600);
    let claims: Map<String, Value> = match json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository_owner_id": "42"})
    {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    let query =
        InboundQuery { issuer: "github", jti: Some("jti-1"), kid: Some("kid-1"), claims: &claims, role: "deploy" };
    let empty = RevocationView::new(std::time::Duration::from_secs(3600));
    c.bench_function("revocation/check_empty_view", |b| b.iter(|| empty.check_inbound(&query, now)));
    let full = RevocationView::new(std::time::Duration::from_secs(3600));
    let target = |n: usize| match n % 5 {
        0 => Target::InboundJti { issuer: "github".into(), jti: format!("jti-x{n}") },
        1 => Target::TollgateJti { jti: format!("t-{n}") },
        2 => Target::Identity {
            issuer: "github".into(),
            claim: "sub".into(),
            matcher: Matcher::Glob(format!("repo:org{n}/*")),
        },
        3 => Target::Role { role: format!("role-{n}"), before: now },
        _ => Target::Kid { kid: format!("kid-x{n}"), issuer: None },
    };
    let revocations = (0..10_000)
        .map(|n| Revocation {
            id: format!("r{n}"),
            target: target(n),
            reason: "bench".into(),
            author: "bench".into(),
            created_at: now,
            expires_at: now.plus_secs(3600),
        })
        .collect();
    full.replace(revocations);
    c.bench_function("revocation/check_10k_view_no_hit", |b| b.iter(|| full.check_inbound(&query, now)));
}

criterion_group!(benches, claim, revocation_check);
criterion_main!(benches);

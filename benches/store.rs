//! Criterion bench: one single-use claim on the embedded store (SQLite, WAL, `synchronous=FULL`), as the
//! exchange makes it after issuing: wall time per call, which includes the commit's fsync.

// Bench setup: a failure is a broken bench, not an input path.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use tollgate::clock::UnixTime;
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

criterion_group!(benches, claim);
criterion_main!(benches);

//! The embedded backend's own cases: grouped claims keep first use per key, state survives a reopen, and a
//! file that cannot be opened is an error (two stores on one file racing is in the contract suite). The contract every backend keeps is in `tests/it/store.rs`, run
//! against SQLite and a real PostgreSQL.

use super::*;

const NOW: i64 = 1_767_225_600;

fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(NOW + secs)
}

fn key<'a>(jti: &'a str, scope: &'a str) -> JtiKey<'a> {
    JtiKey { issuer: "https://ci.example", jti, scope }
}

async fn sqlite(dir: &tempfile::TempDir) -> Store {
    Store::open(&StateConfig::Sqlite { path: dir.path().join("state.db") }).await.unwrap()
}

#[tokio::test]
async fn claims_survive_a_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    assert_eq!(store.claim_jti(key("kept", "any"), at(300), at(0)).await.unwrap(), Claim::First);
    drop(store);
    let reopened = sqlite(&dir).await;
    assert_eq!(reopened.claim_jti(key("kept", "any"), at(300), at(1)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(reopened.check().await.unwrap(), super::migrations::latest());
}

#[tokio::test]
async fn an_unopenable_store_is_an_error_not_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = StateConfig::Sqlite { path: dir.path().join("no/such/folder/state.db") };
    let error = Store::open(&missing).await.err().unwrap();
    assert!(error.to_string().contains("no/such/folder"), "{error}");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    assert!(Store::open(&StateConfig::Sqlite { path: garbage }).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_claims_keep_first_use_per_key_and_are_durable_once_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let mut tasks = tokio::task::JoinSet::new();
    // 300 racing claims of 100 keys: the writer groups them; a key twice in one group must see itself.
    for n in 0..300 {
        let store = store.clone();
        tasks.spawn(async move {
            let jti = format!("k{}", n % 100);
            (jti.clone(), store.claim_jti(key(&jti, "any"), at(300), at(0)).await.unwrap())
        });
    }
    let mut first = std::collections::HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (jti, claim) = joined.unwrap();
        if claim == Claim::First {
            assert!(first.insert(jti), "one first use per key");
        }
    }
    assert_eq!(first.len(), 100);
    drop(store);
    let reopened = sqlite(&dir).await;
    for n in 0..100 {
        let jti = format!("k{n}");
        assert_eq!(reopened.claim_jti(key(&jti, "any"), at(300), at(1)).await.unwrap(), Claim::AlreadyUsed);
    }
}

#[tokio::test]
async fn a_new_database_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    store.check().await.unwrap();
    let mode = std::fs::metadata(dir.path().join("state.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(Store::is_private(&StateConfig::Sqlite { path: dir.path().join("state.db") }));
    std::fs::set_permissions(dir.path().join("state.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!Store::is_private(&StateConfig::Sqlite { path: dir.path().join("state.db") }));
}

//! The store's contract, as one suite any backend must pass (today SQLite): first use wins atomically, records
//! outlive nothing less than asked, expired ones can be taken over and purged, and state survives a reopen.

use super::*;

const NOW: i64 = 1_767_225_600;

fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(NOW + secs)
}

fn key<'a>(jti: &'a str, scope: &'a str) -> JtiKey<'a> {
    JtiKey { issuer: "https://ci.example", jti, scope }
}

fn sqlite(dir: &tempfile::TempDir) -> Store {
    Store::open(&StateConfig::Sqlite { path: dir.path().join("state.db") }).unwrap()
}

/// The contract, against any store.
async fn contract(store: &Store) {
    assert_eq!(store.claim_jti(key("a", "role:x"), at(300), at(0)).await.unwrap(), Claim::First);
    assert_eq!(store.claim_jti(key("a", "role:x"), at(300), at(1)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(store.claim_jti(key("a", "role:y"), at(300), at(1)).await.unwrap(), Claim::First, "other scope");
    let other_issuer = JtiKey { issuer: "https://other.example", jti: "a", scope: "role:x" };
    assert_eq!(store.claim_jti(other_issuer, at(300), at(1)).await.unwrap(), Claim::First, "other issuer");
    // Until its time the record holds; after it, the key can be claimed again (a token cannot verify by then).
    assert_eq!(store.claim_jti(key("a", "role:x"), at(900), at(299)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(store.claim_jti(key("a", "role:x"), at(900), at(300)).await.unwrap(), Claim::First);
    // Purge removes only what expired, in batches.
    for n in 0..5 {
        store.claim_jti(key(&format!("old-{n}"), "any"), at(10), at(0)).await.unwrap();
    }
    assert_eq!(store.purge_expired(at(11), 3).await.unwrap(), 3);
    assert_eq!(store.purge_expired(at(11), 3).await.unwrap(), 2);
    assert_eq!(store.purge_expired(at(11), 3).await.unwrap(), 0);
    assert_eq!(store.claim_jti(key("a", "role:x"), at(900), at(500)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(store.check().await.unwrap(), super::migrations::latest());
}

#[tokio::test]
async fn sqlite_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_key_give_exactly_one_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let stores = [sqlite(&dir), sqlite(&dir)];
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40 {
        let store = stores[n % 2].clone();
        tasks.spawn(async move { store.claim_jti(key("same", "any"), at(300), at(0)).await.unwrap() });
    }
    let mut first = 0;
    while let Some(claim) = tasks.join_next().await {
        first += usize::from(claim.unwrap() == Claim::First);
    }
    assert_eq!(first, 1, "two connections to one file, 40 racing claims");
}

#[tokio::test]
async fn claims_survive_a_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    assert_eq!(store.claim_jti(key("kept", "any"), at(300), at(0)).await.unwrap(), Claim::First);
    drop(store);
    let reopened = sqlite(&dir);
    assert_eq!(reopened.claim_jti(key("kept", "any"), at(300), at(1)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(reopened.check().await.unwrap(), super::migrations::latest());
}

#[tokio::test]
async fn an_unopenable_store_is_an_error_not_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = StateConfig::Sqlite { path: dir.path().join("no/such/folder/state.db") };
    let error = Store::open(&missing).err().unwrap();
    assert!(error.to_string().contains("no/such/folder"), "{error}");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    assert!(Store::open(&StateConfig::Sqlite { path: garbage }).is_err());
}

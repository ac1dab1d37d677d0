//! The state store's contract, one suite run against every backend — the embedded SQLite file and a real
//! PostgreSQL 15 cluster started for the test: first use wins atomically (also across two stores on one
//! database), records outlive nothing less than asked, expired ones are taken over and purged in batches,
//! pending claims can be extended or released, revocations are kept, listed until they expire and purged,
//! a notification reaches a listener, migrations are idempotent, and state survives a reopen.

use std::sync::Arc;
use std::time::Duration;

use tollgate::clock::UnixTime;
use tollgate::revocation::{Matcher, Revocation, Target};
use tollgate::store::{Claim, JtiKey, PostgresConfig, StateConfig, Store};

use crate::support::NOW;
use crate::support::postgres::PgCluster;

fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(NOW + secs)
}

fn key<'a>(jti: &'a str, scope: &'a str) -> JtiKey<'a> {
    JtiKey { issuer: "https://ci.example", jti, scope }
}

fn revocation(id: &str, expires: i64) -> Revocation {
    let matcher = Matcher::Glob("repo:acme/*".into());
    Revocation {
        id: id.into(),
        target: Target::Identity { issuer: "github".into(), claim: "sub".into(), matcher },
        reason: "leaked runner".into(),
        author: "ops@example.com".into(),
        created_at: at(0),
        expires_at: at(expires),
    }
}

pub fn postgres_config(cluster: &PgCluster) -> StateConfig {
    let second = Duration::from_secs(2);
    StateConfig::Postgres(PostgresConfig::new(&cluster.url(), 4, second, second).unwrap())
}

async fn contract(config: &StateConfig) {
    let store = Store::open(config).await.unwrap();
    assert_eq!(store.claim_jti(key("a", "role:x"), at(300), at(0)).await.unwrap(), Claim::First);
    assert_eq!(store.claim_jti(key("a", "role:x"), at(300), at(1)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(store.claim_jti(key("a", "role:y"), at(300), at(1)).await.unwrap(), Claim::First, "other scope");
    let other_issuer = JtiKey { issuer: "https://other.example", jti: "a", scope: "role:x" };
    assert_eq!(store.claim_jti(other_issuer, at(300), at(1)).await.unwrap(), Claim::First, "other issuer");
    // Until its time the record holds; after it, the key can be claimed again (a token cannot verify by then).
    assert_eq!(store.claim_jti(key("a", "role:x"), at(900), at(299)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(store.claim_jti(key("a", "role:x"), at(900), at(300)).await.unwrap(), Claim::First);
    // A pending claim: released, it can be claimed again; extended, it holds longer.
    assert_eq!(store.claim_jti(key("p", "any"), at(30), at(0)).await.unwrap(), Claim::First);
    store.release_jti(key("p", "any")).await.unwrap();
    assert_eq!(store.claim_jti(key("p", "any"), at(30), at(1)).await.unwrap(), Claim::First);
    store.extend_jti(key("p", "any"), at(2000)).await.unwrap();
    assert_eq!(store.claim_jti(key("p", "any"), at(3000), at(1000)).await.unwrap(), Claim::AlreadyUsed);
    // Revocations: listed while in force, oldest first, never after they expire.
    store.add_revocation(&revocation("r-short", 100)).await.unwrap();
    store.add_revocation(&revocation("r-long", 5000)).await.unwrap();
    assert!(store.add_revocation(&revocation("r-long", 5000)).await.is_err(), "ids are unique");
    let listed = store.list_revocations(at(50), 100).await.unwrap();
    assert_eq!(listed, vec![revocation("r-long", 5000), revocation("r-short", 100)]);
    assert_eq!(store.list_revocations(at(100), 100).await.unwrap(), vec![revocation("r-long", 5000)]);
    assert_eq!(store.list_revocations(at(50), 1).await.unwrap().len(), 1, "the limit holds");
    // Purge removes only what expired, in batches (both kinds of record).
    for n in 0..5 {
        store.claim_jti(key(&format!("old-{n}"), "any"), at(10), at(0)).await.unwrap();
    }
    assert_eq!(store.purge_expired(at(11), 3).await.unwrap(), 3);
    assert_eq!(store.purge_expired(at(11), 3).await.unwrap(), 2);
    assert_eq!(store.purge_expired(at(101), 10).await.unwrap(), 1, "the expired revocation");
    assert_eq!(store.purge_all_expired(at(11), 2).await.unwrap(), 0);
    assert_eq!(store.claim_jti(key("a", "role:x"), at(900), at(500)).await.unwrap(), Claim::AlreadyUsed);
    // Operator records: looked up by digest until they expire; a runner's name is unique (the race guarantee).
    let runner = |id: &str, lookup: &str, name: &str| tollgate::store::Record {
        id: id.into(),
        lookup: lookup.into(),
        body: format!("{{\"name\":\"{name}\"}}"),
        created_at: at(0),
        expires_at: tollgate::store::NEVER,
    };
    store.add_runner(&runner("r-1", "d-1", "same")).await.unwrap();
    let twin = store.add_runner(&runner("r-2", "d-2", "same")).await.unwrap_err();
    assert!(matches!(twin, tollgate::store::StoreError::Duplicate(_)), "{twin}");
    assert_eq!(store.runner_by_digest("d-1", at(1)).await.unwrap().unwrap().id, "r-1");
    assert!(store.replace_runner("r-1", "d-1b", "{\"name\":\"same\"}").await.unwrap());
    assert!(store.runner_by_digest("d-1", at(1)).await.unwrap().is_none(), "a rotated digest is gone");
    assert!(store.delete_runner("r-1").await.unwrap());
    assert!(store.runner_by_digest("d-1b", at(1)).await.unwrap().is_none());
    // Reopening migrates nothing twice and forgets nothing.
    drop(store);
    let reopened = Store::open(config).await.unwrap();
    assert_eq!(reopened.check().await.unwrap(), 4);
    assert_eq!(Store::inspect(config).await.unwrap(), (4, 4));
    assert_eq!(reopened.claim_jti(key("a", "role:x"), at(900), at(501)).await.unwrap(), Claim::AlreadyUsed);
    assert_eq!(reopened.list_revocations(at(102), 100).await.unwrap().len(), 1);
}

/// Two stores (as two replicas would hold) on one database, 40 racing claims of one key: one first use.
async fn racing_claims(config: &StateConfig) {
    let stores = [Store::open(config).await.unwrap(), Store::open(config).await.unwrap()];
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40 {
        let store = stores[n % 2].clone();
        tasks.spawn(async move { store.claim_jti(key("same", "any"), at(300), at(0)).await.unwrap() });
    }
    let mut first = 0;
    while let Some(claim) = tasks.join_next().await {
        first += usize::from(claim.unwrap() == Claim::First);
    }
    assert_eq!(first, 1);
}

/// Claims committed in groups: two stores race 50 keys, each claimed four times (twice per store, so a group
/// can hold a key twice and two stores' groups overlap in opposite orders): exactly one first use per key, and
/// no claim fails (overlapping groups never deadlock).
async fn racing_groups(config: &StateConfig) {
    let stores = [Store::open(config).await.unwrap(), Store::open(config).await.unwrap()];
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..4 {
        for n in 0..50 {
            // Even rounds walk the keys up, odd rounds down.
            let n = if round % 2 == 0 { n } else { 49 - n };
            let store = stores[round % 2].clone();
            tasks.spawn(async move {
                let jti = format!("group-{n}");
                (n, store.claim_jti(key(&jti, "any"), at(300), at(0)).await.unwrap())
            });
        }
    }
    let mut first = [0; 50];
    while let Some(answer) = tasks.join_next().await {
        let (n, claim) = answer.unwrap();
        first[n] += usize::from(claim == Claim::First);
    }
    assert_eq!(first, [1; 50]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keeps_the_contract_and_two_stores_on_one_file_get_one_first_use() {
    let dir = tempfile::tempdir().unwrap();
    contract(&StateConfig::Sqlite { path: dir.path().join("state.db") }).await;
    racing_claims(&StateConfig::Sqlite { path: dir.path().join("racing.db") }).await;
    racing_groups(&StateConfig::Sqlite { path: dir.path().join("groups.db") }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_keeps_the_contract_and_racing_replicas_get_one_first_use() {
    let Some(cluster) = PgCluster::start() else { return };
    let config = postgres_config(&cluster);
    assert_eq!(Store::inspect(&config).await.unwrap(), (0, 4), "an empty database is at version 0");
    contract(&config).await;
    racing_claims(&config).await;
    racing_groups(&config).await;
    let pool = Store::open(&config).await.unwrap().pool_status().unwrap();
    assert_eq!(pool.max, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_at_once_migrate_once() {
    let Some(cluster) = PgCluster::start() else { return };
    let config = postgres_config(&cluster);
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let config = config.clone();
        opening.spawn(async move { Store::open(&config).await.map(drop) });
    }
    while let Some(opened) = opening.join_next().await {
        opened.unwrap().unwrap();
    }
    assert_eq!(cluster.psql("SELECT count(*) FROM schema_migrations").trim(), "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recorded_revocation_wakes_a_listener_on_another_connection() {
    let Some(cluster) = PgCluster::start() else { return };
    let config = postgres_config(&cluster);
    let (writer, listener) = (Store::open(&config).await.unwrap(), Store::open(&config).await.unwrap());
    let changed = Arc::new(tokio::sync::Notify::new());
    let watching = tokio::spawn({
        let changed = Arc::clone(&changed);
        async move { listener.watch_revocations(changed).await }
    });
    // The listener wakes once when it starts listening (it may have missed notifications before).
    tokio::time::timeout(Duration::from_secs(5), changed.notified()).await.expect("listening");
    writer.add_revocation(&revocation("r1", 5000)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), changed.notified()).await.expect("a notification within 2 s");
    watching.abort();
}

#[tokio::test]
async fn an_unreachable_postgres_is_an_error_at_open_and_the_password_never_shows() {
    let port = crate::support::free_port();
    let url = format!("postgres://tollgate:hunter2-secret@127.0.0.1:{port}/tollgate");
    let second = Duration::from_secs(1);
    let config = StateConfig::Postgres(PostgresConfig::new(&url, 2, second, second).unwrap());
    let error = Store::open(&config).await.err().expect("nothing listens there").to_string();
    assert!(error.contains(&format!("tollgate@127.0.0.1:{port}/tollgate")), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_verifies_the_server_and_never_downgrades() {
    let Some(cluster) = PgCluster::start() else { return };
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
    cluster.require_tls(&cert.pem(), &key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let second = Duration::from_secs(2);
    let config = |url: String, ca: &std::path::Path| {
        StateConfig::Postgres(PostgresConfig::new(&url, 2, second, second).unwrap().with_ca_file(ca.to_owned()))
    };
    // Verified against the server's CA, the store works over TLS (the server says so for its session).
    let tls = config(format!("{}?sslmode=require", cluster.url()), &ca);
    let store = Store::open(&tls).await.unwrap();
    assert_eq!(store.claim_jti(key_of("over-tls"), at(300), at(0)).await.unwrap(), Claim::First);
    assert_eq!(
        cluster
            .psql("SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'tollgate'")
            .trim(),
        "t"
    );
    // Another CA: the server is not trusted, nothing is sent.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let other = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&other_key).unwrap();
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other.pem()).unwrap();
    let error = Store::open(&config(format!("{}?sslmode=require", cluster.url()), &other_ca)).await.err().unwrap();
    assert!(error.to_string().contains("certificate"), "a server certificate from another CA is refused: {error}");
    // Plaintext only when asked explicitly, and this server refuses it.
    let error = Store::open(&config(format!("{}?sslmode=disable", cluster.url()), &ca)).await.err().unwrap();
    assert!(error.to_string().contains("no encryption"), "{error}");
}

fn key_of(jti: &str) -> JtiKey<'_> {
    JtiKey { issuer: "https://ci.example", jti, scope: "any" }
}

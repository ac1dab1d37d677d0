//! Runner credentials across replicas on one real PostgreSQL: a credential created through replica A's admin API
//! exchanges on replica B, and once A deletes it, B refuses it at once (every runner exchange reads the store;
//! no cache to wait for). The session is opened with the break-glass secret (a provider is `operators.rs`'s).
//! Skipped (with a notice) where PostgreSQL 15 is not installed, except under `CI=true`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;

use crate::support::postgres::PgCluster;
use crate::support::replica::Replica;
use crate::support::*;

const SECRET: &str = "replica-break-glass-secret-0123456789";

async fn post(client: &reqwest::Client, url: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = client.post(url).json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    read(request.send().await.unwrap()).await
}

/// Two replicas on one fresh PostgreSQL (break-glass on; `signing` is extra config such as `managed: true`),
/// or `None` where PostgreSQL is not installed (outside CI).
struct Pair {
    a: Replica,
    b: Replica,
    client: reqwest::Client,
    _work: Workdir,
    _pg: PgCluster,
}

async fn pair(github: &FakeIssuer, policies: &[(String, String)], signing: &str) -> Option<Pair> {
    let pg = tokio::task::spawn_blocking(PgCluster::start).await.unwrap()?;
    let work = workdir(policies);
    let digest = tollgate::operators::sha256_hex(SECRET.as_bytes());
    let extra = format!(
        "{signing}state:\n  backend: postgres\n  url: {}\n  pool_size: 4\noperators:\n  bootstrap:\n    secret_sha256: {digest}\n",
        pg.url()
    );
    let issuers = issuer_entry("github", github, "");
    let issuer_url = format!("http://127.0.0.1:{}", free_port());
    let start = || Replica::start(work.dir.path(), &work.key_file, &work.policies, &issuer_url, &issuers, &extra);
    let (a, b) = (start().await, start().await);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    Some(Pair { a, b, client, _work: work, _pg: pg })
}

impl Pair {
    /// An admin session opened on A with the break-glass secret.
    async fn admin_session(&self) -> String {
        let url = format!("{}/admin/v1/session", self.a.admin_url);
        let (status, session) =
            post(&self.client, &url, None, json!({"bootstrap_secret": SECRET, "scope": "admin"})).await;
        assert_eq!(status, 201, "{session}\n{}", self.a.log());
        session["session_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_runner_deleted_on_one_replica_is_refused_on_the_other_at_once() {
    let _turn = crate::support::replica::ONE_DEPLOYMENT_AT_A_TIME.lock().await;
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let build = "role: build\nissuer: tollgate-runners\naudience: tollgate-runners\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        name: jenkins-1\ngrant:\n  type: token\n  audience: build-api\n  ttl: 10m\n";
    let Some(pair) = pair(&github, &[("build.yaml".into(), build.into())], "").await else { return };
    let Pair { a, b, client, .. } = &pair;
    let session = pair.admin_session().await;
    let (status, runner) =
        post(client, &format!("{}/admin/v1/runners", a.admin_url), Some(&session), json!({"name": "jenkins-1"})).await;
    assert_eq!(status, 201, "{runner}");
    let (id, credential) = (runner["id"].as_str().unwrap(), runner["credential"].as_str().unwrap());
    let b_exchange = format!("{}/exchange", b.url);
    let exchange_on_b = || post(client, &b_exchange, Some(credential), json!({"role": "build"}));
    let (status, body) = exchange_on_b().await;
    assert_eq!(status, 200, "B knows a runner A created: {body}");
    // The session is shared too: B's admin API accepts it.
    let whoami = client.get(format!("{}/admin/v1/whoami", b.admin_url)).bearer_auth(&session).send().await.unwrap();
    assert_eq!(whoami.status(), 200);

    let deleted =
        client.delete(format!("{}/admin/v1/runners/{id}", a.admin_url)).bearer_auth(&session).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let after = Instant::now();
    let (status, body) = exchange_on_b().await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    assert!(after.elapsed() < Duration::from_secs(1), "refused within 1 s of the deletion");
}

async fn kids(client: &reqwest::Client, url: &str) -> Vec<String> {
    let (_, jwks) = read(client.get(format!("{url}/.well-known/jwks.json")).send().await.unwrap()).await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_a_store_managed_key_ring_and_publish_a_rotation_within_a_reload() {
    let _turn = crate::support::replica::ONE_DEPLOYMENT_AT_A_TIME.lock().await;
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let policies = [policy("deploy", "github", "repo:acme/*")];
    let Some(pair) = pair(&github, &policies, "signing:\n  managed: true\n").await else { return };
    let Pair { a, b, client, .. } = &pair;
    let first = kids(client, &a.url).await;
    assert_eq!((first.len(), kids(client, &b.url).await), (1, first.clone()), "one ring for both replicas");

    let session = pair.admin_session().await;
    let (status, rotated) =
        post(client, &format!("{}/admin/v1/keys/rotate", a.admin_url), Some(&session), json!({})).await;
    assert_eq!(status, 201, "{rotated}");
    let next = rotated["kid"].as_str().unwrap().to_owned();
    let rotated_at = Instant::now();
    loop {
        if kids(client, &b.url).await.contains(&next) {
            break;
        }
        assert!(rotated_at.elapsed() < Duration::from_secs(8), "B publishes the new key within a reload (5 s)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Still signing with the old key on B: the new one activates 310 s after the rotation.
    let token = github.token(
        tollgate::clock::Clock::now(&tollgate::clock::SystemClock).as_secs(),
        json!({"sub": "repo:acme/web:ref:refs/heads/main"}),
    );
    let (status, body) =
        post(client, &format!("{}/exchange", b.url), None, json!({"token": token, "role": "deploy"})).await;
    assert_eq!(status, 200, "{body}");
    let header = body["access_token"].as_str().unwrap().split('.').next().unwrap().to_owned();
    use base64::Engine as _;
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["kid"].as_str(), Some(first[0].as_str()));
}

//! Single-use CI tokens on the embedded store (SQLite): a token serves each role once (`per_role`, the default)
//! or one role at all (`strict`); the STS door records only where a policy asks; concurrent uses give exactly
//! one credential; uses survive a restart; a store that cannot answer fails closed (or not, where a policy says
//! so).

use serde_json::json;
use tollgate::credentials::SigningAlg;

use crate::support::*;

fn role(name: &str, extra: &str) -> (String, String) {
    let text = format!(
        "role: {name}\nissuer: github\naudience: tollgate\n{extra}statements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"repo:acme/*\"\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n"
    );
    (format!("{name}.yaml"), text)
}

async fn app(github: &FakeIssuer, policies: Vec<(String, String)>, extra: &str) -> TestApp {
    spawn_app(Setup { issuers: issuer_entry("github", github, ""), policies, extra: extra.into() }).await
}

fn token(github: &FakeIssuer) -> String {
    github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main"}))
}

#[tokio::test]
async fn a_token_serves_each_role_once_by_default_and_one_role_when_strict() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let policies =
        vec![role("a", ""), role("b", ""), role("s1", "single_use: strict\n"), role("s2", "single_use: strict\n")];
    let app = app(&github, policies, "").await;
    let once = token(&github);
    assert_eq!(app.exchange(&once, "a").await.0, 200);
    let (status, body) = app.exchange(&once, "a").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("token already used"), "{body}");
    assert_eq!(app.exchange(&once, "b").await.0, 200, "per_role: another role of the same job");
    let strict = token(&github);
    assert_eq!(app.exchange(&strict, "s1").await.0, 200);
    assert_eq!(app.exchange(&strict, "s2").await.0, 401, "strict: one exchange per token, any role");
    // A denied or failed exchange uses nothing up.
    let denied = github.token(NOW, json!({"sub": "repo:evil/web:ref:refs/heads/main"}));
    assert_eq!(app.exchange(&denied, "a").await.0, 403);
    // Without a jti a single-use role cannot tell uses apart: refused with the reason.
    let anonymous = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "jti": null}));
    let (status, body) = app.exchange(&anonymous, "a").await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("has no usable jti"), "{body}");
    for unusable in ["x".repeat(257), "nul\u{0}jti".to_owned(), String::new()] {
        let odd = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "jti": unusable}));
        assert_eq!(app.exchange(&odd, "a").await.0, 401, "a jti the store could not hold: {unusable:?}");
    }
    // The RFC 8693 door records uses too.
    let form = |subject: &str| {
        [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
            ("subject_token", subject.to_owned()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".to_owned()),
            ("scope", "a".to_owned()),
        ]
    };
    let fresh = token(&github);
    let post = |subject: &str| app.client.post(format!("{}/token", app.url)).form(&form(subject)).send();
    assert_eq!(post(&fresh).await.unwrap().status(), 200);
    let (status, body) = read(post(&fresh).await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // Every claim is counted: 7 answered (4 first uses, 3 already used), none failed.
    let metrics = app.client.get(format!("{}/metrics", app.admin_url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tollgate_store_operations_total{op=\"claim_jti\",result=\"ok\"} 7"), "{metrics}");
    assert!(metrics.contains("tollgate_store_operations_total{op=\"claim_jti\",result=\"error\"} 0"), "{metrics}");
    assert!(metrics.contains("tollgate_exchanges_total{front_door=\"exchange\",issuer=\"github\",outcome=\"deny\",reason=\"replayed\",role=\"a\"} 1"), "{metrics}");
}

#[tokio::test]
async fn the_sts_door_records_uses_only_where_a_policy_asks() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app(&github, vec![role("plain", ""), role("once", "single_use: per_role\n")], "").await;
    let sts = |role: &str, token: &str| {
        let form = [
            ("Action", "AssumeRoleWithWebIdentity".to_owned()),
            ("Version", "2011-06-15".to_owned()),
            ("RoleArn", format!("arn:aws:iam::123456789012:role/{role}")),
            ("RoleSessionName", "s1".to_owned()),
            ("WebIdentityToken", token.to_owned()),
        ];
        let request = app.client.post(format!("{}/sts", app.url)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    // AWS clients resend one token (retries, shared token files): the default lets them.
    let shared = token(&github);
    for _ in 0..3 {
        assert_eq!(sts("plain", &shared).await.0, 200);
    }
    let once = token(&github);
    assert_eq!(sts("once", &once).await.0, 200);
    let (status, body) = sts("once", &once).await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidIdentityToken</Code>") && body.contains("token already used"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_token_give_exactly_one_credential() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = std::sync::Arc::new(app(&github, vec![role("a", "")], "").await);
    let raced = token(&github);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (app, raced) = (std::sync::Arc::clone(&app), raced.clone());
        tasks.spawn(async move { app.exchange(&raced, "a").await.0 });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
}

#[tokio::test]
async fn uses_survive_a_restart_of_the_single_node() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let state = format!("state:\n  backend: sqlite\n  path: {}\n", dir.path().join("state.db").display());
    let used = token(&github);
    {
        let first = app(&github, vec![role("a", "")], &state).await;
        assert_eq!(first.exchange(&used, "a").await.0, 200);
    }
    let restarted = app(&github, vec![role("a", "")], &state).await;
    let (status, ready) = restarted.get("/readyz").await;
    assert_eq!((status, ready["state"].as_bool()), (200, Some(true)), "the store answers: {ready}");
    let (status, body) = restarted.exchange(&used, "a").await;
    assert_eq!(status, 401, "a use acknowledged before the restart is remembered: {body}");
    assert_eq!(restarted.exchange(&token(&github), "a").await.0, 200);
}

#[tokio::test]
async fn a_locked_store_fails_closed_unless_the_policy_allows() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let state = format!("state:\n  path: {}\n", path.display());
    let policies = vec![role("closed", ""), role("open", "on_store_error: allow\n"), role("free", "single_use: off\n")];
    let app = app(&github, policies, &state).await;
    // Another process holds the write lock longer than the store waits (5 s).
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE; INSERT INTO used_jti_v1 VALUES ('x', 'y', 'z', 0);").unwrap();
    let response = app
        .client
        .post(format!("{}/exchange", app.url))
        .json(&json!({"token": token(&github), "role": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let (_, body) = read(response).await;
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert_eq!(app.exchange(&token(&github), "open").await.0, 200, "on_store_error: allow");
    assert_eq!(app.exchange(&token(&github), "free").await.0, 200, "a role without single use never waits");
    let metrics = reqwest::get(format!("{}/metrics", app.admin_url)).await.unwrap().text().await.unwrap();
    let failed = metrics
        .lines()
        .find(|line| line.starts_with("tollgate_store_operations_total{op=\"claim_jti\",result=\"error\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|count| count.parse::<u64>().ok());
    assert_eq!(failed, Some(2), "both failed claims are counted:\n{metrics}");
    locker.execute_batch("ROLLBACK;").unwrap();
    drop(locker);
    assert_eq!(app.exchange(&token(&github), "closed").await.0, 200, "recovers by itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_aws_grant_claims_before_calling_sts_and_a_failed_call_uses_nothing_up() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let stub = StsStub::start().await;
    let (name, text) = crate::aws::aws_policy("deploy-aws", "passthrough");
    let single_use = (name, text.replace("single_use: off", "single_use: per_role"));
    let extra = format!("aws:\n  endpoint_url: {}\n  timeout_seconds: 5\n  max_attempts: 1\n", stub.url);
    let app = app(&github, vec![single_use], &extra).await;
    let token = github.token(NOW, crate::aws::ci_claims());
    // STS fails: the pending claim is released, so the client's retry with the same token succeeds.
    stub.set(StubMode::Fail { status: 400, code: "IDPCommunicationError", message: "try again" });
    assert_ne!(app.exchange(&token, "deploy-aws").await.0, 200);
    stub.set(StubMode::Succeed { secret: "s3cret".into() });
    let (status, body) = app.exchange(&token, "deploy-aws").await;
    assert_eq!(status, 200, "the failed attempt did not use the token up: {body}");
    assert_eq!(app.exchange(&token, "deploy-aws").await.0, 401, "a success uses it");
    // Concurrent attempts while STS is slow: the first holds a pending claim, the others are refused before
    // reaching STS, so exactly one AWS session exists.
    stub.clear();
    stub.set(StubMode::SucceedAfter(std::time::Duration::from_millis(400)));
    let racing = github.token(NOW, crate::aws::ci_claims());
    let attempts = (0..8).map(|_| app.exchange(&racing, "deploy-aws"));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 7, "{statuses:?}");
    assert_eq!(stub.requests().len(), 1, "only the first attempt reached STS");
}

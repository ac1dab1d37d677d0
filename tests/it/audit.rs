//! The audit log: one JSON line per decision from every front door, with the fields operators need and no token
//! material; reopened after rotation.

use serde_json::{Value, json};
use tollgate::broker::credential_digest;
use tollgate::credentials::SigningAlg;

use crate::support::*;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn every_decision_is_one_json_line_without_tokens() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: format!("audit:\n  path: {}\n", path.display()),
    })
    .await;
    let token = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"}));
    let response = app
        .client
        .post(format!("{}/exchange", app.url))
        .header("x-request-id", "req-123")
        .header("user-agent", "ci-job/1.0")
        .json(&json!({"token": token, "role": "deploy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let (_, allowed) = read(response).await;
    let minted = allowed["access_token"].as_str().unwrap().to_owned();
    let denied_token = github.token(NOW, json!({"sub": "repo:evil/web:ref:refs/heads/main"}));
    assert_eq!(app.exchange(&denied_token, "deploy").await.0, 403);
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert_eq!(app.exchange(&tampered, "deploy").await.0, 401);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("scope", "deploy"),
    ];
    assert_eq!(app.client.post(format!("{}/token", app.url)).form(&form).send().await.unwrap().status(), 200);
    let sts = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("RoleArn", "arn:aws:iam::123456789012:role/deploy"),
        ("RoleSessionName", "s1"),
        ("WebIdentityToken", token.as_str()),
    ];
    assert_eq!(app.client.post(format!("{}/", app.url)).form(&sts).send().await.unwrap().status(), 200);

    app.audit.flush().unwrap(); // decision lines are written in batches
    let records = lines(&path);
    assert_eq!(records.len(), 5, "{records:#?}");
    let first = &records[0];
    assert_eq!(first["request_id"], "req-123");
    assert_eq!(
        (first["front_door"].as_str(), first["decision"].as_str(), first["reason"].as_str()),
        (Some("exchange"), Some("allow"), Some("allowed"))
    );
    assert_eq!((first["issuer"].as_str(), first["role"].as_str()), (Some("github"), Some("deploy")));
    assert_eq!(first["sub"], "repo:acme/web:ref:refs/heads/main");
    assert!(first["jti"].as_str().unwrap().starts_with(&format!("jti-{NOW}-")), "{first}");
    assert_eq!(first["detail"], "statement 1");
    assert_eq!(first["credential_sha256"], credential_digest(&minted));
    assert_eq!(first["expires_at"], "2026-01-01T00:15:00Z");
    assert_eq!((first["client_addr"].as_str(), first["user_agent"].as_str()), (Some("127.0.0.1"), Some("ci-job/1.0")));
    assert_eq!(first["time"], "2026-01-01T00:00:00Z");
    assert!(first["duration_ms"].as_f64().unwrap() >= 0.0);
    let second = &records[1];
    assert_eq!((second["decision"].as_str(), second["reason"].as_str()), (Some("deny"), Some("policy_denied")));
    assert!(second["detail"].as_str().unwrap().contains("StringLike on \"sub\""), "{second}");
    assert!(second["credential_sha256"].is_null());
    let third = &records[2];
    assert_eq!((third["reason"].as_str(), third["issuer"].as_str()), (Some("bad_signature"), None));
    assert_eq!(records[3]["front_door"], "token");
    assert_eq!(records[4]["front_door"], "sts");
    assert!(records.iter().all(|r| r["request_id"].as_str().is_some_and(|id| !id.is_empty())));
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in [&token, &minted, &tampered, &denied_token] {
        assert!(!text.contains(secret.as_str()), "a token reached the audit log");
    }
    assert!(!text.contains("eyJ"), "no JWT material at all");

    // Rotation: move the file away, reopen (SIGHUP does this), and new lines go to the new file.
    let rotated = dir.path().join("audit.jsonl.1");
    std::fs::rename(&path, &rotated).unwrap();
    app.audit.reopen().unwrap();
    assert_eq!(app.exchange(&token, "deploy").await.0, 200);
    app.audit.flush().unwrap();
    assert_eq!(lines(&path).len(), 1);
    assert_eq!(lines(&rotated).len(), 5);
}

//! `tollgate exchange`, the CI-side client, finding the job's token: a fake GitHub Actions token-request
//! endpoint on 127.0.0.1, Semaphore's variable, `--token-env`, `--token-file`, and clear errors otherwise.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use tollgate::credentials::SigningAlg;

use crate::support::*;

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// GitHub's token endpoint: needs `Authorization: bearer <request token>`, echoes the requested audience.
async fn github_endpoint(token: String) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let handler = |State((token, seen)): State<(String, Seen)>,
                   headers: HeaderMap,
                   Query(q): Query<Vec<(String, String)>>| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let audience = q.iter().find(|(k, _)| k == "audience").map(|(_, v)| v.clone()).unwrap_or_default();
        seen.lock().unwrap().push((auth.clone(), audience));
        if auth != "bearer request-token-123" {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        axum::Json(json!({"value": token})).into_response()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token?api-version=2.0", listener.local_addr().unwrap());
    let router: Router = Router::new().route("/token", get(handler)).with_state((token, Arc::clone(&seen)));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, seen)
}

async fn client(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// A Tollgate with the role `plain` (a token grant for `deploy-api`) trusting a GitHub-shaped issuer, and a
/// token of that issuer for acme/web's main branch.
async fn plain_app() -> (FakeIssuer, TestApp, String) {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("plain", "github", "repo:acme/*")],
        extra: String::new(),
    })
    .await;
    let token = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"}));
    (github, app, token)
}

#[tokio::test]
async fn the_ci_client_finds_the_token_and_exchanges_it() {
    let (_github, app, token) = plain_app().await;
    let (endpoint, seen) = github_endpoint(token.clone()).await;
    let base = ["exchange", "--url", &app.url, "--role", "plain"];

    let github_env =
        [("ACTIONS_ID_TOKEN_REQUEST_URL", endpoint.as_str()), ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token-123")];
    let (code, stdout, stderr) =
        client(&[&base[..], &["--format", "env", "--audience", "tollgate"]].concat(), &github_env).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("export TOLLGATE_TOKEN='eyJ"), "{stdout}");
    assert_eq!(seen.lock().unwrap().as_slice(), [("bearer request-token-123".to_owned(), "tollgate".to_owned())]);
    assert!(!stderr.contains(&token) && !stdout.contains(&token), "the CI token is never printed");

    let (code, stdout, stderr) = client(&base, &[("SEMAPHORE_OIDC_TOKEN", token.as_str())]).await;
    assert_eq!(code, 0, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["token_type"], "Bearer");

    let (code, _, stderr) =
        client(&[&base[..], &["--token-env", "GITLAB_ID_TOKEN"]].concat(), &[("GITLAB_ID_TOKEN", token.as_str())])
            .await;
    assert_eq!(code, 0, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (code, _, stderr) = client(&[&base[..], &["--token-file", file.to_str().unwrap()]].concat(), &[]).await;
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = client(&base, &[("CIRCLE_OIDC_TOKEN_V2", token.as_str())]).await;
    assert_eq!(code, 0, "CircleCI: {stderr}");
    // Buildkite: the agent is asked for a token with the audience (a stand-in agent on PATH records the call).
    let agent_dir = tempfile::tempdir().unwrap();
    let agent = agent_dir.path().join("buildkite-agent");
    let record = agent_dir.path().join("args");
    std::fs::write(&agent, format!("#!/bin/sh\necho \"$@\" > '{}'\nprintf '%s' '{token}'\n", record.display()))
        .unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", agent_dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let mut buildkite = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    buildkite.args(base).args(["--audience", "tollgate"]).env_clear().env("PATH", &path).env("BUILDKITE", "true");
    let output = buildkite.output().await.unwrap();
    assert!(output.status.success(), "Buildkite: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), "oidc request-token --audience tollgate");
    // The CI token never crosses the network in clear.
    let (code, _, stderr) = client(
        &["exchange", "--url", "http://10.1.2.3:8080", "--role", "plain"],
        &[("SEMAPHORE_OIDC_TOKEN", token.as_str())],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("must be https"), "{stderr}");

    // Clear errors.
    let (code, _, stderr) = client(&base, &[]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("no CI token found"), "{stderr}");
    let (code, _, stderr) = client(&base, &[("GITHUB_ACTIONS", "true")]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("id-token: write"), "{stderr}");
    let (code, _, stderr) =
        client(&["exchange", "--url", &app.url, "--role", "nope"], &[("SEMAPHORE_OIDC_TOKEN", token.as_str())]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("403") && stderr.contains("access_denied"), "{stderr}");
    let wrong = [("ACTIONS_ID_TOKEN_REQUEST_URL", endpoint.as_str()), ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong")];
    let (code, _, stderr) = client(&base, &wrong).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
}

/// Issue 14: `--format kubernetes` prints kubectl's ExecCredential: the minted token and its expiry, nothing else
/// on stdout, and never the CI token.
#[tokio::test]
async fn the_kubernetes_format_is_an_exec_credential() {
    let (_github, app, token) = plain_app().await;
    let args = ["exchange", "--url", &app.url, "--role", "plain", "--format", "kubernetes", "--token-env", "CI_TOKEN"];
    let (code, stdout, stderr) = client(&args, &[("CI_TOKEN", token.as_str())]).await;
    assert_eq!(code, 0, "{stderr}");
    let credential: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(credential["kind"], "ExecCredential");
    let minted = credential["status"]["token"].as_str().unwrap();
    let payload = minted.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "deploy-api");
    let expiry = tollgate::clock::UnixTime::from_secs(claims["exp"].as_i64().unwrap()).to_rfc3339();
    assert_eq!(credential["status"]["expirationTimestamp"], expiry.as_str(), "kubectl refreshes at the token's exp");
    assert!(!stdout.contains(&token) && !stderr.contains(&token) && !stderr.contains(minted), "{stderr}");
    let (code, _, stderr) = client(&[&args[..5], &["--format", "yaml"]].concat(), &[]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("not one of json, env, credential-process, kubernetes"), "{stderr}");
}

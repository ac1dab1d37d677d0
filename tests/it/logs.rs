//! Logs of the real binary: JSON lines, the request id on every line of a request, client errors at info (not
//! error), and never any token material.

use std::process::Stdio;

use serde_json::{Value, json};
use tollgate::clock::{Clock, SystemClock};
use tollgate::credentials::SigningAlg;

use crate::support::*;

#[tokio::test]
async fn json_logs_carry_request_ids_and_no_tokens() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let Workdir { dir, .. } = workdir(&[policy("deploy", "github", "repo:acme/*")]);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("tollgate.yaml");
    let audit = dir.path().join("audit.jsonl");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nissuer_url: {url}\nsigning:\n  key_file: signing.pem\npolicies: policies\nlog:\n  format: json\naudit:\n  path: {}\ntrusted_issuers:\n{}",
            audit.display(),
            issuer_entry("github", &github, "")
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env_remove("TOLLGATE_LOG_FORMAT")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..500 {
        if client.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ready);
    let now = SystemClock.now().as_secs();
    let good = github.token(now, json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    let bad = github.token(now, json!({"sub": "repo:evil/web:ref:refs/heads/main"}));
    let mut minted = String::new();
    for (token, id) in [(&good, "req-good"), (&bad, "req-bad")] {
        let response = client
            .post(format!("{url}/exchange"))
            .header("x-request-id", id)
            .json(&json!({"token": token, "role": "deploy"}))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        if let Some(token) = body["access_token"].as_str() {
            minted = token.to_owned();
        }
    }
    assert!(!minted.is_empty());
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let output =
        tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let of_request = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| {
                l["span"]["request_id"] == id
                    || l["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["request_id"] == id))
            })
            .collect()
    };
    let refused = of_request("req-bad");
    assert!(!refused.is_empty(), "the denied request logged with its id:\n{logs}");
    assert!(refused.iter().all(|l| l["level"] == "INFO"), "a client error is info, not error: {refused:?}");
    assert!(!of_request("req-good").is_empty(), "{logs}");
    for token in [&good, &bad, &minted] {
        assert!(!logs.contains(token.as_str()), "a token reached the logs");
    }
    assert!(!logs.contains("eyJ"), "no JWT material in the logs");
}

//! Logs of the real binary: JSON lines, the request id on every line of a request, client errors at info (not
//! error), never any token material, and no line forged by attacker-chosen text in the pretty format.

use std::process::Stdio;

use serde_json::{Value, json};
use tollgate::clock::{Clock, SystemClock};
use tollgate::credentials::SigningAlg;

use crate::support::*;

/// The real binary serving on a free port with `log.format: {format}`, its stderr piped.
struct Served {
    child: tokio::process::Child,
    url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn serve(github: &FakeIssuer, format: &str) -> Served {
    let Workdir { dir, .. } = workdir(&[policy("deploy", "github", "repo:acme/*")]);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("tollgate.yaml");
    let audit = dir.path().join("audit.jsonl");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nissuer_url: {url}\nadmin:\n  listen: 127.0.0.1:{}\nsigning:\n  key_file: signing.pem\npolicies: policies\nlog:\n  format: {format}\naudit:\n  path: {}\ntrusted_issuers:\n{}",
            free_port(),
            audit.display(),
            issuer_entry("github", github, "")
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", config.to_str().unwrap()])
        // Allowed exchanges log at debug (the audit log has every decision): ask for the broker's.
        .env("RUST_LOG", "info,tollgate::broker=debug")
        .env_remove("TOLLGATE_LOG_FORMAT")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    crate::support::wait_ready(&client, &url).await;
    Served { child, url, client, _dir: dir }
}

/// Stops the binary with SIGTERM and returns what it logged.
async fn stop(served: Served) -> String {
    let pid = served.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), served.child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn attacker_text_cannot_forge_lines_in_the_pretty_log() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let served = serve(&github, "pretty").await;
    let (url, client) = (&served.url, &served.client);
    let forged = "\nINFO tollgate: Exchange allowed. role=admin forged\r\nINFO forged";
    let good = github.token(SystemClock.now().as_secs(), json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    // An unknown JSON field name, a role name, an STS Action and a constraint value, an RFC 8693 grant type.
    let field = format!("{{\"x{}\": 1}}", forged.replace('\n', "\\n").replace('\r', "\\r"));
    let response = client.post(format!("{url}/exchange")).body(field).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let response =
        client.post(format!("{url}/exchange")).json(&json!({"token": good, "role": format!("r{forged}")})).send();
    assert_eq!(response.await.unwrap().status(), 403, "an unknown role");
    let sts = [("Action", format!("X{forged}")), ("Version", "2011-06-15".to_owned())];
    assert_eq!(client.post(format!("{url}/sts")).form(&sts).send().await.unwrap().status(), 400);
    let session = [
        ("Action", "AssumeRoleWithWebIdentity".to_owned()),
        ("RoleArn", "arn:aws:iam::123456789012:role/deploy".to_owned()),
        ("RoleSessionName", format!("s{forged}")),
        ("WebIdentityToken", good.clone()),
    ];
    assert_eq!(client.post(format!("{url}/sts")).form(&session).send().await.unwrap().status(), 400);
    let grant = [("grant_type", format!("g{forged}"))];
    assert_eq!(client.post(format!("{url}/token")).form(&grant).send().await.unwrap().status(), 400);
    let logs = stop(served).await;
    let plain: String = strip_ansi(&logs);
    assert!(plain.contains("forged"), "the refusals were logged:\n{plain}");
    for line in plain.lines() {
        let line = line.trim_start();
        assert!(
            !line.starts_with("INFO forged") && !line.starts_with("INFO tollgate: Exchange allowed. role=admin"),
            "forged line:\n{plain}"
        );
    }
    assert!(!plain.contains(good.as_str()), "a token reached the logs");
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_no_tokens() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let served = serve(&github, "json").await;
    let (url, client) = (served.url.clone(), served.client.clone());
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
    let logs = stop(served).await;
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

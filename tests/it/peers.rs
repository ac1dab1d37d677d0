//! Real peers: PyJWT (an independent OIDC/JWT library) verifies a minted token from our discovery + JWKS.
//! The Python interpreter comes from `make test`'s virtualenv (TOLLGATE_TEST_PYTHON); under CI=true it must exist.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::json;
use tollgate::clock::{Clock, SystemClock};
use tollgate::credentials::SigningAlg;

use crate::support::*;

fn python() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TOLLGATE_TEST_PYTHON is not set (run `make test`)"
            );
            eprintln!("notice: TOLLGATE_TEST_PYTHON unset; skipping the PyJWT peer test (run `make test`)");
            None
        }
    }
}

#[tokio::test]
async fn pyjwt_verifies_a_minted_token_from_discovery_and_jwks() {
    let Some(python) = python() else { return };
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: String::new(),
    })
    .await;
    // PyJWT checks exp/iat/nbf against the real clock, so this exchange runs at the real time.
    let now = SystemClock.now();
    app.clock.set(now);
    let token =
        github.token(now.as_secs(), json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"}));
    let (status, body) = app.exchange(&token, "deploy").await;
    assert_eq!(status, 200, "{body}");
    let minted = body["access_token"].as_str().unwrap().to_owned();
    let url = app.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/verify_pyjwt.py");
        let mut child = Command::new(python)
            .args([script, &url, "deploy-api"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(minted.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "PyJWT refused: {}", String::from_utf8_lossy(&output.stderr));
    let claims: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["role"], "deploy");
    assert_eq!(claims["aud"], "deploy-api");
    assert_eq!(claims["act"]["sub"], "repo:acme/web:ref:refs/heads/main");
}

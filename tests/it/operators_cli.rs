//! `tollgate admin` against the real `tollgate serve`, for what OpenBao cannot show (`operators_openbao` has the
//! browser flow): the device authorization grant (RFC 8628) against a scripted provider that serves real keys and
//! answers `authorization_pending` before it hands out an ID token, and the break-glass sign-in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tollgate::clock::{Clock, SystemClock};
use tollgate::credentials::{SigningAlg, SigningKey};

use crate::support::operators::{AdminServer, cached_session, run, whoami};

/// Every test here finishes within this, or fails.
const TEST_LIMIT: Duration = Duration::from_secs(60);

const CLIENT_ID: &str = "tollgate-cli";
const DEVICE_CODE: &str = "device-code-1";

/// A provider that offers only the device flow, with a real signing key.
struct DeviceProvider {
    url: String,
    key: SigningKey,
    /// Token-endpoint polls so far; the first answers `authorization_pending`.
    polls: AtomicU32,
}

impl DeviceProvider {
    async fn start() -> Arc<DeviceProvider> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let key = SigningKey::generate(SigningAlg::Es256).unwrap();
        let provider = Arc::new(DeviceProvider { url, key, polls: AtomicU32::new(0) });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/jwks",
                get(|State(p): State<Arc<DeviceProvider>>| async move {
                    axum::Json(json!({"keys": [Value::Object(p.key.public_jwk().clone())]}))
                }),
            )
            .route("/device", post(device))
            .route("/token", post(token))
            .with_state(Arc::clone(&provider));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        provider
    }
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn discovery(State(provider): State<Arc<DeviceProvider>>) -> axum::Json<Value> {
    let url = &provider.url;
    axum::Json(json!({
        "issuer": url, "jwks_uri": format!("{url}/jwks"), "token_endpoint": format!("{url}/token"),
        "authorization_endpoint": format!("{url}/authorize"), "device_authorization_endpoint": format!("{url}/device"),
    }))
}

async fn device(State(provider): State<Arc<DeviceProvider>>, body: Bytes) -> Response {
    let form = form(&body);
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) || !form["scope"].split(' ').any(|s| s == "openid")
    {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    axum::Json(json!({
        "device_code": DEVICE_CODE, "user_code": "WDJB-MJHT", "verification_uri": format!("{}/activate", provider.url),
        "expires_in": 60, "interval": 1,
    }))
    .into_response()
}

async fn token(State(provider): State<Arc<DeviceProvider>>, body: Bytes) -> Response {
    let form = form(&body);
    let expected = [("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", DEVICE_CODE)];
    if expected.iter().any(|(key, value)| form.get(*key).map(String::as_str) != Some(value)) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    if provider.polls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "authorization_pending"}))).into_response();
    }
    let now = SystemClock.now().as_secs();
    let claims = json!({
        "iss": provider.url, "aud": CLIENT_ID, "sub": "user-7", "iat": now, "exp": now + 300,
        "email": "carol@example.com", "email_verified": true, "groups": ["ops"],
    });
    let Value::Object(claims) = claims else { unreachable!() };
    let id_token = provider.key.sign(&claims).unwrap();
    axum::Json(json!({"access_token": "opaque", "token_type": "Bearer", "id_token": id_token})).into_response()
}

#[tokio::test]
async fn admin_login_with_the_device_flow_sends_the_id_token() {
    tokio::time::timeout(TEST_LIMIT, async {
        let provider = DeviceProvider::start().await;
        let operators = format!(
            "operators:\n  providers:\n    - name: dev\n      issuer: {}\n      client_id: {CLIENT_ID}\n      \
             groups_claim: groups\n      admin_role: {{claim: groups, value: ops}}\n      id_token_sign_in: true\n",
            provider.url
        );
        let server = AdminServer::start(&operators, &[]).await;
        let config = tempfile::tempdir().unwrap();
        let args = ["admin", "login", "--url", &server.admin_url, "--device", "--scope", "admin", "--timeout", "30"];
        let login = run(config.path(), &args).await;
        assert_eq!(login.code, 0, "device login: {}\n{}", login.stderr, server.log());
        assert!(login.stderr.contains("enter the code WDJB-MJHT"), "{}", login.stderr);
        assert_eq!(provider.polls.load(Ordering::SeqCst), 2, "one pending answer, then the token");
        let (mode, token) = cached_session(config.path());
        assert_eq!(mode, 0o600);
        assert!(!login.stdout.contains(&token) && !login.stderr.contains(&token));
        let me = whoami(config.path()).await;
        assert_eq!(me["identity"]["user"], "carol@example.com");
        assert_eq!(me["identity"]["provider"], "dev");
        assert_eq!(me["scope"], json!(["admin"]));
    })
    .await
    .expect("the test took longer than its limit");
}

#[tokio::test]
async fn break_glass_login_opens_an_admin_session_and_a_wrong_secret_is_refused() {
    tokio::time::timeout(TEST_LIMIT, async {
        let secret = "break-glass-secret-0123456789abcdef";
        let operators = "operators:\n  bootstrap:\n    secret_file: bootstrap-secret\n";
        let server = AdminServer::start(operators, &[("bootstrap-secret", secret)]).await;
        let config = tempfile::tempdir().unwrap();
        let secrets = tempfile::tempdir().unwrap();
        let (wrong, file) = (secrets.path().join("wrong"), secrets.path().join("secret"));
        std::fs::write(&wrong, "not-the-secret-0123456789\n").unwrap();
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        let (wrong, file) = (wrong.to_str().unwrap(), file.to_str().unwrap());
        let refused =
            run(config.path(), &["admin", "login", "--url", &server.admin_url, "--bootstrap-secret-file", wrong]).await;
        assert_eq!(refused.code, 1);
        assert!(
            refused.stderr.contains("error: unauthenticated:") && refused.stderr.contains("HTTP 401"),
            "{}",
            refused.stderr
        );
        assert!(!config.path().join("session.json").exists());
        let args = ["admin", "login", "--url", &server.admin_url, "--bootstrap-secret-file", file, "--scope", "admin"];
        let login = run(config.path(), &args).await;
        assert_eq!(login.code, 0, "break-glass login: {}", login.stderr);
        assert!(!login.stdout.contains(secret) && !login.stderr.contains(secret));
        let me = whoami(config.path()).await;
        assert_eq!(me["identity"]["bootstrap"], true, "{me}");
        assert_eq!(me["scope"], json!(["admin"]));
        let revoked =
            run(config.path(), &["admin", "revoke", "jti", "abc", "--reason", "drill", "--output", "json"]).await;
        assert_eq!(revoked.code, 0, "revoke: {}", revoked.stderr);
        let revocation: Value = serde_json::from_str(&revoked.stdout).unwrap();
        assert_eq!(revocation["target"], json!({"kind": "tollgate_jti", "jti": "abc"}));
        let id = revocation["id"].as_str().unwrap();
        let listed = run(config.path(), &["admin", "revocations", "list"]).await;
        assert!(listed.stdout.contains(id) && listed.stdout.contains("drill"), "{}", listed.stdout);
        let unrevoked = run(config.path(), &["admin", "unrevoke", id]).await;
        assert_eq!(unrevoked.code, 0, "unrevoke: {}", unrevoked.stderr);
        let again = run(config.path(), &["admin", "unrevoke", id]).await;
        assert_eq!(again.code, 1);
        assert!(again.stderr.contains("error: not_found:"), "{}", again.stderr);
        // Keys from files are not rotated through the API: the CLI says why.
        let rotate = run(config.path(), &["admin", "keys", "rotate"]).await;
        assert_eq!(rotate.code, 1);
        assert!(
            rotate.stderr.contains("error: invalid_request:") && rotate.stderr.contains("signing.managed"),
            "{}",
            rotate.stderr
        );
        // Sessions in force, and ending one (here: this very session).
        let sessions = run(config.path(), &["admin", "sessions", "list", "--output", "json"]).await;
        assert_eq!(sessions.code, 0, "{}", sessions.stderr);
        let sessions: Value = serde_json::from_str(&sessions.stdout).unwrap();
        assert_eq!(sessions["sessions"][0]["id"], me["id"], "{sessions}");
        let id = me["id"].as_str().unwrap();
        // The session is only ever sent to the admin URL it came from.
        let elsewhere = run(config.path(), &["admin", "whoami", "--url", "http://127.0.0.1:1"]).await;
        assert_eq!(elsewhere.code, 1);
        assert!(elsewhere.stderr.contains("the cached session is for"), "{}", elsewhere.stderr);
        let ended = run(config.path(), &["admin", "sessions", "end", id]).await;
        assert_eq!(ended.code, 0, "{}", ended.stderr);
        let after = run(config.path(), &["admin", "whoami"]).await;
        assert_eq!(after.code, 1, "the ended session is refused");
        assert!(after.stderr.contains("tollgate admin login"), "{}", after.stderr);
    })
    .await
    .expect("the test took longer than its limit");
}

#[tokio::test]
async fn policy_promote_through_the_cli_swaps_and_swaps_back() {
    tokio::time::timeout(TEST_LIMIT, async {
        let secret = "break-glass-secret-0123456789abcdef";
        let candidate = tempfile::tempdir().unwrap();
        for (name, text) in [
            crate::support::policy("deploy", "ci", "repo:acme/web:*"),
            crate::support::policy("release", "ci", "repo:acme/web:*"),
        ] {
            std::fs::write(candidate.path().join(name), text).unwrap();
        }
        let operators = format!(
            "operators:\n  bootstrap:\n    secret_file: bootstrap-secret\nshadow:\n  policies: {}\n",
            candidate.path().display()
        );
        let server = AdminServer::start(&operators, &[("bootstrap-secret", secret)]).await;
        let config = tempfile::tempdir().unwrap();
        let not_signed_in = run(config.path(), &["policy", "promote", "--url", &server.admin_url]).await;
        assert_eq!(not_signed_in.code, 1);
        assert!(not_signed_in.stderr.contains("tollgate admin login"), "{}", not_signed_in.stderr);
        let secrets = tempfile::tempdir().unwrap();
        let file = secrets.path().join("secret");
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        let file = file.to_str().unwrap();
        let args = ["admin", "login", "--url", &server.admin_url, "--bootstrap-secret-file", file, "--scope", "admin"];
        assert_eq!(run(config.path(), &args).await.code, 0);
        let promoted = run(config.path(), &["policy", "promote"]).await;
        assert_eq!(promoted.code, 0, "{}", promoted.stderr);
        let expected = format!("in force now {} (2 roles, sha256 ", candidate.path().display());
        assert!(promoted.stdout.contains(&expected), "{}", promoted.stdout);
        assert!(promoted.stderr.contains("Until this instance restarts"), "{}", promoted.stderr);
        let back = run(config.path(), &["policy", "promote", "--output", "json"]).await;
        assert_eq!(back.code, 0, "{}", back.stderr);
        let body: Value = serde_json::from_str(&back.stdout).unwrap();
        assert_eq!(body["shadow"]["dir"], json!(candidate.path()), "swapped back: {body}");
        assert_eq!(body["live"]["roles"], 1);
    })
    .await
    .expect("the test took longer than its limit");
}

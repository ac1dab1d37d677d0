//! Revocations and introspection on one node (embedded store): a revoked identity is refused on every door and
//! audited while others pass; RFC 7662 `/introspect` answers only authenticated clients, `active: true` with
//! the claims for a live Tollgate token, and `active: false` for garbage, foreign, expired, revoked (by jti, by
//! role) or other-audience tokens; a revocation view that cannot be refreshed fails closed (503, not ready)
//! except for roles with `on_store_error: allow`, and recovers by itself; revocations survive a restart.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate::clock::UnixTime;
use tollgate::credentials::SigningAlg;
use tollgate::revocation::{Matcher, Revocation, Target};

use crate::support::*;

const SECRET: &str = "introspection-secret-0123456789abcdef";
const NARROW_SECRET: &str = "narrow-secret-0123456789abcdef";

fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A served app (its revocation refresh runs, every second) with two introspection clients.
async fn app(github: &FakeIssuer, state: &str) -> TestApp {
    let extra = format!(
        "{state}revocations:\n  poll_seconds: 1\n  max_staleness_seconds: 2\nintrospection:\n  clients:\n    - name: vault\n      secret_sha256: {}\n    - name: narrow\n      secret_sha256: {}\n      audiences: [somewhere-else]\n",
        sha256_hex(SECRET),
        sha256_hex(NARROW_SECRET)
    );
    let (name, text) = policy("lenient", "github", "repo:acme/*");
    let lenient = (name, text.replace("single_use: off\n", "single_use: off\non_store_error: allow\n"));
    let policies = vec![policy("deploy", "github", "repo:acme/*"), policy("other", "github", "repo:acme/*"), lenient];
    spawn_served_app(Setup { issuers: issuer_entry("github", github, ""), policies, extra }).await
}

fn revocation(id: &str, target: Target) -> Revocation {
    Revocation {
        id: id.into(),
        target,
        reason: "test".into(),
        author: "ops".into(),
        created_at: UnixTime::from_secs(NOW),
        expires_at: UnixTime::from_secs(NOW + 7200),
    }
}

async fn revoke(app: &TestApp, revocation: Revocation) {
    app.broker.store().unwrap().add_revocation(&revocation).await.unwrap();
}

/// Waits (at most 5 s) until the exchange of a fresh token of `sub` answers `status`.
async fn until_exchange(app: &TestApp, github: &FakeIssuer, sub: &str, status: u16) -> Value {
    for _ in 0..100 {
        let (got, body) = app.exchange(&github.token(NOW, json!({"sub": sub})), "deploy").await;
        if got == status {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the exchange of {sub} never answered {status}");
}

async fn introspect(app: &TestApp, auth: Option<&str>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.post(format!("{}/introspect", app.url)).form(form);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    read(response).await
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

#[tokio::test]
async fn a_revoked_identity_is_refused_on_every_door_and_audited_while_others_pass() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let app = app(&github, &format!("audit:\n  path: {}\n", audit.display())).await;
    let web = "repo:acme/web:ref:refs/heads/main";
    assert_eq!(app.exchange(&github.token(NOW, json!({"sub": web})), "deploy").await.0, 200);
    let glob = Matcher::Glob("repo:acme/web:*".into());
    revoke(&app, revocation("r-web", Target::Identity { issuer: "github".into(), claim: "sub".into(), matcher: glob }))
        .await;
    let body = until_exchange(&app, &github, web, 403).await;
    assert_eq!(body["error"], "access_denied", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("revoked"), "{body}");
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
        ("subject_token", github.token(NOW, json!({"sub": web}))),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".to_owned()),
        ("scope", "deploy".to_owned()),
    ];
    let (status, body) = read(app.client.post(format!("{}/token", app.url)).form(&form).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    let api = github.token(NOW, json!({"sub": "repo:acme/api:ref:refs/heads/main"}));
    assert_eq!(app.exchange(&api, "deploy").await.0, 200, "another repository is not revoked");
    app.audit.flush().unwrap(); // decision lines are written in batches
    let text = std::fs::read_to_string(&audit).unwrap();
    let revoked: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["reason"] == "revoked")
        .collect();
    assert!(revoked.len() >= 2, "each refusal is audited with reason revoked:\n{text}");
    let (_, metrics) = get_text(&format!("{}/metrics", app.admin_url)).await;
    assert!(metrics.contains("tollgate_revocations_live 1"), "{metrics}");
}

#[tokio::test]
async fn introspection_tells_authenticated_clients_which_tokens_are_active() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app(&github, "").await;
    let sub = "repo:acme/web:ref:refs/heads/main";
    let mint = |role: &'static str| {
        let token = github.token(NOW, json!({"sub": sub, "repository": "acme/web"}));
        let app = &app;
        async move {
            let (status, body) = app.exchange(&token, role).await;
            assert_eq!(status, 200, "{body}");
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let token = mint("deploy").await;
    let ask = |auth: Option<String>, token: String| {
        let app = &app;
        async move { introspect(app, auth.as_deref(), &[("token", &token), ("token_type_hint", "access_token")]).await }
    };
    // No credentials, a wrong secret, a right secret under the wrong name: 401, nothing about the token.
    for auth in [None, Some(bearer("wrong")), Some(basic("narrow", SECRET)), Some("Token x".to_owned())] {
        let (status, body) = ask(auth.clone(), token.clone()).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{auth:?}: {body}");
        assert!(body.get("active").is_none());
    }
    let (status, body) = ask(Some(bearer(SECRET)), token.clone()).await;
    assert_eq!((status, body["active"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!((body["role"].as_str(), body["repository"].as_str()), (Some("deploy"), Some("acme/web")));
    assert_eq!(body["act"]["sub"], sub);
    assert_eq!(ask(Some(basic("vault", SECRET)), token.clone()).await.1["active"], true, "HTTP Basic");
    assert_eq!(ask(Some(bearer(NARROW_SECRET)), token.clone()).await.1, json!({"active": false}), "other audience");
    // Garbage, a CI token (foreign issuer), a missing token.
    assert_eq!(ask(Some(bearer(SECRET)), "not-a-jwt".into()).await.1, json!({"active": false}));
    let foreign = github.token(NOW, json!({"sub": sub}));
    assert_eq!(ask(Some(bearer(SECRET)), foreign).await.1, json!({"active": false}));
    let (status, body) = introspect(&app, Some(&bearer(SECRET)), &[("token_type_hint", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    // Revoked by its jti: inactive (once the view refreshed); another token of the same role stays active.
    let second = mint("deploy").await;
    let jti = claim(&token, "jti");
    revoke(&app, revocation("r-jti", Target::TollgateJti { jti })).await;
    until_active(&app, &token, false).await;
    assert_eq!(ask(Some(bearer(SECRET)), second.clone()).await.1["active"], true);
    // A role revocation hits every token minted for it before its time, not other roles'.
    let other = mint("other").await;
    let before = UnixTime::from_secs(NOW + 1);
    revoke(&app, revocation("r-role", Target::Role { role: "deploy".into(), before })).await;
    until_active(&app, &second, false).await;
    assert_eq!(ask(Some(bearer(SECRET)), other.clone()).await.1["active"], true);
    // Expired: inactive, with no leeway.
    app.clock.advance(16 * 60);
    assert_eq!(ask(Some(bearer(SECRET)), other).await.1, json!({"active": false}));
}

#[tokio::test]
async fn a_revocation_view_that_cannot_refresh_fails_closed_and_recovers() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let app = app(&github, &format!("state:\n  path: {}\n", path.display())).await;
    let sub = "repo:acme/web:ref:refs/heads/main";
    assert_eq!(app.exchange(&github.token(NOW, json!({"sub": sub})), "deploy").await.0, 200);
    // A record this build cannot read: the refresh fails (never a partial set), the view ages past 2 s.
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .execute("INSERT INTO revocation_v1 VALUES ('bad', '{\"kind\":\"??\"}', 'r', 'a', 0, 9999999999)", [])
        .unwrap();
    let body = until_exchange(&app, &github, sub, 503).await;
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let (status, ready) = app.get("/readyz").await;
    assert_eq!((status, ready["revocations"].as_bool()), (503, Some(false)), "{ready}");
    let (status, body) = app.exchange(&github.token(NOW, json!({"sub": sub})), "lenient").await;
    assert_eq!(status, 200, "on_store_error: allow also covers a stale revocation view: {body}");
    writer.execute("DELETE FROM revocation_v1 WHERE id = 'bad'", []).unwrap();
    until_exchange(&app, &github, sub, 200).await;
    assert_eq!(app.get("/readyz").await.0, 200);
}

async fn until_active(app: &TestApp, token: &str, active: bool) {
    for _ in 0..100 {
        let (_, body) = introspect(app, Some(&bearer(SECRET)), &[("token", token)]).await;
        if body["active"] == active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("introspection never answered active: {active}");
}

fn basic(name: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{name}:{secret}")))
}

/// A claim of a JWT, read without verifying (the test minted it).
fn claim(token: &str, name: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()[name].as_str().unwrap().to_owned()
}

async fn get_text(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn revocations_survive_a_restart_of_the_single_node() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let state = format!("state:\n  path: {}\n", dir.path().join("state.db").display());
    let sub = "repo:acme/web:ref:refs/heads/main";
    {
        let first = app(&github, &state).await;
        let target =
            Target::Identity { issuer: "github".into(), claim: "sub".into(), matcher: Matcher::Equals(sub.into()) };
        revoke(&first, revocation("r-kept", target)).await;
        until_exchange(&first, &github, sub, 403).await;
    }
    let restarted = app(&github, &state).await;
    let (status, body) = restarted.exchange(&github.token(NOW, json!({"sub": sub})), "deploy").await;
    assert_eq!(status, 403, "loaded at start, before the first poll: {body}");
    let other = github.token(NOW, json!({"sub": "repo:acme/api:ref:refs/heads/main"}));
    assert_eq!(restarted.exchange(&other, "deploy").await.0, 200);
}

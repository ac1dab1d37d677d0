//! The operator plane over real HTTP, with a fake OpenID provider on 127.0.0.1 serving real keys (OpenBao as a
//! real provider is in `operators_openbao.rs`): every admin route needs a session; admin rights only with
//! `scope=admin` and eligibility (by binding or by claim); viewers read only; emails count only when verified;
//! ID tokens are checked and open one session each; tampered, expired, foreign and ended sessions are refused;
//! break-glass is off by default and audited when on; every action's audit line, field by field; an action whose
//! audit line cannot be written is refused.

use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;
use tollgate::operators::{Secret, SecretKind};

use crate::support::*;

/// The provider's client id (the ID tokens' audience).
pub const CLIENT_ID: &str = "tollgate-admin";

/// `operators:` with the fake provider `corp` and the bindings every test here uses.
pub fn operators_yaml(corp: &FakeIssuer, more: &str) -> String {
    format!(
        "operators:
  providers:
    - name: corp
      issuer: {}
      client_id: {CLIENT_ID}
      groups_claim: groups
      admin_role: {{claim: groups, value: tollgate-admins}}
      id_token_sign_in: true
  iam_policy:
    bindings:
      - role: role/admin
        members: [\"user:alice@acme.com\"]
      - role: role/viewer
        members: [\"user:victor@acme.com\"]
      - role: role/runner.admin
        members: [\"group:ci-team\"]
      - role: role/deploy.user
        members: [\"ci:github:repo:acme/web:*\"]
      - role: role/build.user
        members: [\"runner:jenkins-1\"]
{more}",
        corp.url()
    )
}

/// `deploy` (GitHub tokens of acme) and `build` (runners named jenkins-*).
pub fn plane_policies() -> Vec<(String, String)> {
    let build = "role: build\nissuer: tollgate-runners\naudience: tollgate-runners\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        name: \"jenkins-*\"\ngrant:\n  type: token\n  audience: build-api\n  ttl: 10m\n  claims:\n    runner: \"${runner_id}\"\n";
    vec![policy("deploy", "github", "repo:acme/*"), ("build.yaml".into(), build.into())]
}

pub struct Plane {
    pub app: TestApp,
    pub corp: FakeIssuer,
    pub github: FakeIssuer,
}

/// The plane the tests use: its provider takes raw ID tokens (`id_token_sign_in: true`), which drive sign-in.
pub async fn plane(more: &str, served: bool) -> Plane {
    start_plane(more, true, served).await
}

/// The same with the provider's default: no raw ID tokens.
pub async fn plane_with(more: &str, id_tokens: bool) -> Plane {
    start_plane(more, id_tokens, false).await
}

async fn start_plane(more: &str, id_tokens: bool, served: bool) -> Plane {
    let (corp, github) = (FakeIssuer::start(SigningAlg::Rs256).await, FakeIssuer::start(SigningAlg::Rs256).await);
    let setup = Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: plane_policies(),
        extra: operators_yaml(&corp, more).replace("id_token_sign_in: true", &format!("id_token_sign_in: {id_tokens}")),
    };
    let app = if served { spawn_served_app(setup).await } else { spawn_app(setup).await };
    Plane { app, corp, github }
}

impl Plane {
    /// An ID token of the fake provider for `email` (verified) with `groups`.
    pub fn id_token(&self, sub: &str, email: &str, groups: &[&str]) -> String {
        let claims = json!({"aud": CLIENT_ID, "sub": sub, "email": email, "email_verified": true, "groups": groups});
        self.corp.token(NOW, claims)
    }

    pub async fn sign_in(&self, body: Value) -> (u16, Value) {
        let url = format!("{}/admin/v1/session", self.app.admin_url);
        read(self.app.client.post(url).json(&body).send().await.unwrap()).await
    }

    /// Signs `email` in (scope admin when asked) and returns the session token.
    pub async fn session(&self, email: &str, groups: &[&str], admin: bool) -> String {
        let mut body = json!({"provider": "corp", "id_token": self.id_token(&format!("u-{email}"), email, groups)});
        if admin {
            body["scope"] = json!("admin");
        }
        let (status, answer) = self.sign_in(body).await;
        assert_eq!(status, 201, "{answer}");
        answer["session_token"].as_str().unwrap().to_owned()
    }

    pub async fn call(&self, method: &str, path: &str, session: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.app.admin_url);
        let mut request = self.app.client.request(method.parse().unwrap(), url);
        if let Some(session) = session {
            request = request.bearer_auth(session);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    /// The admin audit lines written so far.
    pub fn admin_lines(&self) -> Vec<Value> {
        self.app.audit.flush().unwrap(); // decision lines are written in batches
        let text = std::fs::read_to_string(self.app.dir_path.join("audit.jsonl")).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()).filter(|l| l["type"] == "admin").collect()
    }
}

#[tokio::test]
async fn every_admin_route_needs_a_session_and_answers_unauthenticated_without_one() {
    let plane = plane("", false).await;
    let (_, table) = tollgate::admin::router(std::sync::Arc::clone(&plane.app.admin));
    assert!(table.len() >= 17, "the route table lists the admin API: {table:?}");
    let forged = Secret::generate(SecretKind::Session).unwrap();
    for route in &table {
        let path = route.path.replace("{id}", "x");
        for session in [None, Some("tgs_not-a-token"), Some(forged.expose())] {
            let (status, body) = plane.call(route.method, &path, session, Some(json!({}))).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")), "{route:?} {session:?}");
        }
    }
    let response = plane.app.client.get(format!("{}/admin/v1/whoami", plane.app.admin_url)).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    for open in ["/healthz", "/admin/v1/providers", "/metrics"] {
        assert_eq!(plane.call("GET", open, None, None).await.0, 200, "{open} needs no session on loopback");
    }
    let (_, providers) = plane.call("GET", "/admin/v1/providers", None, None).await;
    assert_eq!(providers["providers"][0]["client_id"], CLIENT_ID);
    assert!(providers.get("bootstrap").is_none(), "whether break-glass is on is nobody's business");
}

#[tokio::test]
async fn admin_rights_need_scope_admin_and_eligibility_by_binding_or_by_claim() {
    let plane = plane("", false).await;
    let runner = || Some(json!({"name": format!("r-{}", rand_suffix())}));
    // alice is bound to role/admin: without the scope she reads only.
    let alice = plane.session("alice@acme.com", &[], false).await;
    let (_, me) = plane.call("GET", "/admin/v1/whoami", Some(&alice), None).await;
    assert_eq!(
        (me["roles"].clone(), me["scope"].clone(), me["admin_eligible"].clone()),
        (json!(["role/admin"]), json!([]), json!(true))
    );
    assert_eq!(plane.call("GET", "/admin/v1/roles", Some(&alice), None).await.0, 200);
    let (status, body) = plane.call("POST", "/admin/v1/runners", Some(&alice), runner()).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "{body}");
    // With the scope she administers.
    let alice_admin = plane.session("alice@acme.com", &[], true).await;
    assert_eq!(plane.call("POST", "/admin/v1/runners", Some(&alice_admin), runner()).await.0, 201);
    assert_eq!(plane.call("POST", "/admin/v1/policies/reload", Some(&alice_admin), None).await.0, 200);
    // carol has no binding but the provider's admin claim: eligible too.
    let carol = plane.session("carol@acme.com", &["tollgate-admins"], true).await;
    let (_, me) = plane.call("GET", "/admin/v1/whoami", Some(&carol), None).await;
    assert_eq!((me["identity"]["admin_claim"].clone(), me["scope"].clone()), (json!(true), json!(["admin"])));
    assert_eq!(plane.call("POST", "/admin/v1/runners", Some(&carol), runner()).await.0, 201);
    // victor is a viewer: reads, never writes, and may not ask for admin (refused and audited).
    let victor = plane.session("victor@acme.com", &[], false).await;
    assert_eq!(plane.call("GET", "/admin/v1/issuers", Some(&victor), None).await.0, 200);
    assert_eq!(plane.call("POST", "/admin/v1/policies/reload", Some(&victor), None).await.0, 403);
    let asked =
        json!({"provider": "corp", "scope": "admin", "id_token": plane.id_token("u-v", "victor@acme.com", &[])});
    let (status, body) = plane.sign_in(asked).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("not_eligible")), "{body}");
    let refused = plane.admin_lines().into_iter().find(|l| l["result"] == "denied: not_eligible").unwrap();
    assert_eq!(
        (refused["actor"].as_str(), refused["action"].as_str()),
        (Some("victor@acme.com"), Some("session.create"))
    );
    // role/runner.admin (by group) manages runners only, and only with the scope.
    let rita = plane.session("rita@acme.com", &["ci-team"], true).await;
    assert_eq!(plane.call("POST", "/admin/v1/runners", Some(&rita), runner()).await.0, 201);
    assert_eq!(plane.call("GET", "/admin/v1/runners", Some(&rita), None).await.0, 200);
    assert_eq!(plane.call("GET", "/admin/v1/issuers", Some(&rita), None).await.0, 403);
    assert_eq!(plane.call("POST", "/admin/v1/policies/reload", Some(&rita), None).await.0, 403);
    let rita_reader = plane.session("rita@acme.com", &["ci-team"], false).await;
    assert_eq!(plane.call("POST", "/admin/v1/runners", Some(&rita_reader), runner()).await.0, 403);
    // Nobody else: no role, no session (it could do nothing with one).
    let nobody = json!({"provider": "corp", "id_token": plane.id_token("u-m", "mallory@acme.com", &[])});
    let (status, body) = plane.sign_in(nobody).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "{body}");
}

fn rand_suffix() -> String {
    Secret::generate(SecretKind::Runner).unwrap().digest().chars().take(8).collect()
}

#[tokio::test]
async fn an_email_counts_only_when_verified_and_id_tokens_are_checked_and_used_once() {
    let plane = plane("", false).await;
    let sign_in = |token: String| json!({"provider": "corp", "id_token": token});
    let claims = |extra: Value| {
        let mut claims = json!({"aud": CLIENT_ID, "sub": "u-alice", "email": "alice@acme.com", "email_verified": true});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        claims
    };
    for (case, token) in [
        ("unverified email", plane.corp.token(NOW, claims(json!({"email_verified": false})))),
        ("empty email marked verified", plane.corp.token(NOW, claims(json!({"email": ""})))),
        ("another audience", plane.corp.token(NOW, claims(json!({"aud": "someone-else"})))),
        ("expired", plane.corp.token(NOW - 4000, claims(json!({})))),
        ("another issuer", plane.github.token(NOW, claims(json!({})))),
    ] {
        let (status, body) = plane.sign_in(sign_in(token)).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("sign_in_refused")), "{case}: {body}");
    }
    let token = plane.corp.token(NOW, claims(json!({"nonce": "n-1"})));
    let wrong_nonce = json!({"provider": "corp", "id_token": token, "nonce": "n-2"});
    assert_eq!(plane.sign_in(wrong_nonce).await.0, 401);
    let once = plane.corp.token(NOW, claims(json!({"nonce": "n-3"})));
    let body = json!({"provider": "corp", "id_token": once, "nonce": "n-3"});
    assert_eq!(plane.sign_in(body.clone()).await.0, 201);
    let (status, answer) = plane.sign_in(body).await;
    assert_eq!(status, 401, "an ID token opens one session only");
    assert!(answer["error_description"].as_str().unwrap().contains("already used"), "{answer}");
    let (status, body) =
        plane.sign_in(json!({"provider": "nope", "id_token": plane.id_token("u", "a@b.c", &[])})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unknown_provider")));
    assert_eq!(plane.sign_in(json!({"provider": "corp"})).await.0, 400);
    assert_eq!(plane.sign_in(json!({"id_token": "x", "scope": "root"})).await.0, 400);
}

#[tokio::test]
async fn tampered_expired_foreign_and_ended_sessions_are_refused() {
    let plane = plane("", false).await;
    let session = plane.session("alice@acme.com", &[], false).await;
    assert_eq!(plane.call("GET", "/admin/v1/whoami", Some(&session), None).await.0, 200);
    let mut tampered = session.clone().into_bytes();
    tampered[12] = if tampered[12] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other = plane.session("alice@acme.com", &[], false).await;
    // A session of another Tollgate (its own store) is unknown here.
    let foreign = {
        let elsewhere = self::plane("", false).await;
        elsewhere.session("alice@acme.com", &[], false).await
    };
    for (case, token) in [("tampered", tampered.as_str()), ("foreign", foreign.as_str())] {
        let (status, body) = plane.call("GET", "/admin/v1/whoami", Some(token), None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")), "{case}");
    }
    assert_eq!(plane.call("DELETE", "/admin/v1/session", Some(&other), None).await.0, 204);
    assert_eq!(plane.call("GET", "/admin/v1/whoami", Some(&other), None).await.0, 401, "signed out");
    plane.app.clock.advance(3601);
    assert_eq!(plane.call("GET", "/admin/v1/whoami", Some(&session), None).await.0, 401, "expired after 1 h");
    let long = json!({"provider": "corp", "ttl_seconds": 9 * 3600, "id_token": plane.corp.token(NOW + 3601, json!({"aud": CLIENT_ID, "sub": "u", "email": "alice@acme.com", "email_verified": true}))});
    assert_eq!(plane.sign_in(long).await.0, 400, "at most 8 h");
}

#[tokio::test]
async fn break_glass_is_off_by_default_and_audited_loudly_when_on() {
    let plane = plane("", false).await;
    let secret = "correct-horse-battery-staple-42";
    let (status, body) = plane.sign_in(json!({"bootstrap_secret": secret, "scope": "admin"})).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthenticated")));
    let digest = tollgate::operators::sha256_hex(secret.as_bytes());
    let on = self::plane(&format!("  bootstrap:\n    secret_sha256: {digest}\n"), false).await;
    assert_eq!(on.sign_in(json!({"bootstrap_secret": "wrong-but-long-enough-secret", "scope": "admin"})).await.0, 401);
    let (status, body) = on.sign_in(json!({"bootstrap_secret": secret, "scope": "admin"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["identity"]["bootstrap"].clone(), body["scope"].clone()), (json!(true), json!(["admin"])));
    let session = body["session_token"].as_str().unwrap();
    assert_eq!(on.call("POST", "/admin/v1/runners", Some(session), Some(json!({"name": "first"}))).await.0, 201);
    let lines = on.admin_lines();
    let results: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["provider"].as_str().unwrap_or("-"), l["result"].as_str().unwrap())).collect();
    assert!(results.contains(&("-", "denied: unauthenticated")), "{results:?}");
    assert!(results.contains(&("bootstrap", "allowed")), "{results:?}");
    on.app.audit.flush().unwrap(); // decision lines are written in batches
    assert!(
        !std::fs::read_to_string(on.app.dir_path.join("audit.jsonl")).unwrap().contains(secret),
        "never the secret"
    );
}

#[tokio::test]
async fn every_action_is_one_audit_line_written_before_it_acts_field_by_field() {
    let plane = plane("", false).await;
    let session = plane.session("alice@acme.com", &[], true).await;
    let response = plane
        .app
        .client
        .post(format!("{}/admin/v1/runners", plane.app.admin_url))
        .bearer_auth(&session)
        .header("x-request-id", "req-audit-1")
        .json(&json!({"name": "jenkins-9", "labels": ["linux"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let (_, me) = plane.call("GET", "/admin/v1/whoami", Some(&session), None).await;
    let line = plane.admin_lines().into_iter().find(|l| l["request_id"] == "req-audit-1").unwrap();
    let expected = json!({
        "type": "admin", "request_id": "req-audit-1", "actor": "alice@acme.com", "provider": "corp",
        "subject": "u-alice@acme.com", "session_id": me["id"], "action": "runners.create",
        "target": "name=jenkins-9", "result": "allowed", "client_addr": "127.0.0.1",
    });
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&line[field], value, "field {field} of {line}");
    }
    assert!(line["time"].as_str().is_some());
    let credential = created["credential"].as_str().unwrap();
    plane.app.audit.flush().unwrap();
    let all = std::fs::read_to_string(plane.app.dir_path.join("audit.jsonl")).unwrap();
    assert!(!all.contains(credential) && !all.contains(&session), "no secret in the audit log");
    // A failed action gets a second line with its code.
    assert_eq!(plane.call("DELETE", "/admin/v1/runners/r-nothing", Some(&session), None).await.0, 404);
    let failed: Vec<Value> = plane.admin_lines().into_iter().filter(|l| l["target"] == "r-nothing").collect();
    let results: Vec<&str> = failed.iter().map(|l| l["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["allowed", "failed: not_found"]);
}

#[tokio::test]
async fn an_action_whose_audit_line_cannot_be_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, link) = (dir.path().join("audit.jsonl"), dir.path().join("audit-link.jsonl"));
    std::fs::write(&log, "").unwrap();
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let plane = plane(&format!("audit:\n  path: {}\n", link.display()), false).await;
    let session = plane.session("alice@acme.com", &[], true).await;
    assert_eq!(plane.call("POST", "/admin/v1/runners", Some(&session), Some(json!({"name": "ok"}))).await.0, 201);
    // The log's disk is full: reopened (as after a rotation) onto /dev/full, every write fails.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    plane.app.audit.reopen().unwrap();
    let (status, body) =
        plane.call("POST", "/admin/v1/runners", Some(&session), Some(json!({"name": "refused"}))).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("audit_unavailable")), "{body}");
    let (status, _) =
        plane.sign_in(json!({"provider": "corp", "id_token": plane.id_token("u-b", "alice@acme.com", &[])})).await;
    assert_eq!(status, 503, "no session opens unaudited");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&log, &link).unwrap();
    plane.app.audit.reopen().unwrap();
    let (_, runners) = plane.call("GET", "/admin/v1/runners", Some(&session), None).await;
    let names: Vec<&str> = runners["runners"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ok"], "the refused runner was never created");
}

#[tokio::test]
async fn metrics_need_a_viewer_session_when_configured_so() {
    let plane = plane("admin:\n  metrics: viewer\n", false).await;
    assert_eq!(plane.call("GET", "/metrics", None, None).await.0, 401);
    let rita = plane.session("rita@acme.com", &["ci-team"], false).await;
    assert_eq!(plane.call("GET", "/metrics", Some(&rita), None).await.0, 403, "runner admins are no viewers");
    let victor = plane.session("victor@acme.com", &[], false).await;
    let response =
        plane.app.client.get(format!("{}/metrics", plane.app.admin_url)).bearer_auth(victor).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("tollgate_policies_loaded"));
}

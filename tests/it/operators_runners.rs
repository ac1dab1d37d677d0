//! Runner credentials and role bindings end to end: a runner exchanges its credential at `/exchange` under an
//! ordinary trust policy on `tollgate-runners`; rotation and deletion take effect at once; a `role/<role>.user`
//! binding restricts runners and CI identities on top of the policy; a revocation made through the admin API is
//! enforced, and un-revoking lifts it. (Deletion across two replicas on PostgreSQL: `replicas.rs`.)

use serde_json::{Value, json};

use crate::operators::plane;
use crate::support::*;
use tollgate::clock::Clock as _;

async fn exchange_as_runner(app: &TestApp, credential: &str, role: &str) -> (u16, Value) {
    let url = format!("{}/exchange", app.url);
    let response = app.client.post(url).bearer_auth(credential).json(&json!({"role": role})).send().await.unwrap();
    read(response).await
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_runner_credential_exchanges_until_it_is_rotated_or_deleted() {
    let plane = plane("", false).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    let (status, created) = plane
        .call("POST", "/admin/v1/runners", Some(&admin), Some(json!({"name": "jenkins-1", "labels": ["linux", "x64"]})))
        .await;
    assert_eq!(status, 201, "{created}");
    let (id, credential) = (created["id"].as_str().unwrap(), created["credential"].as_str().unwrap().to_owned());
    assert!(credential.starts_with("tgr_") && credential.len() == 50, "{credential}");
    let (_, listed) = plane.call("GET", "/admin/v1/runners", Some(&admin), None).await;
    assert_eq!(listed["runners"][0]["name"], "jenkins-1");
    assert!(!listed.to_string().contains(&credential), "a list never shows the secret");

    let (status, body) = exchange_as_runner(&plane.app, &credential, "build").await;
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!((claims["sub"].as_str(), claims["runner"].as_str()), (Some("runner:jenkins-1"), Some(id)));
    assert_eq!(exchange_as_runner(&plane.app, &credential, "build").await.0, 200, "a credential is reusable");
    // Not for a role whose policy trusts only GitHub.
    assert_eq!(exchange_as_runner(&plane.app, &credential, "deploy").await.0, 403);

    let (status, rotated) = plane.call("POST", &format!("/admin/v1/runners/{id}/rotate"), Some(&admin), None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_credential = rotated["credential"].as_str().unwrap();
    let (status, body) = exchange_as_runner(&plane.app, &credential, "build").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "the old secret stopped: {body}");
    assert_eq!(exchange_as_runner(&plane.app, new_credential, "build").await.0, 200);

    assert_eq!(plane.call("DELETE", &format!("/admin/v1/runners/{id}"), Some(&admin), None).await.0, 204);
    assert_eq!(exchange_as_runner(&plane.app, new_credential, "build").await.0, 401, "deleted: refused at once");
    // A mistyped credential fails its checksum before any lookup.
    let mut typo = new_credential.to_owned().into_bytes();
    typo[8] = if typo[8] == b'a' { b'b' } else { b'a' };
    let (status, body) = exchange_as_runner(&plane.app, &String::from_utf8(typo).unwrap(), "build").await;
    assert_eq!(status, 401);
    assert!(body["error_description"].as_str().unwrap().contains("checksum"), "{body}");
}

#[tokio::test]
async fn a_role_user_binding_restricts_runners_and_ci_identities_beyond_the_policy() {
    let plane = plane("", false).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    let create = |name: &str| json!({"name": name});
    let (_, other) = plane.call("POST", "/admin/v1/runners", Some(&admin), Some(create("jenkins-2"))).await;
    // The policy allows jenkins-*, the binding only jenkins-1.
    let (status, body) = exchange_as_runner(&plane.app, other["credential"].as_str().unwrap(), "build").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("role binding"), "{body}");
    // deploy: the policy allows repo:acme/*, the binding repo:acme/web:* only.
    let token = |sub: &str| plane.github.token(NOW, json!({"sub": sub}));
    assert_eq!(plane.app.exchange(&token("repo:acme/web:ref:refs/heads/main"), "deploy").await.0, 200);
    let (status, body) = plane.app.exchange(&token("repo:acme/api:ref:refs/heads/main"), "deploy").await;
    assert_eq!(status, 403, "{body}");
    let (_, decisions) = plane.call("GET", "/admin/v1/decisions?role=deploy&outcome=deny", Some(&admin), None).await;
    assert_eq!(decisions["decisions"][0]["reason"], "not_bound", "{decisions}");
}

#[tokio::test]
async fn a_revocation_made_through_the_api_is_enforced_and_lifted() {
    // Served: the revocation view refreshes in the background, woken by the admin call.
    let plane = plane("", true).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    let token = || plane.github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    assert_eq!(plane.app.exchange(&token(), "deploy").await.0, 200);
    let revoke = json!({"target": {"kind": "identity", "issuer": "github", "claim": "sub", "matcher": {"glob": "repo:acme/web:*"}}, "reason": "incident 42"});
    let (status, revocation) = plane.call("POST", "/admin/v1/revocations", Some(&admin), Some(revoke)).await;
    assert_eq!(status, 201, "{revocation}");
    assert_eq!(revocation["author"], "corp:alice@acme.com");
    let refused = async {
        for _ in 0..100 {
            let (status, body) = plane.app.exchange(&token(), "deploy").await;
            if status == 403 {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the revocation was not enforced within 1 s");
    };
    let body = refused.await;
    assert!(body["error_description"].as_str().unwrap().contains("revoked"), "{body}");
    let id = revocation["id"].as_str().unwrap();
    let (_, listed) = plane.call("GET", "/admin/v1/revocations", Some(&admin), None).await;
    assert_eq!(listed["revocations"][0]["reason"], "incident 42");
    assert_eq!(plane.call("DELETE", &format!("/admin/v1/revocations/{id}"), Some(&admin), None).await.0, 204);
    let mut lifted = false;
    for _ in 0..100 {
        if plane.app.exchange(&token(), "deploy").await.0 == 200 {
            lifted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(lifted, "un-revoking lifts it within 1 s");
    assert_eq!(plane.call("DELETE", &format!("/admin/v1/revocations/{id}"), Some(&admin), None).await.0, 404);

    // A runner is revoked like any identity, by its runner_id (default expiry: its identity's lifetime).
    let (_, runner) = plane.call("POST", "/admin/v1/runners", Some(&admin), Some(json!({"name": "jenkins-1"}))).await;
    let credential = runner["credential"].as_str().unwrap();
    assert_eq!(exchange_as_runner(&plane.app, credential, "build").await.0, 200);
    let revoke = json!({"target": {"kind": "identity", "issuer": "tollgate-runners", "claim": "runner_id", "matcher": {"equals": runner["id"]}}, "reason": "lost laptop"});
    let (status, body) = plane.call("POST", "/admin/v1/revocations", Some(&admin), Some(revoke)).await;
    assert_eq!(status, 201, "{body}");
    let mut refused = false;
    for _ in 0..100 {
        if exchange_as_runner(&plane.app, credential, "build").await.0 == 403 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the runner's revocation is enforced within 1 s");
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let (_, jwks) = app.get("/.well-known/jwks.json").await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_store_managed_signing_key_rotates_through_the_api_published_before_it_signs() {
    let plane = plane("signing:\n  managed: true\n", false).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    let token = || plane.github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    let first = published_kids(&plane.app).await;
    assert_eq!(first.len(), 1, "a first key was created in the store");
    let (_, body) = plane.app.exchange(&token(), "deploy").await;
    assert_eq!(kid_of(body["access_token"].as_str().unwrap()), first[0]);

    let (status, rotated) = plane.call("POST", "/admin/v1/keys/rotate", Some(&admin), None).await;
    assert_eq!(status, 201, "{rotated}");
    let next = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["activates_at"], "2026-01-01T00:05:10Z", "after the JWKS's max-age and two reloads");
    assert_eq!(published_kids(&plane.app).await, [first[0].clone(), next.clone()], "published before it signs");
    let (_, keys) = plane.call("GET", "/admin/v1/keys", Some(&admin), None).await;
    let states: Vec<&str> = keys["keys"].as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["active", "next"]);
    let (_, body) = plane.app.exchange(&token(), "deploy").await;
    assert_eq!(kid_of(body["access_token"].as_str().unwrap()), first[0], "the old key signs until activation");

    plane.app.clock.advance(309);
    plane.app.admin.keyring.as_ref().unwrap().reload(plane.app.clock.now()).await.unwrap();
    let (_, body) = plane.app.exchange(&token(), "deploy").await;
    assert_eq!(kid_of(body["access_token"].as_str().unwrap()), first[0], "not a second early");
    plane.app.clock.advance(1);
    plane.app.admin.keyring.as_ref().unwrap().reload(plane.app.clock.now()).await.unwrap();
    let (_, body) = plane.app.exchange(&token(), "deploy").await;
    assert_eq!(kid_of(body["access_token"].as_str().unwrap()), next, "the new key signs once activated");
    assert_eq!(published_kids(&plane.app).await, [next.clone(), first[0].clone()], "the old key is still published");

    // Without managed keys the API says how to rotate instead.
    let files = crate::operators::plane("", false).await;
    let admin = files.session("alice@acme.com", &[], true).await;
    let (status, body) = files.call("POST", "/admin/v1/keys/rotate", Some(&admin), None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
}

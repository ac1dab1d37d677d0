//! The operator plane's sign-in and session rules over real HTTP (the fake provider and helpers of
//! `operators.rs`): raw ID tokens only where a provider allows them, fresh and for this client; sign-ins limited per
//! address and audited before they are tried; break-glass locked after wrong secrets; admins list and end sessions;
//! runner names unique; the code flow's nonce and loopback redirect.

use serde_json::{Value, json};

use crate::operators::{CLIENT_ID, plane, plane_with};
use crate::support::*;

#[tokio::test]
async fn an_admin_lists_sessions_and_ends_anyones_at_once() {
    let plane = plane("", false).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    let victor = plane.session("victor@acme.com", &[], false).await;
    assert_eq!(plane.call("GET", "/admin/v1/sessions", Some(&victor), None).await.0, 403, "admins only");
    let (status, listed) = plane.call("GET", "/admin/v1/sessions", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert!(!listed.to_string().contains("tgs_"), "never a session token");
    let sessions = listed["sessions"].as_array().unwrap();
    let of_victor = sessions.iter().find(|s| s["identity"]["user"] == "victor@acme.com").unwrap();
    let id = of_victor["id"].as_str().unwrap();
    assert_eq!(plane.call("DELETE", &format!("/admin/v1/sessions/{id}"), Some(&admin), None).await.0, 204);
    assert_eq!(plane.call("GET", "/admin/v1/whoami", Some(&victor), None).await.0, 401, "ended at once");
    assert_eq!(plane.call("DELETE", &format!("/admin/v1/sessions/{id}"), Some(&admin), None).await.0, 404);
}

#[tokio::test]
async fn a_runner_name_is_unique_and_the_code_flow_needs_a_nonce_and_a_loopback_redirect() {
    let plane = plane("", false).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    assert_eq!(plane.call("POST", "/admin/v1/runners", Some(&admin), Some(json!({"name": "twin"}))).await.0, 201);
    let (status, body) = plane.call("POST", "/admin/v1/runners", Some(&admin), Some(json!({"name": "twin"}))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let (status, body) = plane.call("POST", "/admin/v1/runners", Some(&admin), Some(json!({"nom": "x"}))).await;
    assert_eq!(status, 400, "{body}");
    let failed = plane.admin_lines().into_iter().filter(|l| l["action"] == "runners.create" && l["target"] == "-");
    assert_eq!(
        failed.map(|l| l["result"].clone()).collect::<Vec<_>>(),
        [json!("allowed"), json!("failed: invalid_request")],
        "a malformed request is audited"
    );
    let code = |nonce: Option<&str>, redirect: &str| json!({"provider": "corp", "code": "c", "code_verifier": "v".repeat(43), "redirect_uri": redirect, "nonce": nonce});
    for (case, body) in [
        ("no nonce", code(None, "http://127.0.0.1:8765/callback")),
        ("short nonce", code(Some("n"), "http://127.0.0.1:8765/callback")),
        ("remote redirect", code(Some("0123456789abcdef0123"), "https://evil.example/callback")),
    ] {
        let (status, answer) = plane.sign_in(body).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_request")), "{case}: {answer}");
    }
}

#[tokio::test]
async fn raw_id_tokens_are_refused_unless_the_provider_allows_them_and_must_be_fresh_and_for_this_client() {
    let off = plane_with("", false).await;
    let body = json!({"provider": "corp", "id_token": off.id_token("u-a", "alice@acme.com", &[])});
    let (status, answer) = off.sign_in(body).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_request")), "{answer}");
    assert!(answer["error_description"].as_str().unwrap().contains("id_token_sign_in"), "{answer}");
    let plane = plane("", false).await;
    let claims = |extra: Value| {
        let mut claims = json!({"aud": CLIENT_ID, "sub": "u-alice", "email": "alice@acme.com", "email_verified": true});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        claims
    };
    let old = plane.corp.token(NOW - 601, claims(json!({"exp": NOW + 3000})));
    let (status, answer) = plane.sign_in(json!({"provider": "corp", "id_token": old})).await;
    assert_eq!(status, 401, "issued over 10 minutes ago: {answer}");
    let shared = plane.corp.token(NOW, claims(json!({"aud": [CLIENT_ID, "kubernetes"]})));
    assert_eq!(
        plane.sign_in(json!({"provider": "corp", "id_token": shared})).await.0,
        401,
        "several audiences, no azp"
    );
    let shared = plane.corp.token(NOW, claims(json!({"aud": [CLIENT_ID, "kubernetes"], "azp": "kubernetes"})));
    assert_eq!(plane.sign_in(json!({"provider": "corp", "id_token": shared})).await.0, 401, "azp names another client");
    let ours = plane.corp.token(NOW, claims(json!({"aud": [CLIENT_ID, "kubernetes"], "azp": CLIENT_ID})));
    assert_eq!(plane.sign_in(json!({"provider": "corp", "id_token": ours})).await.0, 201);
    let kelvin = plane.corp.token(NOW, claims(json!({"email": "\u{212A}ate@acme.com", "sub": "u-k"})));
    assert_eq!(
        plane.sign_in(json!({"provider": "corp", "id_token": kelvin})).await.0,
        401,
        "a non-ASCII email is no email"
    );
}

#[tokio::test]
async fn sign_ins_are_rate_limited_per_address_and_break_glass_locks_after_five_wrong_secrets() {
    let secret = "correct-horse-battery-staple-42";
    let digest = tollgate::operators::sha256_hex(secret.as_bytes());
    let plane = plane(&format!("  bootstrap:\n    secret_sha256: {digest}\n"), false).await;
    for attempt in 0..5 {
        let (status, _) =
            plane.sign_in(json!({"bootstrap_secret": format!("wrong-secret-number-{attempt:04}-xx")})).await;
        assert_eq!(status, 401);
    }
    let (status, body) = plane.sign_in(json!({"bootstrap_secret": secret, "scope": "admin"})).await;
    assert_eq!(status, 401, "locked for a minute even with the right secret: {body}");
    assert!(body["error_description"].as_str().unwrap().contains("too many"), "{body}");
    plane.app.clock.advance(61);
    assert_eq!(plane.sign_in(json!({"bootstrap_secret": secret, "scope": "admin"})).await.0, 201);
    // Thirty sign-ins at once from one address, then one a second.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(plane.sign_in(json!({"provider": "corp"})).await.0);
    }
    assert!(statuses.contains(&429), "the 31st sign-in within a second is throttled: {statuses:?}");
    let attempts = plane.admin_lines().into_iter().filter(|l| l["result"] == "attempt").count();
    assert!(attempts >= 7, "every sign-in is audited before it is tried: {attempts}");
}

//! Signing-key rotation without downtime: the new configuration signs with the new key and keeps publishing the
//! old one until every token it could have signed has expired.

use std::sync::Arc;

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};
use tollgate::app::{App, Mode};
use tollgate::clock::{Clock, FixedClock, UnixTime};
use tollgate::config::Config;
use tollgate::credentials::{SigningAlg, SigningKey};

use crate::support::*;

async fn serve(dir: &std::path::Path, signing: &str, github: &FakeIssuer, clock: Arc<FixedClock>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: https://tollgate.example\n{signing}policies: {}\naudit:\n  path: {}\ntokens:\n  max_ttl_seconds: 900\ntrusted_issuers:\n{}",
        dir.join("policies").display(),
        dir.join("audit.jsonl").display(),
        issuer_entry("github", github, "")
    );
    let config = Config::parse(&yaml, &dir.join("tollgate.yaml"), &|_| None).unwrap();
    let app = App::build(&config, Mode::Production, clock.clone() as Arc<dyn Clock>).await.unwrap();
    app.issuers.prefetch(clock.now()).await;
    tokio::spawn(tollgate::http::serve(
        listener,
        tollgate::http::router(Arc::clone(&app.state)),
        serve_options(),
        std::future::pending(),
    ));
    url
}

fn verifies(token: &str, jwks: &Value) -> bool {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let Some(jwk) = jwks.find(header.kid.as_deref().unwrap()) else { return false };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

#[tokio::test]
async fn tokens_minted_before_a_rotation_still_verify_after_it() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    let (deploy, text) = policy("deploy", "github", "repo:acme/*");
    std::fs::write(dir.path().join("policies").join(deploy), text).unwrap();
    let old = SigningKey::generate(SigningAlg::Es256).unwrap();
    let new = SigningKey::generate(SigningAlg::Es256).unwrap();
    std::fs::write(dir.path().join("old.pem"), old.to_pkcs8_pem()).unwrap();
    std::fs::write(dir.path().join("new.pem"), new.to_pkcs8_pem()).unwrap();
    let clock = Arc::new(FixedClock::new(UnixTime::from_secs(NOW)));
    let client = reqwest::Client::new();
    let ci_token = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    let exchange = |url: String| {
        let (client, ci_token) = (client.clone(), ci_token.clone());
        async move {
            let body = json!({"token": ci_token, "role": "deploy"});
            let answer: Value =
                client.post(format!("{url}/exchange")).json(&body).send().await.unwrap().json().await.unwrap();
            answer["access_token"].as_str().unwrap().to_owned()
        }
    };
    let jwks = |url: String| {
        let client = client.clone();
        async move {
            client.get(format!("{url}/.well-known/jwks.json")).send().await.unwrap().json::<Value>().await.unwrap()
        }
    };

    let before = serve(dir.path(), "signing:\n  key_file: old.pem\n", &github, clock.clone()).await;
    let old_token = exchange(before.clone()).await;
    assert!(verifies(&old_token, &jwks(before).await));

    // Rotate: the new key signs; the old one is published as previous, retired now.
    let retired = UnixTime::from_secs(NOW).to_rfc3339();
    let rotated = format!(
        "signing:\n  key_file: new.pem\n  previous_keys:\n    - {{key_file: old.pem, retired_at: \"{retired}\"}}\n"
    );
    let after = serve(dir.path(), &rotated, &github, clock.clone()).await;
    let published = jwks(after.clone()).await;
    assert_eq!(published["keys"].as_array().unwrap().len(), 2);
    assert!(verifies(&old_token, &published), "a token minted before the rotation verifies after it");
    let new_token = exchange(after.clone()).await;
    assert!(verifies(&new_token, &published));
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some(new.kid()));

    // Once the longest TTL (900 s) has passed since the retirement, the old key is no longer published.
    clock.set(UnixTime::from_secs(NOW + 900));
    assert_eq!(jwks(after.clone()).await["keys"].as_array().unwrap().len(), 2);
    clock.set(UnixTime::from_secs(NOW + 901));
    let later = jwks(after).await;
    assert_eq!(later["keys"].as_array().unwrap().len(), 1);
    assert!(!verifies(&old_token, &later));
}

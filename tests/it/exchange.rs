//! Happy paths through POST /exchange: GitHub- and Semaphore-shaped tokens, bearer form, our discovery and JWKS,
//! and a minted token checked with an independent verifier (jsonwebtoken decode against our published JWKS).

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;

use crate::support::*;

async fn github_app() -> (FakeIssuer, TestApp) {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    // This test sends one token in many shapes: it may be reused (replay has its own tests).
    let policy_text = "role: deploy-web\nissuer: github\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"\n      StringLike:\n        sub: \"repo:acme/web:ref:refs/heads/main\"\ngrant:\n  type: token\n  audience: [deploy-api, other-api]\n  ttl: 15m\n  claims:\n    repository: \"${repository}\"\n    env: \"ci-${ref_type}\"\n";
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, "    profile: github\n"),
        policies: vec![("deploy-web.yaml".into(), policy_text.into())],
        extra: String::new(),
    })
    .await;
    (github, app)
}

fn github_claims() -> Value {
    json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web", "repository_owner": "acme",
           "repository_owner_id": "1000", "ref_type": "branch"})
}

/// Verifies a minted token with jsonwebtoken against the JWKS Tollgate publishes.
pub async fn verify_minted(app: &TestApp, token: &str, audience: &str) -> serde_json::Map<String, Value> {
    let (_, jwks) = app.get("/.well-known/jwks.json").await;
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("kid published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.url.as_str()]);
    validation.validate_exp = false; // our clock is fixed in 2026-01-01
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn github_token_is_exchanged_for_a_tollgate_token() {
    let (github, app) = github_app().await;
    let token = github.token(NOW, github_claims());
    let (status, body) = app.exchange(&token, "deploy-web").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:jwt");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["expiration"], "2026-01-01T00:15:00Z");
    let claims = verify_minted(&app, body["access_token"].as_str().unwrap(), "deploy-api").await;
    assert_eq!(claims["iss"], app.url.as_str());
    assert_eq!(claims["sub"], "repo:acme/web:ref:refs/heads/main");
    assert_eq!(claims["aud"], "deploy-api");
    assert_eq!(claims["role"], "deploy-web");
    assert_eq!(claims["act"], json!({"iss": github.url(), "sub": "repo:acme/web:ref:refs/heads/main"}));
    assert_eq!(claims["repository"], "acme/web");
    assert_eq!(claims["env"], "ci-branch");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 900);
    assert_eq!(claims["nbf"], NOW);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 22, "128 random bits in base64url");
    // A second exchange gets a different jti.
    let (_, again) = app.exchange(&token, "deploy-web").await;
    let claims_again = verify_minted(&app, again["access_token"].as_str().unwrap(), "deploy-api").await;
    assert_ne!(claims_again["jti"], claims["jti"]);
}

#[tokio::test]
async fn bearer_header_audience_and_ttl_choices() {
    let (github, app) = github_app().await;
    let token = github.token(NOW, github_claims());
    let response = app
        .client
        .post(format!("{}/exchange?role=deploy-web", app.url))
        .bearer_auth(&token)
        .json(&json!({"audience": "other-api", "ttl_seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 60);
    let claims = verify_minted(&app, body["access_token"].as_str().unwrap(), "other-api").await;
    assert_eq!(claims["aud"], "other-api");
    // A TTL above the grant's is capped to it; an audience the grant lacks is refused.
    let (_, capped) =
        app.post_json("/exchange", &json!({"token": token, "role": "deploy-web", "ttl_seconds": 99999})).await;
    assert_eq!(capped["expires_in"], 900);
    let (status, body) =
        app.post_json("/exchange", &json!({"token": token, "role": "deploy-web", "audience": "vault"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
}

#[tokio::test]
async fn template_issuers_from_allow_list_and_pattern() {
    let fake = FakeIssuer::start(SigningAlg::Rs256).await;
    let base = fake.url().to_owned();
    // The fake serves per-org issuers at "{base}/{org}", as "https://{org}.semaphoreci.com" would be.
    let issuers = format!(
        "  - name: semaphore\n    profile: semaphore\n    issuer_template: \"{base}/{{org}}\"\n    template_values: [acme]\n    audiences: [tollgate]\n  - name: patterned\n    issuer_template: \"{base}/{{org}}\"\n    template_pattern: \"team-[a-z]+\"\n    audiences: [tollgate]\n"
    );
    // A pattern matches many orgs (many tenants): the policy must say which one(s) it serves.
    let build = |role: &str, issuer: &str, pin: &str| {
        format!(
            "role: {role}\nissuer: {issuer}\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n{pin}      StringLike:\n        sub: \"org:*:project:*:repo:web:ref_type:branch:ref:refs/heads/main\"\ngrant:\n  type: token\n  audience: artifact-store\n  ttl: 10m\n"
        )
    };
    let team_pin = format!("      StringEquals:\n        iss: [\"{base}/team-web\", \"{base}/team-x\"]\n");
    let policies = vec![
        ("build.yaml".into(), build("build", "semaphore", "")),
        ("team.yaml".into(), build("team", "patterned", &team_pin)),
    ];
    let app = spawn_app(Setup { issuers, policies, extra: String::new() }).await;
    assert_eq!(fake.jwks_fetches(), 1, "the allow-listed org is prefetched at start; patterned ones are not");
    let sub = |org: &str| format!("org:{org}:project:0b2f:repo:web:ref_type:branch:ref:refs/heads/main");
    let acme = fake.token(NOW, json!({"iss": format!("{base}/acme"), "sub": sub("acme")}));
    let (status, body) = app.exchange(&acme, "build").await;
    assert_eq!(status, 200, "{body}");
    // A patterned org gets a key cache on first use.
    let team = fake.token(NOW, json!({"iss": format!("{base}/team-web"), "sub": sub("team-web")}));
    let (status, body) = app.exchange(&team, "team").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.jwks_fetches(), 2);
    // A role only trusts its own issuer, even when the keys are the same.
    let (status, body) = app.exchange(&team, "build").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    // Orgs outside the allow-list or pattern are untrusted issuers, and nothing is fetched for them.
    for iss in [format!("{base}/evil"), format!("{base}/team-Evil"), format!("{base}/team-x/../evil")] {
        let evil = fake.token(NOW, json!({"iss": iss, "sub": sub("evil")}));
        let (status, body) = app.exchange(&evil, "team").await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{iss}: {body}");
        assert!(body["error_description"].as_str().unwrap().contains("not trusted"), "{body}");
    }
    assert_eq!(fake.jwks_fetches(), 2);
}

#[tokio::test]
async fn semaphore_shaped_token_is_exchanged() {
    // A per-org issuer configured exactly (as a Semaphore org behind a fixed URL would be).
    let semaphore = FakeIssuer::start(SigningAlg::Rs256).await;
    let policy_text = "role: build\nissuer: semaphore\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        org: acme\n      StringLike:\n        sub: \"org:acme:project:*:repo:web:ref_type:branch:ref:refs/heads/main\"\ngrant:\n  type: token\n  audience: artifact-store\n  ttl: 10m\n  subject: \"${repo_slug}@${ref}\"\n";
    let app = spawn_app(Setup {
        issuers: issuer_entry("semaphore", &semaphore, "    profile: semaphore\n"),
        policies: vec![("build.yaml".into(), policy_text.into())],
        extra: String::new(),
    })
    .await;
    let claims = json!({"org": "acme", "repo_slug": "acme/web", "ref": "refs/heads/main", "pr_branch": "",
        "sub": "org:acme:project:0b2f6a8e-5c41:repo:web:ref_type:branch:ref:refs/heads/main"});
    let (status, body) = app.exchange(&semaphore.token(NOW, claims), "build").await;
    assert_eq!(status, 200, "{body}");
    let minted = verify_minted(&app, body["access_token"].as_str().unwrap(), "artifact-store").await;
    assert_eq!(minted["sub"], "acme/web@refs/heads/main");
    assert_eq!(body["expires_in"], 600);
    // Another branch is denied, and the reason names the role and the failing condition.
    let other =
        json!({"org": "acme", "sub": "org:acme:project:0b2f6a8e-5c41:repo:web:ref_type:branch:ref:refs/heads/dev"});
    let (status, body) = app.exchange(&semaphore.token(NOW, other), "build").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("build") && description.contains("StringLike") && description.contains("sub"),
        "{description}"
    );
}

#[tokio::test]
async fn tollgate_is_an_oidc_issuer() {
    let (_github, app) = github_app().await;
    let (status, discovery) = app.get("/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], app.url.as_str());
    assert_eq!(discovery["jwks_uri"], format!("{}/.well-known/jwks.json", app.url));
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["ES256"]));
    let (_, jwks) = app.get("/.well-known/jwks.json").await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "no private member is ever published");
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(app.get("/healthz").await.0, 200);
}

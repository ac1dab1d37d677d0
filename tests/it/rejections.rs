//! Every rejection, through real HTTP, with its status and stable error code; never an echo of the token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tollgate::clock::Clock;
use tollgate::credentials::SigningAlg;

use crate::support::*;

async fn app_with(github: &FakeIssuer) -> TestApp {
    spawn_app(Setup {
        issuers: issuer_entry("github", github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*:ref:refs/heads/main")],
        extra: String::new(),
    })
    .await
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Re-signs `header`+`claims` with the issuer's key (the signature is valid for that header).
/// Signs `header`+`claims` for real with the issuer's published key: only the header parameters can refuse it.
fn forged(github: &FakeIssuer, header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let pem = github.signing_key().to_pkcs8_pem();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).unwrap();
    format!("{input}.{signature}")
}

fn good_claims(github: &FakeIssuer) -> Value {
    json!({"iss": github.url(), "sub": "repo:acme/web:ref:refs/heads/main", "aud": "tollgate",
           "iat": NOW, "nbf": NOW, "exp": NOW + 300})
}

#[tokio::test]
async fn token_rejections_have_stable_codes() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    let kid = github.signing_key().kid().to_owned();
    let claims = |edit: Value| {
        let mut base = good_claims(&github);
        for (k, v) in edit.as_object().unwrap() {
            base[k] = v.clone(); // null removes the claim (see FakeIssuer::token)
        }
        github.token(NOW, base)
    };
    let es_issuer = FakeIssuer::start(SigningAlg::Es256).await;
    let es_key = es_issuer.signing_key();
    let hmac = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "HS256", "kid": kid})),
        b64(&good_claims(&github)),
        URL_SAFE_NO_PAD.encode([7u8; 32])
    );
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good_claims(&github)));
    let good = github.token(NOW, good_claims(&github));
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", claims(json!({"exp": NOW - 61})), "expired"),
        ("not yet valid", claims(json!({"nbf": NOW + 61})), "not valid before"),
        ("issued in the future", claims(json!({"iat": NOW + 120, "nbf": null})), "future"),
        ("other audience", claims(json!({"aud": "sts.amazonaws.com"})), "audience"),
        (
            "untrusted issuer",
            claims(json!({"iss": "https://token.actions.githubusercontent.com.evil.com"})),
            "not trusted",
        ),
        ("string exp", claims(json!({"exp": (NOW + 300).to_string()})), "exp"),
        ("missing sub", claims(json!({"sub": null})), "sub"),
        ("missing iat", claims(json!({"iat": null})), "iat"),
        ("bad signature", tampered, "signature"),
        (
            "ES256 not allowed for an RS256 issuer",
            es_key.sign(good_claims(&github).as_object().unwrap()).unwrap(),
            "ES256",
        ),
        ("HMAC", hmac, "HS256"),
        ("alg none", none, "none"),
        ("crit", forged(&github, json!({"alg": "RS256", "kid": kid, "crit": ["exp"]}), good_claims(&github)), "crit"),
        (
            "jku",
            forged(
                &github,
                json!({"alg": "RS256", "kid": kid, "jku": "https://evil.example/jwks"}),
                good_claims(&github),
            ),
            "jku",
        ),
        (
            "x5u",
            forged(&github, json!({"alg": "RS256", "kid": kid, "x5u": "https://evil.example/c"}), good_claims(&github)),
            "x5u",
        ),
        (
            "embedded jwk",
            forged(&github, json!({"alg": "RS256", "kid": kid, "jwk": es_key.public_jwk()}), good_claims(&github)),
            "jwk",
        ),
        ("nested JWE", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkExMjhHQ00ifQ.a.b.c.d".into(), "JWE"),
        (
            "malformed base64",
            format!("{}.e30.c2l", b64(&json!({"alg": "RS256"}))), // non-canonical trailing bits
            "base64",
        ),
        (
            "payload not JSON",
            format!("{}.{}.c2ln", b64(&json!({"alg": "RS256", "kid": kid})), URL_SAFE_NO_PAD.encode("[1,2")),
            "payload",
        ),
        ("two parts", "abc.def".into(), "3 dot-separated"),
        ("oversized", format!("{}.{}.c2ln", b64(&json!({"alg": "RS256"})), "A".repeat(17 * 1024)), "larger than"),
    ];
    // Control: `forged` makes real signatures, so a plain header passes and the cases below fail on their header.
    let control = forged(&github, json!({"alg": "RS256", "kid": kid}), good_claims(&github));
    assert_eq!(app.exchange(&control, "deploy").await.0, 200);
    for (name, token, expected) in cases {
        let (status, body) = app.exchange(&token, "deploy").await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{name}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{name}: {description:?} lacks {expected:?}");
        assert!(!description.contains(&token[..token.len().min(40)]) || token.len() < 40, "{name}: token echoed");
    }
}

#[tokio::test]
async fn a_missing_kid_is_refused_when_the_issuer_has_several_keys() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    github.rotate(SigningAlg::Rs256);
    let app = app_with(&github).await;
    let key = github.signing_key();
    let signed = key.sign(good_claims(&github).as_object().unwrap()).unwrap();
    let mut parts = signed.splitn(2, '.');
    let (_header, rest) = (parts.next().unwrap(), parts.next().unwrap());
    // Same payload and signature, header without kid: selection must refuse rather than try every key.
    let no_kid = format!("{}.{rest}", b64(&json!({"alg": "RS256", "typ": "JWT"})));
    let (status, body) = app.exchange(&no_kid, "deploy").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("no kid"), "{body}");
}

#[tokio::test]
async fn request_rejections_have_stable_codes() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    let token = github.token(NOW, good_claims(&github));
    let url = format!("{}/exchange", app.url);
    let post_raw = |body: String| app.client.post(&url).header("content-type", "application/json").body(body).send();
    let cases: Vec<(&str, reqwest::Response, u16, &str)> = vec![
        ("not JSON", post_raw("{not json".into()).await.unwrap(), 400, "invalid_request"),
        ("missing role", post_raw(json!({"token": token}).to_string()).await.unwrap(), 400, "invalid_request"),
        ("missing token", post_raw(json!({"role": "deploy"}).to_string()).await.unwrap(), 400, "invalid_request"),
        (
            "unknown field",
            post_raw(json!({"token": token, "role": "deploy", "ttl": 5}).to_string()).await.unwrap(),
            400,
            "invalid_request",
        ),
        (
            "zero ttl",
            post_raw(json!({"token": token, "role": "deploy", "ttl_seconds": 0}).to_string()).await.unwrap(),
            400,
            "invalid_request",
        ),
        (
            "body over 64 KiB",
            post_raw(format!("{{\"token\": \"{}\"}}", "a".repeat(70 * 1024))).await.unwrap(),
            413,
            "invalid_request",
        ),
        (
            "both bearer and body token",
            app.client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"token": token, "role": "deploy"}))
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request",
        ),
        (
            "bad authorization scheme",
            app.client
                .post(format!("{url}?role=deploy"))
                .header("authorization", format!("Basic {token}"))
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request",
        ),
        (
            "unknown role",
            post_raw(json!({"token": token, "role": "admin"}).to_string()).await.unwrap(),
            403,
            "access_denied",
        ),
        ("GET", app.client.get(&url).send().await.unwrap(), 405, "method_not_allowed"),
        ("unknown path", app.client.get(format!("{}/nope", app.url)).send().await.unwrap(), 404, "not_found"),
        (
            "dev routes are absent outside dev mode",
            app.client.post(format!("{}/dev/token", app.url)).send().await.unwrap(),
            404,
            "not_found",
        ),
    ];
    for (name, response, status, code) in cases {
        let (got_status, body) = read(response).await;
        assert_eq!((got_status, body["error"].as_str()), (status, Some(code)), "{name}: {body}");
        assert!(body["error_description"].is_string(), "{name}");
    }
}

#[tokio::test]
async fn policy_denial_names_the_role_and_condition() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    let mut claims = good_claims(&github);
    claims["sub"] = json!("repo:acme/web:ref:refs/heads/feature");
    let (status, body) = app.exchange(&github.token(NOW, claims), "deploy").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("\"deploy\"") && description.contains("StringLike") && description.contains("sub"),
        "{description}"
    );
}

#[tokio::test]
async fn keys_never_fetched_is_503_and_not_ready() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    github.set_behaviour(JwksBehaviour::Status(500));
    let app = app_with(&github).await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["issuers"][0]["ready"], false);
    let error = app.issuers.health(app.clock.now())[0].status.last_error.clone().unwrap_or_default();
    assert!(error.contains("500"), "{error}");
    let (status, body) = app.exchange(&github.token(NOW, good_claims(&github)), "deploy").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
}

#[tokio::test]
async fn validity_windows_that_close_before_they_open_or_last_too_long_are_refused() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, "    max_token_lifetime_seconds: 600\n"),
        policies: vec![policy("deploy", "github", "repo:acme/*:ref:refs/heads/main")],
        extra: String::new(),
    })
    .await;
    let sub = "repo:acme/web:ref:refs/heads/main";
    let cases = [
        // Each bound is inside the 60 s leeway, but the window is empty.
        (json!({"sub": sub, "exp": NOW - 30, "nbf": NOW + 30, "iat": NOW - 40}), "exp is not after nbf"),
        (json!({"sub": sub, "exp": NOW + 20, "iat": NOW + 30, "nbf": null}), "exp is before iat"),
        (
            json!({"sub": sub, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 591}),
            "longer than this issuer allows (600 s)",
        ),
    ];
    for (claims, reason) in cases {
        let (status, body) = app.exchange(&github.token(NOW, claims.clone()), "deploy").await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{claims}: {body}");
        assert!(body["error_description"].as_str().unwrap().contains(reason), "{claims}: {body}");
    }
    let fine = json!({"sub": sub, "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 590});
    assert_eq!(app.exchange(&github.token(NOW, fine), "deploy").await.0, 200);
}

#[tokio::test]
async fn a_long_kid_is_cut_in_the_answer() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    let kid = "k".repeat(9_000);
    let token = forged(&github, json!({"alg": "RS256", "kid": kid}), good_claims(&github));
    let (status, body) = app.exchange(&token, "deploy").await;
    let description = body["error_description"].as_str().unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(description.contains("kkk…") && description.len() < 400, "{description}");
}

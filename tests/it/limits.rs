//! Issue 5, listener limits through the served app (`App::serve`): body size, the header read timeout against a
//! slowloris client, the request timeout, load shedding at the concurrency ceiling, the per-client-address and
//! per-issuer rate limits on every front door, and the same limits on the admin listener.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tollgate::credentials::SigningAlg;

use crate::aws::{aws_policy, ci_claims};
use crate::support::*;

async fn served(extra: &str) -> (FakeIssuer, TestApp) {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_served_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: extra.into(),
    })
    .await;
    wait_for(|| github.jwks_fetches() == 1, "the prefetch").await;
    (github, app)
}

/// An app whose `deploy-aws` role calls the STS stand-in (one attempt, 2 s deadline).
async fn served_with_sts(extra: &str) -> (FakeIssuer, StsStub, TestApp) {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let stub = StsStub::start().await;
    let app = spawn_served_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![aws_policy("deploy-aws", "passthrough"), policy("deploy", "github", "repo:acme/*")],
        extra: format!("aws:\n  endpoint_url: {}\n  timeout_seconds: 2\n  max_attempts: 1\n{extra}", stub.url),
    })
    .await;
    wait_for(|| github.jwks_fetches() == 1, "the prefetch").await;
    (github, stub, app)
}

fn retry_after(response: &reqwest::Response) -> u64 {
    let value = response.headers().get("retry-after").expect("a Retry-After header");
    value.to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_refused_with_413() {
    let (github, app) = served("limits:\n  max_body_bytes: 2048\nexplain:\n  endpoint: true\n").await;
    let token = github.token(NOW, ci_claims());
    let padded = |bytes: usize| json!({"token": token, "role": "deploy", "pad": "x".repeat(bytes)}).to_string();
    for path in ["/exchange", "/explain"] {
        let response = app.client.post(format!("{}{path}", app.url)).body(padded(3000)).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!((status, body["error"].as_str()), (413, Some("invalid_request")), "{path}: {body}");
    }
    // Under the limit the body is read (and refused for its unknown field, not its size).
    let response = app.client.post(format!("{}/exchange", app.url)).body(padded(100)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(app.exchange(&token, "deploy").await.0, 200);
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_read_timeout() {
    let (_github, app) = served("limits:\n  header_read_timeout_seconds: 1\n").await;
    assert_slowloris_cut_off(app.url.trim_start_matches("http://")).await;
    // A client that sends its headers at once is served as usual.
    assert_eq!(app.get("/healthz").await.0, 200);
}

/// Sends a request's headers one byte every 100 ms (for at most 10 s): the server must hang up after about 1 s.
async fn assert_slowloris_cut_off(address: &str) {
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow: ").await.unwrap();
    let mut answer = Vec::new();
    let mut drip = tokio::time::interval(Duration::from_millis(100));
    let mut closed = false;
    for _ in 0..100 {
        let mut buffer = [0u8; 256];
        tokio::select! {
            read = slow.read(&mut buffer) => match read {
                Ok(0) | Err(_) => { closed = true; break; }
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            _ = drip.tick() => if slow.write_all(b"a").await.is_err() { closed = true; break; },
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "the slow connection was never closed");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(8), "closed after {elapsed:?}");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn a_request_slower_than_the_request_timeout_gets_503() {
    let (github, stub, app) = served_with_sts("limits:\n  request_timeout_seconds: 1\n").await;
    stub.set(StubMode::Hang(Duration::from_secs(10)));
    let started = Instant::now();
    let body = json!({"token": github.token(NOW, ci_claims()), "role": "deploy-aws"});
    let response = app.client.post(format!("{}/exchange", app.url)).json(&body).send().await.unwrap();
    let elapsed = started.elapsed();
    assert!(retry_after(&response) >= 1);
    let (status, body) = read(response).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("within 1 s"), "{body}");
    assert!(
        elapsed < Duration::from_millis(1900),
        "answered at the request timeout, not the STS deadline: {elapsed:?}"
    );
}

#[tokio::test]
async fn beyond_the_concurrency_limit_requests_are_shed_at_once_with_503() {
    let (github, stub, app) = served_with_sts("limits:\n  max_concurrent_requests: 1\n").await;
    stub.set(StubMode::Hang(Duration::from_secs(10)));
    let token = github.token(NOW, ci_claims());
    let (client, url, slow_body) = (app.client.clone(), app.url.clone(), json!({"token": token, "role": "deploy-aws"}));
    let slow = tokio::spawn(async move {
        client.post(format!("{url}/exchange")).json(&slow_body).send().await.unwrap().status().as_u16()
    });
    let stub_seen = stub.clone();
    wait_for(move || stub_seen.requests().len() == 1, "the slow request to reach STS").await;
    let started = Instant::now();
    let body = json!({"token": token, "role": "deploy"});
    let response = app.client.post(format!("{}/exchange", app.url)).json(&body).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(retry_after(&response), 1);
    let (status, shed) = read(response).await;
    assert_eq!((status, shed["error"].as_str()), (503, Some("temporarily_unavailable")), "{shed}");
    assert!(!slow.is_finished(), "shed while the slow request was still in flight");
    assert!(elapsed < Duration::from_millis(500), "shed at once, not queued: {elapsed:?}");
    assert_eq!(app.get("/healthz").await.0, 200, "liveness is not shed");
    // Once the slow request ends (at its 2 s STS deadline), the next one is served.
    assert_eq!(slow.await.unwrap(), 502);
    assert_eq!(app.exchange(&token, "deploy").await.0, 200);
}

#[tokio::test]
async fn the_per_client_address_rate_limit_answers_429_with_retry_after() {
    let (_github, app) = served("limits:\n  per_client_ip:\n    requests_per_second: 1\n    burst: 3\n").await;
    let mut statuses = Vec::new();
    let mut limited: Option<(u64, Value)> = None;
    for _ in 0..20 {
        let response = app.client.get(format!("{}/.well-known/jwks.json", app.url)).send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let secs = retry_after(&response);
            limited = Some((secs, read(response).await.1));
            break;
        }
    }
    let (secs, body) = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(&statuses[..3], &[200, 200, 200], "the burst passes");
    assert_eq!(secs, 1);
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("client address"), "{body}");
    assert_eq!(app.get("/healthz").await.0, 200, "liveness is not rate limited");
}

#[tokio::test]
async fn the_per_issuer_rate_limit_answers_429_on_every_front_door() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let second = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: format!("{}{}", issuer_entry("github", &github, ""), issuer_entry("second", &second, "")),
        policies: vec![policy("deploy", "github", "repo:acme/*"), policy("other", "second", "repo:acme/*")],
        extra: "limits:\n  per_issuer:\n    requests_per_second: 1\n    burst: 2\n".into(),
    })
    .await;
    let token = github.token(NOW, ci_claims());
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response =
            app.client.post(format!("{}/exchange", app.url)).json(&json!({"token": token, "role": "deploy"}));
        let response = response.send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(retry_after(&response) >= 1);
            let (_, body) = read(response).await;
            assert_eq!(body["error"], "rate_limited", "{body}");
            assert!(body["error_description"].as_str().unwrap().contains("\"github\""), "{body}");
            break;
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "the burst passes: {statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Another issuer has its own bucket.
    assert_eq!(app.exchange(&second.token(NOW, ci_claims()), "other").await.0, 200);
    // The RFC 8693 door answers 429 with Retry-After; the STS door answers AWS's Throttling.
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("scope", "deploy"),
    ];
    let token_door = until_limited(|| app.client.post(format!("{}/token", app.url)).form(&form)).await;
    assert!(retry_after(&token_door) >= 1);
    assert_eq!(read(token_door).await.1["error"], "rate_limited");
    let sts_form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::123456789012:role/deploy"),
        ("RoleSessionName", "s1"),
        ("WebIdentityToken", token.as_str()),
    ];
    let sts_door = until_status(|| app.client.post(format!("{}/sts", app.url)).form(&sts_form), 400).await;
    let xml = sts_door.text().await.unwrap();
    assert!(xml.contains("<Code>Throttling</Code>"), "{xml}");
}

/// Sends the request up to 10 times until it is answered 429.
async fn until_limited(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    until_status(request, 429).await
}

async fn until_status(request: impl Fn() -> reqwest::RequestBuilder, status: u16) -> reqwest::Response {
    for _ in 0..10 {
        let response = request().send().await.unwrap();
        if response.status() == status {
            return response;
        }
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    panic!("never answered {status}");
}

#[tokio::test]
async fn the_admin_listener_has_the_same_limits() {
    let extra =
        "limits:\n  header_read_timeout_seconds: 1\n  per_client_ip:\n    requests_per_second: 1\n    burst: 2\n";
    let (_github, app) = served(extra).await;
    let metrics = || app.client.get(format!("{}/metrics", app.admin_url));
    let limited = until_status(metrics, 429).await;
    assert_eq!(retry_after(&limited), 1);
    assert_eq!(read(limited).await.1["error"], "rate_limited");
    assert_slowloris_cut_off(app.admin_url.trim_start_matches("http://")).await;
}

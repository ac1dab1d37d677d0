//! The JWKS cache against a fake issuer on 127.0.0.1:0, with fetches counted: prefetch, Cache-Control
//! schedule, unknown-kid refresh (single flight, cooldown), rotation, stale-if-error up to max staleness,
//! size cap, timeout, redirect rules, discovery mix-up.

use std::sync::Arc;

use serde_json::json;
use tollgate::broker::ExchangeRequest;
use tollgate::clock::{Clock, UnixTime};
use tollgate::credentials::{SigningAlg, SigningKey};
use tollgate::verify::RawToken;

use crate::support::*;

const JWKS: &str = "jwks:\n  refresh_min_seconds: 300\n  refresh_max_seconds: 3600\n  unknown_kid_cooldown_seconds: 60\n  max_staleness_seconds: 7200\n  retry_seconds: 30\n  fetch_timeout_seconds: 1\n  max_response_bytes: 65536\n";

async fn app_with(github: &FakeIssuer) -> TestApp {
    spawn_app(Setup {
        issuers: issuer_entry("github", github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: JWKS.into(),
    })
    .await
}

fn claims() -> serde_json::Value {
    json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"})
}

fn request(token: String) -> ExchangeRequest {
    ExchangeRequest {
        token: RawToken::parse(&token).unwrap().into(),
        role: "deploy".into(),
        role_arn: None,
        audience: None,
        ttl_secs: None,
        session_policy: None,
        tokens_only: false,
        front_door: tollgate::broker::FrontDoor::Exchange,
        context: Default::default(),
    }
}

#[tokio::test]
async fn keys_are_prefetched_and_refreshed_on_the_cache_control_schedule() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    github.set_cache_control(Some("public, max-age=600"));
    let app = app_with(&github).await;
    assert_eq!(github.jwks_fetches(), 1, "prefetched at start");
    let token = github.token(NOW, claims());
    for _ in 0..5 {
        assert_eq!(app.exchange(&token, "deploy").await.0, 200);
    }
    assert_eq!(github.jwks_fetches(), 1, "served from cache");
    app.clock.set(UnixTime::from_secs(NOW + 599));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(github.jwks_fetches(), 1, "max-age=600 not yet reached");
    app.clock.set(UnixTime::from_secs(NOW + 600));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(github.jwks_fetches(), 2, "refreshed when max-age ran out");
    // max-age below the configured minimum is clamped up to it (300 s).
    github.set_cache_control(Some("max-age=5"));
    app.clock.set(UnixTime::from_secs(NOW + 1200));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(github.jwks_fetches(), 3);
    app.clock.set(UnixTime::from_secs(NOW + 1200 + 299));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(github.jwks_fetches(), 3, "clamped to refresh_min_seconds");
    // max-age above the maximum is clamped down to it (3600 s).
    github.set_cache_control(Some("max-age=999999"));
    app.clock.set(UnixTime::from_secs(NOW + 1500));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(github.jwks_fetches(), 4);
    app.clock.set(UnixTime::from_secs(NOW + 1500 + 3600));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(github.jwks_fetches(), 5, "clamped to refresh_max_seconds");
}

#[tokio::test]
async fn an_unknown_kid_storm_causes_one_fetch() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    assert_eq!(github.jwks_fetches(), 1);
    // The prefetch started a cooldown; a minute later, 1,000 concurrent exchanges with a kid never published.
    let start = NOW + 60;
    app.clock.set(UnixTime::from_secs(start));
    let stranger = SigningKey::generate(SigningAlg::Rs256).unwrap();
    let token = github.token_with_key(&stranger, NOW, claims());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (broker, token) = (Arc::clone(&app.broker), token.clone());
        tasks.spawn(async move { broker.exchange(request(token)).await });
    }
    let mut refused = 0;
    while let Some(result) = tasks.join_next().await {
        let error = result.unwrap().expect_err("unknown kid");
        assert!(error.to_string().contains("kid"), "{error}");
        refused += 1;
    }
    assert_eq!(refused, 1000);
    assert_eq!(github.jwks_fetches(), 2, "one refresh for the whole storm");
    // Within the cooldown nothing more is fetched, whatever the kid.
    app.clock.set(UnixTime::from_secs(start + 59));
    let other = github.token_with_key(&SigningKey::generate(SigningAlg::Rs256).unwrap(), NOW, claims());
    assert!(app.broker.exchange(request(other.clone())).await.is_err());
    assert_eq!(github.jwks_fetches(), 2, "cooldown holds");
    app.clock.set(UnixTime::from_secs(start + 60));
    assert!(app.broker.exchange(request(other)).await.is_err());
    assert_eq!(github.jwks_fetches(), 3, "one more after the cooldown");
}

#[tokio::test]
async fn rotation_a_new_kid_is_fetched_once_and_old_tokens_still_verify() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    let old_token = github.token(NOW, claims());
    let new_key = github.rotate(SigningAlg::Rs256);
    app.clock.set(UnixTime::from_secs(NOW + 61)); // past the cooldown started by the prefetch
    let new_token = github.token_with_key(&new_key, NOW + 61, claims());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (broker, token) = (Arc::clone(&app.broker), new_token.clone());
        tasks.spawn(async move { broker.exchange(request(token)).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("the rotated-in key is found after one refresh");
    }
    assert_eq!(github.jwks_fetches(), 2);
    assert_eq!(app.exchange(&old_token, "deploy").await.0, 200, "the old key is still published");
    // Once the issuer retires the old key and the cache refreshes, old tokens fail.
    github.replace_keys(vec![new_key]);
    app.clock.set(UnixTime::from_secs(NOW + 61 + 300));
    app.issuers.refresh_due(app.clock.now()).await;
    let (status, body) = app.exchange(&old_token, "deploy").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
}

#[tokio::test]
async fn an_outage_serves_stale_keys_until_max_staleness() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = app_with(&github).await;
    // Each failure would otherwise serve the right keys, so only the limit under test can refuse it.
    let working = format!("{}/jwks", github.url()).replace("http://", "http://user:pw@");
    let failures = [
        (JwksBehaviour::Status(500), "HTTP 500"),
        (JwksBehaviour::Garbage, "not valid JSON"),
        (JwksBehaviour::EmptySet, "no usable"),
        (JwksBehaviour::Oversized(70_000), "more than 65536 bytes"),
        (JwksBehaviour::ChunkedOversized(70_000), "more than 65536 bytes"),
        (JwksBehaviour::Hang(std::time::Duration::from_secs(3)), "timed out"),
        (JwksBehaviour::RedirectTo(working), "not allowed"),
    ];
    let mut at = NOW;
    for (failure, reason) in failures {
        github.set_behaviour(failure.clone());
        at += 301;
        app.clock.set(UnixTime::from_secs(at));
        let before = github.jwks_fetches();
        app.issuers.refresh_due(app.clock.now()).await;
        assert_eq!(github.jwks_fetches(), before + 1, "{failure:?} was tried");
        let status = &app.issuers.health(app.clock.now())[0].status;
        let error = status.last_error.clone().unwrap_or_default();
        assert!(error.contains(reason), "{failure:?}: {error:?} lacks {reason:?}");
        let (code, body) = app.exchange(&github.token(at, claims()), "deploy").await;
        assert_eq!(code, 200, "{failure:?}: last good keys still serve: {body}");
        let (_, ready) = app.get("/readyz").await;
        assert_eq!(
            (ready["issuers"][0]["stale"].as_bool(), ready["issuers"][0]["ready"].as_bool()),
            (Some(true), Some(true)),
            "{ready}"
        );
        assert!(ready.to_string().find("127.0.0.1").is_none(), "no URL or fetch error on the public readyz: {ready}");
    }
    // Past the maximum staleness (7200 s since the last success) the keys are no longer used.
    app.clock.set(UnixTime::from_secs(NOW + 7201));
    let (status, body) = app.exchange(&github.token(NOW + 7201, claims()), "deploy").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert_eq!(app.get("/readyz").await.0, 503);
    // The issuer comes back: the next scheduled refresh restores service.
    github.set_behaviour(JwksBehaviour::Serve);
    app.clock.set(UnixTime::from_secs(NOW + 7300));
    app.issuers.refresh_due(app.clock.now()).await;
    assert_eq!(app.exchange(&github.token(NOW + 7300, claims()), "deploy").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);
}

#[tokio::test]
async fn redirects_to_loopback_are_followed_and_discovery_mixups_refused() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let elsewhere = FakeIssuer::start(SigningAlg::Rs256).await;
    elsewhere.replace_keys(vec![github.signing_key()]);
    github.set_behaviour(JwksBehaviour::RedirectTo(format!("{}/jwks", elsewhere.url())));
    let app = app_with(&github).await;
    assert_eq!(elsewhere.jwks_fetches(), 1, "http redirect to a loopback host is followed");
    assert_eq!(app.exchange(&github.token(NOW, claims()), "deploy").await.0, 200);

    let mixup = FakeIssuer::start(SigningAlg::Rs256).await;
    mixup.set_discovery_issuer("https://token.actions.githubusercontent.com");
    let app = app_with(&mixup).await;
    assert_eq!(mixup.jwks_fetches(), 0, "a discovery document naming another issuer is refused");
    let error = app.issuers.health(app.clock.now())[0].status.last_error.clone().unwrap_or_default();
    assert!(error.contains("names issuer"), "{error}");
    assert_eq!(app.get("/readyz").await.0, 503);
}

#[tokio::test]
async fn the_background_refresher_prefetches_at_boot_and_follows_the_schedule() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    github.set_cache_control(Some("max-age=300"));
    let app = spawn_served_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: JWKS.into(),
    })
    .await;
    wait_for(|| github.jwks_fetches() == 1, "the prefetch at boot").await;
    assert_eq!(app.exchange(&github.token(NOW, claims()), "deploy").await.0, 200);
    app.clock.set(UnixTime::from_secs(NOW + 299));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // several ticks of 50 ms: nothing due yet
    assert_eq!(github.jwks_fetches(), 1);
    app.clock.set(UnixTime::from_secs(NOW + 300));
    wait_for(|| github.jwks_fetches() == 2, "the scheduled refresh").await;
}

#[tokio::test]
async fn a_flood_of_new_pattern_issuers_is_bounded_per_client_and_never_refetched() {
    let fake = FakeIssuer::start(SigningAlg::Rs256).await;
    let base = fake.url().to_owned();
    // Only team-real exists; every other org's discovery answers 404, as a made-up CircleCI org would.
    fake.only_tenants(&["team-real"]);
    let issuers = format!(
        "  - name: teams\n    issuer_template: \"{base}/{{org}}\"\n    template_pattern: \"team-[a-z0-9]+\"\n    audiences: [tollgate]\n"
    );
    let pinned = format!(
        "role: team\nissuer: teams\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        iss: [\"{base}/team-real\", \"{base}/team-late\"]\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n"
    );
    let app = spawn_app(Setup { issuers, policies: vec![("team.yaml".into(), pinned)], extra: JWKS.into() }).await;
    // One client (127.0.0.1) sends tokens naming 40 made-up orgs.
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..40 {
        let token = fake.token(NOW, json!({"iss": format!("{base}/team-{i}"), "sub": format!("org:team-{i}")}));
        let (status, body) = app.exchange(&token, "team").await;
        *outcomes.entry((status, body["error"].as_str().unwrap_or_default().to_owned())).or_insert(0) += 1;
    }
    let unavailable = (503, "temporarily_unavailable".to_owned());
    assert_eq!(outcomes, [(unavailable.clone(), 40)].into_iter().collect());
    assert_eq!(fake.discovery_fetches(), 10, "10 new issuers a minute per client; refused ones fetch nothing");
    assert!((0..40).all(|i| fake.tenant_fetches(&format!("team-{i}")) <= 1), "at most one fetch per org");
    // A real org's token from another client (127.0.0.2) is admitted: one client cannot spend the global budget.
    let other_client =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let real = fake.token(NOW, json!({"iss": format!("{base}/team-real"), "sub": "org:team-real"}));
    let exchange = |token: String| {
        let request = other_client.post(format!("{}/exchange", app.url)).json(&json!({"token": token, "role": "team"}));
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, body) = exchange(real.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.tenant_fetches("team-real"), 1);
    // Failed orgs are neither refreshed in the background nor refetched when asked again within 5 minutes.
    let before = fake.discovery_fetches();
    for step in 1..=8 {
        app.clock.set(UnixTime::from_secs(NOW + 30 * step));
        app.issuers.refresh_due(app.clock.now()).await;
    }
    assert_eq!(fake.discovery_fetches(), before, "no background fetch of orgs that never answered");
    let again = fake.token(NOW + 240, json!({"iss": format!("{base}/team-0"), "sub": "org:team-0"}));
    assert_eq!(app.exchange(&again, "team").await.0, 503);
    assert_eq!(fake.tenant_fetches("team-0"), 1, "the failure is remembered");
    // After the failure expires, the org may be tried once more (it now exists).
    fake.only_tenants(&["team-real", "team-0"]);
    app.clock.set(UnixTime::from_secs(NOW + 301));
    let later = fake.token(NOW + 301, json!({"iss": format!("{base}/team-0"), "sub": "org:team-0"}));
    let (status, body) = app.exchange(&later, "team").await;
    assert_eq!((status, fake.tenant_fetches("team-0")), (403, 2), "{body}");
    // The real org keeps working, from cache, from either client.
    let known = fake.token(NOW + 301, json!({"iss": format!("{base}/team-real"), "sub": "org:team-real"}));
    assert_eq!(app.exchange(&known, "team").await.0, 200);
    assert_eq!(exchange(known).await.0, 200);
    assert_eq!(fake.tenant_fetches("team-real"), 1);
}

#[tokio::test]
async fn https_fetches_to_private_addresses_are_refused_unless_allowed() {
    let fake = FakeIssuer::start(SigningAlg::Rs256).await;
    // The issuer's discovery names a JWKS on a loopback address over https (as one could name 10.0.0.1 or
    // 169.254.169.254): refused before connecting, unless the issuer allows the private network.
    let jwks_uri = format!("https://127.0.0.1:{}/jwks", free_port());
    fake.set_jwks_uri(&jwks_uri);
    let start = |extra: &str| {
        spawn_app(Setup {
            issuers: issuer_entry("github", &fake, extra),
            policies: vec![policy("deploy", "github", "repo:acme/*")],
            extra: String::new(),
        })
    };
    let app = start("").await;
    let status = &app.issuers.health(app.clock.now())[0].status;
    let error = status.last_error.clone().unwrap_or_default();
    assert!(error.contains("loopback, private or link-local") && error.contains("allow_private_network"), "{error}");
    let app = start("    allow_private_network: true\n").await;
    let status = &app.issuers.health(app.clock.now())[0].status;
    let error = status.last_error.clone().unwrap_or_default();
    assert!(!error.is_empty() && !error.contains("loopback, private or link-local"), "tried for real: {error}");
}

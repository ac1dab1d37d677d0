//! Metrics through real tools: `promtool check metrics` accepts the admin listener's `/metrics` after exchanges
//! of every outcome through every front door; a real Prometheus scrapes the admin listener and counts the
//! exchanges through its query API; the shipped `deploy/prometheus/` files pass `promtool`.
//! The tools come from `make test` (Debian package prometheus); under CI=true they must exist, elsewhere a test
//! without them is skipped with a notice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tollgate::clock::Clock as _;
use tollgate::credentials::SigningAlg;

use crate::aws::{aws_policy, ci_claims};
use crate::support::*;

/// A Prometheus tool on PATH, or `None` with a notice (a failure under CI=true).
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but `{name}` is not installed (run `make test`)"
        );
        eprintln!("notice: `{name}` is not installed; skipping (run `make test`, which installs Debian's prometheus)");
    }
    found
}

/// Runs a tool with `input` on stdin; returns (success, stdout + stderr).
async fn run(program: &Path, args: &[&str], input: &str) -> (bool, String) {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// `(name, labels, value)` of every sample in a text exposition.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap();
                let labels = inner
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair.split_once("=\"").unwrap();
                        (key.to_owned(), value.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        out.push((name.to_owned(), labels, value.parse().unwrap()));
    }
    out
}

/// Sum of the samples of `name` whose labels include `wanted`.
fn sum(text: &str, name: &str, wanted: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .filter(|(n, labels, _)| {
            n == name && wanted.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, value)| value)
        .sum()
}

/// Every value `label` takes on `name`.
fn label_values(text: &str, name: &str, label: &str) -> Vec<String> {
    let mut values: Vec<String> =
        samples(text).into_iter().filter(|(n, _, _)| n == name).filter_map(|(_, mut l, _)| l.remove(label)).collect();
    values.sort();
    values.dedup();
    values
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(format!("{}/metrics", app.admin_url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4");
    response.text().await.unwrap()
}

async fn sts_door(app: &TestApp, role_arn: &str, token: &str) -> u16 {
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", "s1"),
        ("WebIdentityToken", token),
    ];
    app.client.post(format!("{}/sts", app.url)).form(&form).send().await.unwrap().status().as_u16()
}

async fn token_door(app: &TestApp, role: &str, token: &str) -> u16 {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("scope", role),
    ];
    app.client.post(format!("{}/token", app.url)).form(&form).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn promtool_accepts_the_metrics_after_every_outcome_and_labels_stay_closed() {
    let Some(promtool) = tool("promtool") else { return };
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let untrusted = FakeIssuer::start(SigningAlg::Rs256).await;
    let stub = StsStub::start().await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*"), aws_policy("deploy-aws", "tollgate_token")],
        extra: format!("aws:\n  endpoint_url: {}\n  timeout_seconds: 1\n  max_attempts: 1\n", stub.url),
    })
    .await;
    let good = github.token(NOW, ci_claims());
    let expect = |got: (u16, Value), status: u16| assert_eq!(got.0, status, "{}", got.1);
    expect(app.exchange(&good, "deploy").await, 200);
    expect(app.exchange(&github.token(NOW, json!({"sub": "repo:evil/x"})), "deploy").await, 403);
    for n in 0..20 {
        let (status, _) = app.exchange(&good, &format!("attacker-role-{n}")).await;
        assert!((400..500).contains(&status));
    }
    let (status, _) = app.exchange(&untrusted.token(NOW, ci_claims()), "deploy").await;
    assert!((400..500).contains(&status));
    let (status, _) = app.exchange(&github.token(NOW - 3600, ci_claims()), "deploy").await;
    assert!((400..500).contains(&status));
    expect(app.exchange(&good, "deploy-aws").await, 200);
    stub.set(StubMode::Fail { status: 500, code: "InternalFailure", message: "boom" });
    assert!(app.exchange(&good, "deploy-aws").await.0 >= 500);
    stub.set(StubMode::Fail { status: 400, code: "Throttling", message: "slow down" });
    assert_eq!(app.exchange(&good, "deploy-aws").await.0, 429);
    assert_eq!(sts_door(&app, "arn:aws:iam::123456789012:role/deploy", &good).await, 200);
    assert_eq!(token_door(&app, "deploy", &good).await, 200);
    assert_eq!(app.get("/no/such/path").await.0, 404);

    let text = scrape(&app).await;
    let (ok, report) = run(&promtool, &["check", "metrics"], &text).await;
    assert!(ok && report.trim().is_empty(), "promtool check metrics: {report}\n{text}");

    let exchanges = "tollgate_exchanges_total";
    assert_eq!(sum(&text, exchanges, &[("outcome", "allow")]), 4.0, "{text}");
    for door in ["exchange", "sts", "token"] {
        assert_eq!(
            sum(&text, exchanges, &[("front_door", door), ("outcome", "allow")]),
            if door == "exchange" { 2.0 } else { 1.0 }
        );
    }
    assert_eq!(sum(&text, exchanges, &[("role", "other"), ("reason", "unknown_role")]), 20.0);
    for reason in ["policy_denied", "unknown_issuer", "expired", "upstream_error", "upstream_throttled"] {
        assert_eq!(sum(&text, exchanges, &[("reason", reason)]), 1.0, "{reason}: {text}");
    }
    assert_eq!(sum(&text, exchanges, &[("outcome", "error")]), 2.0);
    assert_eq!(label_values(&text, exchanges, "role"), ["deploy", "deploy-aws", "other"]);
    assert_eq!(label_values(&text, exchanges, "issuer"), ["github", "other"]);
    assert!(!text.contains("attacker") && !text.contains(untrusted.url()) && !text.contains(github.url()));
    assert_eq!(sum(&text, "tollgate_exchange_duration_seconds_count", &[]), 29.0);
    for (result, count) in [("ok", 1.0), ("unavailable", 1.0), ("throttled", 1.0), ("access_denied", 0.0)] {
        assert_eq!(sum(&text, "tollgate_sts_requests_total", &[("result", result)]), count, "{result}");
    }
    assert_eq!(sum(&text, "tollgate_sts_duration_seconds_count", &[]), 3.0);
    assert_eq!(sum(&text, "tollgate_jwks_fetches_total", &[("issuer", "github"), ("result", "ok")]), 1.0);
    assert_eq!(sum(&text, "tollgate_jwks_keys", &[("issuer", "github")]), 1.0);
    assert_eq!(sum(&text, "tollgate_jwks_stale", &[("issuer", "github")]), 0.0);
    assert_eq!(sum(&text, "tollgate_jwks_last_success_timestamp_seconds", &[("issuer", "github")]), NOW as f64);
    assert_eq!(sum(&text, "tollgate_policies_loaded", &[]), 2.0);
    assert_eq!(sum(&text, "tollgate_policy_last_reload_timestamp_seconds", &[]), NOW as f64);
    let kid = app.broker.minter().key_states(tollgate::clock::UnixTime::from_secs(NOW))[0].kid.clone();
    assert_eq!(sum(&text, "tollgate_signing_key_info", &[("kid", &kid), ("alg", "ES256"), ("state", "active")]), 1.0);
    assert_eq!(sum(&text, "tollgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    let http = "tollgate_http_requests_total";
    assert_eq!(sum(&text, http, &[("route", "/exchange"), ("method", "POST"), ("status", "200")]), 2.0);
    assert_eq!(sum(&text, http, &[("route", "unmatched"), ("status", "404")]), 1.0);
    assert_eq!(label_values(&text, http, "route"), ["/exchange", "/sts", "/token", "unmatched"]);
    assert!(text.contains("process_resident_memory_bytes") && text.contains("process_open_fds"));

    // The two listeners are never merged.
    assert_eq!(app.get("/metrics").await.0, 404);
    let admin_exchange = app.client.post(format!("{}/exchange", app.admin_url)).send().await.unwrap();
    assert_eq!(admin_exchange.status(), 404);
}

#[tokio::test]
async fn failing_key_refreshes_and_policy_reloads_show_up_at_the_next_scrape() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: String::new(),
    })
    .await;
    github.set_behaviour(JwksBehaviour::Status(500));
    app.clock.set(tollgate::clock::UnixTime::from_secs(NOW + 600));
    app.issuers.refresh_due(app.clock.now()).await;
    app.reloader.reload().unwrap();
    std::fs::write(app.policies_dir.join("broken.yaml"), "role: [").unwrap();
    assert!(app.reloader.reload().is_err());
    let text = scrape(&app).await;
    assert_eq!(sum(&text, "tollgate_jwks_stale", &[("issuer", "github")]), 1.0, "{text}");
    assert_eq!(sum(&text, "tollgate_jwks_fetches_total", &[("issuer", "github"), ("result", "error")]), 1.0);
    assert_eq!(sum(&text, "tollgate_jwks_last_success_timestamp_seconds", &[("issuer", "github")]), NOW as f64);
    assert_eq!(sum(&text, "tollgate_policy_reloads_total", &[("result", "ok")]), 1.0);
    assert_eq!(sum(&text, "tollgate_policy_reloads_total", &[("result", "error")]), 1.0);
    assert_eq!(sum(&text, "tollgate_policy_last_reload_timestamp_seconds", &[]), (NOW + 600) as f64);
    // Counters kept elsewhere are caught up, never double-counted by a second scrape.
    assert_eq!(scrape(&app).await.lines().filter(|l| l.starts_with("tollgate_policy_reloads_total")).count(), 2);
    assert_eq!(sum(&scrape(&app).await, "tollgate_policy_reloads_total", &[]), 2.0);
}

#[tokio::test]
async fn the_shipped_prometheus_config_and_alert_rules_pass_promtool() {
    let Some(promtool) = tool("promtool") else { return };
    for args in [
        ["check", "config", "deploy/prometheus/prometheus.yml"],
        ["check", "rules", "deploy/prometheus/alerts.yml"],
        ["test", "rules", "deploy/prometheus/alerts.test.yml"],
    ] {
        let (ok, report) = run(&promtool, &args, "").await;
        assert!(ok, "promtool {}: {report}", args.join(" "));
    }
}

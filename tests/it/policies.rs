//! Issue 3 through the running service: tenant pinning at load, `POST /explain`, redacted denials, an AWS trust
//! policy pasted verbatim, and hot reload (under load, on file change, and on SIGHUP of the real binary).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tollgate::app::{App, Mode};
use tollgate::clock::{FixedClock, UnixTime};
use tollgate::config::Config;
use tollgate::credentials::SigningAlg;

use crate::support::*;

const PINNED: &str = "role: deploy\nissuer: github\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"\n      StringLike:\n        sub: \"repo:acme/web:ref:refs/heads/main\"\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n";

fn claims() -> Value {
    json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository_owner_id": "1000", "repository_owner": "acme"})
}

async fn github_app(policies: Vec<(String, String)>, extra: &str) -> (FakeIssuer, TestApp) {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, "    profile: github\n"),
        policies,
        extra: extra.into(),
    })
    .await;
    (github, app)
}

#[tokio::test]
async fn a_policy_on_a_shared_issuer_must_pin_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let unpinned = PINNED.replace("      StringEquals:\n        repository_owner_id: \"1000\"\n", "");
    std::fs::write(policies.join("deploy.yaml"), &unpinned).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: https://t.example\npolicies: {}\ntrusted_issuers:\n  - {{name: github, profile: github, audiences: [tollgate]}}\n",
        policies.display()
    );
    let config = Config::parse(&yaml, &dir.path().join("t.yaml"), &|_| None).unwrap();
    let clock = Arc::new(FixedClock::new(UnixTime::from_secs(NOW)));
    let error = App::build(&config, Mode::Dev, clock.clone()).await.err().expect("an unpinned policy must not load");
    let text = error.to_string();
    assert!(text.contains("deploy.yaml:") && text.contains("repository_owner_id"), "{text}");
    // The explicit escape hatch loads, with a lint.
    std::fs::write(policies.join("deploy.yaml"), format!("allow_unpinned_tenant: true\n{unpinned}")).unwrap();
    let app = App::build(&config, Mode::Dev, clock).await.unwrap();
    let set = app.state.broker.policies();
    assert!(set.lints().iter().any(|lint| lint.code == "unpinned-tenant"), "{:?}", set.lints());
}

#[tokio::test]
async fn explain_returns_the_trace_and_never_mints() {
    let extra = "explain:\n  endpoint: true\n  show_expected: true\n";
    let (github, app) = github_app(vec![("deploy.yaml".into(), PINNED.into())], extra).await;
    let mut other = claims();
    other["sub"] = json!("repo:acme/web:ref:refs/heads/dev");
    let token = github.token(NOW, other);
    let (status, body) = app.post_json("/explain", &json!({"token": token, "role": "deploy"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("access_token").is_none());
    assert_eq!((body["decision"].as_str(), body["issuer"].as_str()), (Some("deny"), Some("github")));
    assert!(body["reason"].as_str().unwrap().contains("StringLike on \"sub\""), "{body}");
    assert_eq!(body["audience"]["passed"], true);
    let conditions = body["statements"][0]["conditions"].as_array().unwrap();
    let sub = conditions.iter().find(|c| c["claim"] == "sub").unwrap();
    assert_eq!(
        (sub["result"].as_bool(), sub["actual"].as_str()),
        (Some(false), Some("repo:acme/web:ref:refs/heads/dev"))
    );
    let owner = conditions.iter().find(|c| c["claim"] == "repository_owner_id").unwrap();
    assert_eq!((owner["result"].as_bool(), owner["expected"].clone()), (Some(true), json!(["1000"])));
    // An allowed token explains as allow; a bad token is still refused with its error code.
    let (_, allowed) =
        app.post_json("/explain", &json!({"token": github.token(NOW, claims()), "role": "deploy"})).await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    let (status, bad) = app.post_json("/explain", &json!({"token": "a.b.c", "role": "deploy"})).await;
    assert_eq!((status, bad["error"].as_str()), (401, Some("invalid_token")));
}

#[tokio::test]
async fn explain_can_hash_values_or_be_switched_off_and_denials_can_be_terse() {
    let extra = "explain:\n  endpoint: true\n  claim_values: hashed\n  in_errors: false\n";
    let (github, app) = github_app(vec![("deploy.yaml".into(), PINNED.into())], extra).await;
    let mut other = claims();
    other["sub"] = json!("repo:acme/web:ref:refs/heads/dev");
    let token = github.token(NOW, other);
    let (_, body) = app.post_json("/explain", &json!({"token": token, "role": "deploy"})).await;
    let actual = body["statements"][0]["conditions"][1]["actual"].as_str().unwrap().to_owned();
    assert!(actual.starts_with("sha256:") && !body.to_string().contains("refs/heads/dev"), "{body}");
    let (status, denied) = app.exchange(&token, "deploy").await;
    assert_eq!((status, denied["error"].as_str()), (403, Some("access_denied")));
    assert_eq!(denied["error_description"], "no policy for role \"deploy\" allows this token");

    // Off unless configured: explicitly, and by default.
    for extra in ["explain:\n  endpoint: false\n", ""] {
        let (github, app) = github_app(vec![("deploy.yaml".into(), PINNED.into())], extra).await;
        let (status, body) =
            app.post_json("/explain", &json!({"token": github.token(NOW, claims()), "role": "deploy"})).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{extra:?}");
    }
}

#[tokio::test]
async fn an_aws_trust_policy_pasted_verbatim_decides_exchanges() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let host = github.url().trim_start_matches("http://").to_owned();
    let policy = format!(
        r#"{{
  "role": "aws-deploy",
  "grant": {{"type": "token", "audience": "deploy-api", "ttl": "5m"}},
  "Version": "2012-10-17",
  "Statement": [{{
    "Effect": "Allow",
    "Principal": {{"Federated": "arn:aws:iam::123456789012:oidc-provider/{host}"}},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {{
      "StringEquals": {{"{host}:aud": "tollgate", "{host}:repository_owner_id": "1000"}},
      "StringLike": {{"{host}:sub": "repo:acme/web:ref:refs/heads/*"}}
    }}
  }}]
}}"#
    );
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, "    profile: github\n"),
        policies: vec![("aws-deploy.json".into(), policy)],
        extra: String::new(),
    })
    .await;
    assert_eq!(app.exchange(&github.token(NOW, claims()), "aws-deploy").await.0, 200);
    let mut fork = claims();
    fork["repository_owner_id"] = json!("666");
    let (status, body) = app.exchange(&github.token(NOW, fork), "aws-deploy").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("repository_owner_id"), "{body}");
}

#[tokio::test]
async fn hot_reload_under_load_never_fails_a_request() {
    let (github, app) = github_app(vec![("deploy.yaml".into(), PINNED.into())], "").await;
    let token = github.token(NOW, claims());
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, token, failures, done) = (app.url.clone(), token.clone(), Arc::clone(&failures), Arc::clone(&done));
        workers.spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..150 {
                let response = client
                    .post(format!("{url}/exchange"))
                    .json(&json!({"token": token, "role": "deploy"}))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => {}
                    _ => {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let path = app.policies_dir.join("deploy.yaml");
    let broken = app.policies_dir.join("broken.yaml");
    let (mut good, mut bad) = (0, 0);
    while done.load(Ordering::SeqCst) < 600 {
        // A valid change (another TTL) and an invalid set (one bad file among good ones), alternately.
        std::fs::write(&path, PINNED.replace("ttl: 15m", if good % 2 == 0 { "ttl: 10m" } else { "ttl: 15m" })).unwrap();
        app.reloader.reload().unwrap();
        good += 1;
        std::fs::write(&broken, "role: broken\nstatments: []\n").unwrap();
        assert!(app.reloader.reload().is_err());
        std::fs::remove_file(&broken).unwrap();
        bad += 1;
        tokio::task::yield_now().await;
    }
    while workers.join_next().await.is_some() {}
    assert_eq!(failures.load(Ordering::SeqCst), 0, "no request failed during {good} good and {bad} refused reloads");
    let stats = app.reloader.stats();
    assert_eq!((stats.succeeded, stats.failed), (good, bad));
    assert!(stats.last_error.unwrap().contains("broken.yaml"));
    assert!(good >= 2 && bad >= 2, "reloads raced the load: {good} {bad}");
}

#[tokio::test]
async fn a_policy_file_change_is_picked_up_by_the_watcher() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_served_app(Setup {
        issuers: issuer_entry("github", &github, "    profile: github\n"),
        policies: vec![("deploy.yaml".into(), PINNED.into())],
        extra: String::new(),
    })
    .await;
    wait_for(|| github.jwks_fetches() == 1, "the prefetch").await;
    let token = github.token(NOW, claims());
    assert_eq!(app.exchange(&token, "other").await.0, 403);
    std::fs::write(app.policies_dir.join("other.yaml"), PINNED.replace("role: deploy", "role: other")).unwrap();
    let reloader = Arc::clone(&app.reloader);
    wait_for(move || reloader.stats().succeeded == 1, "the watcher's reload").await;
    assert_eq!(app.exchange(&token, "other").await.0, 200);
    // An invalid change is refused and the running set keeps serving.
    std::fs::write(app.policies_dir.join("other.yaml"), "role: other\nnot yaml: [").unwrap();
    let reloader = Arc::clone(&app.reloader);
    wait_for(move || reloader.stats().failed == 1, "the refused reload").await;
    assert_eq!(app.exchange(&token, "other").await.0, 200);
}

#[tokio::test]
async fn sighup_reloads_the_policies_of_the_real_binary() {
    use tollgate::clock::{Clock, SystemClock};
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let Workdir { dir, policies, key_file: key } = workdir(&[("deploy.yaml".into(), PINNED.into())]);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("tollgate.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nissuer_url: {url}\nsigning:\n  key_file: {}\npolicies: {}\nwatch_policies: false\ntrusted_issuers:\n{}",
            key.display(),
            policies.display(),
            issuer_entry("github", &github, "    profile: github\n")
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", config.to_str().unwrap()])
        // Its own admin port: the default (8471) would collide with other binaries under test.
        .env("TOLLGATE_ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = |client: reqwest::Client, url: String| async move {
        for _ in 0..500 {
            if let Ok(r) = client.get(format!("{url}/readyz")).send().await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    };
    assert!(ready(client.clone(), url.clone()).await, "the binary became ready");
    let token = github.token(SystemClock.now().as_secs(), claims());
    let exchange = |role: &'static str| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let body = json!({"token": token, "role": role});
            client.post(format!("{url}/exchange")).json(&body).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(exchange("other").await, 403);
    std::fs::write(policies.join("other.yaml"), PINNED.replace("role: deploy", "role: other")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await; // longer than a watcher poll: nothing reloads
    assert_eq!(exchange("other").await, 403, "file watching is off");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut status = 0;
    for _ in 0..250 {
        status = exchange("other").await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "SIGHUP reloaded the policies");
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "SIGTERM is a clean exit: {exit:?}");
}

//! Issue 12, shadow evaluation through the running service: a candidate policy set (`shadow.policies`) is
//! evaluated beside the live one on every decision, never changes an answer, writes one `shadow_disagreement`
//! audit line where the two differ, counts every comparison by both verdicts, reloads all-or-nothing, and a
//! broken candidate folder stops the start.

use std::sync::Arc;

use serde_json::{Value, json};
use tollgate::app::{App, Mode};
use tollgate::clock::{FixedClock, UnixTime};
use tollgate::config::Config;
use tollgate::credentials::SigningAlg;

use crate::support::*;

struct Shadowed {
    ci: FakeIssuer,
    app: TestApp,
    candidate_dir: tempfile::TempDir,
}

/// Live: `deploy` allows any ref of acme/web. Candidate: `deploy` allows main only, and a new role `release`.
async fn shadowed() -> Shadowed {
    let ci = FakeIssuer::start(SigningAlg::Rs256).await;
    let candidate_dir = tempfile::tempdir().unwrap();
    for (name, text) in [policy("deploy", "ci", "repo:acme/web:ref:refs/heads/main"), policy("release", "ci", "*")] {
        std::fs::write(candidate_dir.path().join(name), text).unwrap();
    }
    let app = spawn_app(Setup {
        issuers: issuer_entry("ci", &ci, ""),
        policies: vec![policy("deploy", "ci", "repo:acme/web:*")],
        extra: format!("shadow:\n  policies: {}\n", candidate_dir.path().display()),
    })
    .await;
    Shadowed { ci, app, candidate_dir }
}

fn token(ci: &FakeIssuer, sub: &str) -> String {
    ci.token(NOW, json!({"sub": sub, "repository": "acme/web"}))
}

fn audit_lines(app: &TestApp) -> Vec<Value> {
    app.audit.flush().unwrap(); // decision lines are written in batches
    let text = std::fs::read_to_string(app.dir_path.join("audit.jsonl")).unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn shadow_lines(app: &TestApp) -> Vec<Value> {
    audit_lines(app).into_iter().filter(|line| line["type"] == "shadow_disagreement").collect()
}

async fn shadow_count(app: &TestApp, role: &str, live: &str, candidate: &str) -> u64 {
    let text = app.client.get(format!("{}/metrics", app.admin_url)).send().await.unwrap().text().await.unwrap();
    let series =
        format!("tollgate_shadow_decisions_total{{candidate=\"{candidate}\",live=\"{live}\",role=\"{role}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&series)).map_or(0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn the_candidate_never_changes_an_answer_and_every_disagreement_is_recorded() {
    let Shadowed { ci, app, candidate_dir: _keep } = shadowed().await;
    // Both sets allow main: no disagreement line.
    let (status, _) = app.exchange(&token(&ci, "repo:acme/web:ref:refs/heads/main"), "deploy").await;
    assert_eq!(status, 200);
    assert!(shadow_lines(&app).is_empty());
    assert_eq!(shadow_count(&app, "deploy", "allow", "allow").await, 1);

    // A feature branch: live allows (and is obeyed), the candidate would deny, and says which condition.
    let feature = token(&ci, "repo:acme/web:ref:refs/heads/feature");
    let (status, body) = app.exchange(&feature, "deploy").await;
    assert_eq!(status, 200, "the candidate set never changes an answer: {body}");
    let lines = shadow_lines(&app);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(
        (line["role"].as_str(), line["live"].as_str(), line["candidate"].as_str()),
        (Some("deploy"), Some("allow"), Some("deny"))
    );
    assert_eq!(line["sub"], "repo:acme/web:ref:refs/heads/feature");
    assert_eq!(line["front_door"], "exchange");
    let detail = line["candidate_detail"].as_str().unwrap();
    assert!(detail.contains("sub"), "the candidate's failing condition: {detail}");
    assert!(!line.to_string().contains(&feature), "never a token in the audit log");
    assert_eq!(shadow_count(&app, "deploy", "allow", "deny").await, 1);

    // A role only the candidate defines: live denies (and is obeyed); the candidate would allow.
    let (status, _) = app.exchange(&token(&ci, "repo:acme/api:ref:refs/heads/main"), "release").await;
    assert_eq!(status, 403);
    let lines = shadow_lines(&app);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!((lines[1]["live"].as_str(), lines[1]["candidate"].as_str()), (Some("deny"), Some("allow")));
    assert_eq!(lines[1]["candidate_detail"], "allowed by statement 1");
    assert_eq!(shadow_count(&app, "release", "deny", "allow").await, 1);

    // A role neither set knows: they agree, and the label stays closed.
    let (status, _) = app.exchange(&token(&ci, "repo:acme/web:ref:refs/heads/main"), "no-such-role").await;
    assert_eq!(status, 403);
    assert_eq!(shadow_lines(&app).len(), 2);
    assert_eq!(shadow_count(&app, "other", "deny", "deny").await, 1);

    // A token refused before the policy (another audience) reaches neither set: nothing compared.
    let other_audience = ci.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "aud": "someone-else"}));
    let (status, _) = app.exchange(&other_audience, "deploy").await;
    assert_eq!(status, 401);
    assert_eq!(shadow_count(&app, "deploy", "allow", "allow").await, 1);
}

#[tokio::test]
async fn the_candidate_set_reloads_all_or_nothing() {
    let Shadowed { ci, app, candidate_dir } = shadowed().await;
    let reloader = app.shadow_reloader.clone().expect("shadow.policies configured");
    let feature = token(&ci, "repo:acme/web:ref:refs/heads/feature");
    // Widen the candidate: it now agrees with live on feature branches.
    let (name, text) = policy("deploy", "ci", "repo:acme/web:*");
    std::fs::write(candidate_dir.path().join(name), text).unwrap();
    assert_eq!(reloader.reload().unwrap(), 2);
    assert_eq!(app.exchange(&feature, "deploy").await.0, 200);
    assert!(shadow_lines(&app).is_empty(), "the reloaded candidate agrees");
    // A broken file: refused, the previous candidate stays, live is untouched.
    std::fs::write(candidate_dir.path().join("broken.yaml"), "role: [").unwrap();
    assert!(reloader.reload().is_err());
    assert_eq!(app.broker.shadow_policies().unwrap().len(), 2);
    assert_eq!(app.broker.policies().len(), 1);
    assert_eq!(app.exchange(&feature, "deploy").await.0, 200);
    assert!(shadow_lines(&app).is_empty());
    assert_eq!(reloader.stats().failed, 1);
}

#[tokio::test]
async fn a_broken_candidate_folder_stops_the_start_and_check_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let (live, candidate) = (dir.path().join("policies"), dir.path().join("candidate"));
    std::fs::create_dir(&live).unwrap();
    std::fs::create_dir(&candidate).unwrap();
    let (name, text) = policy("deploy", "ci", "repo:acme/web:*");
    std::fs::write(live.join(&name), &text).unwrap();
    std::fs::write(candidate.join(&name), text.replace("role: deploy", "role: deploy\nno_such_key: 1")).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: https://t.example\npolicies: {}\nshadow:\n  policies: {}\ntrusted_issuers:\n  - {{name: ci, issuer: https://ci.example, audiences: [tollgate]}}\n",
        live.display(),
        candidate.display()
    );
    let config = Config::parse(&yaml, &dir.path().join("t.yaml"), &|_| None).unwrap();
    let clock = Arc::new(FixedClock::new(UnixTime::from_secs(NOW)));
    let error = App::build(&config, Mode::Dev, clock).await.err().expect("a broken candidate must not start");
    let text = error.to_string();
    assert!(text.contains("shadow.policies") && text.contains("no_such_key"), "{text}");
}

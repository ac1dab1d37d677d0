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
    let text = app.client.get(format!("{}/metrics", app.admin_url)).send().await.unwrap().text().await.unwrap();
    for series in ["tollgate_shadow_policy_reloads_total{result=\"error\"} 1", "tollgate_shadow_policies_loaded 2"] {
        assert!(text.lines().any(|line| line == series), "{series} in\n{text}");
    }
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

/// The operator plane with `shadow.policies` on `candidate`: live `deploy` takes any acme repository.
async fn plane_with_candidate(candidate: &std::path::Path) -> crate::operators::Plane {
    crate::operators::plane(&format!("shadow:\n  policies: {}\n", candidate.display()), false).await
}

#[tokio::test]
async fn promotion_swaps_the_candidate_in_and_back_audited_and_admin_only() {
    let candidate = tempfile::tempdir().unwrap();
    for (name, text) in
        [policy("deploy", "github", "repo:acme/web:ref:refs/heads/main"), policy("release", "github", "repo:acme/*")]
    {
        std::fs::write(candidate.path().join(name), text).unwrap();
    }
    let plane = plane_with_candidate(candidate.path()).await;
    let (app, github) = (&plane.app, &plane.github);
    let feature = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/feature", "repository": "acme/web"}));
    let main = github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"}));
    assert_eq!(app.exchange(&feature, "deploy").await.0, 200, "live allows any ref");
    assert_eq!(app.exchange(&main, "release").await.0, 403, "live has no release role");

    // Only a session with scope admin may promote; a viewer or an admin without the scope may not.
    let viewer = plane.session("victor@acme.com", &[], false).await;
    let unscoped = plane.session("alice@acme.com", &[], false).await;
    for session in [&viewer, &unscoped] {
        assert_eq!(plane.call("POST", "/admin/v1/policies/promote", Some(session), None).await.0, 403);
    }
    assert_eq!(app.exchange(&feature, "deploy").await.0, 200, "a refused promotion changes nothing");

    let admin = plane.session("alice@acme.com", &[], true).await;
    let (status, body) = plane.call("POST", "/admin/v1/policies/promote", Some(&admin), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["live"]["roles"].as_u64(), body["shadow"]["roles"].as_u64()), (Some(2), Some(2)));
    assert_eq!(body["live"]["dir"], json!(candidate.path()));
    assert_eq!(body["durable"], false);
    assert_eq!(app.exchange(&feature, "deploy").await.0, 403, "the candidate is in force");
    assert_eq!(app.exchange(&main, "release").await.0, 200, "its new role too");
    // The former live set is now the one in shadow: the feature branch is a disagreement the other way.
    let lines = shadow_lines(app);
    let last = lines.last().expect("a shadow_disagreement line");
    assert_eq!((last["role"].as_str(), last["live"].as_str()), (Some("release"), Some("allow")), "{lines:?}");
    assert_eq!(last["candidate"], "deny");
    let flipped = lines.iter().rev().find(|line| line["sub"] == "repo:acme/web:ref:refs/heads/feature").unwrap();
    assert_eq!((flipped["live"].as_str(), flipped["candidate"].as_str()), (Some("deny"), Some("allow")));
    // The live reloader now reads the candidate folder: a reload keeps the promoted set.
    assert_eq!(app.reloader.dir(), candidate.path());
    assert_eq!(app.reloader.reload().unwrap(), 2);

    // A retry that expects the candidate it meant cannot swap back: that set is now in force.
    let promoted_sha = body["live"]["sha256"].as_str().unwrap().to_owned();
    let retry = json!({"expect_candidate_sha256": promoted_sha});
    let (status, body) = plane.call("POST", "/admin/v1/policies/promote", Some(&admin), Some(retry)).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("candidate_changed")), "{body}");
    assert_eq!(app.exchange(&feature, "deploy").await.0, 403, "nothing changed");
    // The sets as a viewer sees them; promoting what they show swaps back.
    let (status, sets) = plane.call("GET", "/admin/v1/policies", Some(&viewer), None).await;
    assert_eq!(status, 200, "{sets}");
    assert_eq!(
        (sets["live"]["sha256"].as_str(), sets["shadow"]["roles"].as_u64()),
        (Some(promoted_sha.as_str()), Some(2))
    );
    let back = json!({"expect_candidate_sha256": sets["shadow"]["sha256"]});
    assert_eq!(plane.call("POST", "/admin/v1/policies/promote", Some(&admin), Some(back)).await.0, 200);
    assert_eq!(app.exchange(&feature, "deploy").await.0, 200);
    assert_eq!(app.exchange(&main, "release").await.0, 403);

    let results: Vec<String> = plane
        .admin_lines()
        .iter()
        .filter(|line| line["action"] == "policies.promote")
        .map(|line| format!("{} {}", line["actor"].as_str().unwrap_or("-"), line["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            "victor@acme.com denied: forbidden",
            "alice@acme.com denied: forbidden",
            "alice@acme.com allowed",
            "alice@acme.com allowed",
            "alice@acme.com failed: candidate_changed",
            "alice@acme.com allowed"
        ],
    );
}

#[tokio::test]
async fn promotion_without_a_candidate_is_a_conflict() {
    let plane = crate::operators::plane("", false).await;
    let admin = plane.session("alice@acme.com", &[], true).await;
    let (status, body) = plane.call("POST", "/admin/v1/policies/promote", Some(&admin), None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("no_candidate")), "{body}");
}

#[tokio::test]
async fn an_sts_role_arn_is_resolved_in_each_set() {
    let Shadowed { ci, app, candidate_dir: _keep } = shadowed().await;
    // `release` exists only in the candidate; the STS door names it by ARN.
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::123456789012:role/release"),
        ("RoleSessionName", "s1"),
        ("WebIdentityToken", &token(&ci, "repo:acme/web:ref:refs/heads/main")),
    ];
    let status = app.client.post(format!("{}/sts", app.url)).form(&form).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 403, "live has no such role");
    let lines = shadow_lines(&app);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((lines[0]["front_door"].as_str(), lines[0]["candidate_role"].as_str()), (Some("sts"), Some("release")));
    assert_eq!((lines[0]["live"].as_str(), lines[0]["candidate"].as_str()), (Some("deny"), Some("allow")));
    let decision = audit_lines(&app).into_iter().find(|line| line["front_door"] == "sts").unwrap();
    assert_eq!(decision["role_arn"], "arn:aws:iam::123456789012:role/release", "recorded for replay");
}

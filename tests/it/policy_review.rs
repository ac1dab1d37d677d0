//! Issue 12, replay through the real binary: decisions a running Tollgate recorded (with their claims, the
//! default `audit.claims: referenced`) are re-decided by `tollgate policy replay` under a candidate folder; new
//! access fails the run (exit 1) unless accepted, and the report reads in a terminal, as Markdown and as JSON.

use std::process::Command;

use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;

use crate::support::*;

fn tollgate(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate")).args(args).env("RUST_LOG", "warn").output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

/// A live `deploy` for main only; traffic: main (allowed), a feature branch (denied), a role nobody has
/// (denied before any policy decides: unknown role is a policy deny), and an invalid token (never reaches one).
async fn recorded_traffic() -> (TestApp, tempfile::TempDir) {
    let ci = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("ci", &ci, ""),
        policies: vec![policy("deploy", "ci", "repo:acme/web:ref:refs/heads/main")],
        extra: String::new(),
    })
    .await;
    let token = |sub: &str| ci.token(NOW, json!({"sub": sub, "repository": "acme/web", "workflow": "deploy"}));
    assert_eq!(app.exchange(&token("repo:acme/web:ref:refs/heads/main"), "deploy").await.0, 200);
    for _ in 0..2 {
        assert_eq!(app.exchange(&token("repo:acme/web:ref:refs/heads/feature"), "deploy").await.0, 403);
    }
    assert_eq!(app.exchange(&token("repo:acme/web:ref:refs/heads/main"), "release").await.0, 403);
    assert_eq!(app.exchange("not-a-token", "deploy").await.0, 401);
    app.audit.flush().unwrap();
    let candidate = tempfile::tempdir().unwrap();
    (app, candidate)
}

fn write_candidate(dir: &tempfile::TempDir, files: &[(String, String)]) {
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
}

#[tokio::test]
async fn the_audit_line_records_the_policy_verdict_and_the_claims_policies_read() {
    let (app, _candidate) = recorded_traffic().await;
    let text = std::fs::read_to_string(app.dir_path.join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let allowed = lines.iter().find(|line| line["decision"] == "allow").unwrap();
    assert_eq!(allowed["policy"], "allow");
    let claims = allowed["claims"].as_object().unwrap();
    // Referenced by the policy (sub, repository in the grant) and identifying (iss, sub, aud, jti): by value.
    for name in ["iss", "sub", "aud", "jti", "repository"] {
        assert!(claims.contains_key(name), "{name} recorded: {allowed}");
    }
    // Read by no policy: only its name.
    assert!(!claims.contains_key("workflow"));
    assert!(allowed["omitted_claims"].as_array().unwrap().contains(&json!("workflow")));
    let refused = lines.iter().find(|line| line["reason"] == "malformed").unwrap();
    assert!(refused.get("policy").is_none() && refused.get("claims").is_none(), "{refused}");
    let unknown = lines.iter().find(|line| line["role"] == "release").unwrap();
    assert_eq!(unknown["policy"], "deny");
}

#[tokio::test]
async fn replay_counts_flips_both_ways_and_fails_on_new_access() {
    let (app, candidate) = recorded_traffic().await;
    // The candidate opens feature branches (new access) and drops main (access taken away).
    write_candidate(&candidate, &[policy("deploy", "ci", "repo:acme/web:ref:refs/heads/feature")]);
    let config = app.dir_path.join("tollgate.yaml");
    let audit = app.dir_path.join("audit.jsonl");
    let args = |format: &str| {
        vec![
            "policy".to_owned(),
            "replay".into(),
            "--audit".into(),
            audit.display().to_string(),
            "--policies".into(),
            candidate.path().display().to_string(),
            "--config".into(),
            config.display().to_string(),
            "--format".into(),
            format.into(),
        ]
    };
    let run = |args: Vec<String>| tollgate(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out, err) = run(args("json"));
    assert_eq!(code, 1, "new access fails the run: {out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let deploy = &report["roles"]["deploy"];
    assert_eq!(
        (deploy["decisions"].as_u64(), deploy["allow_to_deny"].as_u64(), deploy["deny_to_allow"].as_u64()),
        (Some(3), Some(1), Some(2)),
        "{report}"
    );
    assert_eq!(report["roles"]["release"]["unchanged"], 1, "unknown in both sets: still denied");
    assert_eq!(report["new_access"], 2);
    assert_eq!(report["skipped"]["not_policy_decisions"], 1, "the malformed token reached no policy");
    let example = &deploy["examples"]["deny_to_allow"][0];
    assert_eq!(example["sub"], "repo:acme/web:ref:refs/heads/feature");
    assert_eq!(example["candidate"], "allowed by statement 1");
    assert!(example["live"].as_str().unwrap().contains("sub"), "the live set's failing condition: {example}");
    let taken = &deploy["examples"]["allow_to_deny"][0];
    assert!(taken["candidate"].as_str().unwrap().contains("sub"), "{taken}");

    let mut accepted = args("markdown");
    accepted.push("--allow-new-access".into());
    let (code, out, _) = run(accepted);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("| `\"deploy\"` | 3 | 0 | 1 | 2 | 0 |"), "{out}");
    assert!(out.contains("NEW ACCESS: 2 decisions"), "{out}");

    let (code, out, _) = run(args("text"));
    assert_eq!(code, 1);
    assert!(out.contains("\"deploy\": deny → allow (2 shown)"), "{out}");
    assert!(
        out.contains("no statement allows: statement 1: condition StringLike on \\\"sub\\\" did not match"),
        "{out}"
    );

    // --since after every line: nothing to replay, nothing new.
    let mut later = args("json");
    later.extend(["--since".into(), "2030-01-01T00:00:00Z".into()]);
    let (code, out, _) = run(later);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["decisions"].as_u64(), report["skipped"]["too_old"].as_u64()), (Some(0), Some(4)));
}

#[tokio::test]
async fn a_candidate_reading_an_unrecorded_claim_is_undetermined_not_guessed() {
    let (app, candidate) = recorded_traffic().await;
    // `workflow` was in every token but no live policy read it, so the log kept only its name.
    let (name, text) = policy("deploy", "ci", "repo:acme/web:*");
    let text =
        text.replace("      StringLike:\n", "      StringEquals:\n        workflow: deploy\n      StringLike:\n");
    write_candidate(&candidate, &[(name, text)]);
    let audit = app.dir_path.join("audit.jsonl").display().to_string();
    let config = app.dir_path.join("tollgate.yaml").display().to_string();
    let dir = candidate.path().display().to_string();
    let (code, out, err) =
        tollgate(&["policy", "replay", "--audit", &audit, "--policies", &dir, "--config", &config, "--format", "json"]);
    assert_eq!(code, 3, "undetermined is not a pass: {out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["roles"]["deploy"]["undetermined"], 3, "{report}");
    assert_eq!((report["new_access"].as_u64(), report["undetermined"].as_u64()), (Some(0), Some(3)));
    let accepted = ["policy", "replay", "--audit", &audit, "--policies", &dir, "--config", &config];
    assert_eq!(tollgate(&[&accepted[..], &["--allow-undetermined"]].concat()).0, 0);
    // A file with no replayable decision is not a pass either.
    let empty = app.dir_path.join("empty.jsonl");
    std::fs::write(&empty, "{\"type\": \"admin\"}\nnot json\n").unwrap();
    let (code, _, err) =
        tollgate(&["policy", "replay", "--audit", empty.to_str().unwrap(), "--policies", &dir, "--config", &config]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no decision in the audit files could be replayed"), "{err}");
    // Unreadable inputs are exit 2, not a finding.
    let (code, _, err) = tollgate(&["policy", "replay", "--audit", "/nonexistent/audit.jsonl", "--policies", &dir]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn diff_reports_new_access_with_a_checked_witness_and_says_when_it_cannot_decide() {
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_candidate(&old, &[policy("deploy", "github", "repo:acme/web:ref:refs/heads/main")]);
    write_candidate(&new, &[policy("deploy", "github", "repo:acme/web:ref:refs/heads/*")]);
    // `policy()` writes no tenant pin; github is shared, so pin it for both (as a real policy must).
    for dir in [&old, &new] {
        let path = dir.path().join("deploy.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace(
                "      StringLike:\n",
                "      StringEquals:\n        repository_owner_id: \"1000\"\n      StringLike:\n",
            ),
        )
        .unwrap();
    }
    let (old_dir, new_dir) = (old.path().display().to_string(), new.path().display().to_string());
    let (code, out, err) = tollgate(&["policy", "diff", &old_dir, &new_dir, "--format", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let role = &report["roles"][0];
    assert_eq!((role["role"].as_str(), role["status"].as_str()), (Some("deploy"), Some("changed")));
    let witness = &role["access"]["witness"];
    assert_eq!(witness["issuer"], "github");
    let sub = witness["claims"]["sub"].as_str().unwrap();
    assert!(sub.starts_with("repo:acme/web:ref:refs/heads/") && !sub.ends_with("/main"), "{witness}");
    assert!(role["changes"].as_array().unwrap().iter().any(|c| c.as_str().unwrap().starts_with("+ allow statement")));

    let (code, out, _) = tollgate(&["policy", "diff", &new_dir, &old_dir, "--format", "markdown"]);
    assert_eq!(code, 0, "narrowing grants nothing new: {out}");
    assert!(out.contains("`\"deploy\"`: no new access"), "{out}");

    // A regex the automata cannot read: said so, exit 3 (not a pass), never a guess.
    let path = new.path().join("deploy.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("      StringLike:\n        sub:", "      StringMatches:\n        sub:")
            .replace("refs/heads/*", "refs/heads/.+"),
    )
    .unwrap();
    let (code, out, _) = tollgate(&["policy", "diff", &old_dir, &new_dir]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("cannot decide") && out.contains("regular expression"), "{out}");
    assert!(out.contains("1 roles could not be decided"), "{out}");
    assert_eq!(tollgate(&["policy", "diff", &old_dir, &new_dir, "--allow-undecided"]).0, 0);
    assert_eq!(tollgate(&["policy", "diff", &old_dir, "/nonexistent"]).0, 2);
}

//! What a token holder can learn about roles (issue 8, finding 2 and L3): `/explain` is off by default and,
//! when on, traces only roles that trust the caller's issuer and audience, hides expected values unless asked,
//! is rate limited and audited; on every door an unknown role and a role that does not trust the caller's
//! issuer answer alike, and `/token` checks the token before saying anything about the role.

use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;

use crate::support::*;

fn role(name: &str, issuer: &str, audience: &str, grant: &str) -> (String, String) {
    let text = format!(
        "role: {name}\nissuer: {issuer}\naudience: {audience}\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"\n      StringLike:\n        sub: \"repo:acme/web:*\"\ngrant:\n{grant}"
    );
    (format!("{name}.yaml"), text)
}

const TOKEN_GRANT: &str = "  type: token\n  audience: deploy-api\n  ttl: 15m\n";
const AWS_GRANT: &str = "  type: aws\n  role_arn: arn:aws:iam::123456789012:role/deploy-web\n  duration: 1h\n";

struct Fixture {
    github: FakeIssuer,
    app: TestApp,
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture(explain: &str) -> Fixture {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let other = FakeIssuer::start(SigningAlg::Rs256).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let issuers = format!(
        "{}{}",
        issuer_entry("github", &github, "    profile: github\n"),
        issuer_entry("other", &other, "    profile: github\n")
    );
    let policies = vec![
        role("deploy", "github", "tollgate", TOKEN_GRANT),
        role("elsewhere", "other", "tollgate", TOKEN_GRANT),
        role("picky", "github", "only-this", TOKEN_GRANT),
        role("deploy-aws", "github", "tollgate", AWS_GRANT),
    ];
    let extra = format!(
        "{explain}limits:\n  per_issuer: {{requests_per_second: 1, burst: 40}}\naudit:\n  path: {}\n",
        audit.display()
    );
    let app = spawn_app(Setup { issuers, policies, extra }).await;
    Fixture { github, app, audit, _dir: dir }
}

fn ci_token(github: &FakeIssuer) -> String {
    github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository_owner_id": "1000"}))
}

/// `(status, error code, description)` of an answer.
fn answer(status: u16, body: &Value) -> (u16, String, String) {
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    (
        status,
        text("error"),
        text("error_description").replace("\"elsewhere\"", "R").replace("\"nope\"", "R").replace("\"picky\"", "R"),
    )
}

#[tokio::test]
async fn explain_is_off_unless_configured() {
    let Fixture { github, app, _dir, .. } = fixture("").await;
    let (status, body) = app.post_json("/explain", &json!({"token": ci_token(&github), "role": "deploy"})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn explain_traces_only_trusting_roles_hides_expected_values_and_is_audited() {
    let Fixture { github, app, audit, _dir } = fixture("explain:\n  endpoint: true\n").await;
    let token = ci_token(&github);
    let (status, body) = app.post_json("/explain", &json!({"token": token, "role": "deploy"})).await;
    assert_eq!((status, body["decision"].as_str()), (200, Some("allow")), "{body}");
    assert_eq!(body["expected_shown"], false);
    assert_eq!(body["audience"]["accepted"], json!([]), "the role's audiences are the policy's text too");
    let conditions = body["statements"][0]["conditions"].as_array().unwrap();
    assert!(conditions.iter().all(|c| c["expected"] == json!([])), "{body}");
    assert!(!body.to_string().contains("repo:acme/web:*"), "the policy's pattern is not shown: {body}");
    // A role that trusts another issuer, one that wants another audience, and no role at all: one answer.
    let mut answers = Vec::new();
    for role in ["elsewhere", "picky", "nope"] {
        let (status, body) = app.post_json("/explain", &json!({"token": token, "role": role})).await;
        answers.push(answer(status, &body));
    }
    assert_eq!(answers[0].0, 403, "{answers:?}");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // Audited as decisions of the explain door, never minting.
    app.audit.flush().unwrap(); // decision lines are written in batches
    let lines: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let explained: Vec<&Value> = lines.iter().filter(|l| l["front_door"] == "explain").collect();
    assert_eq!(explained.len(), 4, "{lines:?}");
    assert!(explained.iter().all(|l| l["credential_sha256"].is_null()));
    let reasons: Vec<&str> = explained.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["allowed", "issuer_not_trusted", "audience", "unknown_role"]);
}

#[tokio::test]
async fn explain_shows_expected_values_only_when_asked_and_counts_against_the_issuer_limit() {
    let Fixture { github, app, _dir, .. } = fixture("explain:\n  endpoint: true\n  show_expected: true\n").await;
    let token = ci_token(&github);
    let (_, body) = app.post_json("/explain", &json!({"token": token, "role": "deploy"})).await;
    assert_eq!(body["expected_shown"], true);
    assert_eq!(body["audience"]["accepted"], json!(["tollgate"]));
    let owner = &body["statements"][0]["conditions"][0];
    assert_eq!((owner["claim"].as_str(), owner["expected"].clone()), (Some("repository_owner_id"), json!(["1000"])));
    let mut statuses = Vec::new();
    for _ in 0..45 {
        statuses.push(app.post_json("/explain", &json!({"token": token, "role": "deploy"})).await.0);
    }
    assert!(statuses.contains(&429), "the per-issuer limit applies to /explain: {statuses:?}");
}

#[tokio::test]
async fn every_door_answers_an_unknown_role_as_one_that_does_not_trust_the_issuer() {
    let Fixture { github, app, audit, _dir } = fixture("").await;
    let token = ci_token(&github);
    // POST /exchange
    let mut exchange = Vec::new();
    for role in ["elsewhere", "nope"] {
        let (status, body) = app.post_json("/exchange", &json!({"token": token, "role": role})).await;
        exchange.push(answer(status, &body));
    }
    assert_eq!(exchange[0].0, 403, "{exchange:?}");
    assert_eq!(exchange[0], exchange[1]);
    // POST /token
    let token_door = |scope: &str, subject: &str| {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("scope", scope),
        ];
        let request = app.client.post(format!("{}/token", app.url)).form(&form);
        async move {
            let (status, body) = read(request.send().await.unwrap()).await;
            answer(status, &body)
        }
    };
    let (elsewhere, nope) = (token_door("elsewhere", &token).await, token_door("nope", &token).await);
    assert_eq!(elsewhere, nope);
    assert_eq!(elsewhere.1, "invalid_scope");
    // An aws role says nothing before the token verified ...
    let bad = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";
    let (aws_bad, unknown_bad) = (token_door("deploy-aws", bad).await, token_door("nope", bad).await);
    assert_eq!((aws_bad.0, aws_bad.1.as_str()), (400, "invalid_grant"), "{aws_bad:?}");
    assert_eq!(aws_bad, unknown_bad);
    // ... nor before the policy allowed it; only then: use another door.
    let outsider = github.token(NOW, json!({"sub": "repo:evil/x:ref:refs/heads/main", "repository_owner_id": "666"}));
    assert_eq!(token_door("deploy-aws", &outsider).await.1, "unauthorized_client");
    assert_eq!(token_door("deploy-aws", &token).await.1, "invalid_target");
    // The STS door: a RoleArn naming a role that does not trust the issuer reads as an unknown RoleArn.
    let sts = |arn: &str| {
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", arn),
            ("RoleSessionName", "s1"),
            ("WebIdentityToken", token.as_str()),
        ];
        let request = app.client.post(format!("{}/sts", app.url)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap().split("<RequestId>").next().unwrap().to_owned())
        }
    };
    let untrusted = sts("arn:aws:iam::123456789012:role/elsewhere").await;
    let unknown = sts("arn:aws:iam::123456789012:role/nope").await;
    assert_eq!(untrusted.0, 403, "{untrusted:?}");
    assert_eq!(untrusted, unknown);
    // Both are audited decisions of the STS door, with the real reason.
    app.audit.flush().unwrap();
    let audit = std::fs::read_to_string(&audit).unwrap();
    let sts: Vec<Value> = audit
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["front_door"] == "sts")
        .collect();
    let reasons: Vec<&str> = sts.iter().map(|line| line["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["issuer_not_trusted", "unknown_role"], "{sts:?}");
}

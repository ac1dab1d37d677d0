//! Tests of [`PolicySet`] on the example policies in `policies/`: decisions, grants and templates, duplicate
//! roles, unknown issuers, directory loading, the broker path (`evaluate_case`), and the file-order property.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{known, object};
use crate::policy::{Decision, Grant, KnownIssuer, PolicyError, PolicySet, RenderError};

pub(super) const GITHUB_DEPLOY_WEB: &str = include_str!("../../../policies/github-deploy-web.yaml");
pub(super) const SEMAPHORE_BUILD: &str = include_str!("../../../policies/semaphore-build.yaml");

pub(super) fn examples() -> PolicySet {
    PolicySet::from_sources(
        &[
            ("github-deploy-web.yaml".into(), GITHUB_DEPLOY_WEB.into()),
            ("semaphore-build.yaml".into(), SEMAPHORE_BUILD.into()),
        ],
        &known(),
    )
    .unwrap()
}

/// The test issuers named in `names` only.
fn only(names: &[&str]) -> Vec<KnownIssuer> {
    known().into_iter().filter(|issuer| names.contains(&issuer.name.as_str())).collect()
}

fn github_claims(sub: &str) -> serde_json::Map<String, Value> {
    object(json!({
        "aud": "tollgate",
        "sub": sub,
        "repository": "acme/web",
        "repository_owner_id": "1000",
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "run_id": "77",
    }))
}

#[test]
fn github_example() {
    let set = examples();
    let policy = set.get("deploy-web").unwrap();
    assert!(policy.accepts_issuer("github"));
    assert!(!policy.accepts_issuer("semaphore"));
    assert_eq!(policy.audiences(), ["tollgate"]);
    let main = github_claims("repo:acme/web:ref:refs/heads/main");
    assert_eq!(policy.evaluate(&main), Decision::Allow { statement: 1 });
    let prod = github_claims("repo:acme/web:environment:production");
    assert_eq!(policy.evaluate(&prod), Decision::Allow { statement: 1 });
    let branch = github_claims("repo:acme/web:ref:refs/heads/feature");
    assert!(matches!(policy.evaluate(&branch), Decision::Deny(_)));
    let mut other_owner = main.clone();
    other_owner.insert("repository_owner_id".into(), json!("2000"));
    let Decision::Deny(why) = policy.evaluate(&other_owner) else { panic!() };
    assert_eq!(why.first_failure().unwrap().claim, "repository_owner_id");

    let Grant::Token(grant) = policy.grant() else { panic!("not a token grant") };
    assert_eq!(grant.audiences(), ["deploy-api"]);
    assert_eq!(grant.ttl_seconds(), 900);
    assert_eq!(grant.render_subject(&main).unwrap().as_deref(), Some("acme/web@refs/heads/main"));
    let claims = grant.render_claims(&main).unwrap();
    assert_eq!(claims.get("repository"), Some(&json!("acme/web")));
    assert_eq!(claims.get("pipeline"), Some(&json!("github-77")));
    assert_eq!(claims.get("team"), Some(&json!("platform")));
}

#[test]
fn semaphore_example() {
    let set = examples();
    let policy = set.get("semaphore-build").unwrap();
    let claims = object(json!({
        "aud": "https://acme.semaphoreci.com",
        "org": "acme",
        "sub": "org:acme:project:4f1c:repo:web:ref_type:branch:ref:refs/heads/main",
    }));
    assert_eq!(policy.evaluate(&claims), Decision::Allow { statement: 1 });
    let mut pull_request = claims.clone();
    pull_request.insert("sub".into(), json!("org:acme:project:4f1c:repo:web:ref_type:pr:ref:refs/heads/main"));
    assert!(matches!(policy.evaluate(&pull_request), Decision::Deny(_)));
    let Grant::Token(grant) = policy.grant() else { panic!("not a token grant") };
    assert_eq!((grant.audiences(), grant.ttl_seconds()), (&["artifact-store".to_owned()][..], 600));
    assert_eq!(grant.render_subject(&claims).unwrap(), None);
}

#[test]
fn template_rendering() {
    let text = GITHUB_DEPLOY_WEB.to_owned() + "    run_number: \"${run_number}\"\n    build: \"b-${run_number}\"\n";
    let set = PolicySet::from_sources(&[("g.yaml".into(), text)], &only(&["github"])).unwrap();
    let Grant::Token(grant) = set.get("deploy-web").unwrap().grant() else { panic!("not a token grant") };
    let mut claims = github_claims("repo:acme/web:ref:refs/heads/main");
    assert_eq!(grant.render_claims(&claims), Err(RenderError::MissingClaim("run_number".into())));
    claims.insert("run_number".into(), json!(12));
    let rendered = grant.render_claims(&claims).unwrap();
    assert_eq!(rendered.get("run_number"), Some(&json!(12)), "an exact copy keeps the JSON type");
    assert_eq!(rendered.get("build"), Some(&json!("b-12")));
    claims.remove("repository");
    assert_eq!(grant.render_subject(&claims), Err(RenderError::MissingClaim("repository".into())));
    let rendered = grant.render_claims(&claims).unwrap();
    assert_eq!(rendered.get("repository"), None, "a missing exact copy is omitted");
    claims.insert("run_id".into(), json!(["a"]));
    assert_eq!(grant.render_claims(&claims), Err(RenderError::NotAString("run_id".into())));
    claims.insert("ref".into(), json!({"a": 1}));
    assert_eq!(grant.render_subject(&claims), Err(RenderError::MissingClaim("repository".into())));
    claims.insert("repository".into(), json!(""));
    claims.insert("ref".into(), json!(""));
    assert_eq!(grant.render_subject(&claims), Ok(Some("@".into())));
}

#[test]
fn duplicate_roles_name_both_files() {
    let error = PolicySet::from_sources(
        &[("b.yaml".into(), GITHUB_DEPLOY_WEB.into()), ("a.yaml".into(), GITHUB_DEPLOY_WEB.into())],
        &only(&["github"]),
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "role deploy-web is defined twice: in a.yaml and in b.yaml");
}

#[test]
fn unknown_issuer_fails_the_whole_set() {
    let error = PolicySet::from_sources(
        &[("g.yaml".into(), GITHUB_DEPLOY_WEB.into()), ("s.yaml".into(), SEMAPHORE_BUILD.into())],
        &only(&["github"]),
    )
    .unwrap_err();
    assert!(matches!(error, PolicyError::UnknownIssuer { ref issuer, .. } if issuer == "semaphore"), "{error}");
    assert!(error.to_string().starts_with("s.yaml:3: role semaphore-build names issuer"), "{error}");
}

#[test]
fn load_dir_reads_policy_files_only() {
    let dir = std::env::temp_dir().join(format!("tollgate-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("github-deploy-web.yaml"), GITHUB_DEPLOY_WEB).unwrap();
    std::fs::write(dir.join("semaphore-build.yml"), SEMAPHORE_BUILD).unwrap();
    std::fs::write(dir.join("github-deploy-web.test.yaml"), "cases: []\n").unwrap();
    std::fs::write(dir.join("README.md"), "not a policy").unwrap();
    let set = PolicySet::load_dir(&dir, &known()).unwrap();
    let mut roles: Vec<&str> = set.roles().collect();
    roles.sort_unstable();
    assert_eq!(roles, ["deploy-web", "semaphore-build"]);
    assert_eq!((set.len(), set.is_empty()), (2, false));

    std::fs::write(dir.join("copy.yaml"), GITHUB_DEPLOY_WEB).unwrap();
    let error = PolicySet::load_dir(&dir, &known()).unwrap_err();
    assert!(matches!(error, PolicyError::DuplicateRole { .. }), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();

    let error = PolicySet::load_dir(&dir, &only(&["github"])).unwrap_err();
    assert!(matches!(error, PolicyError::Io { .. }), "{error}");
}

/// A few policies for different roles, each keyed on `team`, for the order-independence property.
fn policy_source(index: usize, statements: &str) -> (String, String) {
    let text = format!(
        "role: role-{index}\nissuer: ci\naudience: tollgate\ngrant: {{type: token, audience: x, ttl: 60}}\nstatements:\n{statements}"
    );
    (format!("p{index}.yaml"), text)
}

proptest! {
    #[test]
    fn file_order_does_not_change_decisions(
        order in Just((0..4).collect::<Vec<usize>>()).prop_shuffle(),
        team in prop_oneof![Just("red"), Just("blue"), Just("green")],
        sub in prop_oneof![Just("repo:acme/web"), Just("repo:evil/web"), Just("x")],
    ) {
        let sources = [
            policy_source(0, "  - effect: allow\n    condition: {StringEquals: {team: red}}\n"),
            policy_source(1, "  - effect: allow\n    condition: {StringLike: {sub: 'repo:acme/*'}}\n  - effect: deny\n    condition: {StringEquals: {team: blue}}\n"),
            policy_source(2, "  - effect: allow\n    condition: {StringNotEquals: {team: [red, blue]}}\n"),
            policy_source(3, "  - effect: allow\n    condition: {StringNotLike: {sub: 'repo:evil/*'}}\n"),
        ];
        let shuffled: Vec<(String, String)> = order.iter().map(|&index| sources[index].clone()).collect();
        let reference = PolicySet::from_sources(&sources, &known()).unwrap();
        let loaded = PolicySet::from_sources(&shuffled, &known()).unwrap();
        let claims = object(json!({"aud": "tollgate", "team": team, "sub": sub}));
        for index in 0..4 {
            let role = format!("role-{index}");
            prop_assert_eq!(
                loaded.get(&role).unwrap().evaluate(&claims),
                reference.get(&role).unwrap().evaluate(&claims)
            );
        }
    }
}

#[test]
fn load_dir_reads_json_policies() {
    let dir = std::env::temp_dir().join(format!("tollgate-policy-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_policy = r#"{"role": "json-role", "issuer": "ci", "audience": "tollgate",
        "grant": {"type": "token", "audience": "x", "ttl": 60},
        "statements": [{"effect": "allow", "condition": {"StringEquals": {"a": "x"}}}]}"#;
    std::fs::write(dir.join("role.json"), json_policy).unwrap();
    std::fs::write(dir.join("role.test.json"), r#"{"cases": []}"#).unwrap();
    let set = PolicySet::load_dir(&dir, &known()).unwrap();
    assert_eq!(set.roles().collect::<Vec<_>>(), ["json-role"]);
    assert_eq!(crate::policy::testing::load_cases(&dir).unwrap(), []);
    std::fs::remove_dir_all(&dir).unwrap();
}

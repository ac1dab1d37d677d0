//! Rendering `type: aws` grants: session names (sanitising, truncation, padding, and a property test that every
//! rendered name is a valid `RoleSessionName`), session tags (left-out tags, the 256-character limit, empty
//! values), the `https://aws.amazon.com/tags` claim, and the example policy `policies/github-deploy-aws.yaml`
//! with its test cases.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{known, load, object};
use crate::policy::testing::{cases_from_sources, run};
use crate::policy::{AwsGrant, AwsMode, Grant, PolicySet, RenderError, SessionTags};

const GITHUB_DEPLOY_AWS: &str = include_str!("../../../policies/github-deploy-aws.yaml");
const GITHUB_DEPLOY_AWS_CASES: &str = include_str!("../../../policies/github-deploy-aws.test.yaml");

/// The aws grant of a one-policy set whose grant has these extra YAML lines.
fn grant(lines: &str) -> AwsGrant {
    let text = format!(
        "role: r\nissuer: ci\naudience: tollgate\nstatements: [{{effect: allow, condition: {{StringEquals: {{a: x}}}}}}]\n\
         grant:\n  type: aws\n  role_arn: arn:aws:iam::123456789012:role/deploy\n{lines}"
    );
    let set = load(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    match set.get("r").unwrap().grant() {
        Grant::Aws(grant) => grant.clone(),
        Grant::Token(_) => panic!("not an aws grant"),
    }
}

/// True when `name` is a valid `RoleSessionName`: 2 to 64 characters of `[\w+=,.@-]`.
fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-'))
}

#[test]
fn session_names_are_sanitised() {
    let by_claim = grant("  session_name: '${name}'\n");
    let long = "a".repeat(100);
    let truncated = "a".repeat(64);
    let unicode_at_cut = format!("{}é{}", "b".repeat(63), "c".repeat(10));
    let unicode_cut = format!("{}-", "b".repeat(63));
    let cases: Vec<(Value, &str)> = vec![
        (json!("acme/web"), "acme-web"),
        (json!("repo:acme/web:ref:refs/heads/main"), "repo-acme-web-ref-refs-heads-main"),
        (json!("two words\there"), "two-words-here"),
        (json!("héllo wörld"), "h-llo-w-rld"),
        (json!("日本語"), "---"),
        (json!("🙂"), "--"),
        (json!("x"), "x-"),
        (json!("/"), "--"),
        (json!(""), "--"),
        (json!("a+b=c,d.e@f-g_h"), "a+b=c,d.e@f-g_h"),
        (json!(long), truncated.as_str()),
        (json!(unicode_at_cut), unicode_cut.as_str()),
        (json!(42), "42"),
        (json!(true), "true"),
    ];
    for (value, expected) in cases {
        let claims = object(json!({ "name": value }));
        assert_eq!(by_claim.render_session_name(&claims).as_deref(), Ok(expected), "{value}");
    }
    assert_eq!(by_claim.render_session_name(&Map::new()), Err(RenderError::MissingClaim("name".into())));
    let list = object(json!({"name": ["a"]}));
    assert_eq!(by_claim.render_session_name(&list), Err(RenderError::NotAString("name".into())));

    let mixed = grant("  session_name: 'gh-${run_id}-${run_attempt}'\n");
    let claims = object(json!({"run_id": "1234", "run_attempt": 2}));
    assert_eq!(mixed.render_session_name(&claims).as_deref(), Ok("gh-1234-2"));
    let literal = grant("  session_name: 'a'\n");
    assert_eq!(literal.render_session_name(&Map::new()).as_deref(), Ok("a-"));
}

/// A grant with three tags, `repository` and `environment` transitive.
fn tagged() -> AwsGrant {
    grant(
        "  session_tags:\n    repository: '${repository}'\n    environment: '${environment}'\n    \
         pipeline: 'gh-${run_id}'\n  transitive_tag_keys: [repository, environment, repository]\n",
    )
}

fn tags(pairs: &[(&str, &str)], transitive: &[&str]) -> SessionTags {
    SessionTags {
        principal_tags: pairs.iter().map(|(key, value)| ((*key).to_owned(), vec![(*value).to_owned()])).collect(),
        transitive_tag_keys: transitive.iter().map(|key| (*key).to_owned()).collect(),
    }
}

#[test]
fn session_tags_render() {
    let grant = tagged();
    let all = object(json!({"repository": "acme/web", "environment": "prod", "run_id": 7}));
    assert_eq!(
        grant.render_session_tags(&all),
        Ok(tags(
            &[("repository", "acme/web"), ("environment", "prod"), ("pipeline", "gh-7")],
            &["repository", "environment"]
        ))
    );
    let no_environment = object(json!({"repository": "acme/web", "run_id": 7}));
    assert_eq!(
        grant.render_session_tags(&no_environment),
        Ok(tags(&[("repository", "acme/web"), ("pipeline", "gh-7")], &["repository"])),
        "a tag whose claim is missing is left out, with its transitive key"
    );
    let only_run = object(json!({"run_id": 7}));
    assert_eq!(grant.render_session_tags(&only_run), Ok(tags(&[("pipeline", "gh-7")], &[])));
    assert_eq!(grant.render_session_tags(&Map::new()), Ok(SessionTags::default()));
    assert!(grant.render_session_tags(&Map::new()).unwrap().is_empty());

    let empty = object(json!({"repository": "", "environment": "prod", "run_id": 7}));
    assert_eq!(grant.render_session_tags(&empty).unwrap().principal_tags["repository"], [""]);

    let mut limit = all.clone();
    limit.insert("environment".into(), json!("é".repeat(256)));
    assert_eq!(grant.render_session_tags(&limit).unwrap().principal_tags["environment"], ["é".repeat(256)]);
    limit.insert("environment".into(), json!("e".repeat(257)));
    assert_eq!(grant.render_session_tags(&limit), Err(RenderError::SessionTagTooLong { key: "environment".into() }));
    assert_eq!(
        RenderError::SessionTagTooLong { key: "environment".into() }.to_string(),
        "session tag \"environment\" rendered to more than 256 characters"
    );
    let mut prefixed = all.clone();
    prefixed.insert("run_id".into(), json!("9".repeat(254)));
    assert_eq!(grant.render_session_tags(&prefixed), Err(RenderError::SessionTagTooLong { key: "pipeline".into() }));

    let mut not_a_string = all;
    not_a_string.insert("environment".into(), json!(["prod"]));
    assert_eq!(grant.render_session_tags(&not_a_string), Err(RenderError::NotAString("environment".into())));
}

#[test]
fn tags_claim_shape() {
    let both = tags(&[("repository", "acme/web"), ("environment", "")], &["repository"]);
    assert_eq!(
        both.to_claim(),
        json!({
            "principal_tags": {"environment": [""], "repository": ["acme/web"]},
            "transitive_tag_keys": ["repository"],
        })
    );
    let no_transitive = tags(&[("repository", "acme/web")], &[]);
    assert_eq!(no_transitive.to_claim(), json!({"principal_tags": {"repository": ["acme/web"]}}));
    assert_eq!(SessionTags::default().to_claim(), json!({"principal_tags": {}}));
    assert!(SessionTags::default().is_empty());
    assert!(!no_transitive.is_empty());
}

#[test]
fn example_policy() {
    let set =
        PolicySet::from_sources(&[("github-deploy-aws.yaml".into(), GITHUB_DEPLOY_AWS.into())], &known()).unwrap();
    assert!(set.lints().is_empty(), "{:?}", set.lints());
    let policy = set.by_role_arn("arn:aws:iam::123456789012:role/deploy-web").unwrap();
    assert_eq!(policy.role(), "deploy-web-aws");
    let Grant::Aws(grant) = policy.grant() else { panic!("not an aws grant") };
    assert_eq!(
        (grant.duration_seconds(), grant.mode(), grant.audience()),
        (3600, AwsMode::TollgateToken, "sts.amazonaws.com")
    );
    let claims = object(json!({
        "sub": "repo:acme/web:ref:refs/heads/main", "aud": "tollgate", "repository_owner_id": "1000",
        "repository": "acme/web", "ref": "refs/heads/main", "run_id": "77",
    }));
    assert_eq!(grant.render_session_name(&claims).as_deref(), Ok("gh-acme-web-77"));
    assert_eq!(
        grant.render_session_tags(&claims).unwrap().to_claim(),
        json!({
            "principal_tags": {"repository": ["acme/web"], "ref": ["refs/heads/main"]},
            "transitive_tag_keys": ["repository"],
        })
    );
    let cases = cases_from_sources(&[("github-deploy-aws.test.yaml".into(), GITHUB_DEPLOY_AWS_CASES.into())]).unwrap();
    let report = run(&set, &cases);
    assert_eq!((report.failed(), report.passed()), (0, cases.len()), "{report}");
    assert!(cases.len() >= 3);
}

proptest! {
    #[test]
    fn session_names_are_always_valid(prefix in any::<String>(), value in any::<String>(), suffix in ".{0,80}") {
        let grant = grant("  session_name: 'ç${p}/${v}: ${s}'\n");
        let claims = object(json!({ "p": prefix, "v": value, "s": suffix }));
        let name = grant.render_session_name(&claims).unwrap();
        prop_assert!(valid_session_name(&name), "{:?}", name);
    }

    #[test]
    fn valid_names_render_unchanged(name in "[A-Za-z0-9_+=,.@-]{2,64}") {
        let grant = grant("  session_name: '${v}'\n");
        let claims = object(json!({ "v": name.clone() }));
        prop_assert_eq!(grant.render_session_name(&claims).unwrap(), name);
    }
}

//! The AWS form: trust policies pasted verbatim (JSON or YAML) with `Version`, `Statement`,
//! `Principal.Federated`, `Action` and `host:claim` condition keys, beside Tollgate's `role` and `grant`.

use serde_json::json;

use super::{known, load, object};
use crate::policy::{AudienceRule, Decision, DenyReason, PolicySet};

/// A GitHub trust policy as AWS documents it, plus the owner pin Tollgate requires; JSON, tab-indented.
const GITHUB_TRUST_POLICY: &str = r#"{
	"role": "deploy-web-aws",
	"grant": {"type": "token", "audience": "deploy-api", "ttl": "15m"},
	"Version": "2012-10-17",
	"Statement": [
		{
			"Sid": "GithubMain",
			"Effect": "Allow",
			"Principal": {
				"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
			},
			"Action": "sts:AssumeRoleWithWebIdentity",
			"Condition": {
				"StringEquals": {
					"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
					"token.actions.githubusercontent.com:repository_owner_id": "1000"
				},
				"StringLike": {
					"token.actions.githubusercontent.com:sub": "repo:acme/web:ref:refs/heads/main"
				}
			}
		}
	]
}"#;

fn github_set() -> PolicySet {
    PolicySet::from_sources(&[("trust.json".into(), GITHUB_TRUST_POLICY.into())], &known()).unwrap()
}

#[test]
fn github_trust_policy_loads_and_decides() {
    let set = github_set();
    let policy = set.get("deploy-web-aws").unwrap();
    assert_eq!(policy.issuers(), ["github"]);
    assert_eq!(policy.audience_rule(), &AudienceRule::InConditions);
    assert!(policy.audiences().is_empty());
    let main = object(json!({
        "aud": "sts.amazonaws.com",
        "sub": "repo:acme/web:ref:refs/heads/main",
        "repository_owner_id": "1000",
    }));
    assert_eq!(policy.evaluate(&main), Decision::Allow { statement: 1 });
    let failing = |field: &str, value: serde_json::Value| {
        let mut claims = main.clone();
        claims.insert(field.into(), value);
        match policy.evaluate(&claims) {
            Decision::Deny(why) => why.first_failure().map(|failure| failure.claim.clone()),
            Decision::Allow { .. } => None,
        }
    };
    assert_eq!(failing("aud", json!("tollgate")).as_deref(), Some("aud"));
    assert_eq!(failing("repository_owner_id", json!("2000")).as_deref(), Some("repository_owner_id"));
    assert_eq!(failing("sub", json!("repo:acme/web:ref:refs/heads/dev")).as_deref(), Some("sub"));
    assert_eq!(failing("sub", json!("repo:acme/web:pull_request")).as_deref(), Some("sub"));
    let codes: Vec<&str> = set.lints().iter().map(|lint| lint.code).collect();
    assert_eq!(codes, ["plain-operator-on-array-claim"], "{:?}", set.lints());
}

#[test]
fn yaml_single_statement_with_deny_and_bare_keys() {
    let text = "\
role: gitlab-deploy
issuer: gitlab
audience: tollgate
grant: {type: token, audience: x, ttl: 60}
Version: \"2012-10-17\"
Statement:
  - Effect: Allow
    Principal: {Federated: https://gitlab.com}
    Action: [sts:AssumeRoleWithWebIdentity]
    Condition:
      StringEquals: {namespace_id: \"42\"}
  - Effect: Deny
    Principal: {Federated: gitlab.com}
    Action: sts:assumerolewithwebidentity
    Condition:
      StringEquals: {gitlab.com:ref_protected: \"false\"}
";
    let set = load(text).unwrap();
    let policy = set.get("gitlab-deploy").unwrap();
    assert_eq!(policy.audiences(), ["tollgate"]);
    let claims = object(json!({"aud": "tollgate", "namespace_id": "42", "ref_protected": "true"}));
    assert_eq!(policy.evaluate(&claims), Decision::Allow { statement: 1 });
    let mut unprotected = claims.clone();
    unprotected.insert("ref_protected".into(), json!("false"));
    let Decision::Deny(why) = policy.evaluate(&unprotected) else { panic!() };
    assert_eq!(why.reason(), DenyReason::ExplicitDeny { statement: 2 });

    let single = "\
role: one
issuer: gitlab
audience: tollgate
grant: {type: token, audience: x, ttl: 60}
Version: \"2012-10-17\"
Statement:
  Effect: Allow
  Principal: {Federated: https://gitlab.com/}
  Action: sts:AssumeRoleWithWebIdentity
  Condition: {StringEquals: {namespace_path: acme}}
";
    let set = load(single).unwrap();
    let claims = object(json!({"aud": "tollgate", "namespace_path": "acme"}));
    assert_eq!(set.get("one").unwrap().evaluate(&claims), Decision::Allow { statement: 1 });
}

#[test]
fn audience_may_come_from_conditions_or_nowhere() {
    let base = "\
role: ci-aws
grant: {type: token, audience: x, ttl: 60}
Version: \"2012-10-17\"
Statement:
  Effect: Allow
  Principal: {Federated: arn:aws:iam::1:oidc-provider/ci.example.com}
  Action: sts:AssumeRoleWithWebIdentity
  Condition:
    StringEquals: {ci.example.com:project: web}
";
    let set = load(base).unwrap();
    let policy = set.get("ci-aws").unwrap();
    assert_eq!(policy.audience_rule(), &AudienceRule::Any);
    assert_eq!(policy.issuers(), ["ci"]);
    let claims = object(json!({"aud": "anything", "project": "web"}));
    assert_eq!(policy.evaluate(&claims), Decision::Allow { statement: 1 });
    assert_eq!(set.lints().len(), 1);
    assert_eq!(set.lints()[0].code, "any-audience");
    assert_eq!(
        set.lints()[0].to_string(),
        "p.yaml:5: warning[any-audience]: the policy has no audience: and no aud condition, so it accepts any \
         audience the issuer accepted; add audience: or an aud condition"
    );
    let listed = load(&base.replace("role: ci-aws\n", "role: ci-aws\naudience: [a, b]\n")).unwrap();
    let policy = listed.get("ci-aws").unwrap();
    assert_eq!(policy.audience_rule(), &AudienceRule::OneOf(vec!["a".into(), "b".into()]));
    assert!(matches!(policy.evaluate(&claims), Decision::Deny(_)));
    assert!(listed.lints().is_empty());
}

#[test]
fn unpinned_pasted_policy_is_refused_unless_allowed() {
    let unpinned = GITHUB_TRUST_POLICY
        .replace(",\n\t\t\t\t\t\"token.actions.githubusercontent.com:repository_owner_id\": \"1000\"", "");
    let error = PolicySet::from_sources(&[("trust.json".into(), unpinned.clone())], &known()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trust.json:8: role deploy-web-aws: allow statement 1 does not pin the tenant of a shared issuer: pin \
         repository_owner_id or repository_owner with a StringEquals on fixed values (or set \
         allow_unpinned_tenant: true)"
    );
    let allowed = unpinned.replace("\"role\"", "\"allow_unpinned_tenant\": true,\n\t\"role\"");
    let set = PolicySet::from_sources(&[("trust.json".into(), allowed)], &known()).unwrap();
    assert!(set.lints().iter().any(|lint| lint.code == "unpinned-tenant"), "{:?}", set.lints());
}

/// `BASE` with `find` replaced by `replace`; must fail to load with exactly `expected`.
fn refused(find: &str, replace: &str, expected: &str) -> Option<String> {
    const BASE: &str = "\
role: r
grant: {type: token, audience: x, ttl: 60}
Version: \"2012-10-17\"
Statement:
  - Effect: Allow
    Principal: {Federated: ci.example.com}
    Action: sts:AssumeRoleWithWebIdentity
    Condition:
      StringEquals: {ci.example.com:aud: tollgate}
";
    assert!(BASE.contains(find), "{find}");
    let text = BASE.replace(find, replace);
    match load(&text) {
        Err(error) if error.to_string() == expected => None,
        Err(error) => Some(format!("got      {:?}\nexpected {expected:?}", error.to_string())),
        Ok(_) => Some(format!("loaded, expected {expected:?}:\n{text}")),
    }
}

#[test]
fn aws_form_errors() {
    let cases = [
        (
            "ci.example.com:aud",
            "gitlab.com:aud",
            "p.yaml:9: condition key \"gitlab.com:aud\" names issuer \"gitlab\", which this policy does not trust",
        ),
        (
            "ci.example.com:aud",
            "evil.example.com:aud",
            "p.yaml:9: condition key \"evil.example.com:aud\" has the prefix \"evil.example.com\", which is not the location of a trusted issuer",
        ),
        (
            "ci.example.com:aud",
            "aws:SourceIp",
            "p.yaml:9: condition key \"aws:SourceIp\" is AWS request context, which a CI token does not carry",
        ),
        (
            "Action: sts:AssumeRoleWithWebIdentity",
            "Action: sts:AssumeRole",
            "p.yaml:7: Action \"sts:AssumeRole\" is not sts:AssumeRoleWithWebIdentity: a Tollgate trust policy governs only web-identity exchanges",
        ),
        (
            "Action: sts:AssumeRoleWithWebIdentity",
            "Action: [sts:AssumeRoleWithWebIdentity, sts:TagSession]",
            "p.yaml:7: Action \"sts:TagSession\" is not sts:AssumeRoleWithWebIdentity: a Tollgate trust policy governs only web-identity exchanges",
        ),
        ("Action: sts:AssumeRoleWithWebIdentity", "Action: []", "p.yaml:7: Action needs at least one value"),
        ("Version: \"2012-10-17\"\n", "", "p.yaml:4: a policy with Statement needs Version: \"2012-10-17\""),
        ("\"2012-10-17\"", "\"2008-10-17\"", "p.yaml:3: Version must be \"2012-10-17\", not \"2008-10-17\""),
        (
            "Principal: {Federated: ci.example.com}",
            "Principal: {AWS: arn:aws:iam::1:root}",
            "p.yaml:6: unknown field `AWS`, expected one of Federated",
        ),
        (
            "Principal: {Federated: ci.example.com}",
            "Principal: {Federated: accounts.google.com}",
            "p.yaml:6: Federated principal \"accounts.google.com\" is not the location of a configured issuer; configure its url_prefix or name the issuer with issuer:",
        ),
        (
            "Principal: {Federated: ci.example.com}",
            "Principal: {Federated: []}",
            "p.yaml:6: Principal.Federated needs at least one value",
        ),
        (
            "Principal: {Federated: ci.example.com}",
            "Principal: {Federated: [ci.example.com, gitlab.com]}",
            "p.yaml:5: role r: allow statement 1 does not pin the tenant of a shared issuer: pin namespace_id or namespace_path with a StringEquals on fixed values (or set allow_unpinned_tenant: true)",
        ),
        (
            "role: r\n",
            "role: r\nissuer: gitlab\n",
            "p.yaml:7: Federated principal \"ci.example.com\" is not the location of any issuer the policy names (gitlab)",
        ),
        (
            "    Action",
            "    Resource: '*'\n    Action",
            "p.yaml:7: unknown field `Resource`, expected one of Sid, Effect, Principal, Action, Condition",
        ),
        (
            "Version",
            "statements: []\nVersion",
            "p.yaml:6: a policy has either statements (Tollgate form) or Version and Statement (AWS form), not both",
        ),
    ];
    let mismatches: Vec<String> =
        cases.iter().filter_map(|(find, replace, expected)| refused(find, replace, expected)).collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn statements_must_name_the_same_principals() {
    let text = "\
role: r
issuer: [ci, gitlab]
audience: tollgate
grant: {type: token, audience: x, ttl: 60}
Version: \"2012-10-17\"
Statement:
  - Effect: Allow
    Principal: {Federated: ci.example.com}
    Action: sts:AssumeRoleWithWebIdentity
    Condition: {StringEquals: {project: web}}
";
    let error = load(text).unwrap_err().to_string();
    assert!(
        error.starts_with("p.yaml:7: role r: statement 1's Principal trusts ci but the policy trusts ci, gitlab"),
        "{error}"
    );
}

/// The pinned GitHub policy with one more statement (or condition), as AWS accepts it pasted verbatim.
fn github_with(extra_condition: &str, extra_statement: &str) -> PolicySet {
    let text = GITHUB_TRUST_POLICY
        .replace(
            "\"token.actions.githubusercontent.com:sub\": \"repo:acme/web:ref:refs/heads/main\"\n\t\t\t\t}",
            &format!("\"token.actions.githubusercontent.com:sub\": \"repo:acme/web:ref:refs/heads/*\"\n\t\t\t\t}}{extra_condition}"),
        )
        .replace("\t\t}\n\t]\n}", &format!("\t\t}}{extra_statement}\n\t]\n}}"));
    PolicySet::from_sources(&[("trust.json".into(), text)], &known()).unwrap()
}

#[test]
fn condition_key_names_are_case_insensitive_as_in_iam_so_negations_and_denies_still_apply() {
    let claims = |git_ref: &str| {
        object(json!({
            "aud": "sts.amazonaws.com",
            "sub": format!("repo:acme/web:ref:{git_ref}"),
            "repository_owner_id": "1000",
            "ref": git_ref,
        }))
    };
    // A negated condition on a mis-cased key: IAM reads `:Ref` as `ref`, so dependabot branches are refused.
    let negated = github_with(
        ",\n\t\t\t\t\"StringNotLike\": {\"token.actions.githubusercontent.com:Ref\": \"refs/heads/dependabot/*\"}",
        "",
    );
    let policy = negated.get("deploy-web-aws").unwrap();
    assert_eq!(policy.evaluate(&claims("refs/heads/main")), Decision::Allow { statement: 1 });
    assert!(matches!(policy.evaluate(&claims("refs/heads/dependabot/x")), Decision::Deny(_)));
    // A Deny statement on a mis-cased key applies too.
    let deny = ",\n\t\t{\"Effect\": \"Deny\", \"Principal\": {\"Federated\": \"token.actions.githubusercontent.com\"}, \"Action\": \"sts:AssumeRoleWithWebIdentity\", \"Condition\": {\"StringLike\": {\"token.actions.githubusercontent.com:REF\": \"refs/heads/dependabot/*\"}}}";
    let denying = github_with("", deny);
    let policy = denying.get("deploy-web-aws").unwrap();
    assert_eq!(policy.evaluate(&claims("refs/heads/main")), Decision::Allow { statement: 1 });
    match policy.evaluate(&claims("refs/heads/dependabot/x")) {
        Decision::Deny(why) => assert_eq!(why.reason(), DenyReason::ExplicitDeny { statement: 2 }),
        other => panic!("{other:?}"),
    }
    // A mis-cased tenant pin still pins; a positive mis-cased condition matches as IAM would.
    let text = GITHUB_TRUST_POLICY.replace(":repository_owner_id", ":Repository_Owner_ID").replace(":sub\"", ":Sub\"");
    let set = PolicySet::from_sources(&[("trust.json".into(), text)], &known()).unwrap();
    let policy = set.get("deploy-web-aws").unwrap();
    assert_eq!(policy.evaluate(&claims("refs/heads/main")), Decision::Allow { statement: 1 });
    let mut other_owner = claims("refs/heads/main");
    other_owner.insert("repository_owner_id".into(), json!("2000"));
    assert!(matches!(policy.evaluate(&other_owner), Decision::Deny(_)));
}

#[test]
fn tollgate_form_claim_names_stay_case_sensitive() {
    let set = load("role: r\nissuer: ci\naudience: tollgate\ngrant: {type: token, audience: x, ttl: 60}\nstatements:\n  - effect: allow\n    condition: {StringEquals: {Ref: main}}\n").unwrap();
    let policy = set.get("r").unwrap();
    assert!(matches!(policy.evaluate(&object(json!({"aud": "tollgate", "ref": "main"}))), Decision::Deny(_)));
    assert_eq!(policy.evaluate(&object(json!({"aud": "tollgate", "Ref": "main"}))), Decision::Allow { statement: 1 });
}

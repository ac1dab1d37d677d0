//! `policy diff` on hand-built pairs whose answer is known: every witness it reports is evaluated again here
//! under both sets (NEW allows, OLD denies), and "no new access" is checked on the cases that should have none.

use serde_json::{Map, Value};

use super::{known, load};
use crate::policy::PolicySet;
use crate::policy::diff::{Access, RoleStatus, diff};

/// A set with role `r` on `issuer` (audience `tollgate`) and these statements (YAML flow-style conditions).
fn set(issuer: &str, statements: &[(&str, &str)]) -> PolicySet {
    let mut text = format!(
        "role: r\nissuer: {issuer}\naudience: tollgate\ngrant: {{type: token, audience: x, ttl: 60}}\nstatements:\n"
    );
    for (effect, condition) in statements {
        text.push_str(&format!("  - effect: {effect}\n    condition: {condition}\n"));
    }
    load(&text).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

/// The witness of new access for `r`, checked: NEW allows it, OLD denies it.
fn witness(old: &PolicySet, new: &PolicySet) -> (String, Map<String, Value>) {
    let role = diff(old, new).into_iter().find(|role| role.role == "r").unwrap();
    let Access::New { issuer, claims } = role.access else { panic!("expected new access, got {:?}", role.access) };
    assert!(new.evaluate_case("r", &issuer, &claims).is_allow(), "NEW allows {claims:?}");
    assert!(!old.evaluate_case("r", &issuer, &claims).is_allow(), "OLD denies {claims:?}");
    (issuer, claims)
}

fn access(old: &PolicySet, new: &PolicySet) -> Access {
    diff(old, new).into_iter().find(|role| role.role == "r").unwrap().access
}

#[test]
fn a_widened_branch_glob_is_new_access_with_a_witness() {
    let old = set("ci", &[("allow", "{StringLike: {sub: \"repo:acme/web:ref:refs/heads/main\"}}")]);
    let new = set("ci", &[("allow", "{StringLike: {sub: \"repo:acme/web:ref:refs/heads/*\"}}")]);
    let (issuer, claims) = witness(&old, &new);
    assert_eq!(issuer, "ci");
    let sub = claims["sub"].as_str().unwrap();
    assert!(sub.starts_with("repo:acme/web:ref:refs/heads/") && sub != "repo:acme/web:ref:refs/heads/main", "{sub}");
    // The other way round takes access away and grants none.
    assert_eq!(access(&new, &old), Access::NoNew);
}

#[test]
fn a_removed_deny_is_new_access() {
    let allow = ("allow", "{StringLike: {sub: \"repo:acme/*\"}}");
    let old = set("ci", &[allow, ("deny", "{StringEquals: {ref: refs/heads/release}}")]);
    let new = set("ci", &[allow]);
    let (_, claims) = witness(&old, &new);
    assert_eq!(claims["ref"], "refs/heads/release");
}

#[test]
fn an_added_string_not_like_exception_narrows_and_grants_nothing() {
    let allow = "StringLike: {sub: \"repo:acme/*\"}";
    let old = set("ci", &[("allow", &format!("{{{allow}}}"))]);
    let new = set("ci", &[("allow", &format!("{{{allow}, StringNotLike: {{sub: \"repo:acme/secrets*\"}}}}"))]);
    assert_eq!(access(&old, &new), Access::NoNew);
    // Removing that exception again is new access, on exactly the excepted repositories.
    let (_, claims) = witness(&new, &old);
    assert!(claims["sub"].as_str().unwrap().starts_with("repo:acme/secrets"), "{claims:?}");
}

#[test]
fn a_changed_tenant_pin_is_new_access_for_the_new_tenant() {
    let old = set(
        "github",
        &[("allow", "{StringEquals: {repository_owner_id: \"1000\"}, StringLike: {sub: \"repo:acme/*\"}}")],
    );
    let new = set(
        "github",
        &[("allow", "{StringEquals: {repository_owner_id: \"2000\"}, StringLike: {sub: \"repo:acme/*\"}}")],
    );
    let (issuer, claims) = witness(&old, &new);
    assert_eq!((issuer.as_str(), claims["repository_owner_id"].as_str()), ("github", Some("2000")));
}

#[test]
fn a_new_trusted_issuer_an_audience_and_a_new_role_are_new_access() {
    let old = set("ci", &[("allow", "{StringEquals: {sub: a}}")]);
    let text = "role: r\nissuer: [ci, gitlab]\naudience: [tollgate, other]\ngrant: {type: token, audience: x, ttl: 60}\nstatements:\n  - effect: allow\n    condition: {StringEquals: {sub: a, namespace_id: \"7\"}}\n";
    let new = PolicySet::from_sources(&[("p.yaml".into(), text.into())], &known()).unwrap();
    let (issuer, claims) = witness(&old, &new);
    assert!(issuer == "gitlab" || claims["aud"] == "other", "{issuer} {claims:?}");
    let empty = PolicySet::from_sources(&[], &known()).unwrap();
    let added = diff(&empty, &old);
    assert_eq!(added[0].status, RoleStatus::Added);
    assert!(matches!(added[0].access, Access::New { .. }));
    let removed = diff(&old, &empty);
    assert_eq!((removed[0].status, removed[0].access.clone()), (RoleStatus::Removed, Access::NoNew));
}

#[test]
fn missing_claims_if_exists_and_null_are_decided() {
    // OLD requires `environment` to be missing or "prod"; NEW drops the condition: any other value is new.
    let old = set("ci", &[("allow", "{StringEqualsIfExists: {environment: prod}, StringEquals: {sub: a}}")]);
    let new = set("ci", &[("allow", "{StringEquals: {sub: a}}")]);
    let (_, claims) = witness(&old, &new);
    assert!(claims.get("environment").is_some_and(|value| value != "prod"), "{claims:?}");
    // Null: true (must be missing) against the same: nothing new; against Null: false, the present claim is new.
    let missing = set("ci", &[("allow", "{Null: {environment: \"true\"}, StringEquals: {sub: a}}")]);
    assert_eq!(access(&missing, &missing.clone()), Access::NoNew);
    let present = set("ci", &[("allow", "{Null: {environment: \"false\"}, StringEquals: {sub: a}}")]);
    let (_, claims) = witness(&missing, &present);
    assert!(claims.contains_key("environment"));
}

#[test]
fn regexes_and_numbers_are_undecided_not_guessed() {
    let old = set("ci", &[("allow", "{StringMatches: {sub: \"repo:acme/[a-z]+\"}}")]);
    let new = set("ci", &[("allow", "{StringMatches: {sub: \"repo:acme/[a-z0-9]+\"}}")]);
    let Access::Undecided(reasons) = access(&old, &new) else { panic!("a regex change cannot be decided here") };
    assert!(reasons.iter().any(|reason| reason.contains("regular expression")), "{reasons:?}");
    // An unchanged file is no new access whatever it uses.
    assert_eq!(diff(&old, &old)[0].status, RoleStatus::Unchanged);
}

#[test]
fn mixed_key_cases_negated_aud_and_rule_changes_are_never_called_safe() {
    // The same rule in the AWS form (keys read in any letter case) and in Tollgate's (exact): a token with
    // `Environment` could reach one and not the other, so the diff does not claim "no new access".
    let aws = "role: r\nissuer: ci\naudience: tollgate\ngrant: {type: token, audience: x, ttl: 60}\nVersion: \"2012-10-17\"\nStatement:\n  - Effect: Allow\n    Principal: {Federated: \"arn:aws:iam::123456789012:oidc-provider/ci.example.com\"}\n    Action: sts:AssumeRoleWithWebIdentity\n    Condition: {StringEquals: {\"ci.example.com:sub\": a}}\n  - Effect: Deny\n    Principal: {Federated: \"arn:aws:iam::123456789012:oidc-provider/ci.example.com\"}\n    Action: sts:AssumeRoleWithWebIdentity\n    Condition: {StringEquals: {\"ci.example.com:environment\": prod}}\n";
    let old = PolicySet::from_sources(&[("p.yaml".into(), aws.into())], &known()).unwrap();
    let new = set("ci", &[("allow", "{StringEquals: {sub: a}}"), ("deny", "{StringEquals: {environment: prod}}")]);
    let Access::Undecided(reasons) = access(&old, &new) else { panic!("mixed key cases must stay undecided") };
    assert!(reasons.iter().any(|reason| reason.contains("letter cases")), "{reasons:?}");
    // A negated condition on aud (a list in some tokens).
    let old = set("ci", &[("allow", "{StringEquals: {sub: a}}"), ("deny", "{StringNotEquals: {aud: tollgate}}")]);
    let new = set("ci", &[("allow", "{StringEquals: {sub: a}}")]);
    assert!(matches!(access(&old, &new), Access::Undecided(_)));
    // Dropping single use is a change the summary reports, though no claim set is newly allowed.
    let text = |single_use: &str| {
        format!(
            "role: r\nissuer: ci\naudience: tollgate\nsingle_use: {single_use}\ngrant: {{type: token, audience: x, ttl: 60}}\nstatements:\n  - effect: allow\n    condition: {{StringEquals: {{sub: a}}}}\n"
        )
    };
    let strict = PolicySet::from_sources(&[("p.yaml".into(), text("strict"))], &known()).unwrap();
    let off = PolicySet::from_sources(&[("p.yaml".into(), text("off"))], &known()).unwrap();
    let role = diff(&strict, &off).remove(0);
    assert_eq!(role.access, Access::NoNew);
    assert!(role.changes.iter().any(|change| change.starts_with("~ single use: Strict")), "{:?}", role.changes);
}

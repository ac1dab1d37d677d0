//! Statement-level tests: how conditions, keys, values and statements combine (AND, AND, OR; explicit deny
//! beats allow; default deny), the audience check, YAML scalar canonicalisation, and the deny explanation texts.

use serde_json::{Value, json};

use super::policy;
use crate::policy::{Decision, DenyReason};

#[derive(Debug)]
enum Expect {
    Allow(usize),
    Deny(DenyReason),
    /// Default deny whose first failure is (statement, operator, claim).
    Fails(usize, &'static str, &'static str),
}

fn check(statements: &[(&str, &str)], claims: Value, expected: Expect) {
    let mut claims = claims.as_object().cloned().unwrap();
    claims.entry("aud").or_insert(json!("tollgate"));
    let decision = policy(statements).evaluate(&claims);
    let context = format!("{statements:?} on {claims:?}: got {decision:?}");
    match (expected, &decision) {
        (Expect::Allow(n), Decision::Allow { statement }) => {
            assert_eq!(n, *statement, "{context}")
        }
        (Expect::Deny(reason), Decision::Deny(why)) => {
            assert_eq!(reason, why.reason(), "{context}")
        }
        (Expect::Fails(n, operator, claim), Decision::Deny(why)) => {
            assert_eq!(why.reason(), DenyReason::NoAllowMatched, "{context}");
            let first = why.first_failure().unwrap();
            assert_eq!(
                (first.statement, first.operator.as_str(), first.claim.as_str()),
                (n, operator, claim),
                "{context}"
            );
        }
        (expected, _) => panic!("expected {expected:?}; {context}"),
    }
}

const NO_ALLOW: Expect = Expect::Deny(DenyReason::NoAllowMatched);
const ALLOW_1: Expect = Expect::Allow(1);

/// One allow statement with one condition block.
fn allow(condition: &str) -> [(&str, &str); 1] {
    [("allow", condition)]
}

#[test]
fn yaml_scalars_are_canonicalised() {
    let cases = [
        ("{StringEquals: {a: true}}", json!({"a": true}), ALLOW_1),
        ("{StringEquals: {a: True}}", json!({"a": "true"}), ALLOW_1),
        ("{StringEquals: {a: yes}}", json!({"a": true}), NO_ALLOW),
        ("{StringEquals: {a: yes}}", json!({"a": "yes"}), ALLOW_1),
        ("{StringEquals: {a: 1000}}", json!({"a": 1000}), ALLOW_1),
        ("{StringEquals: {a: 1000}}", json!({"a": "1000"}), ALLOW_1),
        ("{StringEquals: {a: 0x10}}", json!({"a": 16}), ALLOW_1),
        ("{StringEquals: {a: -3}}", json!({"a": -3}), ALLOW_1),
        ("{StringEquals: {a: 007}}", json!({"a": "007"}), ALLOW_1),
        ("{StringEquals: {a: 007}}", json!({"a": 7}), NO_ALLOW),
        ("{StringEquals: {a: 1_000}}", json!({"a": "1_000"}), ALLOW_1),
        ("{StringEquals: {a: [1, x, false]}}", json!({"a": false}), ALLOW_1),
        ("{StringLike: {a: '*'}}", json!({"a": "x"}), ALLOW_1),
    ];
    for (condition, claims, expected) in cases {
        check(&allow(condition), claims, expected);
    }
}

#[test]
fn claim_names_may_hold_dots_and_slashes() {
    let circle = allow("{StringEquals: {oidc.circleci.com/project-id: p1}}");
    check(&circle, json!({"oidc.circleci.com/project-id": "p1"}), ALLOW_1);
    check(&circle, json!({"oidc": {"circleci": "p1"}}), NO_ALLOW);
}

#[test]
fn conditions_combine() {
    let keys = allow("{StringEquals: {a: x, b: y}}");
    let operators = allow("{StringEquals: {a: x}, StringLike: {b: 'y*'}}");
    let values = allow("{StringEquals: {a: [x, y]}}");
    let cases = [
        (&keys, json!({"a": "x", "b": "y"}), ALLOW_1),
        (&keys, json!({"a": "x", "b": "z"}), Expect::Fails(1, "StringEquals", "b")),
        (&keys, json!({"a": "x"}), Expect::Fails(1, "StringEquals", "b")),
        (&operators, json!({"a": "x", "b": "yes"}), ALLOW_1),
        (&operators, json!({"a": "x", "b": "no"}), Expect::Fails(1, "StringLike", "b")),
        (&operators, json!({"a": "w", "b": "yes"}), Expect::Fails(1, "StringEquals", "a")),
        (&values, json!({"a": "y"}), ALLOW_1),
        (&values, json!({"a": "z"}), NO_ALLOW),
    ];
    for (statements, claims, expected) in cases {
        check(statements, claims, expected);
    }
    let two = [("allow", "{StringEquals: {a: x}}"), ("allow", "{StringEquals: {b: y}}")];
    check(&two, json!({"b": "y"}), Expect::Allow(2));
    check(&two, json!({"a": "x", "b": "y"}), ALLOW_1);
    check(&two, json!({}), Expect::Fails(1, "StringEquals", "a"));
}

#[test]
fn explicit_deny_beats_allow() {
    let guarded = [("allow", "{StringEquals: {a: x}}"), ("deny", "{StringEquals: {b: evil}}")];
    let denied = Expect::Deny(DenyReason::ExplicitDeny { statement: 2 });
    check(&guarded, json!({"a": "x", "b": "ok"}), ALLOW_1);
    check(&guarded, json!({"a": "x"}), ALLOW_1);
    check(&guarded, json!({"a": "x", "b": "evil"}), denied);
    let denied = Expect::Deny(DenyReason::ExplicitDeny { statement: 2 });
    check(&guarded, json!({"a": "y", "b": "evil"}), denied);
    let negated = [("allow", "{StringEquals: {a: x}}"), ("deny", "{StringNotEquals: {org: acme}}")];
    let denied = Expect::Deny(DenyReason::ExplicitDeny { statement: 2 });
    check(&negated, json!({"a": "x"}), denied);
    check(&negated, json!({"a": "x", "org": "acme"}), ALLOW_1);
    let everything = [("deny", "{}"), ("allow", "{StringEquals: {a: x}}")];
    let denied = Expect::Deny(DenyReason::ExplicitDeny { statement: 1 });
    check(&everything, json!({"a": "x"}), denied);
}

#[test]
fn audience_is_checked_first() {
    let statements = allow("{StringEquals: {a: x}}");
    let refused = || Expect::Deny(DenyReason::Audience);
    check(&statements, json!({"a": "x", "aud": "other"}), refused());
    check(&statements, json!({"a": "y", "aud": "other"}), refused());
    check(&statements, json!({"a": "x", "aud": ["other", "tollgate"]}), ALLOW_1);
    check(&statements, json!({"a": "x", "aud": []}), refused());
    check(&statements, json!({"a": "x", "aud": 5}), refused());
    check(&statements, json!({"a": "x", "aud": null}), refused());
    check(&statements, json!({"a": "x", "aud": "Tollgate"}), refused());
}

#[test]
fn explanations_read_well() {
    let guarded = policy(&[
        ("allow", "{StringEquals: {a: x}}"),
        ("allow", "{StringLike: {sub: 'repo:*'}}"),
        ("deny", "{StringEquals: {b: evil}}"),
    ]);
    let explain = |claims: Value| match guarded.evaluate(claims.as_object().unwrap()) {
        Decision::Deny(why) => why.to_string(),
        allowed => panic!("{allowed:?}"),
    };
    assert_eq!(
        explain(json!({"aud": "tollgate"})),
        "no statement allows: statement 1: condition StringEquals on \"a\" did not match; \
         statement 2: condition StringLike on \"sub\" did not match"
    );
    assert_eq!(explain(json!({"aud": "tollgate", "a": "x", "b": "evil"})), "statement 3 (deny) matched");
    assert_eq!(explain(json!({"aud": "x"})), "audience \"x\" is not accepted by role r");
    assert_eq!(explain(json!({})), "the token has no audience, and role r needs one");
    assert_eq!(
        explain(json!({"aud": ["a", "b", "c", "d", "e", "f", "g"]})),
        "audiences \"a\", \"b\", \"c\", \"d\", \"e\", … are not accepted by role r"
    );
}

#[test]
fn operator_families_combine_like_string_operators() {
    let typed = allow("{NumericLessThan: {n: 10}, Bool: {b: true}, DateGreaterThan: {t: '2024-01-01T00:00:00Z'}}");
    let ok = || json!({"n": "9", "b": "true", "t": 1_800_000_000});
    check(&typed, ok(), ALLOW_1);
    let mut high = ok();
    high["n"] = json!(10);
    check(&typed, high, Expect::Fails(1, "NumericLessThan", "n"));
    let mut early = ok();
    early["t"] = json!("2023-12-31T23:59:59Z");
    check(&typed, early, Expect::Fails(1, "DateGreaterThan", "t"));
    let mut missing = ok();
    missing.as_object_mut().unwrap().remove("b");
    check(&typed, missing, Expect::Fails(1, "Bool", "b"));

    let guarded = [
        ("allow", "{ForAllValues:StringEquals: {groups: [dev, ops]}, Null: {groups: 'false'}}"),
        ("deny", "{Null: {actor: 'true'}}"),
        ("deny", "{StringNotEqualsIfExists: {runner_environment: github-hosted}}"),
    ];
    let base = || json!({"groups": ["dev"], "actor": "octocat", "runner_environment": "github-hosted"});
    check(&guarded, base(), ALLOW_1);
    let mut mixed = base();
    mixed["groups"] = json!(["dev", "sales"]);
    check(&guarded, mixed, Expect::Fails(1, "ForAllValues:StringEquals", "groups"));
    let mut empty = base();
    empty["groups"] = json!([]);
    check(&guarded, empty, Expect::Fails(1, "Null", "groups"));
    let mut anonymous = base();
    anonymous.as_object_mut().unwrap().remove("actor");
    check(&guarded, anonymous, Expect::Deny(DenyReason::ExplicitDeny { statement: 2 }));
    let mut self_hosted = base();
    self_hosted["runner_environment"] = json!("self-hosted");
    check(&guarded, self_hosted, Expect::Deny(DenyReason::ExplicitDeny { statement: 3 }));
    // IfExists: a missing claim satisfies the negated condition, so this deny also fires without the claim.
    let mut unknown_runner = base();
    unknown_runner.as_object_mut().unwrap().remove("runner_environment");
    check(&guarded, unknown_runner, Expect::Deny(DenyReason::ExplicitDeny { statement: 3 }));
}

#[test]
fn negated_values_nor_and_keys_and() {
    let negated = allow("{StringNotEquals: {a: [x, y], b: z}, StringEquals: {c: ok}}");
    check(&negated, json!({"a": "w", "b": "v", "c": "ok"}), ALLOW_1);
    check(&negated, json!({"a": "x", "b": "v", "c": "ok"}), Expect::Fails(1, "StringNotEquals", "a"));
    check(&negated, json!({"a": "y", "b": "v", "c": "ok"}), Expect::Fails(1, "StringNotEquals", "a"));
    check(&negated, json!({"a": "w", "b": "z", "c": "ok"}), Expect::Fails(1, "StringNotEquals", "b"));
    check(&negated, json!({"c": "ok"}), ALLOW_1);
}

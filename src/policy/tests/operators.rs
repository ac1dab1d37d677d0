//! Table tests for the string and regex condition operators on one claim `a`, plain operators on arrays, policy
//! variables, and values refused at load. `operators_typed` covers the other families and the qualifiers.

use serde_json::{Value, json};

use super::object;
use crate::policy::condition::Condition;
use crate::policy::condition::operator::Operator;
use crate::policy::issuer::KeyResolver;

/// Compiles `operator` over claim `a` with `values`.
pub(super) fn condition(operator: &str, values: &[&str]) -> Condition {
    let resolver = KeyResolver { known: &[], trusted: &[], ignore_key_case: false };
    let values = values.iter().map(|value| (*value).to_owned()).collect();
    Condition::compile(Operator::parse(operator).unwrap(), "a", values, resolver, None)
        .unwrap_or_else(|message| panic!("{operator}: {message}"))
}

/// Checks every `(values, claims, expected)` row of `operator`; reports all mismatches at once.
pub(super) fn table(operator: &str, cases: &[(&[&str], Value, bool)]) {
    let mismatches: Vec<String> = cases
        .iter()
        .filter(|(values, claims, expected)| condition(operator, values).holds(&object(claims.clone())) != *expected)
        .map(|(values, claims, expected)| format!("{operator} {values:?} on {claims}: expected {expected}"))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn string_equals() {
    table(
        "StringEquals",
        &[
            (&["x"], json!({"a": "x"}), true),
            (&["x"], json!({"a": "X"}), false),
            (&["x"], json!({"a": " x"}), false),
            (&["x"], json!({}), false),
            (&["x"], json!({"a": null}), false),
            (&["x", "y"], json!({"a": "y"}), true),
            (&["x"], json!({"a": ["y", "x"]}), true),
            (&["x"], json!({"a": ["y", "z"]}), false),
            (&["x"], json!({"a": []}), false),
            (&["x"], json!({"a": [["x"]]}), false),
            (&["x"], json!({"a": {"x": 1}}), false),
            (&["true"], json!({"a": true}), true),
            (&["true"], json!({"a": "true"}), true),
            (&["1000"], json!({"a": 1000}), true),
            (&["1000"], json!({"a": 1000.0}), false),
            (&["007"], json!({"a": 7}), false),
            (&["repo:*"], json!({"a": "repo:x"}), false),
            (&["repo:*"], json!({"a": "repo:*"}), true),
            (&[""], json!({"a": ""}), true),
        ],
    );
}

#[test]
fn string_not_equals() {
    table(
        "StringNotEquals",
        &[
            (&["x", "y"], json!({"a": "z"}), true),
            (&["x", "y"], json!({"a": "x"}), false),
            (&["x", "y"], json!({"a": "y"}), false),
            (&["x", "y"], json!({}), true),
            (&["x", "y"], json!({"a": null}), true),
            (&["x", "y"], json!({"a": ["z", "x"]}), false),
            (&["x", "y"], json!({"a": ["z", "w"]}), true),
            (&["x", "y"], json!({"a": []}), true),
            (&["x"], json!({"a": "X"}), true),
            (&["1.5"], json!({"a": 1.5}), true),
            (&["42"], json!({"a": 42}), false),
        ],
    );
}

#[test]
fn string_equals_ignore_case() {
    table(
        "StringEqualsIgnoreCase",
        &[
            (&["Acme"], json!({"a": "acme"}), true),
            (&["acme"], json!({"a": "ACME"}), true),
            (&["acme"], json!({"a": "acme-evil"}), false),
            (&["ÉCOLE"], json!({"a": "école"}), true),
            (&["true"], json!({"a": true}), true),
            (&["x"], json!({}), false),
            (&["x"], json!({"a": ["Y", "X"]}), true),
        ],
    );
    table(
        "StringNotEqualsIgnoreCase",
        &[
            (&["acme"], json!({"a": "ACME"}), false),
            (&["acme"], json!({"a": "other"}), true),
            (&["acme"], json!({}), true),
        ],
    );
}

#[test]
fn string_like() {
    let acme: &[&str] = &["repo:acme/*"];
    table(
        "StringLike",
        &[
            (acme, json!({"a": "repo:acme/web:ref:refs/heads/main"}), true),
            (acme, json!({"a": "repo:acme"}), false),
            (acme, json!({"a": "repo:Acme/web"}), false),
            (acme, json!({"a": "xrepo:acme/web"}), false),
            (acme, json!({}), false),
            (&["a?c"], json!({"a": "aéc"}), true),
            (&["a?c"], json!({"a": "ac"}), false),
            (&["nope", "a?c"], json!({"a": "abc"}), true),
            (&["a?c"], json!({"a": ["nope", "abc"]}), true),
            (&["t*"], json!({"a": true}), true),
            (&["1?"], json!({"a": 12}), true),
            (&["*"], json!({"a": ""}), true),
            (&["*"], json!({"a": null}), false),
            (&["*"], json!({"a": 1.5}), false),
        ],
    );
    let evil: &[&str] = &["repo:evil/*", "*:pull_request"];
    table(
        "StringNotLike",
        &[
            (evil, json!({"a": "repo:acme/web"}), true),
            (evil, json!({"a": "repo:evil/web"}), false),
            (evil, json!({"a": "repo:acme/web:pull_request"}), false),
            (evil, json!({}), true),
            (evil, json!({"a": ["repo:acme/a", "repo:evil/b"]}), false),
        ],
    );
}

#[test]
fn string_matches_is_fully_anchored() {
    table(
        "StringMatches",
        &[
            (&["acme"], json!({"a": "acme"}), true),
            (&["acme"], json!({"a": "acme-evil"}), false),
            (&["acme"], json!({"a": "evil-acme"}), false),
            (&["a|b"], json!({"a": "ab"}), false),
            (&["a|b"], json!({"a": "b"}), true),
            (&["repo:acme/(web|api):ref:refs/heads/main"], json!({"a": "repo:acme/api:ref:refs/heads/main"}), true),
            (&["repo:acme/(web|api):ref:refs/heads/main"], json!({"a": "repo:acme/apix:ref:refs/heads/main"}), false),
            (&["[0-9]+"], json!({"a": "12a"}), false),
            (&["1[0-9]{3}"], json!({"a": 1000}), true),
            (&["(?m)a$"], json!({"a": "a\nb"}), false),
            (&["x"], json!({}), false),
        ],
    );
    table(
        "StringNotMatches",
        &[
            (&["evil.*"], json!({"a": "evil-x"}), false),
            (&["evil.*"], json!({"a": "good"}), true),
            (&["evil.*"], json!({}), true),
        ],
    );
}

#[test]
fn plain_operators_on_arrays() {
    table("StringEquals", &[(&["x"], json!({"a": ["y", "x"]}), true)]);
    table("StringNotEquals", &[(&["x"], json!({"a": ["y", "x"]}), false), (&["x"], json!({"a": ["y", "z"]}), true)]);
}

#[test]
fn policy_variables() {
    let variables = |operator: &str, values: &[&str], claims: Value| condition(operator, values).holds(&object(claims));
    let branch = ["repo:${repository}:ref:refs/heads/main"];
    let claims = json!({"a": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"});
    assert!(variables("StringEquals", &branch, claims.clone()));
    assert!(!variables("StringEquals", &branch, json!({"a": "repo:acme/web:ref:refs/heads/main"})));
    assert!(variables("StringLike", &["repo:${repository}:*"], claims.clone()));
    assert!(!variables("StringLike", &["repo:${repository}:*"], json!({"a": "repo:x:y", "repository": "*"})));
    assert!(variables("StringEqualsIgnoreCase", &["${owner}"], json!({"a": "ACME", "owner": "acme"})));
    assert!(variables("StringEquals", &["${id}"], json!({"a": "42", "id": 42})));
    assert!(!variables("StringEquals", &["${id}"], json!({"a": "x", "id": ["x"]})));
    // A value naming a missing claim matches nothing: a negated operator then holds.
    assert!(variables("StringNotEquals", &["${missing}"], json!({"a": "x"})));
    assert!(variables("StringEquals", &["${missing}", "x"], json!({"a": "x"})));
    assert!(variables("StringEquals", &["a${*}"], json!({"a": "a*"})));
}

#[test]
fn bad_values_are_refused_at_load() {
    let resolver = KeyResolver { known: &[], trusted: &[], ignore_key_case: false };
    let cases: &[(&str, &str, &str)] = &[
        ("StringMatches", "a)|(b", "is invalid"),
        ("StringMatches", "(", "is invalid"),
        ("StringMatches", "a{1000}{1000}", "is invalid"),
        ("StringMatches", "${a}", "policy variables work only"),
        ("NumericEquals", "ten", "is not a number"),
        ("NumericEquals", "${a}", "policy variables work only"),
        ("DateEquals", "2024-01-01", "RFC 3339"),
        ("Bool", "yes", "true or false"),
        ("Null", "maybe", "true or false"),
        ("StringEquals", "${", "unclosed"),
    ];
    for (operator, value, fragment) in cases {
        let message =
            Condition::compile(Operator::parse(operator).unwrap(), "a", vec![(*value).to_owned()], resolver, None)
                .unwrap_err();
        assert!(message.contains(fragment), "{operator} {value}: {message}");
    }
    let message =
        Condition::compile(Operator::parse("StringEquals").unwrap(), "a", vec![], resolver, None).unwrap_err();
    assert_eq!(message, "condition StringEquals on \"a\" needs at least one value");
}

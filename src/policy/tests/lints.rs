//! One table test per lint: the policies that trigger it and the near misses that must not, plus the
//! `path:line: warning[code]: message` display. (`unpinned-tenant` is tested with tenant pinning, `any-audience`
//! also with the AWS form.)

use super::load;

/// The lint codes of a `ci`-issuer policy with these `(effect, condition block)` statements.
fn codes(statements: &[(&str, &str)]) -> Vec<&'static str> {
    let mut text = String::from(
        "role: r\nissuer: ci\naudience: tollgate\ngrant: {type: token, audience: x, ttl: 60}\nstatements:\n",
    );
    for (effect, condition) in statements {
        text.push_str(&format!("  - effect: {effect}\n    condition: {condition}\n"));
    }
    let set = load(&text).unwrap_or_else(|error| panic!("{error}"));
    set.lints().iter().map(|lint| lint.code).collect()
}

/// One row: the `(effect, condition block)` statements and the lint codes they must produce.
type Row<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// Checks every row.
fn table(rows: &[Row<'_>]) {
    let mismatches: Vec<String> = rows
        .iter()
        .filter_map(|(statements, expected)| {
            let found = codes(statements);
            (found != *expected).then(|| format!("{statements:?}: got {found:?}, expected {expected:?}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

const NONE: &[&str] = &[];

#[test]
fn for_all_values_without_null_guard() {
    const CODE: &[&str] = &["for-all-values-without-null-guard"];
    table(&[
        (&[("allow", "{ForAllValues:StringEquals: {groups: [a, b]}}")], CODE),
        (
            &[("allow", "{ForAllValues:StringNotLike: {team: 'x*'}}")],
            &["negated-only", "for-all-values-without-null-guard"],
        ),
        (&[("allow", "{ForAllValues:StringEquals: {team: a}, Null: {team: 'false'}}")], NONE),
        (&[("allow", "{ForAllValues:StringEquals: {team: a}, Null: {other: 'false'}}")], CODE),
        (&[("allow", "{ForAllValues:StringEquals: {team: a}, Null: {team: 'true'}}")], CODE),
        (&[("allow", "{ForAnyValue:StringEquals: {team: a}}")], NONE),
        (&[("allow", "{StringEquals: {a: x}}"), ("deny", "{ForAllValues:StringEquals: {team: a}}")], NONE),
    ]);
}

#[test]
fn negated_only() {
    const CODE: &[&str] = &["negated-only"];
    table(&[
        (&[("allow", "{StringNotEquals: {org: evil}}")], CODE),
        (&[("allow", "{StringNotLike: {sub: 'x*'}, NumericNotEquals: {n: 1}}")], CODE),
        (&[("allow", "{StringNotEquals: {org: evil}, StringEquals: {a: x}}")], NONE),
        (&[("allow", "{StringEquals: {a: x}}"), ("deny", "{StringNotEquals: {org: acme}}")], NONE),
    ]);
}

#[test]
fn wildcard_in_string_equals() {
    const CODE: &[&str] = &["wildcard-in-string-equals"];
    table(&[
        (&[("allow", "{StringEquals: {sub: 'repo:acme/*'}}")], CODE),
        (&[("allow", "{StringEquals: {a: 'a?c'}}")], CODE),
        (&[("allow", "{StringEqualsIgnoreCase: {a: 'x*'}}")], CODE),
        (&[("allow", "{StringEquals: {a: x}}"), ("deny", "{StringNotEquals: {b: '*'}}")], CODE),
        (&[("allow", "{StringEquals: {a: 'literal${*}'}}")], NONE),
        (&[("allow", "{StringLike: {a: 'x*'}}")], NONE),
    ]);
}

#[test]
fn sub_leading_wildcard() {
    const CODE: &[&str] = &["sub-leading-wildcard"];
    table(&[
        (&[("allow", "{StringLike: {sub: '*:ref:refs/heads/main'}}")], CODE),
        (&[("allow", "{StringMatches: {sub: '.*:environment:prod'}}")], CODE),
        (&[("allow", "{StringLike: {sub: 'org:acme:*'}}")], NONE),
        (&[("allow", "{StringLike: {other: '*x'}}")], NONE),
        (&[("allow", "{StringEquals: {a: x}}"), ("deny", "{StringLike: {sub: '*:pull_request'}}")], NONE),
        (&[("allow", "{StringEquals: {a: x}, StringNotLike: {sub: '*:pull_request'}}")], NONE),
    ]);
}

#[test]
fn sub_spans_repositories() {
    const CODE: &[&str] = &["sub-spans-repositories"];
    table(&[
        (&[("allow", "{StringLike: {sub: 'repo:acme/*'}}")], CODE),
        (&[("allow", "{StringLike: {sub: 'repo:acme*'}}")], CODE),
        (&[("allow", "{StringLike: {sub: 'repo:acme/web?:ref:refs/heads/main'}}")], CODE),
        (&[("allow", "{StringLike: {sub: 'repo:acme/*:ref:refs/heads/main'}}")], CODE),
        (&[("allow", "{StringLike: {sub: 'repo:acme/web:*'}}")], NONE),
        (&[("allow", "{StringLike: {sub: 'repo:acme/web:environment:prod*'}}")], NONE),
        (&[("allow", "{StringEquals: {sub: 'repo:acme/web:ref:refs/heads/main'}}")], NONE),
    ]);
}

#[test]
fn plain_operator_on_array_claim() {
    const CODE: &[&str] = &["plain-operator-on-array-claim"];
    table(&[
        (&[("allow", "{StringEquals: {aud: tollgate}}")], CODE),
        (&[("allow", "{StringLike: {oidc.circleci.com/context-ids: 'ctx-*'}}")], CODE),
        (&[("allow", "{StringEquals: {amr: mfa}}")], CODE),
        (&[("allow", "{StringEquals: {a: x}}"), ("deny", "{StringNotEquals: {groups: admins}}")], CODE),
        (&[("allow", "{ForAnyValue:StringEquals: {groups: admins}}")], NONE),
        (&[("allow", "{StringEquals: {a: x}, Null: {groups: 'false'}}")], NONE),
        (&[("allow", "{StringEquals: {group: admins}}")], NONE),
    ]);
}

#[test]
fn several_lints_and_their_display() {
    let text = "role: r\nissuer: ci\naudience: tollgate\ngrant: {type: token, audience: x, ttl: 60}\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        sub: 'repo:acme/*'\n      StringNotEquals:\n        groups: x\n";
    let set = load(text).unwrap();
    let shown: Vec<String> = set.lints().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "p.yaml:9: warning[wildcard-in-string-equals]: statement 1: StringEquals on \"sub\" compares * and ? \
             literally; use StringLike for a pattern (or ${*} to say a literal * on purpose)",
            "p.yaml:11: warning[plain-operator-on-array-claim]: statement 1: StringNotEquals on \"groups\", which may \
             be an array: a plain operator holds when any element matches (a negated one when none does); write \
             ForAnyValue: or ForAllValues: to say which",
        ]
    );
    assert_eq!(set.lints()[0].role, "r");
    assert_eq!(set.lints()[0].line, Some(9));
}

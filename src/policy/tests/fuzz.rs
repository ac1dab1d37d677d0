//! Property and fuzz-style tests: `from_sources` never panics on arbitrary text or YAML-ish documents (and a
//! valid policy round-trips its role); a policy whose statements match nothing never allows random claims.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{known, object, policy};
use crate::policy::{Decision, PolicySet};

/// Fragments a policy file is made of, for building YAML-ish documents.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("role: r\n".to_owned()),
        Just("issuer: ci\n".to_owned()),
        Just("issuer: github\n".to_owned()),
        Just("audience: tollgate\n".to_owned()),
        Just("grant: {type: token, audience: x, ttl: 60}\n".to_owned()),
        Just("grant: {type: aws, role_arn: 'arn:aws:iam::123456789012:role/x', session_tags: {a: '${b}'}}\n".to_owned()),
        Just("grant: {type: aws, mode: passthrough, duration: 15m, transitive_tag_keys: [a]}\n".to_owned()),
        Just("statements:\n  - effect: allow\n    condition: {StringEquals: {a: x}}\n".to_owned()),
        Just("Version: \"2012-10-17\"\n".to_owned()),
        Just("Statement: {Effect: Allow, Principal: {Federated: ci.example.com}, Action: sts:AssumeRoleWithWebIdentity, Condition: {StringMatches: {a: '(x'}}}\n".to_owned()),
        Just("  - effect: deny\n".to_owned()),
        Just("allow_unpinned_tenant: true\n".to_owned()),
        Just("&a [*a]\n".to_owned()),
        Just("{\"role\": [\n".to_owned()),
        "[ -~]{0,30}\n",
        "[a-zA-Z_:${}*?\\[\\]\"' -]{0,20}: [a-zA-Z0-9${}*?:/ -]{0,20}\n",
    ]
}

/// A random JSON scalar or small array, as claims carry.
fn claim_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<String>().prop_map(Value::from),
        "[a-z:/*?]{0,12}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(|float| serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)),
        Just(Value::Null),
    ];
    prop_oneof![scalar.clone(), proptest::collection::vec(scalar, 0..4).prop_map(Value::from)]
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(
        prop_oneof![Just("a".to_owned()), Just("aud".to_owned()), Just("sub".to_owned()), "[a-z]{1,3}"],
        claim_value(),
        0..6,
    )
    .prop_map(|map| map.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = PolicySet::from_sources(&[("p.yaml".into(), text)], &known());
    }

    #[test]
    fn yaml_ish_documents_never_panic(parts in proptest::collection::vec(fragment(), 0..10)) {
        let text: String = parts.concat();
        if let Ok(set) = PolicySet::from_sources(&[("p.yaml".into(), text.clone())], &known()) {
            prop_assert!(set.roles().all(|role| text.contains(role)));
        }
    }

    #[test]
    fn valid_policies_round_trip_their_role(role in "[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}", value in "[a-z0-9]{1,10}") {
        let text = format!(
            "role: '{role}'\nissuer: ci\naudience: tollgate\ngrant: {{type: token, audience: x, ttl: 60}}\n\
             statements:\n  - effect: allow\n    condition: {{StringEquals: {{a: '{value}'}}}}\n"
        );
        let set = PolicySet::from_sources(&[("p.yaml".into(), text)], &known()).unwrap();
        prop_assert_eq!(set.roles().collect::<Vec<_>>(), vec![role.as_str()]);
        let claims = object(serde_json::json!({"aud": "tollgate", "a": value}));
        prop_assert_eq!(set.get(&role).unwrap().evaluate(&claims), Decision::Allow { statement: 1 });
    }

    /// Statements that need claims random tokens never have (a nonce value, a 129-character string, a claim
    /// absent from the generator) never allow, whatever the claims, operators and qualifiers.
    #[test]
    fn deny_by_default(claims in claims()) {
        let policy = policy(&[
            ("allow", "{StringEquals: {a: 'nonce-7f3a9c'}}"),
            ("allow", "{StringLike: {sub: 'nonce-*-7f3a9c'}}"),
            ("allow", "{ForAnyValue:StringMatches: {a: 'nonce-[0-9]{40}'}}"),
            ("allow", "{Null: {never_generated_claim: 'false'}}"),
            ("allow", "{NumericEquals: {never_generated_claim: 1}}"),
            ("allow", "{ForAllValues:StringEquals: {a: x}, Null: {a: 'false'}, StringEquals: {never_generated_claim: x}}"),
        ]);
        let mut claims = claims;
        claims.insert("aud".into(), Value::from("tollgate"));
        prop_assert!(matches!(policy.evaluate(&claims), Decision::Deny(_)));
    }

    /// Random claims evaluate without panicking against a policy that uses every operator family.
    #[test]
    fn every_operator_evaluates_random_claims(claims in claims()) {
        let policy = policy(&[
            ("deny", "{NumericLessThan: {a: '1.5'}, DateGreaterThan: {sub: 0}, Bool: {aud: true}}"),
            ("allow", "{StringEqualsIgnoreCase: {a: 'x${sub}'}, StringLike: {sub: '${a}*'}}"),
            ("allow", "{ForAllValues:StringNotMatches: {a: 'x+'}, Null: {a: 'false'}}"),
            ("allow", "{ForAnyValue:DateLessThanEquals: {a: '2024-01-01T00:00:00Z'}}"),
        ]);
        let _ = policy.evaluate(&claims);
        let _ = policy.explain(&claims, crate::policy::ClaimDisplay::Hashed);
    }
}

//! The explain trace: per statement (number, effect, sid, matched) and per condition (operator, claim, expected,
//! actual shown/hashed/hidden or missing, result), the audience check, and a decision equal to `evaluate`'s.

use proptest::prelude::*;
use serde_json::json;

use super::{load, object};
use crate::policy::trace::hashed;
use crate::policy::{AudienceRule, ClaimDisplay, ConditionTrace, Decision, Effect, HIDDEN, Policy, TracedValue};

fn traced_policy() -> std::sync::Arc<Policy> {
    let text = "\
role: r
issuer: ci
audience: tollgate
grant: {type: token, audience: x, ttl: 60}
statements:
  - effect: allow
    sid: MainBranch
    condition:
      StringEquals: {project: web}
      StringLike: {sub: ['repo:acme/web:*', 'x']}
  - effect: deny
    condition:
      ForAnyValue:StringEquals: {groups: banned}
";
    std::sync::Arc::clone(load(text).unwrap().get("r").unwrap())
}

#[test]
fn shown_trace_records_every_step() {
    let policy = traced_policy();
    let claims = object(json!({"aud": "tollgate", "project": "web", "sub": "repo:acme/api:ref", "groups": ["a", "b"]}));
    let trace = policy.explain(&claims, ClaimDisplay::Shown);
    assert_eq!(trace.role, "r");
    assert_eq!(trace.audience.rule, AudienceRule::OneOf(vec!["tollgate".into()]));
    assert_eq!(trace.audience.presented, Some(TracedValue::One("tollgate".into())));
    assert!(trace.audience.passed);
    let [allow, deny] = trace.statements.as_slice() else { panic!("{trace:?}") };
    assert_eq!(
        (allow.number, allow.effect, allow.sid.as_deref(), allow.matched),
        (1, Effect::Allow, Some("MainBranch"), false)
    );
    assert_eq!(
        allow.conditions,
        [
            ConditionTrace {
                operator: "StringEquals".into(),
                claim: "project".into(),
                expected: vec!["web".into()],
                actual: Some(TracedValue::One("web".into())),
                result: true,
            },
            ConditionTrace {
                operator: "StringLike".into(),
                claim: "sub".into(),
                expected: vec!["repo:acme/web:*".into(), "x".into()],
                actual: Some(TracedValue::One("repo:acme/api:ref".into())),
                result: false,
            },
        ]
    );
    assert_eq!((deny.number, deny.effect, deny.sid.as_deref(), deny.matched), (2, Effect::Deny, None, false));
    let groups = deny.conditions.first().unwrap();
    assert_eq!(groups.actual, Some(TracedValue::Many(vec!["a".into(), "b".into()])));
    assert_eq!(trace.decision, policy.evaluate(&claims));
    let Decision::Deny(why) = &trace.decision else { panic!() };
    assert_eq!(why.to_string(), "no statement allows: statement 1: condition StringLike on \"sub\" did not match");
}

#[test]
fn hashed_and_hidden_values_and_missing_claims() {
    let policy = traced_policy();
    let claims =
        object(json!({"aud": ["tollgate", "other"], "project": "web", "sub": "repo:acme/web:x", "groups": null}));
    let hashed_trace = policy.explain(&claims, ClaimDisplay::Hashed);
    let allow = hashed_trace.statements.first().unwrap();
    assert_eq!(allow.conditions[0].actual, Some(TracedValue::One(hashed("web"))));
    assert_eq!(allow.conditions[1].actual, Some(TracedValue::One(hashed("repo:acme/web:x"))));
    assert_eq!(hashed_trace.audience.presented, Some(TracedValue::Many(vec![hashed("tollgate"), hashed("other")])));
    assert_eq!(hashed_trace.statements[1].conditions[0].actual, None, "JSON null is missing");
    assert_eq!(hashed("x"), "sha256:2d711642b726b044");
    assert_eq!(hashed_trace.decision, Decision::Allow { statement: 1 });

    let hidden = policy.explain(&claims, ClaimDisplay::Hidden);
    let allow = hidden.statements.first().unwrap();
    assert!(allow.matched);
    assert_eq!(allow.conditions[1].actual, Some(TracedValue::One(HIDDEN.into())));
    assert_eq!(hidden.audience.presented, Some(TracedValue::One(HIDDEN.into())));
    assert_eq!(hidden.statements[1].conditions[0].actual, None);
    assert_eq!(allow.conditions[1].expected, ["repo:acme/web:*", "x"], "policy values are never hidden");
}

#[test]
fn audience_failure_is_traced_and_statements_still_shown() {
    let policy = traced_policy();
    let claims = object(json!({"project": "web", "sub": "repo:acme/web:x", "n": 1.5}));
    let trace = policy.explain(&claims, ClaimDisplay::Shown);
    assert_eq!(trace.audience.presented, None);
    assert!(!trace.audience.passed);
    assert!(trace.statements[0].matched);
    let Decision::Deny(why) = &trace.decision else { panic!() };
    assert_eq!(why.to_string(), "the token has no audience, and role r needs one");
}

proptest! {
    /// Whatever the claims, the trace's decision is `evaluate`'s and each statement's `matched` is the AND of
    /// its condition results.
    #[test]
    fn trace_agrees_with_evaluate(
        project in prop_oneof![Just(json!("web")), Just(json!("api")), Just(json!(null)), Just(json!(7))],
        sub in prop_oneof![Just(json!("repo:acme/web:x")), Just(json!("x")), Just(json!(["x"]))],
        groups in prop_oneof![Just(json!(["banned"])), Just(json!([])), Just(json!("banned")), Just(json!("ok"))],
        aud in prop_oneof![Just(json!("tollgate")), Just(json!(["x", "tollgate"])), Just(json!("x"))],
    ) {
        let policy = traced_policy();
        let claims = object(json!({"aud": aud, "project": project, "sub": sub, "groups": groups}));
        let trace = policy.explain(&claims, ClaimDisplay::Hashed);
        prop_assert_eq!(&trace.decision, &policy.evaluate(&claims));
        for statement in &trace.statements {
            prop_assert_eq!(statement.matched, statement.conditions.iter().all(|condition| condition.result));
        }
    }
}

//! The compiled [`Policy`] and its pure evaluation against a verified claim set: the audience check, then the
//! statements — explicit deny beats allow, and without a matching allow statement the answer is deny. Nothing
//! here reads files, clocks or the network, and nothing here can fail: every input gets a [`Decision`].

use serde_json::{Map, Value};

use crate::policy::condition::Condition;
use crate::policy::explain::{ConditionFailure, Decision, Explanation};
use crate::policy::grant::Grant;

/// One role's trust policy, compiled. Built only by `compile` from a policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(super) role: String,
    pub(super) description: Option<String>,
    pub(super) issuers: Vec<String>,
    pub(super) audiences: Vec<String>,
    pub(super) statements: Vec<Statement>,
    pub(super) grant: Grant,
}

/// One statement: all its conditions must hold for it to match. No conditions: it matches everything
/// (only deny statements may be written so).
#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub(super) effect: Effect,
    pub(super) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

impl Policy {
    /// The role name, unique in a policy set.
    pub fn role(&self) -> &str {
        &self.role
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Names of the trusted issuers whose tokens may use this role; never empty.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    pub fn accepts_issuer(&self, issuer_name: &str) -> bool {
        self.issuers.iter().any(|issuer| issuer == issuer_name)
    }

    /// Accepted inbound `aud` values; never empty.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Pure; `claims` is the verified token's full claim set (JSON object).
    pub fn evaluate(&self, claims: &Map<String, Value>) -> Decision {
        if let Err(presented) = self.check_audience(claims) {
            return Decision::Deny(Explanation::audience(&self.role, presented));
        }
        let numbered = || (1..).zip(&self.statements);
        for (number, statement) in numbered() {
            if statement.effect == Effect::Deny && statement.first_failure(claims).is_none() {
                return Decision::Deny(Explanation::explicit_deny(&self.role, number));
            }
        }
        let mut failures = Vec::new();
        for (number, statement) in numbered() {
            if statement.effect != Effect::Allow {
                continue;
            }
            match statement.first_failure(claims) {
                None => return Decision::Allow { statement: number },
                Some(failed) => failures.push(ConditionFailure {
                    statement: number,
                    operator: failed.operator.written.clone(),
                    claim: failed.claim.clone(),
                }),
            }
        }
        Decision::Deny(Explanation::no_allow_matched(&self.role, failures))
    }

    /// Ok when some inbound `aud` value (string or array of strings) is accepted; else the values presented.
    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), Vec<String>> {
        let values: &[Value] = match claims.get("aud") {
            Some(single @ Value::String(_)) => std::slice::from_ref(single),
            Some(Value::Array(items)) => items,
            _ => &[],
        };
        let presented = values.iter().filter_map(Value::as_str);
        if presented
            .clone()
            .any(|audience| self.audiences.iter().any(|accepted| accepted == audience))
        {
            Ok(())
        } else {
            Err(presented.map(str::to_owned).collect())
        }
    }
}

impl Statement {
    /// The first condition that does not hold, or `None` when the statement matches.
    fn first_failure(&self, claims: &Map<String, Value>) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|condition| !condition.holds(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{DenyReason, PolicySet};
    use serde_json::json;

    /// Builds a policy from `(effect, condition block in YAML flow style)` pairs; audience `tollgate`.
    fn policy(statements: &[(&str, &str)]) -> Policy {
        let mut text = String::from(
            "role: r\nissuer: github\naudience: tollgate\ngrant: {type: token, audience: x, ttl: 60}\nstatements:\n",
        );
        for (effect, condition) in statements {
            text.push_str(&format!(
                "  - effect: {effect}\n    condition: {condition}\n"
            ));
        }
        let set = PolicySet::from_sources(&[("r.yaml".into(), text)], &["github"])
            .unwrap_or_else(|error| panic!("{error}"));
        Policy::clone(set.get("r").unwrap())
    }

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
                    (
                        first.statement,
                        first.operator.as_str(),
                        first.claim.as_str()
                    ),
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
            (
                "{StringEquals: {a: [1, x, false]}}",
                json!({"a": false}),
                ALLOW_1,
            ),
            ("{StringLike: {a: '*'}}", json!({"a": "x"}), ALLOW_1),
        ];
        for (condition, claims, expected) in cases {
            check(&allow(condition), claims, expected);
        }
    }

    #[test]
    fn claim_names_may_hold_dots_and_slashes() {
        let circle = allow("{StringEquals: {oidc.circleci.com/project-id: p1}}");
        check(
            &circle,
            json!({"oidc.circleci.com/project-id": "p1"}),
            ALLOW_1,
        );
        check(&circle, json!({"oidc": {"circleci": "p1"}}), NO_ALLOW);
    }

    #[test]
    fn conditions_combine() {
        let keys = allow("{StringEquals: {a: x, b: y}}");
        let operators = allow("{StringEquals: {a: x}, StringLike: {b: 'y*'}}");
        let values = allow("{StringEquals: {a: [x, y]}}");
        let cases = [
            (&keys, json!({"a": "x", "b": "y"}), ALLOW_1),
            (
                &keys,
                json!({"a": "x", "b": "z"}),
                Expect::Fails(1, "StringEquals", "b"),
            ),
            (
                &keys,
                json!({"a": "x"}),
                Expect::Fails(1, "StringEquals", "b"),
            ),
            (&operators, json!({"a": "x", "b": "yes"}), ALLOW_1),
            (
                &operators,
                json!({"a": "x", "b": "no"}),
                Expect::Fails(1, "StringLike", "b"),
            ),
            (
                &operators,
                json!({"a": "w", "b": "yes"}),
                Expect::Fails(1, "StringEquals", "a"),
            ),
            (&values, json!({"a": "y"}), ALLOW_1),
            (&values, json!({"a": "z"}), NO_ALLOW),
        ];
        for (statements, claims, expected) in cases {
            check(statements, claims, expected);
        }
        let two = [
            ("allow", "{StringEquals: {a: x}}"),
            ("allow", "{StringEquals: {b: y}}"),
        ];
        check(&two, json!({"b": "y"}), Expect::Allow(2));
        check(&two, json!({"a": "x", "b": "y"}), ALLOW_1);
        check(&two, json!({}), Expect::Fails(1, "StringEquals", "a"));
    }

    #[test]
    fn explicit_deny_beats_allow() {
        let guarded = [
            ("allow", "{StringEquals: {a: x}}"),
            ("deny", "{StringEquals: {b: evil}}"),
        ];
        let denied = Expect::Deny(DenyReason::ExplicitDeny { statement: 2 });
        check(&guarded, json!({"a": "x", "b": "ok"}), ALLOW_1);
        check(&guarded, json!({"a": "x"}), ALLOW_1);
        check(&guarded, json!({"a": "x", "b": "evil"}), denied);
        let denied = Expect::Deny(DenyReason::ExplicitDeny { statement: 2 });
        check(&guarded, json!({"a": "y", "b": "evil"}), denied);
        let negated = [
            ("allow", "{StringEquals: {a: x}}"),
            ("deny", "{StringNotEquals: {org: acme}}"),
        ];
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
        check(
            &statements,
            json!({"a": "x", "aud": ["other", "tollgate"]}),
            ALLOW_1,
        );
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
        assert_eq!(
            explain(json!({"aud": "tollgate", "a": "x", "b": "evil"})),
            "statement 3 (deny) matched"
        );
        assert_eq!(
            explain(json!({"aud": "x"})),
            "audience \"x\" is not accepted by role r"
        );
        assert_eq!(
            explain(json!({})),
            "the token has no audience, and role r needs one"
        );
        assert_eq!(
            explain(json!({"aud": ["a", "b", "c", "d", "e", "f", "g"]})),
            "audiences \"a\", \"b\", \"c\", \"d\", \"e\", … are not accepted by role r"
        );
    }
}

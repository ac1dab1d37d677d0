//! Condition operators and compiled conditions: parsing an operator name such as `ForAnyValue:StringLikeIfExists`
//! into an [`Operator`], compiling its values once, and testing one condition against a claim set with AWS IAM
//! semantics. It owns the canonical string form of claim values; it knows nothing of statements, effects or YAML.
//!
//! Semantics of this cut (AWS IAM):
//! - values listed for one claim OR; a negated operator (`StringNot…`) holds iff the claim matches none of them;
//! - a missing claim fails a positive operator and satisfies a negated one;
//! - claim values compare in canonical form: strings as they are, booleans `true`/`false`, integers in decimal;
//!   floats, objects and null never match;
//! - a plain operator on an array claim behaves as `ForAnyValue`: it matches when some element matches, and its
//!   negation holds when no element matches.
//!
//! The operator grammar already has room for `…IfExists` and the `ForAnyValue:`/`ForAllValues:` qualifiers;
//! [`Operator::parse`] recognises them but this version refuses them, so evaluation only meets the plain form.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::policy::wildcard::Pattern;

/// A condition operator as parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Operator {
    pub(super) kind: OperatorKind,
    /// `…IfExists`: a missing claim satisfies the condition.
    pub(super) if_exists: bool,
    pub(super) set: SetQualifier,
    /// The operator exactly as written in the policy, for explanations.
    pub(super) written: String,
}

/// The comparison an operator performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "Bool, Null, Numeric* and Date* join in a later version"
)]
pub(super) enum OperatorKind {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringNotLike,
}

/// How an operator treats a claim with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetQualifier {
    /// No qualifier: an array claim matches when any element matches.
    Single,
    /// `ForAnyValue:`
    ForAnyValue,
    /// `ForAllValues:`
    ForAllValues,
}

/// One compiled condition: an operator applied to one claim with its policy values.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub(super) operator: Operator,
    pub(super) claim: String,
    values: Values,
}

/// Policy values compiled for the operator's kind of comparison.
#[derive(Debug, Clone)]
enum Values {
    Exact(Vec<String>),
    Wildcard(Vec<Pattern>),
}

/// Operators of AWS IAM that a later version adds; naming one gets "not supported yet" rather than "unknown".
const LATER_OPERATORS: &[&str] = &[
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "Bool",
    "Null",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
];

impl Operator {
    /// Parses an operator name; the error is a sentence naming it.
    pub(super) fn parse(written: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(rest) = written.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = written.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::Single, written)
        };
        let (if_exists, name) = match rest.strip_suffix("IfExists") {
            Some(name) => (true, name),
            None => (false, rest),
        };
        let kind = match name {
            "StringEquals" => OperatorKind::StringEquals,
            "StringNotEquals" => OperatorKind::StringNotEquals,
            "StringLike" => OperatorKind::StringLike,
            "StringNotLike" => OperatorKind::StringNotLike,
            _ if LATER_OPERATORS.contains(&name) => {
                return Err(format!(
                    "condition operator {written:?} is not supported in this version"
                ));
            }
            _ => return Err(format!("unknown condition operator {written:?}")),
        };
        Ok(Operator {
            kind,
            if_exists,
            set,
            written: written.to_owned(),
        })
    }

    /// Refuses the qualifiers this version parses but does not evaluate (`…IfExists`, `ForAnyValue:`,
    /// `ForAllValues:`).
    pub(super) fn check_supported(&self) -> Result<(), String> {
        if self.if_exists || self.set != SetQualifier::Single {
            return Err(format!(
                "condition operator {:?} is not supported in this version",
                self.written
            ));
        }
        Ok(())
    }

    /// True for the operators that hold when nothing matches (`StringNotEquals`, `StringNotLike`).
    pub(super) fn is_negated(&self) -> bool {
        matches!(
            self.kind,
            OperatorKind::StringNotEquals | OperatorKind::StringNotLike
        )
    }
}

impl Condition {
    /// Compiles one condition. `values` are the policy values already in canonical string form.
    pub(super) fn compile(
        operator: Operator,
        claim: &str,
        values: Vec<String>,
    ) -> Result<Condition, String> {
        operator.check_supported()?;
        if claim.is_empty() {
            return Err("a condition needs a claim name".to_owned());
        }
        if values.is_empty() {
            return Err(format!(
                "condition {} on {claim:?} needs at least one value",
                operator.written
            ));
        }
        if let Some(value) = values.iter().find(|value| value.contains("${")) {
            return Err(format!(
                "condition value {value:?} on {claim:?}: policy variables come in a later version"
            ));
        }
        let values = match operator.kind {
            OperatorKind::StringEquals | OperatorKind::StringNotEquals => Values::Exact(values),
            OperatorKind::StringLike | OperatorKind::StringNotLike => {
                Values::Wildcard(values.iter().map(|value| Pattern::new(value)).collect())
            }
        };
        Ok(Condition {
            operator,
            claim: claim.to_owned(),
            values,
        })
    }

    /// Whether the condition holds for `claims`.
    pub(super) fn holds(&self, claims: &Map<String, Value>) -> bool {
        let Some(claim_value) = claims.get(&self.claim) else {
            return self.operator.if_exists || self.operator.is_negated();
        };
        // Only `SetQualifier::Single` gets past `compile` in this version; the set operators belong here.
        let any_matches = match claim_value {
            Value::Array(elements) => elements.iter().any(|element| self.matches_one(element)),
            scalar => self.matches_one(scalar),
        };
        any_matches != self.operator.is_negated()
    }

    /// Whether one claim value (not an array) equals or matches any of the policy values.
    fn matches_one(&self, claim_value: &Value) -> bool {
        let Some(text) = canonical(claim_value) else {
            return false;
        };
        match &self.values {
            Values::Exact(values) => values.iter().any(|value| *value == text),
            Values::Wildcard(patterns) => patterns.iter().any(|pattern| pattern.matches(&text)),
        }
    }
}

/// The canonical string form of a scalar claim value, or `None` for values no string operator can match.
pub(super) fn canonical(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Bool(true) => Some(Cow::Borrowed("true")),
        Value::Bool(false) => Some(Cow::Borrowed("false")),
        Value::Number(number) if number.is_i64() || number.is_u64() => {
            Some(Cow::Owned(number.to_string()))
        }
        Value::Number(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_grammar() {
        use OperatorKind::*;
        use SetQualifier::*;
        let parsed: &[(&str, OperatorKind, bool, SetQualifier)] = &[
            ("StringEquals", StringEquals, false, Single),
            ("StringNotEquals", StringNotEquals, false, Single),
            ("StringLike", StringLike, false, Single),
            ("StringNotLike", StringNotLike, false, Single),
            ("StringLikeIfExists", StringLike, true, Single),
            ("ForAnyValue:StringEquals", StringEquals, false, ForAnyValue),
            (
                "ForAllValues:StringNotLikeIfExists",
                StringNotLike,
                true,
                ForAllValues,
            ),
        ];
        for (written, kind, if_exists, set) in parsed {
            let operator = Operator::parse(written).unwrap();
            assert_eq!(
                (operator.kind, operator.if_exists, operator.set),
                (*kind, *if_exists, *set)
            );
            let refused = operator.check_supported().is_err();
            assert_eq!(refused, *if_exists || *set != Single, "{written}");
        }
        let refused = [
            ("StringEqual", "unknown condition operator \"StringEqual\""),
            ("stringequals", "unknown condition operator"),
            ("ForSomeValues:StringLike", "unknown condition operator"),
            (
                "NumericLessThan",
                "\"NumericLessThan\" is not supported in this version",
            ),
            ("Bool", "\"Bool\" is not supported in this version"),
        ];
        for (written, fragment) in refused {
            let message = Operator::parse(written).unwrap_err();
            assert!(message.contains(fragment), "{written}: {message}");
        }
        let qualified = Operator::parse("ForAnyValue:StringLike").unwrap();
        assert!(Condition::compile(qualified, "sub", vec!["x".into()]).is_err());
    }

    /// Compiles `operator` over claim `a` with `values` and tests it on `claims`.
    fn check(operator: &str, values: &[&str], claims: Value, expected: bool) {
        let values = values.iter().map(|value| (*value).to_owned()).collect();
        let condition =
            Condition::compile(Operator::parse(operator).unwrap(), "a", values).unwrap();
        let claims = claims.as_object().cloned().unwrap();
        assert_eq!(
            condition.holds(&claims),
            expected,
            "{operator} {:?} on {claims:?}",
            condition.values
        );
    }

    #[test]
    fn string_equals() {
        let cases: &[(&[&str], Value, bool)] = &[
            (&["x"], json!({"a": "x"}), true),
            (&["x"], json!({"a": "y"}), false),
            (&["x"], json!({"a": "X"}), false),
            (&["x"], json!({"a": " x"}), false),
            (&["x"], json!({}), false),
            (&["x"], json!({"b": "x"}), false),
            (&["x", "y"], json!({"a": "y"}), true),
            (&["x"], json!({"a": ["y", "x"]}), true),
            (&["x"], json!({"a": ["y", "z"]}), false),
            (&["x"], json!({"a": []}), false),
            (&["x"], json!({"a": [["x"]]}), false),
            (&["x"], json!({"a": {"x": 1}}), false),
            (&["x"], json!({"a": null}), false),
            (&["true"], json!({"a": true}), true),
            (&["true"], json!({"a": "true"}), true),
            (&["true"], json!({"a": false}), false),
            (&["1000"], json!({"a": 1000}), true),
            (&["1000"], json!({"a": 1000.0}), false),
            (&["-3"], json!({"a": -3}), true),
            (&["1.5"], json!({"a": 1.5}), false),
            (&["007"], json!({"a": 7}), false),
            (&["repo:*"], json!({"a": "repo:x"}), false),
            (&["repo:*"], json!({"a": "repo:*"}), true),
            (&["a?c"], json!({"a": "abc"}), false),
            (&[""], json!({"a": ""}), true),
        ];
        for (values, claims, expected) in cases {
            check("StringEquals", values, claims.clone(), *expected);
        }
    }

    #[test]
    fn string_not_equals() {
        let cases: &[(&[&str], Value, bool)] = &[
            (&["x", "y"], json!({"a": "z"}), true),
            (&["x", "y"], json!({"a": "x"}), false),
            (&["x", "y"], json!({"a": "y"}), false),
            (&["x", "y"], json!({}), true),
            (&["x", "y"], json!({"a": ["z", "x"]}), false),
            (&["x", "y"], json!({"a": ["z", "w"]}), true),
            (&["x", "y"], json!({"a": []}), true),
            (&["x"], json!({"a": "X"}), true),
            (&["1.5"], json!({"a": 1.5}), true),
            (&["false"], json!({"a": false}), false),
            (&["42"], json!({"a": 42}), false),
        ];
        for (values, claims, expected) in cases {
            check("StringNotEquals", values, claims.clone(), *expected);
        }
    }

    #[test]
    fn string_like() {
        let acme: &[&str] = &["repo:acme/*"];
        let main: &[&str] = &["repo:*:ref:refs/heads/main"];
        let cases: &[(&[&str], Value, bool)] = &[
            (
                acme,
                json!({"a": "repo:acme/web:ref:refs/heads/main"}),
                true,
            ),
            (acme, json!({"a": "repo:acme/"}), true),
            (acme, json!({"a": "repo:acme"}), false),
            (acme, json!({"a": "repo:Acme/web"}), false),
            (acme, json!({"a": "xrepo:acme/web"}), false),
            (acme, json!({}), false),
            (&["a?c"], json!({"a": "abc"}), true),
            (&["a?c"], json!({"a": "aéc"}), true),
            (&["a?c"], json!({"a": "ac"}), false),
            (&["a?c"], json!({"a": "abcd"}), false),
            (&["nope", "a?c"], json!({"a": "abc"}), true),
            (&["a?c"], json!({"a": ["nope", "abc"]}), true),
            (main, json!({"a": "repo:o/r:ref:refs/heads/main"}), true),
            (
                main,
                json!({"a": "repo:o/r:environment:x:ref:refs/heads/main"}),
                true,
            ),
            (main, json!({"a": "repo:o/r:ref:refs/heads/main2"}), false),
            (&["t*"], json!({"a": true}), true),
            (&["1?"], json!({"a": 12}), true),
            (&["*"], json!({"a": ""}), true),
            (&["*"], json!({"a": null}), false),
            (&["*"], json!({"a": 1.5}), false),
        ];
        for (values, claims, expected) in cases {
            check("StringLike", values, claims.clone(), *expected);
        }
    }

    #[test]
    fn string_not_like() {
        let evil: &[&str] = &["repo:evil/*", "*:pull_request"];
        let cases: &[(&[&str], Value, bool)] = &[
            (evil, json!({"a": "repo:acme/web"}), true),
            (evil, json!({"a": "repo:evil/web"}), false),
            (evil, json!({"a": "repo:acme/web:pull_request"}), false),
            (evil, json!({}), true),
            (evil, json!({"a": ["repo:acme/a", "repo:evil/b"]}), false),
            (evil, json!({"a": "repo:Evil/b"}), true),
        ];
        for (values, claims, expected) in cases {
            check("StringNotLike", values, claims.clone(), *expected);
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical(&json!("x")).as_deref(), Some("x"));
        assert_eq!(canonical(&json!(true)).as_deref(), Some("true"));
        assert_eq!(canonical(&json!(false)).as_deref(), Some("false"));
        assert_eq!(canonical(&json!(42)).as_deref(), Some("42"));
        assert_eq!(canonical(&json!(-7)).as_deref(), Some("-7"));
        assert_eq!(
            canonical(&json!(u64::MAX)).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(canonical(&json!(1.5)), None);
        assert_eq!(canonical(&json!(null)), None);
        assert_eq!(canonical(&json!([1])), None);
        assert_eq!(canonical(&json!({"a": 1})), None);
    }
}

//! Condition operator names: parsing `ForAnyValue:StringLikeIfExists` and friends into an [`Operator`] (the
//! comparison, whether it is negated, the `…IfExists` suffix and the set qualifier). It knows the AWS IAM names
//! Tollgate supports, the ones it refuses on purpose, and nothing about values, claims or statements.

/// A condition operator as parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) struct Operator {
    pub(in crate::policy) comparison: Comparison,
    /// `…Not…` operators: the condition holds when the claim matches none of the values (values NOR).
    pub(in crate::policy) negated: bool,
    /// `…IfExists`: a missing claim satisfies the condition.
    pub(in crate::policy) if_exists: bool,
    pub(in crate::policy) set: SetQualifier,
    /// The operator exactly as written in the policy, for explanations.
    pub(in crate::policy) written: String,
}

/// The comparison an operator performs on one claim value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::policy) enum Comparison {
    /// `StringEquals`, `StringNotEquals`: exact, case-sensitive; `*` is literal.
    Equals,
    /// `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`.
    EqualsIgnoreCase,
    /// `StringLike`, `StringNotLike`: `*` and `?` wildcards, anchored.
    Like,
    /// `StringMatches`, `StringNotMatches` (Tollgate only): a fully anchored RE2-syntax regex.
    Matches,
    /// `Numeric…`: exact decimal comparison.
    Numeric(Order),
    /// `Date…`: instants as epoch seconds or RFC 3339.
    Date(Order),
    /// `Bool`.
    Bool,
    /// `Null`: `true` holds iff the claim is absent, `false` iff it is present.
    Null,
}

/// How a claim value must compare with a policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::policy) enum Order {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// How an operator treats a claim with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::policy) enum SetQualifier {
    /// No qualifier: an array claim matches when any element matches (a negated operator: when none does).
    Single,
    /// `ForAnyValue:` — some element satisfies the operator; false when the claim is missing or empty.
    ForAnyValue,
    /// `ForAllValues:` — every element satisfies the operator; true when the claim is missing or empty.
    ForAllValues,
}

/// Every supported operator name (without qualifier or `IfExists`): comparison and negation.
const OPERATORS: &[(&str, Comparison, bool)] = &[
    ("StringEquals", Comparison::Equals, false),
    ("StringNotEquals", Comparison::Equals, true),
    ("StringEqualsIgnoreCase", Comparison::EqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Comparison::EqualsIgnoreCase, true),
    ("StringLike", Comparison::Like, false),
    ("StringNotLike", Comparison::Like, true),
    ("StringMatches", Comparison::Matches, false),
    ("StringNotMatches", Comparison::Matches, true),
    ("Bool", Comparison::Bool, false),
    ("Null", Comparison::Null, false),
    ("NumericEquals", Comparison::Numeric(Order::Equal), false),
    ("NumericNotEquals", Comparison::Numeric(Order::Equal), true),
    ("NumericLessThan", Comparison::Numeric(Order::Less), false),
    ("NumericLessThanEquals", Comparison::Numeric(Order::LessOrEqual), false),
    ("NumericGreaterThan", Comparison::Numeric(Order::Greater), false),
    ("NumericGreaterThanEquals", Comparison::Numeric(Order::GreaterOrEqual), false),
    ("DateEquals", Comparison::Date(Order::Equal), false),
    ("DateNotEquals", Comparison::Date(Order::Equal), true),
    ("DateLessThan", Comparison::Date(Order::Less), false),
    ("DateLessThanEquals", Comparison::Date(Order::LessOrEqual), false),
    ("DateGreaterThan", Comparison::Date(Order::Greater), false),
    ("DateGreaterThanEquals", Comparison::Date(Order::GreaterOrEqual), false),
];

/// AWS operators for values no CI token carries; naming one gets a specific refusal rather than "unknown".
const REFUSED_OPERATORS: &[&str] =
    &["BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"];

impl Operator {
    /// Parses an operator name; the error is a sentence naming it.
    pub(in crate::policy) fn parse(written: &str) -> Result<Operator, String> {
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
        let Some(&(_, comparison, negated)) = OPERATORS.iter().find(|(known, ..)| *known == name) else {
            if REFUSED_OPERATORS.contains(&name) {
                return Err(format!("condition operator {written:?} is not supported: CI tokens carry no such values"));
            }
            return Err(format!("unknown condition operator {written:?}"));
        };
        if comparison == Comparison::Null && (if_exists || set != SetQualifier::Single) {
            return Err(format!(
                "condition operator {written:?}: Null takes neither IfExists nor ForAnyValue:/ForAllValues:"
            ));
        }
        Ok(Operator { comparison, negated, if_exists, set, written: written.to_owned() })
    }

    /// True for the string comparisons, the only ones that accept policy variables.
    pub(in crate::policy) fn is_string(&self) -> bool {
        matches!(
            self.comparison,
            Comparison::Equals | Comparison::EqualsIgnoreCase | Comparison::Like | Comparison::Matches
        )
    }
}

impl Order {
    /// Whether `ordering` (claim value compared with policy value) satisfies this order.
    pub(in crate::policy) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Order::Equal => ordering == Equal,
            Order::Less => ordering == Less,
            Order::LessOrEqual => ordering != Greater,
            Order::Greater => ordering == Greater,
            Order::GreaterOrEqual => ordering != Less,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        use Comparison::*;
        use SetQualifier::*;
        let parsed: &[(&str, Comparison, bool, bool, SetQualifier)] = &[
            ("StringEquals", Equals, false, false, Single),
            ("StringNotEquals", Equals, true, false, Single),
            ("StringEqualsIgnoreCase", EqualsIgnoreCase, false, false, Single),
            ("StringNotEqualsIgnoreCase", EqualsIgnoreCase, true, false, Single),
            ("StringLike", Like, false, false, Single),
            ("StringNotLikeIfExists", Like, true, true, Single),
            ("StringMatches", Matches, false, false, Single),
            ("StringNotMatches", Matches, true, false, Single),
            ("Bool", Bool, false, false, Single),
            ("BoolIfExists", Bool, false, true, Single),
            ("Null", Null, false, false, Single),
            ("NumericLessThanEquals", Numeric(Order::LessOrEqual), false, false, Single),
            ("NumericNotEquals", Numeric(Order::Equal), true, false, Single),
            ("DateGreaterThan", Date(Order::Greater), false, false, Single),
            ("DateNotEqualsIfExists", Date(Order::Equal), true, true, Single),
            ("ForAnyValue:StringEquals", Equals, false, false, ForAnyValue),
            ("ForAllValues:StringNotLikeIfExists", Like, true, true, ForAllValues),
        ];
        for (written, comparison, negated, if_exists, set) in parsed {
            let operator = Operator::parse(written).unwrap();
            assert_eq!(
                (operator.comparison, operator.negated, operator.if_exists, operator.set),
                (*comparison, *negated, *if_exists, *set),
                "{written}"
            );
            assert_eq!(operator.written, *written);
        }
        let refused = [
            ("StringEqual", "unknown condition operator \"StringEqual\""),
            ("stringequals", "unknown condition operator"),
            ("ForSomeValues:StringLike", "unknown condition operator"),
            ("StringEqualsIfExistsIfExists", "unknown condition operator"),
            ("IpAddress", "CI tokens carry no such values"),
            ("ArnLike", "CI tokens carry no such values"),
            ("NullIfExists", "Null takes neither"),
            ("ForAllValues:Null", "Null takes neither"),
        ];
        for (written, fragment) in refused {
            let message = Operator::parse(written).unwrap_err();
            assert!(message.contains(fragment), "{written}: {message}");
        }
    }

    #[test]
    fn orders() {
        use std::cmp::Ordering::*;
        let table = [
            (Order::Equal, [false, true, false]),
            (Order::Less, [true, false, false]),
            (Order::LessOrEqual, [true, true, false]),
            (Order::Greater, [false, false, true]),
            (Order::GreaterOrEqual, [false, true, true]),
        ];
        for (order, expected) in table {
            assert_eq!([order.holds(Less), order.holds(Equal), order.holds(Greater)], expected);
        }
    }
}

//! Compiled conditions: one operator applied to one claim with its policy values, compiled once at load (regexes,
//! wildcard patterns, numbers, instants), and tested against a claim set with AWS IAM semantics:
//! - values listed for one claim OR; a negated operator holds iff the claim matches none of them (NOR);
//! - a missing claim (absent, JSON null, or an empty array) fails a positive operator and satisfies a negated
//!   one; `…IfExists` holds on it; `Null: true` holds iff it is missing, `Null: false` iff it is present;
//! - `ForAnyValue:` holds iff some element satisfies the operator (false when missing), `ForAllValues:` iff
//!   every element does (true when missing — guard it with `Null: false`); for a negated operator "satisfies"
//!   means "matches none of the values", so `ForAnyValue:StringNotEquals` holds when some element is not listed;
//! - a plain (unqualified) operator on an array claim behaves as `ForAnyValue:` for positive operators; a plain
//!   negated operator keeps NOR over all elements (holds iff no element matches), as in the first cut;
//! - claim values compare in canonical form (strings as is, booleans `true`/`false`, integers in decimal);
//!   `Numeric…` also reads numeric strings and floats, `Date…` epoch seconds and RFC 3339, `Bool` `true`/`false`
//!   as JSON booleans or strings; values that cannot be read that way match nothing.

pub(in crate::policy) mod claim;
pub(in crate::policy) mod operator;
pub(in crate::policy) mod placeholder;
pub(in crate::policy) mod value;
pub(in crate::policy) mod wildcard;

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::policy::condition::claim::{
    Decimal, canonical, claim_bool, claim_instant, compare_number, parse_instant, present,
};
use crate::policy::condition::operator::{Comparison, Operator, SetQualifier};
use crate::policy::condition::value::{LikeValue, TextValue};
use crate::policy::condition::wildcard::Pattern;
use crate::policy::issuer::KeyResolver;

/// One compiled condition.
#[derive(Debug, Clone)]
pub(in crate::policy) struct Condition {
    pub(in crate::policy) operator: Operator,
    /// The claim tested, after stripping any `host:` issuer prefix.
    pub(in crate::policy) claim: String,
    /// The values exactly as written (canonical strings), for explanations and the linter.
    pub(in crate::policy) written_values: Vec<String>,
    /// The source line of the claim key, when known.
    pub(in crate::policy) line: Option<u64>,
    /// The key names its claim in any letter case (AWS form, as IAM): an exact match first, else one that
    /// differs only by case, so a mis-cased key in a Deny or a negated condition still applies.
    pub(in crate::policy) ignore_key_case: bool,
    values: Values,
}

/// Policy values compiled for the operator's comparison.
#[derive(Debug, Clone)]
enum Values {
    Equals(Vec<TextValue>),
    EqualsIgnoreCase(Vec<TextValue>),
    Like(Vec<LikeValue>),
    Matches(Vec<Regex>),
    Numbers(Vec<Decimal>),
    /// Nanoseconds since the epoch.
    Instants(Vec<i128>),
    Bools(Vec<bool>),
    /// `Null` values: `true` means "must be missing".
    Null(Vec<bool>),
}

/// Largest compiled regex program, in bytes: ample for CI patterns, small enough to bound load time.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A condition's values as `policy diff` reads them: literal strings, globs, `Null`/`Bool` flags, or something
/// its automata do not cover (regexes, numbers, instants, case folding, variables).
pub(in crate::policy) enum ValuesView {
    Literals(Vec<String>),
    Globs(Vec<Vec<crate::policy::condition::wildcard::GlobPiece>>),
    Null(Vec<bool>),
    Undecidable(&'static str),
}

impl Condition {
    /// The values for `policy diff`.
    pub(in crate::policy) fn values_view(&self) -> ValuesView {
        let literals = |values: &[TextValue]| values.iter().map(TextValue::literal).collect::<Option<Vec<_>>>();
        match &self.values {
            Values::Equals(values) => {
                literals(values).map_or(ValuesView::Undecidable("a ${} variable"), ValuesView::Literals)
            }
            Values::Like(values) => values
                .iter()
                .map(|value| value.fixed().map(Pattern::glob_pieces))
                .collect::<Option<Vec<_>>>()
                .map_or(ValuesView::Undecidable("a ${} variable"), ValuesView::Globs),
            Values::Bools(values) => ValuesView::Literals(values.iter().map(bool::to_string).collect()),
            Values::Null(values) => ValuesView::Null(values.clone()),
            Values::EqualsIgnoreCase(_) => ValuesView::Undecidable("case-insensitive comparison"),
            Values::Matches(_) => ValuesView::Undecidable("a regular expression (StringMatches)"),
            Values::Numbers(_) => ValuesView::Undecidable("a numeric comparison"),
            Values::Instants(_) => ValuesView::Undecidable("a date comparison"),
        }
    }

    /// Adds the claim it tests and those its values' variables name.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        out.insert(self.claim.clone());
        match &self.values {
            Values::Equals(values) | Values::EqualsIgnoreCase(values) => {
                values.iter().for_each(|value| value.claim_names(out));
            }
            Values::Like(values) => values.iter().for_each(|value| value.claim_names(out)),
            _ => {}
        }
    }

    /// Compiles one condition on the key `key` (resolved through `resolver`) with canonical `values`.
    pub(in crate::policy) fn compile(
        operator: Operator,
        key: &str,
        values: Vec<String>,
        resolver: KeyResolver<'_>,
        line: Option<u64>,
    ) -> Result<Condition, String> {
        let claim = resolver.claim(key)?.to_owned();
        if values.is_empty() {
            return Err(format!("condition {} on {claim:?} needs at least one value", operator.written));
        }
        let no_variables = !operator.is_string() || operator.comparison == Comparison::Matches;
        if let Some(value) = values.iter().find(|value| no_variables && value.contains("${")) {
            return Err(format!(
                "condition value {value:?} on {claim:?}: policy variables work only in the StringEquals, \
                 StringEqualsIgnoreCase and StringLike families"
            ));
        }
        let compiled = compile_values(&operator, &claim, &values, resolver)?;
        let ignore_key_case = resolver.ignore_key_case;
        Ok(Condition { operator, claim, written_values: values, line, ignore_key_case, values: compiled })
    }

    /// Whether this condition tests the claim `name`.
    pub(in crate::policy) fn tests_claim(&self, name: &str) -> bool {
        if self.ignore_key_case { self.claim.eq_ignore_ascii_case(name) } else { self.claim == name }
    }

    /// The tested claim's value in `claims`, as the key names it (see `ignore_key_case`).
    pub(in crate::policy) fn claim_value<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        match claims.get(&self.claim) {
            Some(value) => Some(value),
            None if self.ignore_key_case => {
                claims.iter().find(|(name, _)| name.eq_ignore_ascii_case(&self.claim)).map(|(_, value)| value)
            }
            None => None,
        }
    }

    /// Whether the condition holds for `claims`.
    pub(in crate::policy) fn holds(&self, claims: &Map<String, Value>) -> bool {
        let claim = present(self.claim_value(claims));
        if let Values::Null(absent) = &self.values {
            return absent.contains(&claim.is_none());
        }
        let Some(value) = claim else {
            return self.holds_when_missing();
        };
        let elements = match value {
            Value::Array(items) => items.as_slice(),
            scalar => std::slice::from_ref(scalar),
        };
        let negated = self.operator.negated;
        let satisfies = |element: &Value| self.matches_any(element, claims) != negated;
        match self.operator.set {
            SetQualifier::Single => elements.iter().any(|element| self.matches_any(element, claims)) != negated,
            SetQualifier::ForAnyValue => elements.iter().any(satisfies),
            SetQualifier::ForAllValues => elements.iter().all(satisfies),
        }
    }

    /// The result on a missing claim.
    fn holds_when_missing(&self) -> bool {
        if self.operator.if_exists {
            return true;
        }
        match self.operator.set {
            SetQualifier::Single => self.operator.negated,
            SetQualifier::ForAnyValue => false,
            SetQualifier::ForAllValues => true,
        }
    }

    /// Whether one claim element matches any policy value (before negation).
    fn matches_any(&self, element: &Value, claims: &Map<String, Value>) -> bool {
        let text = || canonical(element);
        match &self.values {
            Values::Equals(values) => {
                text().is_some_and(|text| values.iter().any(|value| value.equals(text.as_str(), claims, false)))
            }
            Values::EqualsIgnoreCase(values) => {
                text().is_some_and(|text| values.iter().any(|value| value.equals(text.as_str(), claims, true)))
            }
            Values::Like(values) => {
                text().is_some_and(|text| values.iter().any(|value| value.matches(text.as_str(), claims)))
            }
            Values::Matches(regexes) => {
                text().is_some_and(|text| regexes.iter().any(|regex| regex.is_match(text.as_str())))
            }
            Values::Numbers(numbers) => {
                let Comparison::Numeric(order) = self.operator.comparison else {
                    return false;
                };
                numbers
                    .iter()
                    .any(|number| compare_number(element, number).is_some_and(|ordering| order.holds(ordering)))
            }
            Values::Instants(instants) => {
                let (Comparison::Date(order), Some(instant)) = (self.operator.comparison, claim_instant(element))
                else {
                    return false;
                };
                instants.iter().any(|value| order.holds(instant.cmp(value)))
            }
            Values::Bools(flags) => claim_bool(element).is_some_and(|flag| flags.contains(&flag)),
            Values::Null(_) => false,
        }
    }

    /// True when the condition pins the claim to fixed values: a positive, non-`IfExists` equality (or a
    /// `StringLike`/`StringMatches` without wildcard or metacharacter) whose every value is a plain constant.
    pub(in crate::policy) fn pins_value(&self) -> bool {
        let operator = &self.operator;
        if operator.negated || operator.if_exists || operator.set == SetQualifier::ForAllValues {
            return false;
        }
        let plain = |value: &String| !value.contains("${") && !value.is_empty();
        let no_wildcard = |value: &String| !value.contains(['*', '?']);
        let no_meta = |value: &String| !value.chars().any(|c| "\\.+*?()|[]{}^$".contains(c));
        let values = &self.written_values;
        match operator.comparison {
            Comparison::Equals | Comparison::EqualsIgnoreCase | Comparison::Like => {
                values.iter().all(|value| plain(value) && no_wildcard(value))
            }
            Comparison::Matches => values.iter().all(|value| plain(value) && no_meta(value)),
            _ => false,
        }
    }

    /// True for `Null: {claim: false}` — a guard that the claim is present.
    pub(in crate::policy) fn requires_presence(&self) -> bool {
        matches!(&self.values, Values::Null(absent) if absent.iter().all(|must_be_absent| !must_be_absent))
    }

    /// The compiled text values of the `StringEquals`/`StringEqualsIgnoreCase` families (for the linter).
    pub(in crate::policy) fn text_values(&self) -> &[TextValue] {
        match &self.values {
            Values::Equals(values) | Values::EqualsIgnoreCase(values) => values,
            _ => &[],
        }
    }
}

fn compile_values(
    operator: &Operator,
    claim: &str,
    values: &[String],
    resolver: KeyResolver<'_>,
) -> Result<Values, String> {
    let texts =
        || -> Result<Vec<TextValue>, String> { values.iter().map(|value| TextValue::parse(value, resolver)).collect() };
    let named =
        |value: &String, kind: &str| format!("condition {} on {claim:?}: {value:?} is not {kind}", operator.written);
    Ok(match operator.comparison {
        Comparison::Equals => Values::Equals(texts()?),
        Comparison::EqualsIgnoreCase => Values::EqualsIgnoreCase(texts()?),
        Comparison::Like => Values::Like(texts()?.into_iter().map(LikeValue::compile).collect()),
        Comparison::Matches => Values::Matches(
            values
                .iter()
                .map(|value| {
                    compile_regex(value)
                        .map_err(|message| format!("condition {} on {claim:?}: {message}", operator.written))
                })
                .collect::<Result<_, _>>()?,
        ),
        Comparison::Numeric(_) => Values::Numbers(
            values
                .iter()
                .map(|value| Decimal::parse(value).map_err(|_| named(value, "a number such as 42 or 2.5")))
                .collect::<Result<_, _>>()?,
        ),
        Comparison::Date(_) => Values::Instants(
            values
                .iter()
                .map(|value| parse_instant(value).ok_or_else(|| named(value, "epoch seconds or an RFC 3339 date-time")))
                .collect::<Result<_, _>>()?,
        ),
        Comparison::Bool => Values::Bools(boolean_values(values, &named)?),
        Comparison::Null => Values::Null(boolean_values(values, &named)?),
    })
}

fn boolean_values(values: &[String], named: &dyn Fn(&String, &str) -> String) -> Result<Vec<bool>, String> {
    values
        .iter()
        .map(|value| match value.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(named(value, "true or false")),
        })
        .collect()
}

/// Compiles `pattern` fully anchored. It must first compile on its own, so that it cannot close the anchoring
/// group early (`a)|(b` would otherwise become `^(?:a)|(b)$`).
pub(in crate::policy) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    let build = |source: &str| {
        RegexBuilder::new(source).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(4 * REGEX_SIZE_LIMIT).build()
    };
    let invalid = |error: regex::Error| {
        let first_line = error.to_string().lines().last().unwrap_or_default().trim().to_owned();
        format!("regex {pattern:?} is invalid: {first_line}")
    };
    build(pattern).map_err(invalid)?;
    build(&format!("^(?:{pattern})$")).map_err(invalid)
}

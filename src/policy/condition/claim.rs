//! Claim values as conditions see them: presence (JSON null and the empty array count as absent), the canonical
//! string form of a scalar (strings as is, booleans `true`/`false`, integers in decimal — never allocated), and
//! the typed readings that `Numeric…`, `Date…` and `Bool` need (from JSON values or from strings, as GitHub sends
//! `"repository_id": "74"`). Policy-side numbers and instants parse with the same rules. Knows no operators.

use std::cmp::Ordering;
use std::io::Write;

use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The canonical text of a scalar claim value: borrowed, or an integer held inline. Never allocates.
#[derive(Debug, Clone, Copy)]
pub(in crate::policy) enum Canonical<'a> {
    Borrowed(&'a str),
    Inline { bytes: [u8; INLINE_BYTES], len: usize },
}

/// Room for any `i64` or `u64` in decimal.
const INLINE_BYTES: usize = 24;

/// A decimal number in exact form: sign, integer digits without leading zeros, fraction digits without
/// trailing zeros. Zero is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::policy) struct DecimalRef<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
}

/// A policy's numeric value: the exact decimal (as text) and its nearest `f64` for float claims.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::policy) struct Decimal {
    text: String,
    approx: f64,
}

impl Canonical<'_> {
    pub(in crate::policy) fn as_str(&self) -> &str {
        match self {
            Canonical::Borrowed(text) => text,
            Canonical::Inline { bytes, len } => {
                bytes.get(..*len).and_then(|digits| std::str::from_utf8(digits).ok()).unwrap_or_default()
            }
        }
    }
}

/// A claim's value, unless it is absent, JSON null or an empty array.
pub(in crate::policy) fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|value| match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        _ => true,
    })
}

/// The canonical string form of a scalar claim value, or `None` for values no string operator can match
/// (floats, null, arrays, objects).
pub(in crate::policy) fn canonical(value: &Value) -> Option<Canonical<'_>> {
    match value {
        Value::String(text) => Some(Canonical::Borrowed(text)),
        Value::Bool(true) => Some(Canonical::Borrowed("true")),
        Value::Bool(false) => Some(Canonical::Borrowed("false")),
        Value::Number(number) => canonical_integer(number),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn canonical_integer(number: &Number) -> Option<Canonical<'static>> {
    let mut bytes = [0_u8; INLINE_BYTES];
    let len = {
        let mut cursor: &mut [u8] = &mut bytes;
        if let Some(signed) = number.as_i64() {
            write!(cursor, "{signed}").ok()?;
        } else {
            write!(cursor, "{}", number.as_u64()?).ok()?;
        }
        INLINE_BYTES - cursor.len()
    };
    Some(Canonical::Inline { bytes, len })
}

impl<'a> DecimalRef<'a> {
    /// Parses `[+-]?digits[.digits]`; anything else (spaces, exponents, `.5`) is not a number.
    pub(in crate::policy) fn parse(text: &'a str) -> Option<DecimalRef<'a>> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(integer) || (unsigned.contains('.') && !digits(fraction)) {
            return None;
        }
        let integer = integer.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        let zero = integer.is_empty() && fraction.is_empty();
        Some(DecimalRef { negative: negative && !zero, integer, fraction })
    }

    /// Exact comparison.
    pub(in crate::policy) fn compare(self, other: DecimalRef<'_>) -> Ordering {
        let magnitude = self
            .integer
            .len()
            .cmp(&other.integer.len())
            .then_with(|| self.integer.cmp(other.integer))
            .then_with(|| self.fraction.cmp(other.fraction));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl Decimal {
    /// A policy value; the error is a sentence.
    pub(in crate::policy) fn parse(text: &str) -> Result<Decimal, String> {
        if DecimalRef::parse(text).is_none() {
            return Err(format!("{text:?} is not a number such as 42, -7 or 2.5"));
        }
        let approx = text.parse::<f64>().map_err(|_| format!("{text:?} is out of range"))?;
        Ok(Decimal { text: text.to_owned(), approx })
    }

    fn exact(&self) -> Option<DecimalRef<'_>> {
        DecimalRef::parse(&self.text)
    }
}

/// How a numeric claim (JSON number or numeric string) compares with a policy number; `None` when the claim
/// is not a number.
pub(in crate::policy) fn compare_number(claim: &Value, policy: &Decimal) -> Option<Ordering> {
    match claim {
        Value::Number(number) if number.is_f64() => number.as_f64()?.partial_cmp(&policy.approx),
        Value::Number(number) => {
            let text = canonical_integer(number)?;
            Some(DecimalRef::parse(text.as_str())?.compare(policy.exact()?))
        }
        Value::String(text) => Some(DecimalRef::parse(text)?.compare(policy.exact()?)),
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// An instant in nanoseconds since the epoch, from epoch seconds (integer) or RFC 3339 text.
pub(in crate::policy) fn parse_instant(text: &str) -> Option<i128> {
    let integral = text.strip_prefix('-').unwrap_or(text);
    if !integral.is_empty() && integral.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: i64 = text.parse().ok()?;
        return seconds_to_nanos(seconds);
    }
    OffsetDateTime::parse(text, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp_nanos)
}

/// A claim read as an instant: a JSON number of epoch seconds, or a string as in [`parse_instant`].
pub(in crate::policy) fn claim_instant(claim: &Value) -> Option<i128> {
    match claim {
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(seconds), _) => seconds_to_nanos(seconds),
            (None, Some(seconds)) if seconds.is_finite() && seconds.abs() < 1e15 =>
            {
                #[allow(clippy::cast_possible_truncation, reason = "bounded just above")]
                Some((seconds * 1e9) as i128)
            }
            _ => None,
        },
        Value::String(text) => parse_instant(text),
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A claim read as a boolean: JSON `true`/`false`, or the strings `"true"`/`"false"`.
pub(in crate::policy) fn claim_bool(claim: &Value) -> Option<bool> {
    match claim {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        _ => None,
    }
}

fn seconds_to_nanos(seconds: i64) -> Option<i128> {
    i128::from(seconds).checked_mul(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_forms() {
        let text = |value: Value| canonical(&value).map(|c| c.as_str().to_owned());
        assert_eq!(text(json!("x")).as_deref(), Some("x"));
        assert_eq!(text(json!(true)).as_deref(), Some("true"));
        assert_eq!(text(json!(false)).as_deref(), Some("false"));
        assert_eq!(text(json!(42)).as_deref(), Some("42"));
        assert_eq!(text(json!(-7)).as_deref(), Some("-7"));
        assert_eq!(text(json!(i64::MIN)).as_deref(), Some("-9223372036854775808"));
        assert_eq!(text(json!(u64::MAX)).as_deref(), Some("18446744073709551615"));
        assert_eq!(text(json!(1.5)), None);
        assert_eq!(text(json!(null)), None);
        assert_eq!(text(json!([1])), None);
        assert_eq!(text(json!({"a": 1})), None);
    }

    #[test]
    fn presence() {
        let claims = json!({"s": "", "n": null, "e": [], "a": [null], "z": 0});
        let claims = claims.as_object().unwrap();
        let found: Vec<bool> =
            ["s", "n", "e", "a", "z", "missing"].iter().map(|name| present(claims.get(*name)).is_some()).collect();
        assert_eq!(found, [true, false, false, true, true, false]);
    }

    #[test]
    fn decimals() {
        use Ordering::*;
        let cases = [
            ("1", "1", Equal),
            ("1", "1.0", Equal),
            ("007", "7", Equal),
            ("-0", "0", Equal),
            ("+3", "3", Equal),
            ("0.5", "0.05", Greater),
            ("0.5", "0.51", Less),
            ("10", "9.99", Greater),
            ("-10", "-9", Less),
            ("-1", "1", Less),
            ("18446744073709551616", "18446744073709551615", Greater),
        ];
        for (left, right, expected) in cases {
            let (left_ref, right_ref) = (DecimalRef::parse(left).unwrap(), DecimalRef::parse(right).unwrap());
            assert_eq!(left_ref.compare(right_ref), expected, "{left} vs {right}");
            assert_eq!(right_ref.compare(left_ref), expected.reverse(), "{right} vs {left}");
        }
        for bad in ["", "-", "1.", ".5", "1e3", " 1", "1 ", "0x10", "1,5", "--1", "½"] {
            assert_eq!(DecimalRef::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn claim_numbers() {
        let policy = Decimal::parse("74").unwrap();
        let cases = [
            (json!(74), Some(Ordering::Equal)),
            (json!("74"), Some(Ordering::Equal)),
            (json!("074.0"), Some(Ordering::Equal)),
            (json!(73.5), Some(Ordering::Less)),
            (json!(u64::MAX), Some(Ordering::Greater)),
            (json!("seventy"), None),
            (json!(true), None),
            (json!(null), None),
        ];
        for (claim, expected) in cases {
            assert_eq!(compare_number(&claim, &policy), expected, "{claim}");
        }
        assert!(Decimal::parse("x").is_err());
    }

    #[test]
    fn instants() {
        let noon = 1_700_000_000_i128 * 1_000_000_000;
        assert_eq!(parse_instant("1700000000"), Some(noon));
        assert_eq!(parse_instant("2023-11-14T22:13:20Z"), Some(noon));
        assert_eq!(parse_instant("2023-11-14T23:13:20+01:00"), Some(noon));
        assert_eq!(parse_instant("-1"), Some(-1_000_000_000));
        for bad in ["", "2023-11-14", "yesterday", "1.5", "99999999999999999999"] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
        assert_eq!(claim_instant(&json!(1_700_000_000)), Some(noon));
        assert_eq!(claim_instant(&json!("1700000000")), Some(noon));
        assert_eq!(claim_instant(&json!(1.5)), Some(1_500_000_000));
        assert_eq!(claim_instant(&json!(true)), None);
    }

    #[test]
    fn booleans() {
        let cases = [(json!(true), Some(true)), (json!("false"), Some(false)), (json!("True"), None), (json!(1), None)];
        for (claim, expected) in cases {
            assert_eq!(claim_bool(&claim), expected, "{claim}");
        }
    }
}

//! String condition values with policy variables: `${claim}` is replaced at evaluation by the token's claim
//! (canonical form; a missing, null, array, object or float claim makes the value match nothing), and the AWS
//! escapes `${*}`, `${?}`, `${$}` stand for a literal `*`, `?`, `$`. Text substituted from a claim or an escape
//! is always literal, never a wildcard. Equality is compared piece by piece without allocating; a `StringLike`
//! value with variables builds its pattern at evaluation (the one allocation of such a condition).

use serde_json::{Map, Value};

use crate::policy::condition::claim::{Canonical, canonical};
use crate::policy::condition::placeholder::{Piece, split_placeholders};
use crate::policy::condition::wildcard::{Pattern, PatternBuilder};
use crate::policy::issuer::KeyResolver;

/// A string value as written, split into pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) struct TextValue {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text written in the policy: `*` and `?` are wildcards under `StringLike`.
    Written(String),
    /// `${*}`, `${?}` or `${$}`: a literal character.
    Escaped(char),
    /// `${claim}`.
    Claim(String),
}

/// A `StringLike` value: compiled once when it has no variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) enum LikeValue {
    Fixed(Pattern),
    WithVariables(TextValue),
}

impl TextValue {
    /// The value when it has no `${claim}` variable.
    pub(in crate::policy) fn literal(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Written(written) => text.push_str(written),
                Part::Escaped(c) => text.push(*c),
                Part::Claim(_) => return None,
            }
        }
        Some(text)
    }

    /// Adds the claims its `${…}` variables name.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        for part in &self.parts {
            if let Part::Claim(name) = part {
                out.insert(name.clone());
            }
        }
    }

    /// Parses `written`; variables name claims through `resolver` (bare or `host:claim`).
    pub(in crate::policy) fn parse(written: &str, resolver: KeyResolver<'_>) -> Result<TextValue, String> {
        let pieces = split_placeholders(written).ok_or_else(|| format!("value {written:?} has an unclosed \"${{\""))?;
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            parts.push(match piece {
                Piece::Literal(literal) => Part::Written(literal.to_owned()),
                Piece::Placeholder(name) => variable(name, written, resolver)?,
            });
        }
        Ok(TextValue { parts })
    }

    /// True when the value names a claim (`${claim}`).
    pub(in crate::policy) fn has_variables(&self) -> bool {
        self.parts.iter().any(|part| matches!(part, Part::Claim(_)))
    }

    /// The text written outside variables and escapes, concatenated (for the linter).
    pub(in crate::policy) fn written_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Written(text) => Some(text.as_str()),
                Part::Escaped(_) | Part::Claim(_) => None,
            })
            .collect()
    }

    /// Whether `text` equals the value with its variables substituted.
    pub(in crate::policy) fn equals(&self, text: &str, claims: &Map<String, Value>, ignore_case: bool) -> bool {
        let mut rest = text;
        for part in &self.parts {
            let mut escape = [0_u8; 4];
            let piece: Canonical<'_> = match part {
                Part::Written(written) => Canonical::Borrowed(written),
                Part::Escaped(character) => Canonical::Borrowed(character.encode_utf8(&mut escape)),
                Part::Claim(name) => match claims.get(name).and_then(canonical) {
                    Some(value) => value,
                    None => return false,
                },
            };
            let stripped = if ignore_case {
                strip_prefix_ignore_case(rest, piece.as_str())
            } else {
                rest.strip_prefix(piece.as_str())
            };
            match stripped {
                Some(remainder) => rest = remainder,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// The wildcard pattern with variables substituted as literal text; `None` when a variable is missing.
    fn pattern(&self, claims: &Map<String, Value>) -> Option<Pattern> {
        let mut builder = PatternBuilder::default();
        for part in &self.parts {
            match part {
                Part::Written(written) => builder.push_pattern(written),
                Part::Escaped(character) => builder.push_literal(character.encode_utf8(&mut [0; 4])),
                Part::Claim(name) => builder.push_literal(canonical(claims.get(name)?)?.as_str()),
            }
        }
        Some(builder.finish())
    }
}

impl LikeValue {
    /// The pattern when it has no `${claim}` variable.
    pub(in crate::policy) fn fixed(&self) -> Option<&Pattern> {
        match self {
            LikeValue::Fixed(pattern) => Some(pattern),
            LikeValue::WithVariables(_) => None,
        }
    }

    /// Adds the claims its `${…}` variables name.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        if let LikeValue::WithVariables(text) = self {
            text.claim_names(out);
        }
    }

    pub(in crate::policy) fn compile(value: TextValue) -> LikeValue {
        if value.has_variables() {
            return LikeValue::WithVariables(value);
        }
        let mut builder = PatternBuilder::default();
        for part in &value.parts {
            match part {
                Part::Written(written) => builder.push_pattern(written),
                Part::Escaped(character) => builder.push_literal(character.encode_utf8(&mut [0; 4])),
                Part::Claim(_) => {}
            }
        }
        LikeValue::Fixed(builder.finish())
    }

    pub(in crate::policy) fn matches(&self, text: &str, claims: &Map<String, Value>) -> bool {
        match self {
            LikeValue::Fixed(pattern) => pattern.matches(text),
            LikeValue::WithVariables(value) => value.pattern(claims).is_some_and(|pattern| pattern.matches(text)),
        }
    }
}

fn variable(name: &str, written: &str, resolver: KeyResolver<'_>) -> Result<Part, String> {
    match name {
        "*" => return Ok(Part::Escaped('*')),
        "?" => return Ok(Part::Escaped('?')),
        "$" => return Ok(Part::Escaped('$')),
        _ => {}
    }
    if name.contains(',') {
        return Err(format!("value {written:?}: policy variables with a default value are not supported"));
    }
    if name.is_empty() || name.contains(['$', '{', '\'']) || name.chars().any(char::is_whitespace) {
        return Err(format!("value {written:?} has an invalid policy variable {name:?}"));
    }
    let claim = resolver.claim(name).map_err(|message| format!("value {written:?}: {message}"))?;
    Ok(Part::Claim(claim.to_owned()))
}

/// `text` without a prefix equal to `prefix` under Unicode lower-casing, character by character.
fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let mut characters = text.char_indices();
    for wanted in prefix.chars() {
        let (_, found) = characters.next()?;
        if !found.to_lowercase().eq(wanted.to_lowercase()) {
            return None;
        }
    }
    Some(characters.next().map_or("", |(index, _)| text.get(index..).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolver() -> KeyResolver<'static> {
        KeyResolver { known: &[], trusted: &[], ignore_key_case: false }
    }

    fn claims() -> Map<String, Value> {
        json!({"owner": "acme", "id": 42, "star": "a*", "list": ["x"], "nothing": null}).as_object().cloned().unwrap()
    }

    #[test]
    fn equality_with_variables() {
        let cases = [
            ("repo:${owner}/web", "repo:acme/web", false, true),
            ("repo:${owner}/web", "repo:acme/web2", false, false),
            ("repo:${owner}/web", "repo:ACME/web", false, false),
            ("repo:${owner}/web", "REPO:ACME/WEB", true, true),
            ("run-${id}", "run-42", false, true),
            ("${missing}", "", false, false),
            ("${nothing}", "", false, false),
            ("${list}", "x", false, false),
            ("a${*}b${?}${$}", "a*b?$", false, true),
            ("plain", "plain", false, true),
            ("", "", false, true),
            ("Straße", "STRASSE", true, false),
            ("ÉCOLE", "école", true, true),
        ];
        for (written, text, ignore_case, expected) in cases {
            let value = TextValue::parse(written, resolver()).unwrap();
            assert_eq!(value.equals(text, &claims(), ignore_case), expected, "{written} vs {text}");
        }
    }

    #[test]
    fn patterns_with_variables() {
        let cases = [
            ("repo:${owner}/*", "repo:acme/web", true),
            ("repo:${owner}/*", "repo:evil/web", false),
            ("${star}", "a*", true),
            ("${star}", "ab", false),
            ("x${*}", "x*", true),
            ("x${*}", "xy", false),
            ("x${?}", "xy", false),
            ("${missing}*", "anything", false),
        ];
        for (written, text, expected) in cases {
            let value = LikeValue::compile(TextValue::parse(written, resolver()).unwrap());
            assert_eq!(value.matches(text, &claims()), expected, "{written} vs {text}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("${", "unclosed"),
            ("a${b", "unclosed"),
            ("${}", "invalid policy variable"),
            ("${a b}", "invalid policy variable"),
            ("${aws:username, 'x'}", "default value"),
            ("${aws:username}", "AWS request context"),
        ];
        for (written, fragment) in cases {
            let message = TextValue::parse(written, resolver()).unwrap_err();
            assert!(message.contains(fragment), "{written}: {message}");
        }
        let value = TextValue::parse("a${b}c${*}", resolver()).unwrap();
        assert!(value.has_variables());
        assert_eq!(value.written_text(), "ac");
    }
}

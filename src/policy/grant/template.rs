//! `${claim}` templates used by grants (the minted token's subject and extra claims, an AWS session's name and
//! tags): parsing once at load and rendering against a verified claim set. A `$` not followed by `{` is literal;
//! `${` must close with `}` around a non-empty claim name. Rendering never invents a value: a missing claim is
//! an error (which a caller may choose to treat as "leave this out").

use serde_json::{Map, Value};

use crate::policy::condition::claim::canonical;
use crate::policy::condition::placeholder::{Piece, split_placeholders};

/// Why a template could not be rendered for a given claim set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template names a claim the token does not carry.
    #[error("the token has no claim {0:?}, which the grant's template needs")]
    MissingClaim(String),
    /// The claim exists but has no string form (an array, object, null or float).
    #[error("claim {0:?} is not a string, boolean or integer and cannot be put into a string")]
    NotAString(String),
    /// The subject template rendered to the empty string.
    #[error("the grant's subject template rendered to an empty string")]
    EmptySubject,
    /// An AWS session tag's value rendered to more than 256 characters (never truncated).
    #[error("session tag {key:?} rendered to more than 256 characters")]
    SessionTagTooLong { key: String },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Claim(String),
}

impl Template {
    /// Adds the claims it names.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        for part in &self.parts {
            if let Part::Claim(name) = part {
                out.insert(name.clone());
            }
        }
    }

    /// Parses `text`; the error is a sentence.
    pub(in crate::policy) fn parse(text: &str) -> Result<Template, String> {
        let pieces = split_placeholders(text).ok_or_else(|| format!("template {text:?} has an unclosed \"${{\""))?;
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            parts.push(match piece {
                Piece::Literal(literal) => Part::Literal(literal.to_owned()),
                Piece::Placeholder(name) if name.is_empty() || name.contains('$') || name.contains('{') => {
                    return Err(format!("template {text:?} has an invalid claim name {name:?}"));
                }
                Piece::Placeholder(name) => Part::Claim(name.to_owned()),
            });
        }
        Ok(Template { parts })
    }

    /// True when the template names at least one claim.
    pub(in crate::policy) fn has_claims(&self) -> bool {
        self.parts.iter().any(|part| matches!(part, Part::Claim(_)))
    }

    /// The number of characters of the template's fixed text: every rendering is at least this long.
    pub(in crate::policy) fn fixed_chars(&self) -> usize {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(literal) => literal.chars().count(),
                Part::Claim(_) => 0,
            })
            .sum()
    }

    /// The claim name when the template is exactly `${name}` and nothing else.
    pub(in crate::policy) fn as_single_claim(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Claim(name)] => Some(name),
            _ => None,
        }
    }

    /// Renders to a string; every named claim must be present and have a string form.
    pub(in crate::policy) fn render(&self, claims: &Map<String, Value>) -> Result<String, RenderError> {
        let mut rendered = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => rendered.push_str(literal),
                Part::Claim(name) => {
                    let value = claims.get(name).ok_or_else(|| RenderError::MissingClaim(name.clone()))?;
                    let text = canonical(value).ok_or_else(|| RenderError::NotAString(name.clone()))?;
                    rendered.push_str(text.as_str());
                }
            }
        }
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Map<String, Value> {
        let value = json!({
            "repository": "acme/web",
            "ref": "refs/heads/main",
            "run": 42,
            "flag": true,
            "list": ["a"],
            "oidc.circleci.com/project-id": "p1",
        });
        value.as_object().cloned().unwrap()
    }

    fn check(template: &str, expected: Result<&str, RenderError>) {
        let parsed = Template::parse(template).unwrap();
        assert_eq!(parsed.render(&claims()), expected.map(str::to_owned), "{template}");
    }

    #[test]
    fn rendering() {
        check("plain", Ok("plain"));
        check("", Ok(""));
        check("${repository}@${ref}", Ok("acme/web@refs/heads/main"));
        check("run-${run}-${flag}", Ok("run-42-true"));
        check("$5 and $x{", Ok("$5 and $x{"));
        check("${oidc.circleci.com/project-id}", Ok("p1"));
        check("x${nope}", Err(RenderError::MissingClaim("nope".into())));
        check("x${list}", Err(RenderError::NotAString("list".into())));
    }

    #[test]
    fn parsing() {
        assert_eq!(Template::parse("${a}").unwrap().as_single_claim(), Some("a"));
        assert_eq!(Template::parse(" ${a}").unwrap().as_single_claim(), None);
        assert!(!Template::parse("no claims").unwrap().has_claims());
        assert!(Template::parse("a-${b}").unwrap().has_claims());
        assert_eq!(Template::parse("é-${b}-x").unwrap().fixed_chars(), 4);
        for bad in ["${", "x${a", "${}", "${a${b}}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}

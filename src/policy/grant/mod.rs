//! What an allowed exchange is granted: the compiled [`Grant`] — a broker token ([`TokenGrant`], here: its
//! lifetime rules and the rendering of its subject and extra claims from the verified claim set) or an AWS role
//! session ([`AwsGrant`], in `aws`). It decides which fields each grant type takes, and owns the list of
//! claim names a token grant may not set. It does not mint anything: the credentials module does.

pub(in crate::policy) mod aws;
pub(in crate::policy) mod limits;
pub(in crate::policy) mod template;

use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::policy::error::{CompileError, printable};
use crate::policy::grant::aws::{AWS_FIELDS, AwsGrant, compile_aws_grant};
use crate::policy::grant::template::{RenderError, Template};
use crate::policy::source::{KeyedMap, RawGrant, RawGrantKind, RawTtl, line_of, non_empty_strings, parse_duration};

/// What a policy grants when it allows an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A token signed by the broker.
    Token(TokenGrant),
    /// A session of an IAM role, through STS `AssumeRoleWithWebIdentity`.
    Aws(AwsGrant),
}

/// A broker-signed token: audiences, lifetime, and how to fill in its subject and extra claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    audiences: Vec<String>,
    ttl_seconds: u32,
    subject: Option<Template>,
    claims: Vec<(String, ClaimSource)>,
}

/// Where one extra claim of the minted token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClaimSource {
    /// `"${name}"`: the inbound claim copied as is, any JSON type; omitted when missing.
    Copy(String),
    /// A template mixing text and claims: always a string; a missing claim is an error.
    Text(Template),
    /// A value written in the policy, copied as JSON.
    Literal(Value),
}

/// Claim names the broker sets itself; a policy may not add them.
pub(in crate::policy) const RESERVED_CLAIMS: &[&str] =
    &["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "act", "role"];

/// The fields of a `type: token` grant.
const TOKEN_FIELDS: &[&str] = &["type", "audience", "ttl", "subject", "claims"];

/// The longest lifetime a grant may ask for: 24 hours.
pub(in crate::policy) const MAX_TTL_SECONDS: u32 = 24 * 60 * 60;

impl Grant {
    /// Adds the inbound claims the grant reads.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        match self {
            Grant::Token(grant) => grant.claim_names(out),
            Grant::Aws(grant) => grant.claim_names(out),
        }
    }
}

impl TokenGrant {
    /// Adds the inbound claims its subject and claim templates read.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        self.subject.iter().for_each(|subject| subject.claim_names(out));
        for (_, source) in &self.claims {
            match source {
                ClaimSource::Copy(name) => {
                    out.insert(name.clone());
                }
                ClaimSource::Text(template) => template.claim_names(out),
                ClaimSource::Literal(_) => {}
            }
        }
    }

    /// The audiences the minted token may carry; never empty; the first is the default.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The names of the extra claims it sets (beside the broker's own: iss, sub, aud, exp, iat, nbf, jti, role).
    pub fn claim_keys(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().map(|(name, _)| name.as_str())
    }

    /// The value of an extra claim written in the policy as is (`None` when it is absent or comes from the
    /// inbound token).
    pub fn literal_claim(&self, name: &str) -> Option<&Value> {
        self.claims.iter().find(|(key, _)| key == name).and_then(|(_, source)| match source {
            ClaimSource::Literal(value) => Some(value),
            ClaimSource::Copy(_) | ClaimSource::Text(_) => None,
        })
    }

    /// The minted token's lifetime, 1..=86400 seconds.
    pub fn ttl_seconds(&self) -> u32 {
        self.ttl_seconds
    }

    /// Renders the subject template; `None` when the grant has none (the caller uses the inbound `sub`).
    /// Claims render in their canonical string form (booleans `true`/`false`, integers in decimal).
    pub fn render_subject(&self, claims: &Map<String, Value>) -> Result<Option<String>, RenderError> {
        let Some(template) = &self.subject else {
            return Ok(None);
        };
        let subject = template.render(claims)?;
        if subject.is_empty() {
            return Err(RenderError::EmptySubject);
        }
        Ok(Some(subject))
    }

    /// Renders the extra claims. Reserved names (iss sub aud exp iat nbf jti act role) are refused at load time.
    pub fn render_claims(&self, claims: &Map<String, Value>) -> Result<Map<String, Value>, RenderError> {
        let mut rendered = Map::new();
        for (name, source) in &self.claims {
            let value = match source {
                ClaimSource::Copy(claim) => match claims.get(claim) {
                    Some(value) => value.clone(),
                    None => continue,
                },
                ClaimSource::Text(template) => Value::String(template.render(claims)?),
                ClaimSource::Literal(value) => value.clone(),
            };
            rendered.insert(name.clone(), value);
        }
        Ok(rendered)
    }
}

/// Compiles the `grant:` block: its type, then the fields of that type (any other field is refused at its line).
pub(in crate::policy) fn compile_grant(raw: Spanned<RawGrant>) -> Result<Grant, CompileError> {
    let grant_line = line_of(&raw);
    let raw = raw.value;
    let Some(kind) = raw.kind.as_ref().map(|spanned| spanned.value) else {
        return Err(CompileError::at(grant_line, "missing field `type`"));
    };
    let fields = match kind {
        RawGrantKind::Token => TOKEN_FIELDS,
        RawGrantKind::Aws => AWS_FIELDS,
    };
    if let Some(key) = raw.written.iter().find(|key| !fields.contains(&key.value.as_str())) {
        return Err(CompileError::at(
            line_of(key),
            format!("unknown field `{}`, expected one of {}", printable(&key.value), fields.join(", ")),
        ));
    }
    match kind {
        RawGrantKind::Token => compile_token_grant(raw, grant_line).map(Grant::Token),
        RawGrantKind::Aws => compile_aws_grant(raw, grant_line).map(Grant::Aws),
    }
}

fn compile_token_grant(raw: RawGrant, grant_line: Option<u64>) -> Result<TokenGrant, CompileError> {
    let Some(audience) = raw.audience else {
        return Err(CompileError::at(grant_line, "missing field `audience`"));
    };
    let Some(ttl) = raw.ttl else {
        return Err(CompileError::at(grant_line, "missing field `ttl`"));
    };
    let audience_line = line_of(&audience);
    let audiences = non_empty_strings(audience.value.0, "grant audience")
        .map_err(|message| CompileError::at(audience_line, message))?;
    let ttl_seconds = parse_ttl(&ttl.value).map_err(|message| CompileError::at(line_of(&ttl), message))?;
    let subject = match raw.subject {
        None => None,
        Some(spanned) => {
            let line = line_of(&spanned);
            let template = Template::parse(&spanned.value).map_err(|message| CompileError::at(line, message))?;
            if spanned.value.is_empty() {
                return Err(CompileError::at(line, "the grant subject may not be empty"));
            }
            Some(template)
        }
    };
    let claims = match raw.claims {
        None => Vec::new(),
        Some(claims) => compile_claims(claims)?,
    };
    Ok(TokenGrant { audiences, ttl_seconds, subject, claims })
}

fn compile_claims(raw: KeyedMap<Value>) -> Result<Vec<(String, ClaimSource)>, CompileError> {
    let mut claims = Vec::with_capacity(raw.0.len());
    for (name, value) in raw.0 {
        let line = line_of(&name);
        let name = name.value;
        if name.is_empty() {
            return Err(CompileError::at(line, "a grant claim needs a name"));
        }
        if RESERVED_CLAIMS.contains(&name.as_str()) {
            return Err(CompileError::at(line, format!("grant claim {name:?} is reserved: the broker sets it")));
        }
        let source = match value {
            Value::String(text) => {
                let template = Template::parse(&text).map_err(|message| CompileError::at(line, message))?;
                match template.as_single_claim() {
                    Some(claim) => ClaimSource::Copy(claim.to_owned()),
                    None if template.has_claims() => ClaimSource::Text(template),
                    None => ClaimSource::Literal(Value::String(text)),
                }
            }
            literal => {
                if nested_template(&literal) {
                    return Err(CompileError::at(
                        line,
                        format!("grant claim {name:?}: \"${{…}}\" templates work only in top-level string values"),
                    ));
                }
                ClaimSource::Literal(literal)
            }
        };
        claims.push((name, source));
    }
    Ok(claims)
}

/// True when a literal list or map holds a string that looks like a template, which would be copied verbatim.
fn nested_template(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("${"),
        Value::Array(items) => items.iter().any(nested_template),
        Value::Object(map) => map.values().any(nested_template),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Parses a lifetime: whole seconds, or `<number><unit>` groups with units `h`, `m`, `s` (e.g. `1h30m`).
pub(in crate::policy) fn parse_ttl(raw: &RawTtl) -> Result<u32, String> {
    let seconds = match raw {
        RawTtl::Seconds(seconds) => *seconds,
        RawTtl::Negative(_) => return Err("ttl must be positive".to_owned()),
        RawTtl::Text(text) => {
            parse_duration(text).ok_or_else(|| format!("ttl {text:?} is not a duration such as 90s, 15m or 1h"))?
        }
    };
    match u32::try_from(seconds) {
        Ok(seconds) if (1..=MAX_TTL_SECONDS).contains(&seconds) => Ok(seconds),
        _ => Err(format!("ttl must be between 1 second and 24h, not {seconds} seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_ttl(raw: RawTtl, expected: Result<u32, &str>) {
        let parsed = parse_ttl(&raw);
        match expected {
            Ok(seconds) => assert_eq!(parsed, Ok(seconds), "{raw:?}"),
            Err(fragment) => {
                let message = parsed.unwrap_err();
                assert!(message.contains(fragment), "{raw:?}: {message}");
            }
        }
    }

    #[test]
    fn ttl() {
        use RawTtl::{Negative, Seconds, Text};
        check_ttl(Seconds(900), Ok(900));
        check_ttl(Seconds(1), Ok(1));
        check_ttl(Seconds(86_400), Ok(86_400));
        check_ttl(Seconds(0), Err("between 1 second and 24h"));
        check_ttl(Seconds(86_401), Err("between 1 second and 24h"));
        check_ttl(Seconds(u64::MAX), Err("between 1 second and 24h"));
        check_ttl(Negative(-5), Err("ttl must be positive"));
        check_ttl(Text("90s".into()), Ok(90));
        check_ttl(Text("15m".into()), Ok(900));
        check_ttl(Text("1h".into()), Ok(3600));
        check_ttl(Text("1h30m".into()), Ok(5400));
        check_ttl(Text("24h".into()), Ok(86_400));
        check_ttl(Text("25h".into()), Err("between 1 second and 24h"));
        check_ttl(Text("0s".into()), Err("between 1 second and 24h"));
        check_ttl(Text("15".into()), Err("not a duration"));
        check_ttl(Text("".into()), Err("not a duration"));
        check_ttl(Text("m".into()), Err("not a duration"));
        check_ttl(Text("15 m".into()), Err("not a duration"));
        check_ttl(Text("1d".into()), Err("not a duration"));
        check_ttl(Text("-5m".into()), Err("not a duration"));
        check_ttl(Text("99999999999999999999h".into()), Err("not a duration"));
    }
}

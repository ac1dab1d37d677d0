//! Registered-claim checks on a signature-verified payload, and `VerifiedToken`, the only proof that a token
//! was verified.
//!
//! `exp`, `iat` and `nbf` must be JSON numbers (a string `exp` is a rejection, not "absent"); time comes in
//! as `now`, with the issuer's leeway.

use serde_json::{Map, Value};

use super::VerifyError;
use crate::clock::UnixTime;

/// What the claims are checked against.
pub struct ClaimRules<'a> {
    pub issuer_name: &'a str,
    /// The exact `iss` expected (the selected issuer's concrete URL).
    pub iss: &'a str,
    pub audiences: &'a [String],
    pub leeway_secs: i64,
    /// Longest accepted `exp - iat`.
    pub max_lifetime_secs: i64,
    /// A template issuer's placeholder claim and the value in its `iss` (Semaphore: `org` and `acme` of
    /// `https://acme.semaphoreci.com`): the claim, when present, must equal it, so pinning it pins the issuer.
    pub placeholder: Option<(&'static str, &'a str)>,
}

/// A token whose signature, issuer, audience and validity window were checked. Constructed only by `verify`.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    issuer_name: String,
    iss: String,
    sub: String,
    audiences: Vec<String>,
    exp: UnixTime,
    iat: UnixTime,
    jti: Option<String>,
    /// The tenant on a shared issuer (a template's value, or the first tenant claim), for per-tenant limits.
    tenant: Option<String>,
    claims: Map<String, Value>,
}

impl VerifiedToken {
    /// The configured name of the trusted issuer that vouched for this token.
    pub fn issuer_name(&self) -> &str {
        &self.issuer_name
    }
    pub fn iss(&self) -> &str {
        &self.iss
    }
    pub fn sub(&self) -> &str {
        &self.sub
    }
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    pub fn exp(&self) -> UnixTime {
        self.exp
    }
    pub fn iat(&self) -> UnixTime {
        self.iat
    }
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// Every claim of the payload, as sent.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
    /// The tenant, on a shared issuer.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    pub(super) fn with_tenant(self, tenant: Option<String>) -> Self {
        Self { tenant, ..self }
    }
}

/// Checks the registered claims; `claims` is the verified payload.
pub fn check(claims: Map<String, Value>, rules: &ClaimRules<'_>, now: UnixTime) -> Result<VerifiedToken, VerifyError> {
    let iss = string_claim(&claims, "iss")?;
    if iss != rules.iss {
        return Err(VerifyError::UnknownIssuer(crate::text::shorten(iss)));
    }
    let sub = string_claim(&claims, "sub")?;
    if sub.is_empty() {
        return Err(VerifyError::InvalidClaim("sub", "must not be empty"));
    }
    let audiences = audience_claim(&claims)?;
    let exp = time_claim(&claims, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
    let iat = time_claim(&claims, "iat")?.ok_or(VerifyError::MissingClaim("iat"))?;
    let nbf = time_claim(&claims, "nbf")?;
    if let Some((claim, value)) = rules.placeholder
        && claims.get(claim).is_some_and(|present| present.as_str() != Some(value))
    {
        return Err(VerifyError::InvalidClaim(claim, "does not match the token's issuer"));
    }
    let leeway = rules.leeway_secs;
    if now.secs_since(exp) > leeway {
        return Err(VerifyError::Expired { exp });
    }
    if let Some(nbf) = nbf
        && nbf.secs_since(now) > leeway
    {
        return Err(VerifyError::NotYetValid { nbf });
    }
    if iat.secs_since(now) > leeway {
        return Err(VerifyError::IssuedInFuture { iat });
    }
    check_window(exp, iat, nbf, rules.max_lifetime_secs)?;
    if !audiences.iter().any(|a| rules.audiences.contains(a)) {
        return Err(VerifyError::AudienceNotAccepted);
    }
    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(jti)) => Some(jti.clone()),
        Some(_) => return Err(VerifyError::InvalidClaim("jti", "must be a string")),
    };
    Ok(VerifiedToken {
        issuer_name: rules.issuer_name.to_owned(),
        iss: iss.to_owned(),
        sub: sub.to_owned(),
        audiences,
        exp,
        iat,
        jti,
        tenant: None,
        claims,
    })
}

/// A window that closes before it opens is refused whatever the leeway, and so is one longer than the
/// issuer's ceiling (a leaked long-lived token).
fn check_window(exp: UnixTime, iat: UnixTime, nbf: Option<UnixTime>, max_lifetime: i64) -> Result<(), VerifyError> {
    if nbf.is_some_and(|nbf| exp <= nbf) {
        return Err(VerifyError::InvalidWindow("exp is not after nbf"));
    }
    if exp < iat {
        return Err(VerifyError::InvalidWindow("exp is before iat"));
    }
    let lifetime = exp.secs_since(iat);
    if lifetime > max_lifetime {
        return Err(VerifyError::LifetimeTooLong { lifetime, max: max_lifetime });
    }
    Ok(())
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, VerifyError> {
    match claims.get(name) {
        None => Err(VerifyError::MissingClaim(name)),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(VerifyError::InvalidClaim(name, "must be a string")),
    }
}

fn audience_claim(claims: &Map<String, Value>) -> Result<Vec<String>, VerifyError> {
    let invalid = VerifyError::InvalidClaim("aud", "must be a string or a non-empty array of strings");
    match claims.get("aud") {
        None => Err(VerifyError::MissingClaim("aud")),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(values)) if !values.is_empty() => values
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(VerifyError::InvalidClaim("aud", "must hold strings")))
            .collect(),
        Some(_) => Err(invalid),
    }
}

/// A NumericDate: a JSON number of seconds (fractions are floored). Anything else is a rejection.
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<UnixTime>, VerifyError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(VerifyError::InvalidClaim(name, "must be a number"));
    };
    let secs = match (number.as_i64(), number.as_f64()) {
        (Some(secs), _) => secs,
        (None, Some(float)) if float.is_finite() && float.abs() < 1e15 => float.floor() as i64,
        _ => return Err(VerifyError::InvalidClaim(name, "is out of range")),
    };
    Ok(Some(UnixTime::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn rules() -> (Vec<String>, ClaimRules<'static>) {
        let audiences = vec!["tollgate".to_owned()];
        let leaked: &'static [String] = Box::leak(audiences.clone().into_boxed_slice());
        let rules = ClaimRules {
            issuer_name: "github",
            iss: "https://issuer",
            audiences: leaked,
            leeway_secs: 60,
            max_lifetime_secs: 3600,
            placeholder: Some(("org", "acme")),
        };
        (audiences, rules)
    }

    fn base() -> Value {
        json!({"iss": "https://issuer", "sub": "repo:a/b:ref:refs/heads/main", "aud": "tollgate",
               "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10, "jti": "j1"})
    }

    fn check_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Result<VerifiedToken, VerifyError> {
        let Value::Object(mut claims) = base() else { unreachable!() };
        edit(&mut claims);
        check(claims, &rules().1, UnixTime::from_secs(NOW))
    }

    #[test]
    fn accepts_a_good_token() {
        assert!(
            check_with(|c| {
                c.insert("org".into(), json!("acme"));
                c.insert("exp".into(), json!(NOW - 10 + 3600));
            })
            .is_ok()
        );
        let token = check_with(|_| {}).unwrap();
        assert_eq!(token.sub(), "repo:a/b:ref:refs/heads/main");
        assert_eq!(token.audiences(), ["tollgate"]);
        assert_eq!(token.jti(), Some("j1"));
        assert_eq!(token.issuer_name(), "github");
    }

    #[test]
    fn table_of_rejections() {
        type Edit = fn(&mut Map<String, Value>);
        let cases: &[(&str, Edit, &str)] = &[
            (
                "missing sub",
                |c| {
                    c.remove("sub");
                },
                "sub",
            ),
            (
                "numeric sub",
                |c| {
                    c.insert("sub".into(), json!(5));
                },
                "sub",
            ),
            (
                "array sub",
                |c| {
                    c.insert("sub".into(), json!(["repo:a/b:ref:refs/heads/main"]));
                },
                "\"sub\" must be a string",
            ),
            (
                "object sub",
                |c| {
                    c.insert("sub".into(), json!({"repo": "a/b"}));
                },
                "\"sub\" must be a string",
            ),
            (
                "exp before nbf, each inside the leeway",
                |c| {
                    c.insert("exp".into(), json!(NOW - 30));
                    c.insert("nbf".into(), json!(NOW + 30));
                    c.insert("iat".into(), json!(NOW - 40));
                },
                "exp is not after nbf",
            ),
            (
                "exp equal to nbf",
                |c| {
                    c.insert("exp".into(), json!(NOW + 10));
                    c.insert("nbf".into(), json!(NOW + 10));
                },
                "exp is not after nbf",
            ),
            (
                "exp before iat",
                |c| {
                    c.insert("exp".into(), json!(NOW - 5));
                    c.insert("iat".into(), json!(NOW + 5));
                    c.remove("nbf");
                },
                "exp is before iat",
            ),
            (
                "lifetime over the issuer's ceiling",
                |c| {
                    c.insert("exp".into(), json!(NOW - 10 + 3601));
                },
                "lifetime (exp - iat = 3601 s) is longer than this issuer allows (3600 s)",
            ),
            (
                "placeholder claim of another tenant",
                |c| {
                    c.insert("org".into(), json!("evil"));
                },
                "\"org\" does not match the token's issuer",
            ),
            (
                "placeholder claim not a string",
                |c| {
                    c.insert("org".into(), json!(["acme"]));
                },
                "\"org\" does not match the token's issuer",
            ),
            (
                "empty sub",
                |c| {
                    c.insert("sub".into(), json!(""));
                },
                "sub",
            ),
            (
                "missing aud",
                |c| {
                    c.remove("aud");
                },
                "aud",
            ),
            (
                "other aud",
                |c| {
                    c.insert("aud".into(), json!("other"));
                },
                "audience",
            ),
            (
                "empty aud array",
                |c| {
                    c.insert("aud".into(), json!([]));
                },
                "aud",
            ),
            (
                "missing exp",
                |c| {
                    c.remove("exp");
                },
                "exp",
            ),
            (
                "string exp",
                |c| {
                    c.insert("exp".into(), json!("9999999999"));
                },
                "exp",
            ),
            (
                "null exp",
                |c| {
                    c.insert("exp".into(), Value::Null);
                },
                "exp",
            ),
            (
                "string nbf",
                |c| {
                    c.insert("nbf".into(), json!("0"));
                },
                "nbf",
            ),
            (
                "missing iat",
                |c| {
                    c.remove("iat");
                },
                "iat",
            ),
            (
                "bool iat",
                |c| {
                    c.insert("iat".into(), json!(true));
                },
                "iat",
            ),
            (
                "expired past leeway",
                |c| {
                    c.insert("exp".into(), json!(NOW - 61));
                },
                "expired",
            ),
            (
                "nbf past leeway",
                |c| {
                    c.insert("nbf".into(), json!(NOW + 61));
                },
                "not valid before",
            ),
            (
                "iat in future",
                |c| {
                    c.insert("iat".into(), json!(NOW + 61));
                },
                "issued in the future",
            ),
            (
                "other iss",
                |c| {
                    c.insert("iss".into(), json!("https://issuer/"));
                },
                "issuer",
            ),
            (
                "numeric jti",
                |c| {
                    c.insert("jti".into(), json!(1));
                },
                "jti",
            ),
        ];
        for (name, edit, expected) in cases {
            let error = check_with(*edit).expect_err(name);
            assert!(error.to_string().contains(expected), "{name}: {error}");
        }
    }

    #[test]
    fn leeway_and_array_audiences_accept() {
        assert!(
            check_with(|c| {
                c.insert("exp".into(), json!(NOW - 60));
                c.insert("iat".into(), json!(NOW - 360));
                c.insert("nbf".into(), json!(NOW - 360));
            })
            .is_ok()
        );
        assert!(
            check_with(|c| {
                c.insert("nbf".into(), json!(NOW + 60));
            })
            .is_ok()
        );
        assert!(
            check_with(|c| {
                c.remove("nbf");
            })
            .is_ok()
        );
        assert!(
            check_with(|c| {
                c.insert("aud".into(), json!(["x", "tollgate"]));
            })
            .is_ok()
        );
        assert!(
            check_with(|c| {
                c.insert("exp".into(), json!((NOW + 10) as f64 + 0.5));
            })
            .is_ok()
        );
    }
}

//! Registered-claim checks on a signature-verified payload, and `VerifiedToken`, the only proof that a token
//! was verified.
//!
//! `exp`, `iat` and `nbf` must be JSON numbers (a string `exp` is a rejection, not "absent"); time comes in
//! as `now`, with the issuer's leeway.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::VerifyError;
use crate::clock::UnixTime;
use crate::issuers::{Tenancy, tenant_of};

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
    /// The header's `kid`, when it named one (it selected the key that verified the signature).
    kid: Option<String>,
    /// Who can mint tokens from the issuer, and the template value of its `iss` (for [`Self::tenant`]).
    tenancy: Option<Arc<Tenancy>>,
    template_value: Option<String>,
    claims: Map<String, Value>,
}

impl VerifiedToken {
    /// An identity Tollgate vouches for itself, with no token behind it: a runner credential the store knows
    /// (`operators::runners`). Its claims are Tollgate's own, never a caller's.
    pub fn vouched(
        issuer_name: &str,
        iss: String,
        sub: String,
        jti: String,
        (iat, exp): (UnixTime, UnixTime),
        claims: Map<String, Value>,
    ) -> VerifiedToken {
        let audiences = claims.get("aud").and_then(Value::as_str).map(str::to_owned).into_iter().collect();
        VerifiedToken {
            issuer_name: issuer_name.to_owned(),
            iss,
            sub,
            audiences,
            exp,
            iat,
            jti: Some(jti),
            kid: None,
            tenancy: None,
            template_value: None,
            claims,
        }
    }

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
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Records the `kid` the signature was verified with.
    pub(super) fn with_kid(mut self, kid: Option<String>) -> Self {
        self.kid = kid;
        self
    }

    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// Every claim of the payload, as sent.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
    /// The tenant on a shared issuer (a template's value, or the first tenant claim), for per-tenant limits;
    /// computed on demand, so tokens pay for it only where a limit asks.
    pub fn tenant(&self) -> Option<Cow<'_, str>> {
        let tenancy = self.tenancy.as_deref()?;
        tenant_of(tenancy, self.template_value.as_deref(), &self.claims)
    }

    pub(super) fn with_tenancy(self, tenancy: Arc<Tenancy>, template_value: Option<String>) -> Self {
        Self { tenancy: Some(tenancy), template_value, ..self }
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
        kid: None,
        tenancy: None,
        template_value: None,
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
#[path = "claims_tests.rs"]
mod tests;

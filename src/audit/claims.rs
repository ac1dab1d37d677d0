//! Which claims a decision line records (`audit.claims`), so that `tollgate policy replay` can re-decide it
//! under other policies. Never a token: only claim values, which the token's issuer signed and every relying
//! party reads. `none` keeps them out of the log; `hashed` only from a casual reader (see below).
//!
//! - `referenced` (the default): the claims the live or candidate policies read (conditions, variables,
//!   grants) plus `iss`, `sub`, `aud`, `jti`, by value; the names of the others in `omitted_claims`, so a replay
//!   knows a claim was in the token but not recorded (undecidable) from one the token lacked (decidable);
//! - `all`: every claim by value;
//! - `hashed`: the referenced claims, each value as `sha256:` and the hex SHA-256 of its JSON. Unsalted, so
//!   anyone can confirm a guess (repository names and ids are easy to guess), and the line's own `sub` and
//!   `issuer` fields stay readable; replay cannot re-decide these lines;
//! - `none`: no claims.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::broker::ClaimsSeen;

/// `audit.claims`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClaimsRecord {
    #[default]
    Referenced,
    All,
    Hashed,
    None,
}

impl ClaimsRecord {
    /// Parses the config value.
    pub fn parse(text: &str) -> Result<ClaimsRecord, String> {
        match text {
            "referenced" => Ok(ClaimsRecord::Referenced),
            "all" => Ok(ClaimsRecord::All),
            "hashed" => Ok(ClaimsRecord::Hashed),
            "none" => Ok(ClaimsRecord::None),
            other => Err(format!("audit.claims: {other:?} is not referenced, all, hashed or none")),
        }
    }
}

/// The `claims` object of a line.
pub(super) struct Recorded<'a> {
    pub(super) seen: ClaimsSeen<'a>,
    pub(super) mode: ClaimsRecord,
}

/// The `omitted_claims` array of a line (`referenced` only).
pub(super) struct Omitted<'a>(pub(super) ClaimsSeen<'a>);

impl<'a> Recorded<'a> {
    /// What a line records for `seen` under `mode`: the claims, and the names left out.
    pub(super) fn of(seen: Option<ClaimsSeen<'a>>, mode: ClaimsRecord) -> (Option<Self>, Option<Omitted<'a>>) {
        let Some(seen) = seen else { return (None, None) };
        match mode {
            ClaimsRecord::None => (None, None),
            ClaimsRecord::All => (Some(Recorded { seen, mode }), None),
            ClaimsRecord::Hashed => (Some(Recorded { seen, mode }), None),
            ClaimsRecord::Referenced => {
                let omitted = seen.claims.keys().any(|name| !seen.referenced(name)).then_some(Omitted(seen));
                (Some(Recorded { seen, mode }), omitted)
            }
        }
    }
}

impl Serialize for Recorded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.seen.claims {
            match self.mode {
                ClaimsRecord::All => map.serialize_entry(name, value)?,
                ClaimsRecord::Referenced if self.seen.referenced(name) => map.serialize_entry(name, value)?,
                ClaimsRecord::Hashed if self.seen.referenced(name) => map.serialize_entry(name, &hashed(value))?,
                _ => {}
            }
        }
        map.end()
    }
}

impl Serialize for Omitted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut names = serializer.serialize_seq(None)?;
        for name in self.0.claims.keys().filter(|name| !self.0.referenced(name)) {
            names.serialize_element(name)?;
        }
        names.end()
    }
}

/// `sha256:` and the hex SHA-256 of the value's JSON.
fn hashed(value: &Value) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.to_string().as_bytes());
    format!("sha256:{}", crate::text::hex(digest.as_ref()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::policy::{KnownIssuer, PolicySet};

    fn set(claim: &str) -> PolicySet {
        let policy = format!(
            "role: deploy\nissuer: ci\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        {claim}: x\ngrant:\n  type: token\n  audience: api\n  ttl: 15m\n"
        );
        PolicySet::from_sources(&[("deploy.yaml".into(), policy)], &[KnownIssuer::named("ci")]).unwrap()
    }

    fn record(
        claims: &Map<String, Value>,
        live: &PolicySet,
        candidate: Option<&PolicySet>,
        mode: ClaimsRecord,
    ) -> (Value, Value) {
        let (recorded, omitted) = Recorded::of(Some(ClaimsSeen::new(claims, live, candidate)), mode);
        (serde_json::to_value(&recorded).unwrap(), serde_json::to_value(&omitted).unwrap())
    }

    #[test]
    fn each_mode_records_what_it_says() {
        let Value::Object(claims) = json!({"iss": "https://ci", "sub": "s", "aud": "a", "jti": "j", "ref": "main", "actor": "octocat", "workflow": "w"})
        else {
            unreachable!()
        };
        let (live, candidate) = (set("ref"), set("Actor"));
        let (values, omitted) = record(&claims, &live, Some(&candidate), ClaimsRecord::Referenced);
        assert_eq!(
            values,
            json!({"iss": "https://ci", "sub": "s", "aud": "a", "jti": "j", "ref": "main", "actor": "octocat"})
        );
        assert_eq!(omitted, json!(["workflow"]), "read by neither set (the candidate's key case does not matter)");
        let (values, omitted) = record(&claims, &live, None, ClaimsRecord::All);
        assert_eq!((values, omitted), (Value::Object(claims.clone()), Value::Null));
        let (values, _) = record(&claims, &live, None, ClaimsRecord::Hashed);
        let expected = format!(
            "sha256:{}",
            crate::text::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"\"main\"").as_ref())
        );
        assert_eq!(values["ref"], json!(expected));
        assert!(values.get("workflow").is_none() && values["sub"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(record(&claims, &live, None, ClaimsRecord::None), (Value::Null, Value::Null));
        assert_eq!(ClaimsRecord::parse("hashed"), Ok(ClaimsRecord::Hashed));
        assert!(ClaimsRecord::parse("some").is_err());
    }
}

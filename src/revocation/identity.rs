//! The identity revocations of one issuer, indexed so a check costs a few hash lookups whatever their number:
//! `equals` rules by (claim, value); glob rules by claim and by their literal prefix (the text before the first
//! `*` or `?`), looked up with each prefix length that occurs. Only the rules whose prefix the claim's value
//! starts with are matched in full.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Matcher;
use crate::policy::Pattern;

/// One issuer's identity rules; each names the index of its revocation.
#[derive(Default)]
pub(super) struct IdentityIndex {
    equals: HashMap<String, HashMap<String, Vec<usize>>>,
    globs: HashMap<String, GlobIndex>,
}

#[derive(Default)]
struct GlobIndex {
    by_prefix: HashMap<String, Vec<(Pattern, usize)>>,
    /// The distinct prefix lengths (bytes), ascending.
    lengths: Vec<usize>,
}

impl IdentityIndex {
    pub(super) fn insert(&mut self, claim: &str, matcher: &Matcher, index: usize) {
        match matcher {
            Matcher::Equals(value) => {
                let values = self.equals.entry(claim.to_owned()).or_default();
                values.entry(value.clone()).or_default().push(index);
            }
            Matcher::Glob(pattern) => {
                let prefix: String = pattern.chars().take_while(|c| *c != '*' && *c != '?').collect();
                let globs = self.globs.entry(claim.to_owned()).or_default();
                if let Err(at) = globs.lengths.binary_search(&prefix.len()) {
                    globs.lengths.insert(at, prefix.len());
                }
                globs.by_prefix.entry(prefix).or_default().push((Pattern::new(pattern), index));
            }
        }
    }

    /// The first rule the claims match for which `live` holds (its revocation has not expired).
    pub(super) fn first_hit(&self, claims: &Map<String, Value>, live: impl Fn(usize) -> bool) -> Option<usize> {
        for (claim, values) in &self.equals {
            let Some(value) = claims.get(claim).and_then(claim_text) else { continue };
            if let Some(index) = values.get(value.as_ref()).into_iter().flatten().copied().find(|i| live(*i)) {
                return Some(index);
            }
        }
        for (claim, globs) in &self.globs {
            let Some(value) = claims.get(claim).and_then(claim_text) else { continue };
            for prefix in globs.lengths.iter().filter_map(|length| value.get(..*length)) {
                let rules = globs.by_prefix.get(prefix).into_iter().flatten();
                if let Some((_, index)) = rules.filter(|(_, i)| live(*i)).find(|(pattern, _)| pattern.matches(&value)) {
                    return Some(*index);
                }
            }
        }
        None
    }
}

/// A claim's value as text: strings as they are, numbers and booleans in JSON form; nothing else matches.
fn claim_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(text.as_str().into()),
        Value::Number(number) => Some(number.to_string().into()),
        Value::Bool(flag) => Some(flag.to_string().into()),
        _ => None,
    }
}

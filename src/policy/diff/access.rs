//! Does NEW allow a claim set OLD denies? Decided for one role on the decidable part of the condition language:
//! literal (`StringEquals`, `Bool`) and glob (`StringLike`) values, their negations, `…IfExists` and `Null`, on
//! claims that hold one value each (a list-valued claim can satisfy different conditions with different
//! elements; a negated condition on `aud`, which is a list in some tokens, is left undecided for that reason). A statement is a box:
//! one language per claim. NEW's allowed region minus OLD's is searched box by box; any witness found is then
//! checked by evaluating it under both sets (the broker's own path), so a reported witness is never a guess.
//! Where a condition falls outside that part (regexes, numbers, dates, case folding, variables, `ForAnyValue:`
//! and `ForAllValues:`), the search skips it and the answer is "cannot decide" unless a checked witness exists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::lang::{Alphabet, Dfa, Lang, TooLarge};
use crate::policy::condition::operator::{Comparison, SetQualifier};
use crate::policy::condition::wildcard::GlobPiece;
use crate::policy::condition::{Condition, ValuesView};
use crate::policy::eval::{AudienceRule, Effect, Policy};
use crate::policy::set::PolicySet;

/// Most boxes a search may hold at once; beyond it the question is left undecided.
const MAX_BOXES: usize = 10_000;

/// The answer for one role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// NEW allows this claim set for this issuer, OLD denies it: checked by evaluating both.
    New { issuer: String, claims: Map<String, Value> },
    /// NEW allows nothing OLD denies.
    NoNew,
    /// Cannot be decided here: why.
    Undecided(Vec<String>),
}

/// One language per constrained claim.
type Region = BTreeMap<String, Lang>;

struct Statements {
    allow: Vec<Region>,
    deny: Vec<Region>,
    audience: Region,
}

/// The question for `role`, present in `new_set` (and maybe in `old_set`).
pub(super) fn new_access(role: &str, old_set: &PolicySet, new_set: &PolicySet) -> Access {
    let Some(new) = new_set.get(role) else { return Access::NoNew };
    let old = old_set.get(role);
    let both = || old.map(AsRef::as_ref).into_iter().chain([new.as_ref()]);
    let alphabet = alphabet(both());
    let mut undecidable = key_case_mixes(both());
    let compiled = (|| {
        let new_statements = statements(new, &alphabet, &mut undecidable)?;
        let old_statements = old.map(|old| statements(old, &alphabet, &mut undecidable)).transpose()?;
        Ok::<_, TooLarge>((new_statements, old_statements))
    })();
    let Ok((new_statements, old_statements)) = compiled else {
        return Access::Undecided(vec!["the policies' values make automata too large to compare".into()]);
    };
    for issuer in new.issuers() {
        let old_here = old_statements.as_ref().filter(|_| old.is_some_and(|old| old.accepts_issuer(issuer)));
        let found = search(&new_statements, old_here, &alphabet, |claims| {
            new_set.evaluate_case(role, issuer, claims).is_allow()
                && !old_set.evaluate_case(role, issuer, claims).is_allow()
        });
        match found {
            Ok(Found::Witness(claims)) => return Access::New { issuer: issuer.clone(), claims },
            Ok(Found::Nothing) => {}
            // Only possible when a condition was skipped (then listed already); said again in case it was not.
            Ok(Found::Unconfirmed) => {
                undecidable
                    .insert(format!("role {role}: a claim set the automata found was not confirmed by evaluation"));
            }
            Err(TooLarge) => {
                undecidable.insert(format!("role {role}: the search grew too large"));
            }
        }
    }
    if undecidable.is_empty() { Access::NoNew } else { Access::Undecided(undecidable.into_iter().collect()) }
}

/// What the search found.
enum Found {
    /// A witness both sets confirmed.
    Witness(Map<String, Value>),
    /// Every region where NEW allows and OLD denies is empty.
    Nothing,
    /// Some region was not empty, but no witness of it confirmed (a condition was skipped): no proof either way.
    Unconfirmed,
}

/// Regions where NEW allows and OLD (when it trusts the issuer) denies; the first whose witness `confirm`s.
fn search(
    new: &Statements,
    old: Option<&Statements>,
    alphabet: &Alphabet,
    confirm: impl Fn(&Map<String, Value>) -> bool,
) -> Result<Found, TooLarge> {
    let mut unconfirmed = false;
    for allow in &new.allow {
        let mut allowed = vec![intersect(allow, &new.audience)?];
        for deny in &new.deny {
            allowed = subtract_all(allowed, deny)?;
        }
        let candidates = match old {
            None => allowed,
            Some(old) => {
                let mut candidates = subtract_all(allowed.clone(), &old.audience)?;
                let mut outside = allowed.clone();
                for old_allow in &old.allow {
                    outside = subtract_all(outside, old_allow)?;
                }
                candidates.extend(outside);
                for old_deny in &old.deny {
                    for region in &allowed {
                        candidates.push(intersect(region, old_deny)?);
                    }
                }
                candidates
            }
        };
        for region in candidates {
            if let Some(claims) = witness(&region, alphabet) {
                if confirm(&claims) {
                    return Ok(Found::Witness(claims));
                }
                unconfirmed = true;
            }
        }
    }
    Ok(if unconfirmed { Found::Unconfirmed } else { Found::Nothing })
}

fn intersect(a: &Region, b: &Region) -> Result<Region, TooLarge> {
    let mut out = a.clone();
    for (claim, lang) in b {
        let merged = match out.get(claim) {
            Some(existing) => existing.intersect(lang)?,
            None => lang.clone(),
        };
        out.insert(claim.clone(), merged);
    }
    Ok(out)
}

/// `regions` minus `minus`, as regions (a region minus a box is one region per constrained claim of the box).
fn subtract_all(regions: Vec<Region>, minus: &Region) -> Result<Vec<Region>, TooLarge> {
    let mut out = Vec::new();
    for region in regions {
        for (claim, lang) in minus {
            let outside = lang.complement();
            let narrowed = match region.get(claim) {
                Some(existing) => existing.intersect(&outside)?,
                None => outside,
            };
            if !narrowed.is_empty() {
                let mut piece = region.clone();
                piece.insert(claim.clone(), narrowed);
                out.push(piece);
            }
        }
        if out.len() > MAX_BOXES {
            return Err(TooLarge);
        }
    }
    Ok(out)
}

/// A claim set in `region` (strings preferred to missing claims), or `None` when it is empty.
fn witness(region: &Region, alphabet: &Alphabet) -> Option<Map<String, Value>> {
    let mut claims = Map::new();
    for (claim, lang) in region {
        if let Some(text) = lang.witness(alphabet)? {
            claims.insert(claim.clone(), Value::String(text));
        }
    }
    Some(claims)
}

fn statements(
    policy: &Policy,
    alphabet: &Alphabet,
    undecidable: &mut BTreeSet<String>,
) -> Result<Statements, TooLarge> {
    let mut out = Statements { allow: Vec::new(), deny: Vec::new(), audience: Region::new() };
    if let AudienceRule::OneOf(audiences) = policy.audience_rule() {
        let globs: Vec<Vec<GlobPiece>> =
            audiences.iter().map(|aud| aud.chars().map(GlobPiece::Char).collect()).collect();
        out.audience.insert("aud".into(), Lang { dfa: Dfa::globs(alphabet, &globs)?, missing: false });
    }
    for (number, statement) in policy.statements.iter().enumerate() {
        let mut region = Region::new();
        for condition in &statement.conditions {
            match lang_of(condition, alphabet)? {
                Ok(lang) => {
                    let claim = claim_key(condition);
                    let merged = match region.get(&claim) {
                        Some(existing) => existing.intersect(&lang)?,
                        None => lang,
                    };
                    region.insert(claim, merged);
                }
                Err(why) => {
                    undecidable.insert(format!(
                        "role {}: statement {}: {} on {:?} uses {why}",
                        policy.role(),
                        number + 1,
                        condition.operator.written,
                        condition.claim
                    ));
                }
            }
        }
        match statement.effect {
            Effect::Allow => out.allow.push(region),
            Effect::Deny => out.deny.push(region),
        }
    }
    Ok(out)
}

/// Claims that conditions name with different spellings or case rules (the AWS form reads keys in any letter
/// case, Tollgate's exactly): a token could then show each condition a different claim, which one variable per
/// claim cannot model.
fn key_case_mixes<'a>(policies: impl Iterator<Item = &'a Policy>) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, BTreeSet<(String, bool)>> = BTreeMap::new();
    for policy in policies {
        for condition in policy.statements.iter().flat_map(|statement| &statement.conditions) {
            let key = (condition.claim.clone(), condition.ignore_key_case);
            seen.entry(condition.claim.to_ascii_lowercase()).or_default().insert(key);
        }
    }
    seen.into_iter()
        .filter(|(_, spellings)| spellings.len() > 1)
        .map(|(claim, _)| format!("claim {claim:?} is named with different letter cases or case rules"))
        .collect()
}

/// The claim a condition reads: the AWS form names claims in any letter case.
fn claim_key(condition: &Condition) -> String {
    if condition.ignore_key_case { condition.claim.to_ascii_lowercase() } else { condition.claim.clone() }
}

/// The language a condition accepts, or why it has none here.
fn lang_of(condition: &Condition, alphabet: &Alphabet) -> Result<Result<Lang, &'static str>, TooLarge> {
    let operator = &condition.operator;
    if operator.set != SetQualifier::Single {
        return Ok(Err("a set qualifier (ForAnyValue:/ForAllValues:)"));
    }
    // `aud` may hold several values, and then a negated condition and a positive one can each see another.
    if operator.negated && condition.claim.eq_ignore_ascii_case("aud") {
        return Ok(Err("a negated condition on aud, which may hold several values"));
    }
    let values = match condition.values_view() {
        ValuesView::Literals(values) => {
            let globs: Vec<Vec<GlobPiece>> = values.iter().map(|v| v.chars().map(GlobPiece::Char).collect()).collect();
            Dfa::globs(alphabet, &globs)?
        }
        ValuesView::Globs(globs) => Dfa::globs(alphabet, &globs)?,
        ValuesView::Null(flags) => {
            let mut lang = Lang::presence(alphabet, flags.first().copied().unwrap_or(true));
            for flag in flags.iter().skip(1) {
                lang = lang.union(&Lang::presence(alphabet, *flag))?;
            }
            return Ok(Ok(lang));
        }
        ValuesView::Undecidable(why) => return Ok(Err(why)),
    };
    let matched = Lang { dfa: values, missing: false };
    let lang = if operator.negated { matched.complement() } else { matched };
    // `…IfExists` holds on a missing claim; `Bool` reads only its canonical strings.
    debug_assert!(operator.comparison != Comparison::Null);
    Ok(Ok(Lang { missing: lang.missing || operator.if_exists, ..lang }))
}

/// Every character the two policies' values name.
fn alphabet<'a>(policies: impl Iterator<Item = &'a Policy>) -> Alphabet {
    let mut letters = BTreeSet::new();
    for policy in policies {
        if let AudienceRule::OneOf(audiences) = policy.audience_rule() {
            audiences.iter().for_each(|aud| letters.extend(aud.chars()));
        }
        for condition in policy.statements.iter().flat_map(|statement| &statement.conditions) {
            match condition.values_view() {
                ValuesView::Literals(values) => values.iter().for_each(|value| letters.extend(value.chars())),
                ValuesView::Globs(globs) => {
                    for piece in globs.iter().flatten() {
                        if let GlobPiece::Char(c) = piece {
                            letters.insert(*c);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Alphabet::new(letters)
}

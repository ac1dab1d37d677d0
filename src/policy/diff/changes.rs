//! What changed in one role between two policy sets, as a reader of a pull request wants it: the file, the
//! trusted issuers, the audience rule, each statement (effect and conditions as written), the grant and the
//! single-use rule.

use crate::policy::eval::{AudienceRule, Policy, Statement};
use crate::policy::grant::Grant;

/// One role's changes, each a sentence (`+` added, `-` removed, `~` changed).
pub(super) fn changes(old: &Policy, new: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if old.source().sha256 == new.source().sha256 {
        return out;
    }
    for issuer in new.issuers().iter().filter(|issuer| !old.issuers().contains(issuer)) {
        out.push(format!("+ trusts issuer {issuer:?}"));
    }
    for issuer in old.issuers().iter().filter(|issuer| !new.issuers().contains(issuer)) {
        out.push(format!("- no longer trusts issuer {issuer:?}"));
    }
    if old.audience_rule() != new.audience_rule() {
        out.push(format!("~ audience: {} -> {}", audience(old.audience_rule()), audience(new.audience_rule())));
    }
    let (old_statements, new_statements) = (describe_all(old), describe_all(new));
    for line in new_statements.iter().filter(|line| !old_statements.contains(line)) {
        out.push(format!("+ {line}"));
    }
    for line in old_statements.iter().filter(|line| !new_statements.contains(line)) {
        out.push(format!("- {line}"));
    }
    let (old_grant, new_grant) = (grant(old.grant()), grant(new.grant()));
    if old_grant != new_grant {
        out.push(format!("~ grant: {old_grant} -> {new_grant}"));
    }
    let (old_rule, new_rule) = (old.replay(), new.replay());
    if old_rule != new_rule {
        let rule = |rule: crate::policy::ReplayRule| {
            let written = if rule.written { "written" } else { "default" };
            format!("{:?} ({written}), on store error {:?}", rule.single_use, rule.on_store_error)
        };
        out.push(format!("~ single use: {} -> {}", rule(old_rule), rule(new_rule)));
    }
    if out.is_empty() {
        out.push("~ the file changed; its rules read the same".into());
    }
    out
}

fn audience(rule: &AudienceRule) -> String {
    match rule {
        AudienceRule::OneOf(audiences) => format!("one of {audiences:?}"),
        AudienceRule::InConditions => "decided by the statements' aud conditions".into(),
        AudienceRule::Any => "any".into(),
    }
}

/// Every statement as `allow: Op claim [values]; …` (numbered by content, not position: moving a statement is
/// no change).
fn describe_all(policy: &Policy) -> Vec<String> {
    policy.statements.iter().map(describe).collect()
}

fn describe(statement: &Statement) -> String {
    let effect = format!("{:?}", statement.effect).to_ascii_lowercase();
    let mut conditions: Vec<String> = statement
        .conditions
        .iter()
        .map(|condition| format!("{} {:?} {:?}", condition.operator.written, condition.claim, condition.written_values))
        .collect();
    conditions.sort();
    let sid = statement.sid.as_ref().map(|sid| format!(" ({sid:?})")).unwrap_or_default();
    format!("{effect} statement{sid}: {}", conditions.join("; "))
}

fn grant(grant: &Grant) -> String {
    match grant {
        Grant::Token(token) => {
            format!("token for {:?}, ttl {} s ({})", token.audiences(), token.ttl_seconds(), digest(grant))
        }
        Grant::Aws(aws) => format!("aws role {:?}, {} s ({})", aws.role_arn(), aws.duration_seconds(), digest(grant)),
    }
}

/// A short fingerprint of everything else in the grant (claims, templates, tags), so any change shows.
fn digest(grant: &Grant) -> String {
    let text = format!("{grant:?}");
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    format!("details {}", crate::text::hex(hash.as_ref().get(..4).unwrap_or_default()))
}

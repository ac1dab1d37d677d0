//! Turns one parsed [`RawPolicy`] into a checked [`Policy`]: role name syntax, the form (Tollgate's or a pasted
//! AWS trust policy, see `aws_form`), trusted issuers, the audience rule, statements (operators, values, condition
//! keys), the allow/deny rules, the grant, then tenant pinning (`tenant`) and lints (`lint`). Every error carries
//! the source line of the offending key when the parser recorded it. This is the only constructor of `Policy`;
//! it does no I/O.

pub(in crate::policy) mod aws_form;
pub(in crate::policy) mod draft;
pub(in crate::policy) mod tenant;

use serde_saphyr::Spanned;

use crate::policy::compile::draft::DraftStatement;
use crate::policy::condition::Condition;
use crate::policy::condition::operator::Operator;
use crate::policy::error::CompileError;
use crate::policy::eval::{AudienceRule, Effect, Policy, Statement};
use crate::policy::grant::compile_grant;
use crate::policy::issuer::{KeyResolver, KnownIssuer};
use crate::policy::lint::{self, Finding};
use crate::policy::single_use;
use crate::policy::source::{
    OneOrList, OneOrMany, RawAwsStatement, RawConditionBlock, RawEffect, RawPolicy, RawStatement, line_of,
    non_empty_strings,
};

/// A compiled policy and the linter's findings on it.
#[derive(Debug)]
pub(in crate::policy) struct Compiled {
    pub(in crate::policy) policy: Policy,
    pub(in crate::policy) findings: Vec<Finding>,
}

/// Compiles one policy against the configured trusted issuers.
pub(in crate::policy) fn compile(raw: RawPolicy, known: &[KnownIssuer]) -> Result<Compiled, CompileError> {
    let role_line = line_of(&raw.role);
    let role = raw.role.value;
    check_role_name(&role).map_err(|message| CompileError::at(role_line, message))?;
    let allow_unpinned = raw.allow_unpinned_tenant.map(|flag| (flag.value, line_of(&flag)));
    let written_issuers = match raw.issuer {
        Some(spanned) => {
            let line = line_of(&spanned);
            Some((written_issuers(spanned.value.0, line, &role, known)?, line))
        }
        None => None,
    };
    let form = Form { statements: raw.statements, aws_statements: raw.aws_statements, version: raw.version, role_line };
    let (drafts, issuers, is_aws_form) = form.select(written_issuers, known, &role)?;
    // IAM reads condition key names case-insensitively; so does the pasted AWS form here.
    let resolver = KeyResolver { known, trusted: &issuers, ignore_key_case: is_aws_form };
    let statements =
        drafts.into_iter().map(|draft| compile_statement(draft, resolver)).collect::<Result<Vec<_>, _>>()?;
    if !statements.iter().any(|statement| statement.effect == Effect::Allow) {
        return Err(CompileError::at(
            statements.first().and_then(|statement| statement.line).or(role_line),
            "a policy needs at least one allow statement",
        ));
    }
    let audience = audience_rule(raw.audience, is_aws_form, &statements, role_line)?;
    let policy = Policy {
        role,
        description: raw.description.filter(|text| !text.trim().is_empty()),
        issuers,
        audience,
        statements,
        grant: compile_grant(raw.grant)?,
        replay: single_use::compile(raw.single_use, raw.on_store_error)
            .map_err(|(line, message)| CompileError::at(line, message))?,
        source: Default::default(),
    };
    let mut findings = tenant::check(&policy, known, allow_unpinned)?;
    findings.extend(lint::lint(&policy));
    Ok(Compiled { policy, findings })
}

/// The statement keys of a file, before the form is known.
struct Form {
    statements: Option<Spanned<Vec<Spanned<RawStatement>>>>,
    aws_statements: Option<Spanned<OneOrList<RawAwsStatement>>>,
    version: Option<Spanned<String>>,
    role_line: Option<u64>,
}

impl Form {
    /// Decides the form; returns the draft statements, the trusted issuers, and whether it is the AWS form.
    fn select(
        self,
        written_issuers: Option<(Vec<String>, Option<u64>)>,
        known: &[KnownIssuer],
        role: &str,
    ) -> Result<(Vec<DraftStatement>, Vec<String>, bool), CompileError> {
        match (self.statements, self.aws_statements) {
            (Some(statements), None) => {
                if let Some(version) = self.version {
                    return Err(CompileError::at(
                        line_of(&version),
                        "Version belongs to the AWS form: use it with Statement, not with statements",
                    ));
                }
                let Some((issuers, _)) = written_issuers else {
                    return Err(CompileError::at(
                        self.role_line,
                        "a policy needs issuer: (the names of its trusted issuers)",
                    ));
                };
                Ok((tollgate_statements(statements.value), issuers, false))
            }
            (None, Some(statements)) => {
                let form = aws_form::statements(self.version, statements, known, written_issuers.as_ref(), role)?;
                Ok((form.statements, form.issuers, true))
            }
            (Some(_), Some(statements)) => Err(CompileError::at(
                line_of(&statements),
                "a policy has either statements (Tollgate form) or Version and Statement (AWS form), not both",
            )),
            (None, None) => Err(CompileError::at(
                self.role_line,
                "a policy needs statements (or Version and Statement, as in an AWS trust policy)",
            )),
        }
    }
}

/// `audience:` when written; in the AWS form without it, what the statements' `aud` conditions say.
fn audience_rule(
    written: Option<Spanned<OneOrMany>>,
    is_aws_form: bool,
    statements: &[Statement],
    role_line: Option<u64>,
) -> Result<AudienceRule, CompileError> {
    match written {
        Some(spanned) => {
            let line = line_of(&spanned);
            non_empty_strings(spanned.value.0, "audience")
                .map(AudienceRule::OneOf)
                .map_err(|message| CompileError::at(line, message))
        }
        None if is_aws_form => Ok(aws_form::audience_rule(statements)),
        None => Err(CompileError::at(role_line, "a policy needs audience: (the accepted inbound aud values)")),
    }
}

/// The `issuer:` names: non-empty, each a configured issuer.
fn written_issuers(
    names: Vec<String>,
    line: Option<u64>,
    role: &str,
    known: &[KnownIssuer],
) -> Result<Vec<String>, CompileError> {
    let issuers = non_empty_strings(names, "issuer").map_err(|message| CompileError::at(line, message))?;
    if let Some(unknown) = issuers.iter().find(|name| !known.iter().any(|issuer| &issuer.name == *name)) {
        return Err(CompileError::UnknownIssuer { line, role: role.to_owned(), issuer: unknown.clone() });
    }
    Ok(issuers)
}

fn tollgate_statements(raw: Vec<Spanned<RawStatement>>) -> Vec<DraftStatement> {
    raw.into_iter()
        .map(|spanned| DraftStatement {
            line: line_of(&spanned),
            effect: match spanned.value.effect {
                RawEffect::Allow => Effect::Allow,
                RawEffect::Deny => Effect::Deny,
            },
            sid: spanned.value.sid,
            condition: spanned.value.condition,
        })
        .collect()
}

fn compile_statement(draft: DraftStatement, resolver: KeyResolver<'_>) -> Result<Statement, CompileError> {
    let conditions = match draft.condition {
        None => Vec::new(),
        Some(block) => compile_condition_block(block, resolver)?,
    };
    if draft.effect == Effect::Allow && conditions.is_empty() {
        return Err(CompileError::at(draft.line, "an allow statement needs at least one condition"));
    }
    Ok(Statement { effect: draft.effect, sid: draft.sid.filter(|sid| !sid.is_empty()), line: draft.line, conditions })
}

fn compile_condition_block(
    block: RawConditionBlock,
    resolver: KeyResolver<'_>,
) -> Result<Vec<Condition>, CompileError> {
    let mut conditions = Vec::new();
    for (operator_name, claims) in block.0 {
        let operator_line = line_of(&operator_name);
        let operator =
            Operator::parse(&operator_name.value.0).map_err(|message| CompileError::at(operator_line, message))?;
        if claims.0.is_empty() {
            return Err(CompileError::at(operator_line, format!("condition {} names no claim", operator_name.value.0)));
        }
        for (key, values) in claims.0 {
            let line = line_of(&key);
            let condition = Condition::compile(operator.clone(), &key.value, values.0, resolver, line)
                .map_err(|message| CompileError::at(line, message))?;
            conditions.push(condition);
        }
    }
    Ok(conditions)
}

/// Checks `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` by hand.
pub(in crate::policy) fn check_role_name(role: &str) -> Result<(), String> {
    let mut characters = role.chars();
    let first_ok = characters.next().is_some_and(|first| first.is_ascii_alphanumeric());
    let rest_ok = characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && role.len() <= 64 {
        Ok(())
    } else {
        Err(format!("role {role:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        let long_ok = "a".repeat(64);
        let too_long = "a".repeat(65);
        for good in ["a", "deploy-web", "A.b_c-9", "9lives", long_ok.as_str()] {
            assert_eq!(check_role_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", "a:b", too_long.as_str()] {
            assert!(check_role_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn string_lists() {
        assert_eq!(
            non_empty_strings(vec!["a".into(), "b".into(), "a".into()], "audience"),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(non_empty_strings(vec![], "audience").is_err());
        assert!(non_empty_strings(vec!["".into()], "audience").is_err());
    }
}

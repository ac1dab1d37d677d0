//! Turns one parsed [`RawPolicy`] into a checked [`Policy`]: role name syntax, known issuers, audiences,
//! statements (operators, values, the allow/deny rules) and the grant. Every error carries the source line of
//! the offending key when the parser recorded it. This is the only constructor of `Policy`; it does no I/O.

use crate::policy::condition::{Condition, Operator};
use crate::policy::eval::{Effect, Policy, Statement};
use crate::policy::grant::compile_grant;
use crate::policy::raw::{ConditionValues, KeyedMap, RawEffect, RawPolicy, RawStatement, line_of};

/// Why one policy did not compile; the loader adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CompileError {
    Invalid {
        line: Option<u64>,
        message: String,
    },
    UnknownIssuer {
        line: Option<u64>,
        role: String,
        issuer: String,
    },
}

impl CompileError {
    pub(super) fn at(line: Option<u64>, message: impl Into<String>) -> CompileError {
        CompileError::Invalid {
            line,
            message: message.into(),
        }
    }
}

/// Compiles one policy; `known_issuers` are the names of the configured trusted issuers.
pub(super) fn compile(raw: RawPolicy, known_issuers: &[&str]) -> Result<Policy, CompileError> {
    let role_line = line_of(&raw.role);
    let role = raw.role.value;
    check_role_name(&role).map_err(|message| CompileError::at(role_line, message))?;

    let issuer_line = line_of(&raw.issuer);
    let issuers = non_empty_strings(raw.issuer.value.0, "issuer")
        .map_err(|message| CompileError::at(issuer_line, message))?;
    if let Some(unknown) = issuers
        .iter()
        .find(|issuer| !known_issuers.contains(&issuer.as_str()))
    {
        return Err(CompileError::UnknownIssuer {
            line: issuer_line,
            role,
            issuer: unknown.clone(),
        });
    }

    let audience_line = line_of(&raw.audience);
    let audiences = non_empty_strings(raw.audience.value.0, "audience")
        .map_err(|message| CompileError::at(audience_line, message))?;

    let statements_line = line_of(&raw.statements);
    let mut statements = Vec::with_capacity(raw.statements.value.len());
    for spanned in raw.statements.value {
        let line = line_of(&spanned);
        statements.push(compile_statement(spanned.value, line)?);
    }
    if !statements
        .iter()
        .any(|statement| statement.effect == Effect::Allow)
    {
        return Err(CompileError::at(
            statements_line,
            "a policy needs at least one allow statement",
        ));
    }

    let grant = compile_grant(raw.grant.value)?;
    Ok(Policy {
        role,
        description: raw.description.filter(|text| !text.trim().is_empty()),
        issuers,
        audiences,
        statements,
        grant,
    })
}

fn compile_statement(raw: RawStatement, line: Option<u64>) -> Result<Statement, CompileError> {
    let effect = match raw.effect {
        RawEffect::Allow => Effect::Allow,
        RawEffect::Deny => Effect::Deny,
    };
    let conditions = match raw.condition {
        None => Vec::new(),
        Some(block) => compile_condition_block(block)?,
    };
    if effect == Effect::Allow && conditions.is_empty() {
        return Err(CompileError::at(
            line,
            "an allow statement needs at least one condition",
        ));
    }
    Ok(Statement { effect, conditions })
}

fn compile_condition_block(
    block: KeyedMap<KeyedMap<ConditionValues>>,
) -> Result<Vec<Condition>, CompileError> {
    let mut conditions = Vec::new();
    for (operator_name, claims) in block.0 {
        let operator_line = line_of(&operator_name);
        let operator = Operator::parse(&operator_name.value)
            .and_then(|operator| operator.check_supported().map(|()| operator))
            .map_err(|message| CompileError::at(operator_line, message))?;
        if claims.0.is_empty() {
            return Err(CompileError::at(
                operator_line,
                format!("condition {} names no claim", operator_name.value),
            ));
        }
        for (claim, values) in claims.0 {
            let condition = Condition::compile(operator.clone(), &claim.value, values.0)
                .map_err(|message| CompileError::at(line_of(&claim), message))?;
            conditions.push(condition);
        }
    }
    Ok(conditions)
}

/// Checks `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` by hand.
pub(super) fn check_role_name(role: &str) -> Result<(), String> {
    let mut characters = role.chars();
    let first_ok = characters
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric());
    let rest_ok = characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && role.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "role {role:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"
        ))
    }
}

/// Checks that a string-or-list field is non-empty and has no empty entries; drops repeated entries.
pub(super) fn non_empty_strings(values: Vec<String>, field: &str) -> Result<Vec<String>, String> {
    if values.is_empty() {
        return Err(format!("{field} needs at least one value"));
    }
    let mut unique: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if value.is_empty() {
            return Err(format!("{field} may not be an empty string"));
        }
        if !unique.contains(&value) {
            unique.push(value);
        }
    }
    Ok(unique)
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
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a b",
            "a/b",
            "é",
            "a:b",
            too_long.as_str(),
        ] {
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

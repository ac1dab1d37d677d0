//! The AWS form: a trust policy pasted verbatim (`Version`, `Statement` with `Effect`, `Principal.Federated`,
//! `Action`, `Condition`) beside Tollgate's `role` and `grant`. Checks the version and actions, maps `Federated`
//! principals to configured issuers, and derives the audience rule when `audience:` is omitted. Statements are
//! not scoped by principal in Tollgate, so every statement must name the same issuers.

use serde_saphyr::Spanned;

use crate::policy::compile::draft::DraftStatement;
use crate::policy::error::CompileError;
use crate::policy::eval::{AudienceRule, Effect, Statement};
use crate::policy::issuer::{KnownIssuer, principal_issuers};
use crate::policy::source::{OneOrList, RawAwsEffect, RawAwsStatement, line_of};

/// The only `Version` accepted: the one with policy variables.
pub(in crate::policy) const AWS_VERSION: &str = "2012-10-17";

/// The only action a web-identity trust policy may name.
const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

/// The statements of an AWS-form policy and the issuers they trust.
#[derive(Debug)]
pub(in crate::policy) struct AwsForm {
    pub(in crate::policy) statements: Vec<DraftStatement>,
    pub(in crate::policy) issuers: Vec<String>,
}

/// Converts the `Statement` list. `written_issuers` is the optional `issuer:` key (names, line), already checked.
pub(in crate::policy) fn statements(
    version: Option<Spanned<String>>,
    raw: Spanned<OneOrList<RawAwsStatement>>,
    known: &[KnownIssuer],
    written_issuers: Option<&(Vec<String>, Option<u64>)>,
    role: &str,
) -> Result<AwsForm, CompileError> {
    check_version(version, line_of(&raw))?;
    let candidates = written_issuers.map(|(names, _)| names.as_slice());
    let mut drafts = Vec::with_capacity(raw.value.0.len());
    let mut principals: Vec<(Option<u64>, Vec<String>)> = Vec::with_capacity(raw.value.0.len());
    for statement in raw.value.0 {
        let line = line_of(&statement.effect);
        check_actions(&statement)?;
        principals.push((line, statement_issuers(&statement, known, candidates)?));
        drafts.push(DraftStatement {
            line,
            effect: match statement.effect.value {
                RawAwsEffect::Allow => Effect::Allow,
                RawAwsEffect::Deny => Effect::Deny,
            },
            sid: statement.sid,
            condition: statement.condition,
        });
    }
    let issuers = match written_issuers {
        Some((names, _)) => names.clone(),
        None => union(principals.iter().map(|(_, names)| names)),
    };
    for (number, (line, names)) in (1..).zip(&principals) {
        if !same_set(names, &issuers) {
            return Err(CompileError::at(
                *line,
                format!(
                    "role {role}: statement {number}'s Principal trusts {} but the policy trusts {}; Tollgate does not \
                     scope statements by principal, so name the same Federated principals in every statement \
                     (or split the role)",
                    names.join(", "),
                    issuers.join(", ")
                ),
            ));
        }
    }
    Ok(AwsForm { statements: drafts, issuers })
}

/// `audience:` omitted: the statements' `aud` conditions decide, or any audience when there are none.
pub(in crate::policy) fn audience_rule(statements: &[Statement]) -> AudienceRule {
    if statements.iter().any(|statement| statement.effect == Effect::Allow && statement.checks_audience()) {
        AudienceRule::InConditions
    } else {
        AudienceRule::Any
    }
}

/// `Version` must be written and be [`AWS_VERSION`]; `statement_line` points at `Statement` when it is missing.
fn check_version(version: Option<Spanned<String>>, statement_line: Option<u64>) -> Result<(), CompileError> {
    match version {
        Some(version) if version.value == AWS_VERSION => {}
        Some(version) => {
            return Err(CompileError::at(
                line_of(&version),
                format!("Version must be {AWS_VERSION:?}, not {:?}", version.value),
            ));
        }
        None => {
            return Err(CompileError::at(
                statement_line,
                format!("a policy with Statement needs Version: \"{AWS_VERSION}\""),
            ));
        }
    }
    Ok(())
}

fn check_actions(statement: &RawAwsStatement) -> Result<(), CompileError> {
    let line = line_of(&statement.action);
    if statement.action.value.0.is_empty() {
        return Err(CompileError::at(line, "Action needs at least one value"));
    }
    match statement.action.value.0.iter().find(|action| !action.eq_ignore_ascii_case(ASSUME_ROLE_WITH_WEB_IDENTITY)) {
        Some(other) => Err(CompileError::at(
            line,
            format!(
                "Action {other:?} is not {ASSUME_ROLE_WITH_WEB_IDENTITY}: a Tollgate trust policy governs only \
                 web-identity exchanges"
            ),
        )),
        None => Ok(()),
    }
}

/// The issuers a statement's `Federated` principals name, each exactly one (among `candidates` when given).
fn statement_issuers(
    statement: &RawAwsStatement,
    known: &[KnownIssuer],
    candidates: Option<&[String]>,
) -> Result<Vec<String>, CompileError> {
    let line = line_of(&statement.principal);
    let federated = &statement.principal.value.federated.0;
    if federated.is_empty() {
        return Err(CompileError::at(line, "Principal.Federated needs at least one value"));
    }
    let mut names: Vec<String> = Vec::new();
    for principal in federated {
        let found =
            principal_issuers(principal, known, candidates).map_err(|message| CompileError::at(line, message))?;
        match (found.len(), candidates) {
            (0, Some(written)) => {
                return Err(CompileError::at(
                    line,
                    format!(
                        "Federated principal {principal:?} is not the location of any issuer the policy names ({})",
                        written.join(", ")
                    ),
                ));
            }
            (0, None) => {
                return Err(CompileError::at(
                    line,
                    format!(
                        "Federated principal {principal:?} is not the location of a configured issuer; \
                         configure its url_prefix or name the issuer with issuer:"
                    ),
                ));
            }
            (2.., None) => {
                return Err(CompileError::at(
                    line,
                    format!(
                        "Federated principal {principal:?} is the location of several issuers ({}); name one with issuer:",
                        found.join(", ")
                    ),
                ));
            }
            _ => {}
        }
        for name in found {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

fn union<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for name in lists.flatten() {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    all
}

fn same_set(left: &[String], right: &[String]) -> bool {
    left.iter().all(|name| right.contains(name)) && right.iter().all(|name| left.contains(name))
}

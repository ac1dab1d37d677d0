//! Loading policy files into a [`PolicySet`], all-or-nothing: choosing which files in a directory are
//! policies (`*.yaml`, `*.yml`, `*.json`; JSON goes through the same YAML parser), reading them with a size cap,
//! parsing (with the line of any error), compiling, refusing duplicate roles, indexing aws grants by role ARN
//! (linting ARNs that several roles grant), and attaching file and role to lints. The only file I/O of the policy module happens here and in `testing`'s
//! case loader, which shares it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use crate::policy::compile::compile;
use crate::policy::error::PolicyError;
use crate::policy::error::{CompileError, printable};
use crate::policy::eval::Policy;
use crate::policy::grant::Grant;
use crate::policy::issuer::KnownIssuer;
use crate::policy::lint::{DUPLICATE_ROLE_ARN, Lint};
use crate::policy::set::PolicySet;
use crate::policy::source::RawPolicy;

/// Largest policy (or test-case) file accepted, in bytes.
pub(super) const MAX_POLICY_FILE_BYTES: u64 = 1024 * 1024;

/// File-name endings of policy files.
const POLICY_SUFFIXES: &[&str] = &[".yaml", ".yml", ".json"];

/// File-name endings of policy test-case files, which are never policies.
pub(super) const TEST_SUFFIXES: &[&str] = &[".test.yaml", ".test.yml", ".test.json"];

/// See [`PolicySet::load_dir`].
pub(super) fn load_dir(dir: &Path, known: &[KnownIssuer]) -> Result<PolicySet, PolicyError> {
    let sources = read_dir_sources(dir, is_policy_file_name)?;
    from_sources(&sources, known)
}

/// See [`PolicySet::from_sources`]. Sources are compiled in name order, so the first error reported does not
/// depend on the order given.
pub(super) fn from_sources(sources: &[(String, String)], known: &[KnownIssuer]) -> Result<PolicySet, PolicyError> {
    let mut ordered: Vec<&(String, String)> = sources.iter().collect();
    ordered.sort_by(|left, right| left.0.cmp(&right.0));
    let mut policies: HashMap<String, (Arc<Policy>, &str)> = HashMap::with_capacity(ordered.len());
    let mut lints = Vec::new();
    for (path, text) in ordered {
        let (policy, policy_lints) = parse_source(path, text, known)?;
        if let Some((_, first)) = policies.get(policy.role()) {
            return Err(PolicyError::DuplicateRole {
                role: policy.role().to_owned(),
                first: (*first).to_owned(),
                second: path.clone(),
            });
        }
        lints.extend(policy_lints);
        policies.insert(policy.role().to_owned(), (Arc::new(policy), path));
    }
    refuse_aws_audiences_in_token_grants(&policies)?;
    let (by_role_arn, duplicates) = index_role_arns(&policies);
    lints.extend(duplicates);
    let referenced =
        policies.values().flat_map(|(policy, _)| policy.claim_names()).map(|name| name.to_ascii_lowercase()).collect();
    let by_role = policies.into_iter().map(|(role, (policy, _))| (role, policy)).collect();
    Ok(PolicySet { by_role, by_role_arn, lints, referenced })
}

/// A token grant must never mint what AWS would accept for an aws grant: its audiences may not include
/// `sts.amazonaws.com` or the audience any aws grant presents to STS, or a caller could take the token to AWS
/// directly and skip the aws grant's own policy.
fn refuse_aws_audiences_in_token_grants(policies: &HashMap<String, (Arc<Policy>, &str)>) -> Result<(), PolicyError> {
    let mut aws_audiences: Vec<&str> = vec!["sts.amazonaws.com"];
    for (policy, _) in policies.values() {
        if let Grant::Aws(grant) = policy.grant() {
            aws_audiences.push(grant.audience());
        }
    }
    let mut offenders: Vec<(&str, &str, &str)> = policies
        .values()
        .filter_map(|(policy, path)| match policy.grant() {
            Grant::Token(grant) => grant
                .audiences()
                .iter()
                .find(|audience| aws_audiences.contains(&audience.as_str()))
                .map(|audience| (*path, policy.role(), audience.as_str())),
            Grant::Aws(_) => None,
        })
        .collect();
    offenders.sort_unstable();
    match offenders.first() {
        None => Ok(()),
        Some((path, role, audience)) => Err(PolicyError::InvalidPolicy {
            path: (*path).to_owned(),
            line: None,
            message: format!(
                "role {role}: a token grant may not use the audience {audience:?}, which AWS STS accepts for aws grants"
            ),
        }),
    }
}

/// The policies with an aws grant, by role ARN: the first in role-name order wins, each later one is linted.
fn index_role_arns(policies: &HashMap<String, (Arc<Policy>, &str)>) -> (HashMap<String, Arc<Policy>>, Vec<Lint>) {
    let mut by_name: Vec<&(Arc<Policy>, &str)> = policies.values().collect();
    by_name.sort_by(|left, right| left.0.role().cmp(right.0.role()));
    let mut by_role_arn: HashMap<String, Arc<Policy>> = HashMap::new();
    let mut lints = Vec::new();
    for (policy, path) in by_name {
        let Grant::Aws(grant) = policy.grant() else {
            continue;
        };
        match by_role_arn.get(grant.role_arn()) {
            Some(first) => lints.push(Lint {
                path: (*path).to_owned(),
                line: grant.role_arn_line,
                role: policy.role().to_owned(),
                code: DUPLICATE_ROLE_ARN,
                message: format!(
                    "role {} also grants role_arn {}; a request naming that ARN alone gets role {}",
                    first.role(),
                    grant.role_arn(),
                    first.role()
                ),
            }),
            None => {
                by_role_arn.insert(grant.role_arn().to_owned(), Arc::clone(policy));
            }
        }
    }
    (by_role_arn, lints)
}

/// Parses and compiles one policy file's text; `path` only names it in errors and lints.
pub(super) fn parse_source(path: &str, text: &str, known: &[KnownIssuer]) -> Result<(Policy, Vec<Lint>), PolicyError> {
    let raw: RawPolicy = parse_yaml(path, text)?;
    let mut compiled = compile(raw, known).map_err(|error| compile_error(path, error))?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let sha256 = crate::text::hex(digest.as_ref());
    compiled.policy.source = super::eval::PolicySource { path: path.to_owned(), sha256 };
    let role = compiled.policy.role().to_owned();
    let lints = compiled
        .findings
        .into_iter()
        .map(|finding| Lint {
            path: path.to_owned(),
            line: finding.line,
            role: role.clone(),
            code: finding.code,
            message: finding.message,
        })
        .collect();
    Ok((compiled.policy, lints))
}

/// Parses YAML (or JSON) text into `T`, with the size cap and `path:line` errors.
pub(super) fn parse_yaml<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, PolicyError> {
    if u64::try_from(text.len()).map_or(true, |len| len > MAX_POLICY_FILE_BYTES) {
        return Err(PolicyError::InvalidPolicy {
            path: path.to_owned(),
            line: None,
            message: format!("file is larger than {MAX_POLICY_FILE_BYTES} bytes"),
        });
    }
    let options = serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|error| PolicyError::InvalidPolicy {
        path: path.to_owned(),
        line: error.location().map(|at| at.line()).filter(|line| *line > 0),
        message: printable(&DefaultMessageFormatter.format_message(&error)),
    })
}

/// Reads the files of `dir` that `select` accepts, sorted by path, each capped.
pub(super) fn read_dir_sources(dir: &Path, select: fn(&Path) -> bool) -> Result<Vec<(String, String)>, PolicyError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Io { path, source }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if select(&path) && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let text = read_capped(&path).map_err(io_error(&path))?;
        sources.push((path.display().to_string(), text));
    }
    Ok(sources)
}

fn compile_error(path: &str, error: CompileError) -> PolicyError {
    let path = path.to_owned();
    match error {
        CompileError::Invalid { line, message } => PolicyError::InvalidPolicy { path, line, message },
        CompileError::UnknownIssuer { line, role, issuer } => PolicyError::UnknownIssuer { path, line, role, issuer },
        CompileError::UnpinnedTenant { line, role, statement, claims } => {
            PolicyError::UnpinnedTenant { path, line, role, statement, claims }
        }
    }
}

/// The file name, when it is neither hidden nor a non-UTF-8 name.
fn visible_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|name| name.to_str()).filter(|name| !name.starts_with('.'))
}

/// `*.yaml`, `*.yml` and `*.json`, except test-case files (`*.test.yaml`, …) and hidden files.
pub(super) fn is_policy_file_name(path: &Path) -> bool {
    visible_name(path).is_some_and(|name| {
        POLICY_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
            && !TEST_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
    })
}

/// `*.test.yaml`, `*.test.yml` and `*.test.json`, except hidden files.
pub(super) fn is_test_file_name(path: &Path) -> bool {
    visible_name(path).is_some_and(|name| TEST_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)))
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_POLICY_FILE_BYTES + 1).read_to_string(&mut text)?;
    Ok(text)
}

impl PolicySet {
    /// Loads every policy file in `dir`, all-or-nothing. `known_issuers` are the configured trusted issuers: a
    /// policy naming another issuer fails to load, and one on a shared issuer must pin the tenant. Duplicate
    /// role names fail (naming both files). Policy files are `*.yaml`, `*.yml` and `*.json`; test-case files
    /// (`*.test.yaml`, `*.test.yml`, `*.test.json`) and hidden files are skipped.
    pub fn load_dir(dir: &Path, known_issuers: &[KnownIssuer]) -> Result<PolicySet, PolicyError> {
        load_dir(dir, known_issuers)
    }

    /// Same from in-memory (file name, text) pairs — used by tests and benches.
    pub fn from_sources(sources: &[(String, String)], known_issuers: &[KnownIssuer]) -> Result<PolicySet, PolicyError> {
        from_sources(sources, known_issuers)
    }
}

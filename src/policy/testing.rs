//! Policy tests, as `opa test` is for Rego: `*.test.yaml` files beside the policies list cases (role, issuer,
//! claims, expected allow or deny), and [`run`] evaluates each through [`PolicySet::evaluate_case`] — the
//! broker's own path: role lookup, the role's trusted issuers, then the policy. The report names each failing
//! case by `file:line` with the explanation and ends with `N passed, N failed`. Reads files only in
//! [`load_cases`].
//!
//! ```yaml
//! cases:
//!   - name: main branch may deploy
//!     role: deploy-web
//!     issuer: github
//!     claims: {sub: "repo:acme/web:ref:refs/heads/main", aud: tollgate, repository_owner_id: "1000"}
//!     expect: allow
//! ```

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::policy::error::PolicyError;
use crate::policy::load::{is_test_file_name, parse_yaml, read_dir_sources};
use crate::policy::set::PolicySet;
use crate::policy::source::line_of;

/// One test case, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The file it came from.
    pub path: String,
    pub line: Option<u64>,
    pub name: String,
    pub role: String,
    /// The configured name of the issuer the token is from.
    pub issuer: String,
    pub claims: Map<String, Value>,
    pub expect: Expectation,
}

/// What a case expects, and what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    Allow,
    Deny,
}

/// The result of [`run`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    passed: usize,
    failures: Vec<CaseFailure>,
}

/// One case that did not get what it expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    pub path: String,
    pub line: Option<u64>,
    pub name: String,
    pub expected: Expectation,
    pub actual: Expectation,
    /// Why the actual outcome happened: `allowed by statement N`, or the deny explanation.
    pub explanation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaseFile {
    cases: Vec<Spanned<RawCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    role: String,
    issuer: String,
    #[serde(default)]
    claims: Map<String, Value>,
    expect: RawExpectation,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawExpectation {
    Allow,
    Deny,
}

/// Loads every test-case file (`*.test.yaml`, `*.test.yml`, `*.test.json`) in `dir`, in name order.
pub fn load_cases(dir: &Path) -> Result<Vec<TestCase>, PolicyError> {
    cases_from_sources(&read_dir_sources(dir, is_test_file_name)?)
}

/// Same from in-memory (file name, text) pairs.
pub fn cases_from_sources(sources: &[(String, String)]) -> Result<Vec<TestCase>, PolicyError> {
    let mut cases = Vec::new();
    for (path, text) in sources {
        let file: RawCaseFile = parse_yaml(path, text)?;
        for spanned in file.cases {
            let line = line_of(&spanned);
            let raw = spanned.value;
            cases.push(TestCase {
                path: path.clone(),
                line,
                name: raw.name,
                role: raw.role,
                issuer: raw.issuer,
                claims: raw.claims,
                expect: match raw.expect {
                    RawExpectation::Allow => Expectation::Allow,
                    RawExpectation::Deny => Expectation::Deny,
                },
            });
        }
    }
    Ok(cases)
}

/// Runs every case against `set`.
pub fn run(set: &PolicySet, cases: &[TestCase]) -> TestReport {
    let mut report = TestReport::default();
    for case in cases {
        let outcome = set.evaluate_case(&case.role, &case.issuer, &case.claims);
        let actual = if outcome.is_allow() { Expectation::Allow } else { Expectation::Deny };
        if actual == case.expect {
            report.passed += 1;
            continue;
        }
        report.failures.push(CaseFailure {
            path: case.path.clone(),
            line: case.line,
            name: case.name.clone(),
            expected: case.expect,
            actual,
            explanation: outcome.to_string(),
        });
    }
    report
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.passed
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// The failing cases, in the order run.
    pub fn failures(&self) -> &[CaseFailure] {
        &self.failures
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.failures {
            writeln!(formatter, "{failure}")?;
        }
        write!(formatter, "{} passed, {} failed", self.passed(), self.failed())
    }
}

impl fmt::Display for CaseFailure {
    /// `FAIL path:line: name: expected deny, got allow (allowed by statement 1)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "FAIL {}", self.path)?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        write!(formatter, ": {}: expected {}, got {} ({})", self.name, self.expected, self.actual, self.explanation)
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Expectation::Allow => "allow",
            Expectation::Deny => "deny",
        })
    }
}

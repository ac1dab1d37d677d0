//! The policy test runner: the example `policies/*.test.yaml` all pass (from the directory and from memory),
//! failures are reported with `file:line`, expectation, outcome and explanation, and case files are strict.

use std::path::Path;

use super::known;
use super::set::{GITHUB_DEPLOY_WEB, SEMAPHORE_BUILD, examples};
use crate::policy::PolicySet;
use crate::policy::testing::{Expectation, cases_from_sources, load_cases, run};

const GITHUB_CASES: &str = include_str!("../../../policies/github-deploy-web.test.yaml");
const SEMAPHORE_CASES: &str = include_str!("../../../policies/semaphore-build.test.yaml");

#[test]
fn example_policy_tests_pass() {
    let cases = cases_from_sources(&[
        ("github-deploy-web.test.yaml".into(), GITHUB_CASES.into()),
        ("semaphore-build.test.yaml".into(), SEMAPHORE_CASES.into()),
    ])
    .unwrap();
    assert!(cases.len() >= 20, "{}", cases.len());
    for expectation in [Expectation::Allow, Expectation::Deny] {
        assert!(cases.iter().any(|case| case.expect == expectation));
    }
    let report = run(&examples(), &cases);
    assert_eq!(report.failed(), 0, "{report}");
    assert_eq!(report.to_string(), format!("{} passed, 0 failed", cases.len()));
}

#[test]
fn the_policies_folder_passes_its_own_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let set = PolicySet::load_dir(&dir, &known()).unwrap();
    let cases = load_cases(&dir).unwrap();
    let report = run(&set, &cases);
    assert_eq!((report.failed(), report.passed()), (0, cases.len()), "{report}");
    let files: Vec<&str> = cases.iter().map(|case| case.path.rsplit('/').next().unwrap()).collect();
    assert!(files.contains(&"github-deploy-web.test.yaml") && files.contains(&"semaphore-build.test.yaml"));
}

#[test]
fn failures_are_reported_with_their_reason() {
    let text = "\
cases:
  - name: wrong expectation
    role: deploy-web
    issuer: github
    claims: {sub: 'repo:acme/web:ref:refs/heads/main', aud: tollgate, repository_owner_id: '1000'}
    expect: deny
  - name: passes
    role: deploy-web
    issuer: github
    claims: {aud: tollgate}
    expect: deny
  - name: unknown role
    role: nope
    issuer: github
    expect: allow
  - name: untrusted issuer
    role: deploy-web
    issuer: semaphore
    claims: {sub: 'repo:acme/web:ref:refs/heads/main', aud: tollgate, repository_owner_id: '1000'}
    expect: allow
  - name: denied
    role: semaphore-build
    issuer: semaphore
    claims: {aud: 'https://acme.semaphoreci.com', org: acme}
    expect: allow
";
    let cases = cases_from_sources(&[("x.test.yaml".into(), text.into())]).unwrap();
    assert_eq!(cases.first().unwrap().line, Some(2));
    let report = run(&examples(), &cases);
    assert_eq!((report.passed(), report.failed()), (1, 4));
    assert_eq!(report.failures()[0].actual, Expectation::Allow);
    assert_eq!(
        report.to_string(),
        "FAIL x.test.yaml:2: wrong expectation: expected deny, got allow (allowed by statement 1)\n\
         FAIL x.test.yaml:12: unknown role: expected allow, got deny (no policy defines the role)\n\
         FAIL x.test.yaml:16: untrusted issuer: expected allow, got deny (role deploy-web does not trust the issuer \
         (it trusts github))\n\
         FAIL x.test.yaml:21: denied: expected allow, got deny (no statement allows: statement 1: condition \
         StringLike on \"sub\" did not match)\n\
         1 passed, 4 failed"
    );
}

#[test]
fn case_files_are_strict() {
    let cases = [
        (
            "cases: [{name: a, role: r, issuer: i, expect: allow, expected: deny}]",
            "x.test.yaml:1: unknown field `expected`",
        ),
        ("cases: [{name: a, role: r, issuer: i, expect: maybe}]", "x.test.yaml:1: unknown variant `maybe`"),
        ("cases: [{name: a, role: r, expect: allow}]", "x.test.yaml:1: missing field `issuer`"),
        ("case: []", "x.test.yaml:1: unknown field `case`"),
        ("cases:\n  - name: a\n    role: r\n    issuer: i\n    claims: [1]\n    expect: allow\n", "x.test.yaml:5:"),
    ];
    for (text, prefix) in cases {
        let error = cases_from_sources(&[("x.test.yaml".into(), text.into())]).unwrap_err().to_string();
        assert!(error.starts_with(prefix), "{text}: {error}");
    }
    assert!(load_cases(Path::new("/nonexistent/tollgate")).is_err());
}

#[test]
fn evaluate_case_is_the_broker_path() {
    let set = PolicySet::from_sources(
        &[("g.yaml".into(), GITHUB_DEPLOY_WEB.into()), ("s.yaml".into(), SEMAPHORE_BUILD.into())],
        &known(),
    )
    .unwrap();
    let claims = super::object(serde_json::json!({
        "aud": "tollgate", "sub": "repo:acme/web:ref:refs/heads/main", "repository_owner_id": "1000"
    }));
    assert!(set.evaluate_case("deploy-web", "github", &claims).is_allow());
    assert!(matches!(set.evaluate_case("nope", "github", &claims), crate::policy::CaseOutcome::UnknownRole));
    assert!(matches!(
        set.evaluate_case("deploy-web", "semaphore", &claims),
        crate::policy::CaseOutcome::IssuerNotTrusted { .. }
    ));
    assert!(matches!(
        set.evaluate_case("semaphore-build", "semaphore", &claims),
        crate::policy::CaseOutcome::Deny { .. }
    ));
}

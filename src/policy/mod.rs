//! Trust policies: one role per YAML file, compiled once at load into a [`PolicySet`] and evaluated purely
//! against a verified token's claims.
//!
//! A policy names its trusted issuers, the inbound audiences it accepts, a list of allow/deny statements with
//! AWS IAM-shaped condition blocks (`StringEquals`, `StringNotEquals`, `StringLike`, `StringNotLike` in this
//! version), and the [`Grant`] an allowed exchange receives. Explicit deny beats allow; otherwise deny.
//!
//! Flow: `load` (files, all-or-nothing) → `raw` (serde shape, with source lines) → `compile` (checks; the only
//! constructor of [`Policy`]) → `eval` (pure) → `explain` (the [`Decision`]). `condition` holds operators and
//! matching, `wildcard` the `StringLike` matcher, `grant` and `template` what an allowed exchange gets.
//!
//! This module is pure apart from reading policy files in `load`: no HTTP, no clock, no network, and nothing
//! else of the crate. Raw types stay private; only compiled types are public.

mod compile;
mod condition;
mod eval;
mod explain;
mod grant;
mod load;
mod raw;
mod template;
mod wildcard;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use eval::Policy;
pub use explain::{ConditionFailure, Decision, DenyReason, Explanation};
pub use grant::{Grant, TokenGrant};
pub use template::RenderError;

/// Every loaded policy, by role. Lookup cost does not depend on the number of roles.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    by_role: HashMap<String, Arc<Policy>>,
}

/// Why a policy set did not load. Displayed as `path:line: reason` when the line is known, else `path: reason`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The directory or a file in it could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML, does not have the policy's shape, or breaks a rule of the language.
    #[error("{}: {message}", SourceLine(.path, *.line))]
    InvalidPolicy {
        path: String,
        line: Option<u64>,
        message: String,
    },
    /// A policy names an issuer that is not configured as trusted.
    #[error("{}: role {role} names issuer {issuer:?}, which is not a configured trusted issuer", SourceLine(.path, *.line))]
    UnknownIssuer {
        path: String,
        line: Option<u64>,
        role: String,
        issuer: String,
    },
    /// Two files define the same role.
    #[error("role {role} is defined twice: in {first} and in {second}")]
    DuplicateRole {
        role: String,
        first: String,
        second: String,
    },
}

/// Formats `path:line` or just `path`.
struct SourceLine<'a>(&'a str, Option<u64>);

impl PolicySet {
    /// Loads every policy file in `dir`, all-or-nothing. `known_issuers` are the configured trusted-issuer names:
    /// a policy naming another issuer fails to load. Duplicate role names fail (name both files).
    /// Policy files are `*.yaml` and `*.yml`; `*.test.yaml`/`*.test.yml` (test cases) and hidden files are skipped.
    pub fn load_dir(dir: &Path, known_issuers: &[&str]) -> Result<PolicySet, PolicyError> {
        load::load_dir(dir, known_issuers)
    }

    /// Same from in-memory (file name, text) pairs — used by tests and benches.
    pub fn from_sources(
        sources: &[(String, String)],
        known_issuers: &[&str],
    ) -> Result<PolicySet, PolicyError> {
        load::from_sources(sources, known_issuers)
    }

    pub fn get(&self, role: &str) -> Option<&Arc<Policy>> {
        self.by_role.get(role)
    }

    pub fn len(&self) -> usize {
        self.by_role.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_role.is_empty()
    }

    /// Role names, in no particular order.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.by_role.keys().map(String::as_str)
    }
}

impl fmt::Display for SourceLine<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(line) => write!(formatter, "{}:{line}", self.0),
            None => formatter.write_str(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const GITHUB_DEPLOY_WEB: &str = include_str!("../../policies/github-deploy-web.yaml");
    const SEMAPHORE_BUILD: &str = include_str!("../../policies/semaphore-build.yaml");

    fn examples() -> PolicySet {
        PolicySet::from_sources(
            &[
                ("github-deploy-web.yaml".into(), GITHUB_DEPLOY_WEB.into()),
                ("semaphore-build.yaml".into(), SEMAPHORE_BUILD.into()),
            ],
            &["github", "semaphore"],
        )
        .unwrap()
    }

    fn object(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn github_claims(sub: &str) -> serde_json::Map<String, Value> {
        object(json!({
            "aud": "tollgate",
            "sub": sub,
            "repository": "acme/web",
            "repository_owner_id": "1000",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "run_id": "77",
        }))
    }

    #[test]
    fn github_example() {
        let set = examples();
        let policy = set.get("deploy-web").unwrap();
        assert!(policy.accepts_issuer("github"));
        assert!(!policy.accepts_issuer("semaphore"));
        assert_eq!(policy.audiences(), ["tollgate"]);
        let main = github_claims("repo:acme/web:ref:refs/heads/main");
        assert_eq!(policy.evaluate(&main), Decision::Allow { statement: 1 });
        let prod = github_claims("repo:acme/web:environment:production");
        assert_eq!(policy.evaluate(&prod), Decision::Allow { statement: 1 });
        let branch = github_claims("repo:acme/web:ref:refs/heads/feature");
        assert!(matches!(policy.evaluate(&branch), Decision::Deny(_)));
        let mut other_owner = main.clone();
        other_owner.insert("repository_owner_id".into(), json!("2000"));
        let Decision::Deny(why) = policy.evaluate(&other_owner) else {
            panic!()
        };
        assert_eq!(why.first_failure().unwrap().claim, "repository_owner_id");

        let Grant::Token(grant) = policy.grant();
        assert_eq!(grant.audiences(), ["deploy-api"]);
        assert_eq!(grant.ttl_seconds(), 900);
        assert_eq!(
            grant.render_subject(&main).unwrap().as_deref(),
            Some("acme/web@refs/heads/main")
        );
        let claims = grant.render_claims(&main).unwrap();
        assert_eq!(claims.get("repository"), Some(&json!("acme/web")));
        assert_eq!(claims.get("pipeline"), Some(&json!("github-77")));
        assert_eq!(claims.get("team"), Some(&json!("platform")));
    }

    #[test]
    fn semaphore_example() {
        let set = examples();
        let policy = set.get("semaphore-build").unwrap();
        let claims = object(json!({
            "aud": "tollgate",
            "org": "acme",
            "sub": "org:acme:project:4f1c:repo:web:ref_type:branch:ref:refs/heads/main",
        }));
        assert_eq!(policy.evaluate(&claims), Decision::Allow { statement: 1 });
        let mut pull_request = claims.clone();
        pull_request.insert(
            "sub".into(),
            json!("org:acme:project:4f1c:repo:web:ref_type:pr:ref:refs/heads/main"),
        );
        assert!(matches!(policy.evaluate(&pull_request), Decision::Deny(_)));
        let Grant::Token(grant) = policy.grant();
        assert_eq!(
            (grant.audiences(), grant.ttl_seconds()),
            (&["artifact-store".to_owned()][..], 600)
        );
        assert_eq!(grant.render_subject(&claims).unwrap(), None);
    }

    #[test]
    fn template_rendering() {
        let text = GITHUB_DEPLOY_WEB.to_owned()
            + "    run_number: \"${run_number}\"\n    build: \"b-${run_number}\"\n";
        let set = PolicySet::from_sources(&[("g.yaml".into(), text)], &["github"]).unwrap();
        let Grant::Token(grant) = set.get("deploy-web").unwrap().grant();
        let mut claims = github_claims("repo:acme/web:ref:refs/heads/main");
        assert_eq!(
            grant.render_claims(&claims),
            Err(RenderError::MissingClaim("run_number".into()))
        );
        claims.insert("run_number".into(), json!(12));
        let rendered = grant.render_claims(&claims).unwrap();
        assert_eq!(
            rendered.get("run_number"),
            Some(&json!(12)),
            "an exact copy keeps the JSON type"
        );
        assert_eq!(rendered.get("build"), Some(&json!("b-12")));
        claims.remove("repository");
        assert_eq!(
            grant.render_subject(&claims),
            Err(RenderError::MissingClaim("repository".into()))
        );
        let rendered = grant.render_claims(&claims).unwrap();
        assert_eq!(
            rendered.get("repository"),
            None,
            "a missing exact copy is omitted"
        );
        claims.insert("run_id".into(), json!(["a"]));
        assert_eq!(
            grant.render_claims(&claims),
            Err(RenderError::NotAString("run_id".into()))
        );
        claims.insert("ref".into(), json!({"a": 1}));
        assert_eq!(
            grant.render_subject(&claims),
            Err(RenderError::MissingClaim("repository".into()))
        );
        claims.insert("repository".into(), json!(""));
        claims.insert("ref".into(), json!(""));
        assert_eq!(grant.render_subject(&claims), Ok(Some("@".into())));
    }

    #[test]
    fn duplicate_roles_name_both_files() {
        let error = PolicySet::from_sources(
            &[
                ("b.yaml".into(), GITHUB_DEPLOY_WEB.into()),
                ("a.yaml".into(), GITHUB_DEPLOY_WEB.into()),
            ],
            &["github"],
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "role deploy-web is defined twice: in a.yaml and in b.yaml"
        );
    }

    #[test]
    fn unknown_issuer_fails_the_whole_set() {
        let error = PolicySet::from_sources(
            &[
                ("g.yaml".into(), GITHUB_DEPLOY_WEB.into()),
                ("s.yaml".into(), SEMAPHORE_BUILD.into()),
            ],
            &["github"],
        )
        .unwrap_err();
        assert!(
            matches!(error, PolicyError::UnknownIssuer { ref issuer, .. } if issuer == "semaphore"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("s.yaml:3: role semaphore-build names issuer"),
            "{error}"
        );
    }

    #[test]
    fn load_dir_reads_policy_files_only() {
        let dir = std::env::temp_dir().join(format!("tollgate-policy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("github-deploy-web.yaml"), GITHUB_DEPLOY_WEB).unwrap();
        std::fs::write(dir.join("semaphore-build.yml"), SEMAPHORE_BUILD).unwrap();
        std::fs::write(dir.join("github-deploy-web.test.yaml"), "cases: []\n").unwrap();
        std::fs::write(dir.join("README.md"), "not a policy").unwrap();
        let set = PolicySet::load_dir(&dir, &["github", "semaphore"]).unwrap();
        let mut roles: Vec<&str> = set.roles().collect();
        roles.sort_unstable();
        assert_eq!(roles, ["deploy-web", "semaphore-build"]);
        assert_eq!((set.len(), set.is_empty()), (2, false));

        std::fs::write(dir.join("copy.yaml"), GITHUB_DEPLOY_WEB).unwrap();
        let error = PolicySet::load_dir(&dir, &["github", "semaphore"]).unwrap_err();
        assert!(
            matches!(error, PolicyError::DuplicateRole { .. }),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let error = PolicySet::load_dir(&dir, &["github"]).unwrap_err();
        assert!(matches!(error, PolicyError::Io { .. }), "{error}");
    }

    /// A few policies for different roles, each keyed on `team`, for the order-independence property.
    fn policy_source(index: usize, statements: &str) -> (String, String) {
        let text = format!(
            "role: role-{index}\nissuer: github\naudience: tollgate\ngrant: {{type: token, audience: x, ttl: 60}}\nstatements:\n{statements}"
        );
        (format!("p{index}.yaml"), text)
    }

    proptest! {
        #[test]
        fn file_order_does_not_change_decisions(
            order in Just((0..4).collect::<Vec<usize>>()).prop_shuffle(),
            team in prop_oneof![Just("red"), Just("blue"), Just("green")],
            sub in prop_oneof![Just("repo:acme/web"), Just("repo:evil/web"), Just("x")],
        ) {
            let sources = [
                policy_source(0, "  - effect: allow\n    condition: {StringEquals: {team: red}}\n"),
                policy_source(1, "  - effect: allow\n    condition: {StringLike: {sub: 'repo:acme/*'}}\n  - effect: deny\n    condition: {StringEquals: {team: blue}}\n"),
                policy_source(2, "  - effect: allow\n    condition: {StringNotEquals: {team: [red, blue]}}\n"),
                policy_source(3, "  - effect: allow\n    condition: {StringNotLike: {sub: 'repo:evil/*'}}\n"),
            ];
            let shuffled: Vec<(String, String)> = order.iter().map(|&index| sources[index].clone()).collect();
            let reference = PolicySet::from_sources(&sources, &["github"]).unwrap();
            let loaded = PolicySet::from_sources(&shuffled, &["github"]).unwrap();
            let claims = object(json!({"aud": "tollgate", "team": team, "sub": sub}));
            for index in 0..4 {
                let role = format!("role-{index}");
                prop_assert_eq!(
                    loaded.get(&role).unwrap().evaluate(&claims),
                    reference.get(&role).unwrap().evaluate(&claims)
                );
            }
        }
    }
}

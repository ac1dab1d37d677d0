//! `tollgate explain` (a role's policy traced over a token or a claims file) and `tollgate policy test`
//! (the `*.test.yaml` cases beside the policies, through the broker's own decision path).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Map, Value};
use tollgate::clock::{Clock, SystemClock, UnixTime};
use tollgate::config::{Config, process_env, profile_known_issuers};
use tollgate::issuers::Issuers;
use tollgate::policy::{AudienceRule, ClaimDisplay, Decision, KnownIssuer, PolicySet, Trace, TracedValue, testing};
use tollgate::verify::{RawToken, Verifier};

/// What `explain` reads the claims from.
pub enum Subject {
    Token(PathBuf),
    Claims(PathBuf),
}

/// Policies and known issuers from `--config`, or the given folder with the built-in profiles' issuers.
fn load(config: Option<&Config>, dir: Option<&Path>) -> anyhow::Result<PolicySet> {
    let (dir, known): (PathBuf, Vec<KnownIssuer>) = match (config, dir) {
        (Some(config), dir) => {
            (dir.map_or_else(|| config.policies_dir.clone(), Path::to_owned), config.known_issuers())
        }
        (None, dir) => (dir.map_or_else(|| PathBuf::from("policies"), Path::to_owned), profile_known_issuers()),
    };
    Ok(PolicySet::load_dir(&dir, &known)?)
}

pub fn test(dir: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = config.map(|path| Config::load(&path, &process_env)).transpose()?;
    let set = load(config.as_ref(), dir.as_deref())?;
    let cases_dir =
        dir.or_else(|| config.as_ref().map(|c| c.policies_dir.clone())).unwrap_or_else(|| "policies".into());
    let cases = testing::load_cases(&cases_dir)?;
    if cases.is_empty() {
        bail!("no test cases (*.test.yaml) in {}", cases_dir.display());
    }
    let report = testing::run(&set, &cases);
    println!("{report}");
    Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub async fn explain(
    role: &str,
    subject: Subject,
    issuer: Option<String>,
    config: Option<PathBuf>,
    at: Option<String>,
) -> anyhow::Result<ExitCode> {
    let config = config.map(|path| Config::load(&path, &process_env)).transpose()?;
    let set = load(config.as_ref(), None)?;
    let policy = set.get(role).with_context(|| format!("no policy defines role {role:?}"))?;
    let display = config.as_ref().map_or(ClaimDisplay::Shown, |c| c.explain.claim_display);
    let (issuer, claims) = match subject {
        Subject::Claims(file) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let claims: Map<String, Value> =
                serde_json::from_str(&text).context("the claims file is not a JSON object")?;
            let issuer = issuer.or_else(|| policy.issuers().first().cloned()).unwrap_or_default();
            (issuer, claims)
        }
        Subject::Token(file) => {
            let Some(config) = config.as_ref() else { bail!("--token needs --config (to know the trusted issuers)") };
            let now = match at {
                Some(at) => UnixTime::parse_rfc3339(&at).with_context(|| format!("--at {at:?} is not RFC 3339"))?,
                None => SystemClock.now(),
            };
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let issuers = Arc::new(Issuers::new(config.issuers.clone(), config.jwks.clone(), now)?);
            let verified = match Verifier::new(issuers).verify(&RawToken::parse(&text)?, now).await {
                Ok(verified) => verified,
                Err(error) => {
                    println!("rejected before any policy: {error}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            (verified.issuer_name().to_owned(), verified.claims().clone())
        }
    };
    let trusted = policy.accepts_issuer(&issuer);
    let trace = policy.explain(&claims, display);
    print!("{}", render(&trace, &issuer, trusted));
    let allowed = trusted && matches!(trace.decision, Decision::Allow { .. });
    Ok(if allowed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The trace as text, one line per condition.
pub fn render(trace: &Trace, issuer: &str, issuer_trusted: bool) -> String {
    let mut out = String::new();
    let verdict = match (&trace.decision, issuer_trusted) {
        (_, false) => format!("DENY: role {} does not trust issuer {issuer:?}", trace.role),
        (Decision::Allow { statement }, true) => format!("ALLOW by statement {statement}"),
        (Decision::Deny(explanation), true) => format!("DENY: {explanation}"),
    };
    let _ = writeln!(out, "role {}: {verdict}", trace.role);
    let _ = writeln!(
        out,
        "  issuer   {issuer} ({})",
        if issuer_trusted { "trusted by the role" } else { "NOT trusted by the role" }
    );
    let rule = match &trace.audience.rule {
        AudienceRule::OneOf(list) => format!("one of {list:?}"),
        AudienceRule::InConditions => "decided by aud conditions".to_owned(),
        AudienceRule::Any => "any accepted by the issuer".to_owned(),
    };
    let presented = trace.audience.presented.as_ref().map_or_else(|| "none".to_owned(), shown);
    let _ = writeln!(out, "  audience {rule}; token has {presented}: {}", pass(trace.audience.passed));
    for statement in &trace.statements {
        let sid = statement.sid.as_deref().map(|s| format!(" {s:?}")).unwrap_or_default();
        let effect = format!("{:?}", statement.effect).to_lowercase();
        let matched = if statement.matched { "matched" } else { "not matched" };
        let _ = writeln!(out, "  statement {}{sid} ({effect}): {matched}", statement.number);
        for condition in &statement.conditions {
            let actual = condition.actual.as_ref().map_or_else(|| "(missing)".to_owned(), shown);
            let _ = writeln!(
                out,
                "    {} {} {:?} expected {:?}, actual {actual}",
                pass(condition.result),
                condition.operator,
                condition.claim,
                condition.expected
            );
        }
    }
    out
}

fn pass(result: bool) -> &'static str {
    if result { "pass" } else { "FAIL" }
}

fn shown(value: &TracedValue) -> String {
    match value {
        TracedValue::One(value) => format!("{value:?}"),
        TracedValue::Many(values) => format!("{values:?}"),
    }
}

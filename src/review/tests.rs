//! Replay over hand-written audit lines: what qualifies, what is skipped and why, and the bounds.

use std::io::Write as _;

use serde_json::{Value, json};

use super::{Flip, ReplayOptions, replay};
use crate::clock::UnixTime;
use crate::policy::{KnownIssuer, PolicySet};

fn candidate() -> PolicySet {
    let policy = "role: deploy\nissuer: ci\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"repo:acme/web:*\"\ngrant:\n  type: token\n  audience: api\n  ttl: 15m\n";
    PolicySet::from_sources(&[("deploy.yaml".into(), policy.into())], &[KnownIssuer::named("ci")]).unwrap()
}

fn decision(time: &str, policy: &str, sub: &str) -> Value {
    json!({
        "time": time, "request_id": "r", "front_door": "exchange", "issuer": "ci", "sub": sub, "role": "deploy",
        "decision": policy, "reason": "x", "detail": "d", "policy": policy,
        "claims": {"iss": "https://ci.example", "sub": sub, "aud": "tollgate", "jti": "j"},
    })
}

fn run(lines: &[String], options: &ReplayOptions) -> super::Replayed {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    replay(&[file.path()], &candidate(), options).unwrap()
}

fn options() -> ReplayOptions {
    ReplayOptions { since: None, examples: 1 }
}

#[test]
fn only_policy_decisions_with_claims_by_value_are_replayed() {
    let mut hashed = decision("2026-01-01T00:00:00Z", "deny", "repo:acme/web:ref:refs/heads/x");
    hashed["claims"]["iss"] = json!("sha256:00ff");
    let mut explain = decision("2026-01-01T00:00:00Z", "deny", "repo:acme/web:ref:refs/heads/x");
    explain["front_door"] = json!("explain");
    let mut without = decision("2026-01-01T00:00:00Z", "deny", "repo:acme/web:ref:refs/heads/x");
    without.as_object_mut().unwrap().remove("claims");
    let mut before_policy = decision("2026-01-01T00:00:00Z", "deny", "s");
    before_policy.as_object_mut().unwrap().remove("policy");
    let lines = [
        decision("2026-01-01T00:00:00Z", "deny", "repo:acme/web:ref:refs/heads/x").to_string(),
        decision("2026-01-01T00:00:00Z", "allow", "repo:acme/api:ref:refs/heads/main").to_string(),
        decision("2026-01-01T00:00:00Z", "allow", "repo:acme/web:ref:refs/heads/main").to_string(),
        hashed.to_string(),
        explain.to_string(),
        without.to_string(),
        before_policy.to_string(),
        json!({"type": "shadow_disagreement", "policy": "allow"}).to_string(),
        json!({"type": "admin", "action": "policies.reload"}).to_string(),
        "{not json".into(),
        String::new(),
    ];
    let replayed = run(&lines, &options());
    let tally = &replayed.roles["deploy"];
    assert_eq!((tally.decisions, tally.unchanged, tally.allow_to_deny, tally.deny_to_allow), (3, 1, 1, 1));
    assert_eq!(replayed.new_access(), 1);
    let skipped = &replayed.skipped;
    assert_eq!((skipped.hashed_claims, skipped.without_claims, skipped.unreadable), (1, 1, 1));
    assert_eq!(skipped.not_policy_decisions, 4, "explain, before any policy, shadow and admin lines");
    assert_eq!(tally.examples[&Flip::DenyToAllow][0].candidate, "allowed by statement 1");
}

#[test]
fn since_examples_and_line_bounds() {
    let lines: Vec<String> = (0..4)
        .map(|day| decision(&format!("2026-01-0{}T00:00:00Z", day + 1), "deny", "repo:acme/web:x").to_string())
        .chain([format!("{{\"pad\": \"{}\"}}", "a".repeat(super::replay::MAX_LINE_BYTES + 10))])
        .chain([decision("2026-01-09T00:00:00Z", "deny", "repo:acme/web:y").to_string()])
        .collect();
    let since = ReplayOptions { since: Some(UnixTime::parse_rfc3339("2026-01-03T00:00:00Z").unwrap()), examples: 2 };
    let replayed = run(&lines, &since);
    assert_eq!(replayed.skipped.too_old, 2);
    assert_eq!(replayed.skipped.unreadable, 1, "an over-long line is skipped whole; the next one still counts");
    let tally = &replayed.roles["deploy"];
    assert_eq!(tally.deny_to_allow, 3);
    assert_eq!(tally.examples[&Flip::DenyToAllow].len(), 2, "at most --examples per direction");
}

#[test]
fn markdown_escapes_what_tokens_choose() {
    let lines = [decision("2026-01-01T00:00:00Z", "deny", "repo:acme/web:`x`|<b>\n").to_string()];
    let markdown = run(&lines, &options()).render(super::Format::Markdown, "candidate");
    assert!(!markdown.contains("`x`"), "a backtick cannot close the code span: {markdown}");
    assert!(markdown.contains("'x'\\|<b>"), "a pipe cannot end the table cell: {markdown}");
    assert!(markdown.contains("\\n"), "newlines stay escaped: {markdown}");
}

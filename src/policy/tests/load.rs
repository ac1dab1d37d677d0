//! Loading tests: every load error with its `file:line` text, file selection (policies and test files), and
//! the size cap.

use std::path::Path;

use super::known;
use crate::policy::error::printable;
use crate::policy::load::{MAX_POLICY_FILE_BYTES, is_policy_file_name, is_test_file_name, parse_source};

const GOOD: &str = "\
role: deploy-web
issuer: github
audience: tollgate
statements:
  - effect: allow
    condition:
      StringEquals:
        repository_owner_id: \"1000\"
grant:
  type: token
  audience: deploy-api
  ttl: 15m
";

/// Loads `text`; returns a description of the mismatch unless it fails with exactly `expected`.
fn check_error(text: &str, expected: &str) -> Option<String> {
    match parse_source("p.yaml", text, &known()) {
        Ok(_) => Some(format!("loaded, expected {expected:?}:\n{text}")),
        Err(error) if error.to_string() == expected => None,
        Err(error) => Some(format!("got      {:?}\nexpected {expected:?}", error.to_string())),
    }
}

/// `GOOD` with the line starting with `find` replaced by `replace` (which may span several lines).
fn edit(find: &str, replace: &str) -> String {
    let lines: Vec<&str> = GOOD.lines().collect();
    let index = lines.iter().position(|line| line.starts_with(find)).unwrap();
    let mut edited: Vec<&str> = lines.clone();
    edited[index] = replace;
    edited.join("\n") + "\n"
}

#[test]
fn good_policy_loads() {
    let (policy, lints) = parse_source("p.yaml", GOOD, &known()).unwrap();
    assert!(lints.is_empty(), "{lints:?}");
    assert_eq!(policy.role(), "deploy-web");
    let deny_everything = edit("grant", "  - effect: deny\ngrant:");
    assert!(parse_source("p.yaml", &deny_everything, &known()).is_ok());
}

#[test]
fn load_errors() {
    let cases: Vec<(String, &str)> = vec![
        (
            GOOD.replace("statements:", "statments:"),
            "p.yaml:4: unknown field `statments`, expected one of role, description, issuer, audience, statements, Version, Id, Statement, grant, allow_unpinned_tenant, single_use, on_store_error",
        ),
        (
            edit("  - effect", "  - effect: allow\n    effekt: deny"),
            "p.yaml:6: unknown field `effekt`, expected one of effect, sid, condition",
        ),
        (
            edit("  ttl", "  ttl: 15m\n  tll: 1m"),
            "p.yaml:13: unknown field `tll`, expected one of type, audience, ttl, subject, claims",
        ),
        (edit("      StringEquals", "      StringEqual:"), "p.yaml:7: unknown condition operator \"StringEqual\""),
        (
            edit("      StringEquals", "      IpAddress:"),
            "p.yaml:7: condition operator \"IpAddress\" is not supported: CI tokens carry no such values",
        ),
        (
            edit("      StringEquals", "      NullIfExists:"),
            "p.yaml:7: condition operator \"NullIfExists\": Null takes neither IfExists nor ForAnyValue:/ForAllValues:",
        ),
        (
            edit("issuer", "issuer: [github, jenkins]"),
            "p.yaml:2: role deploy-web names issuer \"jenkins\", which is not a configured trusted issuer",
        ),
        (edit("issuer", "issuer: []"), "p.yaml:2: issuer needs at least one value"),
        (edit("audience", "audience: ''"), "p.yaml:3: audience may not be an empty string"),
        (
            edit("role", "role: -bad"),
            "p.yaml:1: role \"-bad\" must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
        ),
        (
            GOOD.replace("StringEquals:\n        repository_owner_id: \"1000\"", "{}"),
            "p.yaml:5: an allow statement needs at least one condition",
        ),
        (
            GOOD.replace("\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"", ""),
            "p.yaml:5: an allow statement needs at least one condition",
        ),
        (edit("grant", "  - effect: allow\ngrant:"), "p.yaml:9: an allow statement needs at least one condition"),
        (edit("  - effect", "  - effect: deny"), "p.yaml:5: a policy needs at least one allow statement"),
        (edit("  - effect", "  - effect: maybe"), "p.yaml:5: unknown variant `maybe`, expected one of allow, deny"),
        (
            edit("        repository_owner_id", "        sub: 'repo:${owner'"),
            "p.yaml:8: value \"repo:${owner\" has an unclosed \"${\"",
        ),
        (
            edit("        repository_owner_id", "        sub: []"),
            "p.yaml:8: condition StringEquals on \"sub\" needs at least one value",
        ),
        (
            edit("        repository_owner_id", "        id: 1.5"),
            "p.yaml:8: a condition value may not be a floating-point number; quote it",
        ),
        (edit("        repository_owner_id", "        id: ~"), "p.yaml:8: a condition value may not be null"),
        (
            edit("        repository_owner_id", "        a: x\n        a: y"),
            "p.yaml:9: duplicate mapping key: a, set DuplicateKeyPolicy in Options if acceptable",
        ),
        (edit("  ttl", "  ttl: 25h"), "p.yaml:12: ttl must be between 1 second and 24h, not 90000 seconds"),
        (edit("  ttl", "  ttl: 0"), "p.yaml:12: ttl must be between 1 second and 24h, not 0 seconds"),
        (edit("  ttl", "  ttl: soon"), "p.yaml:12: ttl \"soon\" is not a duration such as 90s, 15m or 1h"),
        (edit("  ttl", "  ttl: -5"), "p.yaml:12: ttl must be positive"),
        (
            edit("  ttl", "  ttl: 1m\n  claims:\n    team: a\n    sub: x"),
            "p.yaml:15: grant claim \"sub\" is reserved: the broker sets it",
        ),
        (
            edit("  ttl", "  ttl: 1m\n  claims:\n    role: x"),
            "p.yaml:14: grant claim \"role\" is reserved: the broker sets it",
        ),
        (
            edit("  ttl", "  ttl: 1m\n  claims:\n    x: [\"${a}\"]"),
            "p.yaml:14: grant claim \"x\": \"${…}\" templates work only in top-level string values",
        ),
        (edit("  ttl", "  ttl: 1m\n  subject: \"${sub\""), "p.yaml:13: template \"${sub\" has an unclosed \"${\""),
        (edit("  type", "  type: gcp"), "p.yaml:10: unknown variant `gcp`, expected one of token, aws"),
        (
            edit("  ttl", "  ttl: 1m\n  role_arn: arn:aws:iam::123456789012:role/x"),
            "p.yaml:13: unknown field `role_arn`, expected one of type, audience, ttl, subject, claims",
        ),
        (edit("  type", ""), "p.yaml:11: missing field `type`"),
        (edit("  ttl", ""), "p.yaml:10: missing field `ttl`"),
        (edit("  audience: deploy-api", "  audience: []"), "p.yaml:11: grant audience needs at least one value"),
        (String::new(), "p.yaml:1: unexpected end of input"),
        ("role: [".to_owned(), "p.yaml:1: expected string scalar"),
    ];
    let mismatches: Vec<String> = cases.iter().filter_map(|(text, expected)| check_error(text, expected)).collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn file_selection() {
    for (name, expected) in [
        ("a.yaml", true),
        ("a.yml", true),
        ("a.test.yaml", false),
        ("a.test.yml", false),
        (".a.yaml", false),
        ("a.yaml.bak", false),
        ("a.json", true),
        ("a.test.json", false),
    ] {
        assert_eq!(is_policy_file_name(Path::new(name)), expected, "{name}");
        let test_file = name.contains(".test.") && !name.starts_with('.');
        assert_eq!(is_test_file_name(Path::new(name)), test_file, "{name}");
    }
}

#[test]
fn oversized_files_are_refused() {
    let padded = format!("{GOOD}# {}\n", "x".repeat(usize::try_from(MAX_POLICY_FILE_BYTES).unwrap()));
    let error = parse_source("p.yaml", &padded, &known()).unwrap_err();
    assert!(error.to_string().starts_with("p.yaml: file is larger than"), "{error}");
}

#[test]
fn printable_escapes_control_characters() {
    assert_eq!(printable("a\nb\tc é"), "a\\nb\\tc é");
}

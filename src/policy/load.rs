//! Loading policy files into a [`PolicySet`], all-or-nothing: choosing which files in a directory are
//! policies, reading them with a size cap, parsing YAML (with the line of any error), compiling, and refusing
//! duplicate roles. The only file I/O of the policy module happens here.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use crate::policy::compile::{CompileError, compile};
use crate::policy::raw::RawPolicy;
use crate::policy::{Policy, PolicyError, PolicySet};

/// Largest policy file accepted, in bytes.
pub(super) const MAX_POLICY_FILE_BYTES: u64 = 1024 * 1024;

/// See [`PolicySet::load_dir`].
pub(super) fn load_dir(dir: &Path, known_issuers: &[&str]) -> Result<PolicySet, PolicyError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Io { path, source }
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if is_policy_file_name(&path) && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let text = read_capped(&path).map_err(io_error(&path))?;
        sources.push((path.display().to_string(), text));
    }
    from_sources(&sources, known_issuers)
}

/// See [`PolicySet::from_sources`]. Sources are compiled in name order, so the first error reported does not
/// depend on the order given.
pub(super) fn from_sources(
    sources: &[(String, String)],
    known_issuers: &[&str],
) -> Result<PolicySet, PolicyError> {
    let mut ordered: Vec<&(String, String)> = sources.iter().collect();
    ordered.sort_by(|left, right| left.0.cmp(&right.0));
    let mut policies: HashMap<String, (Arc<Policy>, &str)> = HashMap::with_capacity(ordered.len());
    for (path, text) in ordered {
        let policy = parse_source(path, text, known_issuers)?;
        if let Some((_, first)) = policies.get(policy.role()) {
            return Err(PolicyError::DuplicateRole {
                role: policy.role().to_owned(),
                first: (*first).to_owned(),
                second: path.clone(),
            });
        }
        policies.insert(policy.role().to_owned(), (Arc::new(policy), path));
    }
    let by_role = policies
        .into_iter()
        .map(|(role, (policy, _))| (role, policy))
        .collect();
    Ok(PolicySet { by_role })
}

/// Parses and compiles one policy file's text; `path` only names it in errors.
pub(super) fn parse_source(
    path: &str,
    text: &str,
    known_issuers: &[&str],
) -> Result<Policy, PolicyError> {
    if u64::try_from(text.len()).map_or(true, |len| len > MAX_POLICY_FILE_BYTES) {
        return Err(PolicyError::InvalidPolicy {
            path: path.to_owned(),
            line: None,
            message: format!("policy file is larger than {MAX_POLICY_FILE_BYTES} bytes"),
        });
    }
    let options = serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    let raw: RawPolicy = serde_saphyr::from_str_with_options(text, options).map_err(|error| {
        PolicyError::InvalidPolicy {
            path: path.to_owned(),
            line: error
                .location()
                .map(|at| at.line())
                .filter(|line| *line > 0),
            message: printable(&DefaultMessageFormatter.format_message(&error)),
        }
    })?;
    compile(raw, known_issuers).map_err(|error| match error {
        CompileError::Invalid { line, message } => PolicyError::InvalidPolicy {
            path: path.to_owned(),
            line,
            message,
        },
        CompileError::UnknownIssuer { line, role, issuer } => PolicyError::UnknownIssuer {
            path: path.to_owned(),
            line,
            role,
            issuer,
        },
    })
}

/// `*.yaml` and `*.yml`, except test-case files (`*.test.yaml`, `*.test.yml`) and hidden files.
fn is_policy_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    let is_test = name.ends_with(".test.yaml") || name.ends_with(".test.yml");
    is_yaml && !is_test && !name.starts_with('.')
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_POLICY_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Escapes control characters so a parser message cannot break the line it is logged on.
fn printable(message: &str) -> String {
    message
        .chars()
        .flat_map(|character| {
            let escaped: Vec<char> = if character.is_control() {
                character.escape_default().collect()
            } else {
                vec![character]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        match parse_source("p.yaml", text, &["github", "semaphore"]) {
            Ok(_) => Some(format!("loaded, expected {expected:?}:\n{text}")),
            Err(error) if error.to_string() == expected => None,
            Err(error) => Some(format!(
                "got      {:?}\nexpected {expected:?}",
                error.to_string()
            )),
        }
    }

    /// `GOOD` with the line starting with `find` replaced by `replace` (which may span several lines).
    fn edit(find: &str, replace: &str) -> String {
        let lines: Vec<&str> = GOOD.lines().collect();
        let index = lines
            .iter()
            .position(|line| line.starts_with(find))
            .unwrap();
        let mut edited: Vec<&str> = lines.clone();
        edited[index] = replace;
        edited.join("\n") + "\n"
    }

    #[test]
    fn good_policy_loads() {
        let policy = parse_source("p.yaml", GOOD, &["github"]).unwrap();
        assert_eq!(policy.role(), "deploy-web");
        let deny_everything = edit("grant", "  - effect: deny\ngrant:");
        assert!(parse_source("p.yaml", &deny_everything, &["github"]).is_ok());
    }

    #[test]
    fn load_errors() {
        let cases: Vec<(String, &str)> = vec![
            (
                GOOD.replace("statements:", "statments:"),
                "p.yaml:4: unknown field `statments`, expected one of role, description, issuer, audience, statements, grant",
            ),
            (
                edit("  - effect", "  - effect: allow\n    effekt: deny"),
                "p.yaml:6: unknown field `effekt`, expected one of effect, condition",
            ),
            (
                edit("  ttl", "  ttl: 15m\n  tll: 1m"),
                "p.yaml:13: unknown field `tll`, expected one of type, audience, ttl, subject, claims",
            ),
            (
                edit("      StringEquals", "      StringEqual:"),
                "p.yaml:7: unknown condition operator \"StringEqual\"",
            ),
            (
                edit("      StringEquals", "      NumericLessThan:"),
                "p.yaml:7: condition operator \"NumericLessThan\" is not supported in this version",
            ),
            (
                edit("      StringEquals", "      StringEqualsIfExists:"),
                "p.yaml:7: condition operator \"StringEqualsIfExists\" is not supported in this version",
            ),
            (
                edit("issuer", "issuer: [github, gitlab]"),
                "p.yaml:2: role deploy-web names issuer \"gitlab\", which is not a configured trusted issuer",
            ),
            (
                edit("issuer", "issuer: []"),
                "p.yaml:2: issuer needs at least one value",
            ),
            (
                edit("audience", "audience: ''"),
                "p.yaml:3: audience may not be an empty string",
            ),
            (
                edit("role", "role: -bad"),
                "p.yaml:1: role \"-bad\" must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
            ),
            (
                GOOD.replace("StringEquals:\n        repository_owner_id: \"1000\"", "{}"),
                "p.yaml:5: an allow statement needs at least one condition",
            ),
            (
                GOOD.replace(
                    "\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"",
                    "",
                ),
                "p.yaml:5: an allow statement needs at least one condition",
            ),
            (
                edit("grant", "  - effect: allow\ngrant:"),
                "p.yaml:9: an allow statement needs at least one condition",
            ),
            (
                edit("  - effect", "  - effect: deny"),
                "p.yaml:5: a policy needs at least one allow statement",
            ),
            (
                edit("  - effect", "  - effect: maybe"),
                "p.yaml:5: unknown variant `maybe`, expected one of allow, deny",
            ),
            (
                edit(
                    "        repository_owner_id",
                    "        sub: 'repo:${owner}/*'",
                ),
                "p.yaml:8: condition value \"repo:${owner}/*\" on \"sub\": policy variables come in a later version",
            ),
            (
                edit("        repository_owner_id", "        sub: []"),
                "p.yaml:8: condition StringEquals on \"sub\" needs at least one value",
            ),
            (
                edit("        repository_owner_id", "        id: 1.5"),
                "p.yaml:8: a condition value may not be a floating-point number; quote it",
            ),
            (
                edit("        repository_owner_id", "        id: ~"),
                "p.yaml:8: a condition value may not be null",
            ),
            (
                edit("        repository_owner_id", "        a: x\n        a: y"),
                "p.yaml:9: duplicate mapping key: a, set DuplicateKeyPolicy in Options if acceptable",
            ),
            (
                edit("  ttl", "  ttl: 25h"),
                "p.yaml:12: ttl must be between 1 second and 24h, not 90000 seconds",
            ),
            (
                edit("  ttl", "  ttl: 0"),
                "p.yaml:12: ttl must be between 1 second and 24h, not 0 seconds",
            ),
            (
                edit("  ttl", "  ttl: soon"),
                "p.yaml:12: ttl \"soon\" is not a duration such as 90s, 15m or 1h",
            ),
            (
                edit("  ttl", "  ttl: -5"),
                "p.yaml:12: ttl must be positive",
            ),
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
            (
                edit("  ttl", "  ttl: 1m\n  subject: \"${sub\""),
                "p.yaml:13: template \"${sub\" has an unclosed \"${\"",
            ),
            (
                edit("  type", "  type: aws"),
                "p.yaml:10: unknown variant `aws`, expected one of token",
            ),
            (
                edit("  audience: deploy-api", "  audience: []"),
                "p.yaml:11: grant audience needs at least one value",
            ),
            (String::new(), "p.yaml:1: unexpected end of input"),
            ("role: [".to_owned(), "p.yaml:1: expected string scalar"),
        ];
        let mismatches: Vec<String> = cases
            .iter()
            .filter_map(|(text, expected)| check_error(text, expected))
            .collect();
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
            ("a.json", false),
        ] {
            assert_eq!(is_policy_file_name(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn oversized_files_are_refused() {
        let padded = format!(
            "{GOOD}# {}\n",
            "x".repeat(usize::try_from(MAX_POLICY_FILE_BYTES).unwrap())
        );
        let error = parse_source("p.yaml", &padded, &["github"]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("p.yaml: policy file is larger than"),
            "{error}"
        );
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\nb\tc é"), "a\\nb\\tc é");
    }
}

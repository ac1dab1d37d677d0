//! Property tests for the form and file parsers: the STS Query parameters, the RFC 8693 form (both through
//! `tollgate::http::fuzzing`), config files and policy files. Structured forms carry at most one defect, whose AWS or
//! OAuth error code is the oracle; files are our own (deploy/, policies/) with lines deleted, doubled, swapped or cut.

use std::path::Path;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tollgate::config::Config;
use tollgate::http::fuzzing::{StsSummary, TokenFormSummary, sts_query, token_form};
use tollgate::policy::{ClaimDisplay, Decision, KnownIssuer, PolicySet};

const STS_CODES: [&str; 4] = ["MissingAction", "InvalidAction", "ValidationError", "InvalidIdentityToken"];
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// One defect in an otherwise valid STS request, with the AWS code it must answer (`None`: it is valid).
const STS_DEFECTS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("", None, None),
    ("Action", None, Some("MissingAction")),
    ("Action", Some("AssumeRole"), Some("InvalidAction")),
    ("Version", Some("2012-01-01"), Some("ValidationError")),
    ("RoleArn", None, Some("ValidationError")),
    ("RoleArn", Some("arn:aws:iam::1:r"), Some("ValidationError")),
    ("RoleSessionName", Some("ci run"), Some("ValidationError")),
    ("RoleSessionName", Some("a"), Some("ValidationError")),
    ("RoleSessionName", None, Some("ValidationError")),
    ("WebIdentityToken", None, Some("ValidationError")),
    ("WebIdentityToken", Some("abc"), Some("ValidationError")),
    ("WebIdentityToken", Some("abc$def.ghi"), Some("InvalidIdentityToken")),
    ("DurationSeconds", Some("899"), Some("ValidationError")),
    ("DurationSeconds", Some("43201"), Some("ValidationError")),
    ("DurationSeconds", Some("1h"), Some("ValidationError")),
    ("Policy", Some(""), Some("ValidationError")),
    ("PolicyArns.member.1.arn", Some("arn:aws:iam::aws:policy/x"), Some("ValidationError")),
];

/// One defect in an otherwise valid token-exchange form: (name, value, appended rather than replacing, code).
const FORM_DEFECTS: &[(&str, Option<&str>, bool, Option<&str>)] = &[
    ("", None, false, None),
    ("grant_type", None, false, Some("invalid_request")),
    ("grant_type", Some("client_credentials"), false, Some("unsupported_grant_type")),
    ("subject_token", None, false, Some("invalid_request")),
    ("subject_token", Some("again"), true, Some("invalid_request")),
    ("subject_token_type", Some("urn:x"), false, Some("invalid_request")),
    ("subject_token_type", None, false, Some("invalid_request")),
    ("actor_token", Some("a.b.c"), true, Some("invalid_request")),
    ("requested_token_type", Some("urn:ietf:params:oauth:token-type:saml2"), true, Some("invalid_request")),
    ("scope", Some("deploy build"), false, Some("invalid_request")),
    ("scope", Some("   "), false, Some("invalid_request")),
    ("scope", None, false, Some("invalid_request")),
    ("audience", Some("second"), true, Some("invalid_request")),
];

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// Applies a defect: `None` removes every pair of that name; `append` adds a pair instead of replacing.
fn spoil(pairs: &mut Vec<(String, String)>, name: &str, value: Option<&str>, append: bool) {
    match value {
        _ if name.is_empty() => {}
        None => pairs.retain(|(n, _)| n != name),
        Some(value) if append || !pairs.iter().any(|(n, _)| n == name) => pairs.push((name.into(), value.into())),
        Some(value) => pairs.iter_mut().filter(|(n, _)| n == name).for_each(|(_, v)| *v = value.to_owned()),
    }
}

/// Line edits of a text file: delete, double, swap with the next, or cut the line in half.
fn edit_lines(text: &str, edits: &[(proptest::sample::Index, u8)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (at, kind) in edits {
        if lines.is_empty() {
            break;
        }
        let i = at.index(lines.len());
        match kind % 4 {
            0 => drop(lines.remove(i)),
            1 => lines.insert(i, lines[i].clone()),
            2 if i + 1 < lines.len() => lines.swap(i, i + 1),
            _ => {
                let cut = lines[i].char_indices().nth(lines[i].chars().count() / 2).map_or(0, |(c, _)| c);
                lines[i].truncate(cut);
            }
        }
    }
    lines.join("\n")
}

fn project_file(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// Invariants of any config that parsed.
fn check_config(text: &str) -> bool {
    let Ok(config) = Config::parse(text, Path::new("/nonexistent/tollgate-props/tollgate.yaml"), &|_| None) else {
        return false;
    };
    let mut names = config.issuer_names();
    names.sort_unstable();
    names.dedup();
    // Every configured issuer has its own name, and the built-in runners' issuer comes on top.
    assert!(!names.is_empty() && names.len() == config.issuers.len() + 1, "issuer names: {names:?}");
    assert!((60..=86_400).contains(&config.minter.max_ttl_secs));
    true
}

fn known_issuers() -> Vec<KnownIssuer> {
    let github = KnownIssuer {
        name: "github".into(),
        url_prefix: Some("token.actions.githubusercontent.com".into()),
        tenant_claims: vec!["repository_owner_id".into(), "repository_owner".into()],
    };
    vec![github, KnownIssuer::named("semaphore")]
}

/// Invariants of any policy file that loaded: every role resolves, and explain agrees with evaluate.
fn check_policy(name: &str, text: &str) -> bool {
    let Ok(set) = PolicySet::from_sources(&[(name.to_owned(), text.to_owned())], &known_issuers()) else {
        return false;
    };
    let Value::Object(claims) = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "tollgate",
        "sub": "repo:acme/web:ref:refs/heads/main", "repository_owner_id": "1000", "org": "acme"})
    else {
        unreachable!()
    };
    let claims: Map<String, Value> = claims;
    let roles: Vec<String> = set.roles().map(str::to_owned).collect();
    assert!(!roles.is_empty());
    for role in roles {
        let policy = set.get(&role).unwrap();
        let allowed = matches!(policy.evaluate(&claims), Decision::Allow { .. });
        let trace = policy.explain(&claims, ClaimDisplay::Hashed);
        assert_eq!(allowed, matches!(trace.decision, Decision::Allow { .. }), "{role}");
    }
    true
}

fn policy_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml") && !path.to_string_lossy().ends_with(".test.yaml"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    files
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_sts_requests(
        query in proptest::option::of("[ -~]{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        match sts_query(query.as_deref(), &body) {
            Ok(request) => {
                prop_assert!((20..=2048).contains(&request.role_arn.chars().count()));
                prop_assert!((2..=64).contains(&request.session_name.chars().count()));
            }
            Err(code) => prop_assert!(STS_CODES.contains(&code), "{}", code),
        }
    }

    #[test]
    fn sts_requests_answer_their_one_defect(
        session in "[A-Za-z0-9_+=,.@-]{2,64}",
        token in "[A-Za-z0-9_-]{4,40}\\.[A-Za-z0-9_-]{1,20}\\.[A-Za-z0-9_-]{1,20}",
        duration in proptest::option::of(900..=43_200u32),
        policy in proptest::option::of("[ -~]{1,80}"),
        with_version in any::<bool>(),
        placement in proptest::collection::vec(0..3u8, 8),
        defect in proptest::sample::select(STS_DEFECTS),
    ) {
        let role_arn = "arn:aws:iam::123456789012:role/deploy";
        let mut pairs: Vec<(String, String)> = vec![
            ("Action".into(), "AssumeRoleWithWebIdentity".into()),
            ("RoleArn".into(), role_arn.into()),
            ("RoleSessionName".into(), session.clone()),
            ("WebIdentityToken".into(), token.clone()),
        ];
        pairs.extend(with_version.then(|| ("Version".into(), "2011-06-15".into())));
        pairs.extend(duration.map(|d| ("DurationSeconds".into(), d.to_string())));
        pairs.extend(policy.clone().map(|p| ("Policy".into(), p)));
        let (name, value, expected) = defect;
        spoil(&mut pairs, name, value, false);
        // Each pair in the query (0), the body (1), or both with a decoy in the query: the body wins (2).
        let (mut query, mut body) = (Vec::new(), Vec::new());
        for (pair, place) in pairs.into_iter().zip(placement.iter().cycle()) {
            match place {
                0 => query.push(pair),
                1 => body.push(pair),
                _ => {
                    query.push((pair.0.clone(), "decoy".into()));
                    body.push(pair);
                }
            }
        }
        let result = sts_query(Some(&encode(&query)), encode(&body).as_bytes());
        let (role_arn, token_len) = (role_arn.to_owned(), token.len());
        let wanted = StsSummary { role_arn, session_name: session, duration_secs: duration, policy, token_len };
        match expected {
            None => prop_assert_eq!(result, Ok(wanted)),
            Some(code) => prop_assert_eq!(result.map_err(str::to_owned), Err(code.to_owned())),
        }
    }

    #[test]
    fn arbitrary_token_forms(body in proptest::collection::vec(any::<u8>(), 0..300), text in "[a-z_=&+%0-9 ]{0,120}") {
        for body in [body, text.into_bytes()] {
            match token_form(&body) {
                Ok(form) => prop_assert!(!form.role.is_empty() && !form.role.contains(char::is_whitespace)),
                Err(code) => prop_assert!(matches!(code, "invalid_request" | "unsupported_grant_type"), "{}", code),
            }
        }
    }

    #[test]
    fn token_forms_name_exactly_one_role_or_answer_their_defect(
        role in "[a-z][a-z0-9-]{0,20}",
        padding in proptest::sample::select(vec![("", ""), (" ", ""), ("  ", "\t")]),
        subject in "[ -~]{0,60}",
        token_type in proptest::sample::select(vec![JWT, ID_TOKEN]),
        requested in proptest::option::of(proptest::sample::select(vec![JWT, ACCESS_TOKEN])),
        audience in proptest::option::of("[ -~]{0,30}"),
        resource in proptest::option::of("[ -~]{0,30}"),
        defect in proptest::sample::select(FORM_DEFECTS),
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let mut pairs: Vec<(String, String)> = vec![
            ("grant_type".into(), GRANT.into()),
            ("subject_token".into(), subject.clone()),
            ("subject_token_type".into(), token_type.into()),
            ("scope".into(), format!("{}{role}{}", padding.0, padding.1)),
        ];
        pairs.extend(requested.map(|r| ("requested_token_type".into(), r.into())));
        pairs.extend(audience.clone().map(|a| ("audience".into(), a)));
        pairs.extend(resource.clone().map(|r| ("resource".into(), r)));
        let (name, value, append, expected) = defect;
        spoil(&mut pairs, name, value, append);
        let mut shuffled: Vec<_> = order.iter().filter_map(|i| pairs.get(*i).cloned()).collect();
        shuffled.extend(pairs.iter().skip(order.len()).cloned());
        let result = token_form(encode(&shuffled).as_bytes());
        // A second audience appended where there was none is no defect: it is the one audience, and wins.
        let lone_audience = name == "audience" && audience.is_none();
        let expected = if lone_audience { None } else { expected };
        let wanted_audience = if lone_audience { Some("second".to_owned()) } else { audience.or(resource) };
        match expected {
            None => {
                let wanted = TokenFormSummary { role, audience: wanted_audience, subject_token: subject };
                prop_assert_eq!(result, Ok(wanted));
            }
            Some(code) => prop_assert_eq!(result.map_err(str::to_owned), Err(code.to_owned())),
        }
    }

    #[test]
    fn arbitrary_config_text_never_panics(text in any::<String>()) {
        check_config(&text);
    }
}

#[test]
fn edited_config_files_parse_or_refuse_without_panic() {
    let files = ["deploy/dev/tollgate.yaml", "deploy/tollgate.example.yaml"].map(project_file);
    for text in &files {
        assert!(check_config(text), "the unedited file must parse");
    }
    let strategy = (0..files.len(), proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4));
    proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(150))
        .run(&strategy, |(which, edits)| {
            check_config(&edit_lines(&files[which], &edits));
            Ok(())
        })
        .unwrap();
}

#[test]
fn edited_policy_files_load_or_refuse_without_panic() {
    let files = policy_files();
    for (name, text) in &files {
        assert!(check_policy(name, text), "{name} must load unedited");
    }
    let strategy = (0..files.len(), proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4));
    proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(150))
        .run(&strategy, |(which, edits)| {
            let (name, text) = &files[which];
            check_policy(name, &edit_lines(text, &edits));
            Ok(())
        })
        .unwrap();
}

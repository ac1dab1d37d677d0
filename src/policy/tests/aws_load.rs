//! Loading `type: aws` grants: every load error with its `file:line` text, the defaults, the 50-tag limit, and
//! the role-ARN index of the policy set (`by_role_arn` and the `duplicate-role-arn` lint).

use std::sync::Arc;

use super::{known, load};
use crate::policy::load::parse_source;
use crate::policy::{AwsGrant, AwsMode, Grant, Policy, PolicySet};

const GOOD: &str = "\
role: deploy-aws
issuer: ci
audience: tollgate
statements:
  - effect: allow
    condition: {StringEquals: {a: x}}
grant:
  type: aws
  role_arn: arn:aws:iam::123456789012:role/deploy
  duration: 1h
  session_name: \"ci-${sub}\"
  session_tags:
    repository: \"${repository}\"
    environment: \"${environment}\"
  transitive_tag_keys: [repository]
";

/// `GOOD` with the line starting with `find` replaced by `replace` (which may span several lines).
fn edit(find: &str, replace: &str) -> String {
    let lines: Vec<&str> = GOOD.lines().collect();
    let index = lines.iter().position(|line| line.starts_with(find)).unwrap();
    let mut edited: Vec<&str> = lines.clone();
    edited[index] = replace;
    edited.join("\n") + "\n"
}

/// Loads `text`; returns a description of the mismatch unless it fails with exactly `expected`.
fn check_error(text: &str, expected: &str) -> Option<String> {
    match parse_source("p.yaml", text, &known()) {
        Ok(_) => Some(format!("loaded, expected {expected:?}:\n{text}")),
        Err(error) if error.to_string() == expected => None,
        Err(error) => Some(format!("got      {:?}\nexpected {expected:?}", error.to_string())),
    }
}

/// The aws grant of a loaded policy.
fn aws(policy: &Policy) -> &AwsGrant {
    match policy.grant() {
        Grant::Aws(grant) => grant,
        Grant::Token(_) => panic!("not an aws grant"),
    }
}

/// `GOOD` with `n` session tags `t0: v`, `t1: v`, … (from line 13) and the transitive keys `transitive`.
fn with_tags(n: usize, transitive: &str) -> String {
    let tags: String = (0..n).map(|index| format!("    t{index}: v\n")).collect();
    let written = "    repository: \"${repository}\"\n    environment: \"${environment}\"\n";
    GOOD.replace(written, &tags).replace("[repository]", transitive)
}

fn arn_error(arn: &str, message: &str) -> (String, String) {
    (edit("  role_arn", &format!("  role_arn: '{arn}'")), format!("p.yaml:9: {message}"))
}

#[test]
fn good_policy_loads() {
    let (policy, lints) = parse_source("p.yaml", GOOD, &known()).unwrap();
    assert!(lints.is_empty(), "{lints:?}");
    let grant = aws(&policy);
    assert_eq!(grant.role_arn(), "arn:aws:iam::123456789012:role/deploy");
    assert_eq!(
        (grant.duration_seconds(), grant.mode(), grant.audience()),
        (3600, AwsMode::TollgateToken, "sts.amazonaws.com")
    );
}

#[test]
fn load_errors() {
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let cases: Vec<(String, String)> = vec![
        arn_error("arn:aws:iam::1:role", "role_arn must be 20 to 2048 characters, not 19"),
        arn_error(
            "arn:aws:sts::123456789012:role/deploy",
            "role_arn \"arn:aws:sts::123456789012:role/deploy\" is not an IAM role ARN such as arn:aws:iam::123456789012:role/NAME",
        ),
        arn_error(
            "arn:aws-eu:iam::123456789012:role/deploy",
            "role_arn \"arn:aws-eu:iam::123456789012:role/deploy\": partition \"aws-eu\" is not aws, aws-cn or aws-us-gov",
        ),
        arn_error(
            "arn:aws:iam::12345678901:role/deploy",
            "role_arn \"arn:aws:iam::12345678901:role/deploy\": account \"12345678901\" is not 12 digits",
        ),
        arn_error(
            "arn:aws:iam::123456789012:role/de ploy",
            "role_arn \"arn:aws:iam::123456789012:role/de ploy\": a role's path and name may use only A-Z a-z 0-9 _ + = , . @ - and /",
        ),
        arn_error(
            "arn:aws:iam::123456789012:role/ci/",
            "role_arn \"arn:aws:iam::123456789012:role/ci/\" has an empty role name or path part",
        ),
        (edit("  role_arn", ""), "p.yaml:8: missing field `role_arn`".into()),
        (
            edit("  duration", "  duration: 899"),
            "p.yaml:10: duration must be between 900 seconds (15m) and 43200 seconds (12h), not 899 seconds".into(),
        ),
        (
            edit("  duration", "  duration: 12h1s"),
            "p.yaml:10: duration must be between 900 seconds (15m) and 43200 seconds (12h), not 43201 seconds".into(),
        ),
        (
            edit("  duration", "  duration: -1"),
            "p.yaml:10: duration must be between 900 seconds (15m) and 43200 seconds (12h), not -1 seconds".into(),
        ),
        (
            edit("  duration", "  duration: soon"),
            "p.yaml:10: duration \"soon\" is not a duration such as 900, 15m or 1h".into(),
        ),
        (
            edit("  duration", "  mode: assume"),
            "p.yaml:10: unknown variant `assume`, expected one of tollgate_token, passthrough".into(),
        ),
        (
            edit("  duration", "  audience: sts.amazonaws.com\n  mode: passthrough"),
            "p.yaml:10: audience applies only to mode tollgate_token: in passthrough mode STS receives the CI token \
             with its own aud"
                .into(),
        ),
        (
            edit("  duration", "  mode: passthrough\n  audience: x"),
            "p.yaml:11: audience applies only to mode tollgate_token: in passthrough mode STS receives the CI token \
             with its own aud"
                .into(),
        ),
        (
            edit("  duration", "  audience: [a, b]"),
            "p.yaml:10: the audience of an aws grant is one non-empty string".into(),
        ),
        (
            edit("  duration", "  mode: passthrough"),
            "p.yaml:12: session_tags needs mode tollgate_token: in passthrough mode the CI token goes to STS \
             unchanged and cannot carry session tags"
                .into(),
        ),
        (
            GOOD.replace("  session_tags:\n    repository: \"${repository}\"\n    environment: \"${environment}\"\n", "")
                .replace("  duration: 1h", "  mode: passthrough"),
            "p.yaml:12: transitive_tag_keys needs mode tollgate_token: in passthrough mode the CI token goes to STS \
             unchanged and cannot carry session tags"
                .into(),
        ),
        (
            with_tags(51, "[t0]"),
            "p.yaml:63: more than 50 session tags: AWS takes at most 50".into(),
        ),
        (
            edit("    repository", &format!("    {long_key}: x")),
            format!("p.yaml:13: session tag key \"{long_key}\" is longer than 128 characters"),
        ),
        (
            edit("    environment", "    'env*': x"),
            "p.yaml:14: session tag key \"env*\" may use only letters, numbers, spaces and _ . : / = + - @".into(),
        ),
        (edit("    environment", "    '': x"), "p.yaml:14: a session tag needs a non-empty key".into()),
        (
            edit("    environment", "    'aws:env': x"),
            "p.yaml:14: session tag key \"aws:env\": keys starting with aws: are reserved by AWS".into(),
        ),
        (
            edit("    environment", "    'AWS:Env': x"),
            "p.yaml:14: session tag key \"AWS:Env\": keys starting with aws: are reserved by AWS".into(),
        ),
        (
            edit("    environment", "    Repository: x"),
            "p.yaml:14: session tag keys \"repository\" and \"Repository\" differ only in case, which AWS does not allow"
                .into(),
        ),
        (
            edit("    environment", &format!("    environment: {long_value}")),
            "p.yaml:14: session tag \"environment\": the value is longer than 256 characters".into(),
        ),
        (
            edit("    environment", &format!("    environment: '{}${{environment}}'", "v".repeat(255) + "xy")),
            "p.yaml:14: session tag \"environment\": the value is longer than 256 characters".into(),
        ),
        (
            edit("    environment", "    environment: '${environment'"),
            "p.yaml:14: template \"${environment\" has an unclosed \"${\"".into(),
        ),
        (
            edit("  transitive_tag_keys", "  transitive_tag_keys: [repository, env]"),
            "p.yaml:15: transitive tag key \"env\" is not a key of session_tags".into(),
        ),
        (
            edit("  transitive_tag_keys", "  transitive_tag_keys:\n    - repository\n    - Environment"),
            "p.yaml:17: transitive tag key \"Environment\" is not a key of session_tags".into(),
        ),
        (
            edit("  session_name", "  session_name: '${sub'"),
            "p.yaml:11: template \"${sub\" has an unclosed \"${\"".into(),
        ),
        (
            edit("  duration", "  ttl: 1h"),
            "p.yaml:10: unknown field `ttl`, expected one of type, role_arn, duration, session_name, mode, audience, \
             session_tags, transitive_tag_keys"
                .into(),
        ),
        (
            edit("  duration", "  duration: 1h\n  rolearn: x"),
            "p.yaml:11: unknown field `rolearn`, expected one of type, role_arn, duration, session_name, mode, \
             audience, session_tags, transitive_tag_keys"
                .into(),
        ),
    ];
    let mismatches: Vec<String> = cases.iter().filter_map(|(text, expected)| check_error(text, expected)).collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn fifty_tags_load() {
    let text = with_tags(50, "[t0, t49]");
    let set = load(&text).unwrap();
    let tags = aws(set.get("deploy-aws").unwrap()).render_session_tags(&serde_json::Map::new()).unwrap();
    assert_eq!(tags.principal_tags.len(), 50);
    assert_eq!(tags.transitive_tag_keys, ["t0", "t49"]);
}

#[test]
fn defaults_and_variants() {
    let minimal = "role: r\nissuer: ci\naudience: tollgate\nstatements: [{effect: allow, condition: {StringEquals: {a: x}}}]\n\
                   grant: {type: aws, role_arn: 'arn:aws-us-gov:iam::123456789012:role/ci/deploy'}\n";
    let set = load(minimal).unwrap();
    let grant = aws(set.get("r").unwrap());
    assert_eq!(grant.role_arn(), "arn:aws-us-gov:iam::123456789012:role/ci/deploy");
    assert_eq!(
        (grant.duration_seconds(), grant.mode(), grant.audience()),
        (3600, AwsMode::TollgateToken, "sts.amazonaws.com")
    );
    let claims = super::object(serde_json::json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    assert_eq!(grant.render_session_name(&claims).unwrap(), "repo-acme-web-ref-refs-heads-main");
    assert!(grant.render_session_tags(&claims).unwrap().is_empty());

    for (fields, duration, mode, audience) in [
        ("duration: 900, mode: passthrough", 900, AwsMode::Passthrough, "sts.amazonaws.com"),
        ("duration: 1h30m, mode: tollgate_token, audience: tollgate-sts", 5400, AwsMode::TollgateToken, "tollgate-sts"),
        ("duration: 43200, audience: [one]", 43_200, AwsMode::TollgateToken, "one"),
    ] {
        let text = minimal.replace("role_arn:", &format!("{fields}, role_arn:"));
        let set = load(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
        let grant = aws(set.get("r").unwrap());
        assert_eq!((grant.duration_seconds(), grant.mode(), grant.audience()), (duration, mode, audience), "{fields}");
    }
}

/// A `ci` policy for `role` whose aws grant assumes `arn`.
fn aws_policy(role: &str, arn: &str) -> String {
    format!(
        "role: {role}\nissuer: ci\naudience: tollgate\nstatements: [{{effect: allow, condition: {{StringEquals: {{a: x}}}}}}]\n\
         grant:\n  type: aws\n  role_arn: {arn}\n"
    )
}

#[test]
fn by_role_arn() {
    let deploy = "arn:aws:iam::123456789012:role/deploy";
    let sources = [
        ("a.yaml".to_owned(), aws_policy("zeta", deploy)),
        ("b.yaml".to_owned(), aws_policy("beta", "arn:aws:iam::123456789012:role/build")),
        ("c.yaml".to_owned(), aws_policy("alpha", deploy)),
        ("d.yaml".to_owned(), aws_policy("mid", deploy)),
        (
            "e.yaml".to_owned(),
            "role: token\nissuer: ci\naudience: tollgate\nstatements: [{effect: allow, condition: {StringEquals: {a: x}}}]\n\
             grant: {type: token, audience: x, ttl: 60}\n"
                .to_owned(),
        ),
    ];
    let set = PolicySet::from_sources(&sources, &known()).unwrap();
    let role_of = |arn: &str| set.by_role_arn(arn).map(|policy| policy.role().to_owned());
    assert_eq!(role_of(deploy).as_deref(), Some("alpha"), "the first in role-name order, not file order");
    assert_eq!(role_of("arn:aws:iam::123456789012:role/build").as_deref(), Some("beta"));
    assert_eq!(role_of("arn:aws:iam::123456789012:role/Deploy"), None, "exact match only");
    assert_eq!(role_of("arn:aws:iam::123456789012:role/nope"), None);
    assert!(Arc::ptr_eq(set.by_role_arn(deploy).unwrap(), set.get("alpha").unwrap()));
    let shown: Vec<String> = set.lints().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "d.yaml:7: warning[duplicate-role-arn]: role alpha also grants role_arn \
             arn:aws:iam::123456789012:role/deploy; a request naming that ARN alone gets role alpha",
            "a.yaml:7: warning[duplicate-role-arn]: role alpha also grants role_arn \
             arn:aws:iam::123456789012:role/deploy; a request naming that ARN alone gets role alpha",
        ]
    );
    assert_eq!((set.lints()[0].role.as_str(), set.lints()[1].role.as_str()), ("mid", "zeta"));
    assert!(PolicySet::default().by_role_arn(deploy).is_none());
}

#[test]
fn a_token_grant_may_not_mint_tokens_aws_would_accept() {
    let known = [crate::policy::KnownIssuer::named("github")];
    let token = |audience: &str| {
        format!(
            "role: plain\nissuer: github\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"repo:acme/*\"\ngrant:\n  type: token\n  audience: [deploy-api, \"{audience}\"]\n  ttl: 5m\n"
        )
    };
    let aws = "role: aws\nissuer: github\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"repo:acme/*\"\ngrant:\n  type: aws\n  role_arn: arn:aws:iam::123456789012:role/deploy-web\n  audience: tollgate-aws\n";
    for (audience, with_aws) in [("sts.amazonaws.com", false), ("tollgate-aws", true)] {
        let mut sources = vec![("plain.yaml".to_owned(), token(audience))];
        if with_aws {
            sources.push(("aws.yaml".to_owned(), aws.to_owned()));
        }
        let error = crate::policy::PolicySet::from_sources(&sources, &known).unwrap_err().to_string();
        assert!(
            error.contains("plain.yaml") && error.contains(&format!("may not use the audience \"{audience}\"")),
            "{error}"
        );
    }
    let fine = vec![("plain.yaml".to_owned(), token("vault")), ("aws.yaml".to_owned(), aws.to_owned())];
    assert!(crate::policy::PolicySet::from_sources(&fine, &known).is_ok());
}

use std::path::Path;

use crate::config::Config;
use crate::policy::{KnownIssuer, PolicySet};
use crate::relying_party::kubernetes::{Choices, Settings, apiserver_config};
use crate::relying_party::{Severity, check};

const ROLE: &str = "role: deploy-k8s\nissuer: ci\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringEquals: {sub: x}\ngrant:\n  type: token\n  audience: [prod-cluster, staging-cluster]\n  ttl: 10m\n  subject: \"ci:${repository}\"\n  claims:\n    groups: [deployers]\n    team: platform\n    repository: \"${repository}\"\n";
const AWS_ROLE: &str = "role: deploy-aws\nissuer: ci\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n      StringEquals: {sub: x}\ngrant:\n  type: aws\n  role_arn: arn:aws:iam::123456789012:role/deploy\n";

fn config(issuer_url: &str, alg: &str, extra: &str) -> Config {
    let yaml = format!(
        "listen: 127.0.0.1:8080\nissuer_url: {issuer_url}\nsigning:\n  alg: {alg}\n  key_file: k.pem\npolicies: p\n{extra}trusted_issuers:\n  - {{name: ci, issuer: \"https://ci.example.com\", audiences: [tollgate]}}\n"
    );
    Config::parse(&yaml, Path::new("/etc/tollgate/tollgate.yaml"), &|_| None).unwrap()
}

fn policies() -> PolicySet {
    let sources =
        [("deploy-k8s.yaml".to_owned(), ROLE.to_owned()), ("deploy-aws.yaml".to_owned(), AWS_ROLE.to_owned())];
    PolicySet::from_sources(&sources, &[KnownIssuer::named("ci")]).unwrap()
}

#[test]
fn the_api_server_settings_follow_the_grant() {
    let settings =
        apiserver_config(&config("https://tg.example.com", "ES256", ""), &policies(), "deploy-k8s", Choices::default())
            .unwrap();
    assert_eq!(settings.issuer_url, "https://tg.example.com");
    assert_eq!(settings.audiences, ["prod-cluster", "staging-cluster"]);
    assert_eq!(settings.signing_algs, ["ES256"]);
    assert_eq!((settings.username_claim.as_str(), settings.username_prefix.as_str()), ("sub", "tollgate:"));
    assert_eq!(settings.groups_claim.as_deref(), Some("groups"), "the grant sets groups");
    let required: Vec<(&str, &str)> = settings.required_claims.iter().map(|(c, v)| (c.as_str(), v.as_str())).collect();
    assert_eq!(required, [("role", "deploy-k8s"), ("team", "platform")], "the role, and literal string claims only");

    let yaml = settings.authentication_config();
    assert!(yaml.contains("audienceMatchPolicy: MatchAny"), "two audiences: {yaml}");
    let from_yaml = Settings::from_authentication_config(&yaml).unwrap();
    let from_flags = Settings::from_flags(&settings.flags()).unwrap();
    assert_eq!(from_yaml, from_flags, "both forms carry the same settings");
    assert_eq!(from_yaml.client_id, "prod-cluster");
    assert!(settings.flags().contains("--oidc-signing-algs=ES256\n"), "{}", settings.flags());
}

#[test]
fn choices_and_a_kubernetes_relying_party_override_the_defaults() {
    let party =
        "relying_parties:\n  - {name: k, kind: kubernetes, audience: staging-cluster, username_claim: repository}\n";
    let choices =
        Choices { username_prefix: Some(String::new()), groups_claim: Some("team".into()), ..Choices::default() };
    let settings =
        apiserver_config(&config("https://tg.example.com", "RS256", party), &policies(), "deploy-k8s", choices)
            .unwrap();
    assert_eq!(settings.username_claim, "repository", "the relying party's username claim");
    assert_eq!(settings.groups_claim.as_deref(), Some("team"));
    assert!(settings.flags().contains("--oidc-username-prefix=-\n"), "no prefix is written -: {}", settings.flags());
    assert_eq!(Settings::from_flags(&settings.flags()).unwrap().username_prefix, "");
    let ca = Choices {
        certificate_authority: Some((
            "/ca.pem".into(),
            "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n".into(),
        )),
        ..Choices::default()
    };
    let settings =
        apiserver_config(&config("https://tg.example.com", "RS256", ""), &policies(), "deploy-k8s", ca).unwrap();
    assert!(settings.flags().contains("--oidc-ca-file=/ca.pem"));
    assert!(Settings::from_authentication_config(&settings.authentication_config()).unwrap().has_certificate_authority);
}

#[test]
fn grants_the_api_server_could_not_accept_are_refused_with_the_reason() {
    let policies = policies();
    let refused =
        |config: &Config, role: &str, choices: Choices| apiserver_config(config, &policies, role, choices).unwrap_err();
    let https = config("https://tg.example.com", "ES256", "");
    assert!(
        refused(&config("https://tg.example.com", "EdDSA", ""), "deploy-k8s", Choices::default()).contains("EdDSA")
    );
    assert!(
        refused(&config("http://127.0.0.1:8080", "ES256", ""), "deploy-k8s", Choices::default()).contains("not https")
    );
    assert!(refused(&https, "deploy-aws", Choices::default()).contains("grants AWS credentials"));
    assert!(refused(&https, "nobody", Choices::default()).contains("no role \"nobody\""));
    let email = Choices { username_claim: Some("email".into()), ..Choices::default() };
    assert!(refused(&https, "deploy-k8s", email).contains("no \"email\" claim to take the username from"));
    let teams = Choices { groups_claim: Some("teams".into()), ..Choices::default() };
    assert!(refused(&https, "deploy-k8s", teams).contains("no \"teams\" claim to take groups from"));
    let numbers = ROLE.replace("    team: platform\n", "    team: platform\n    level: 3\n");
    let sources = [("deploy-k8s.yaml".to_owned(), numbers)];
    let policies = PolicySet::from_sources(&sources, &[KnownIssuer::named("ci")]).unwrap();
    let level = Choices { groups_claim: Some("level".into()), ..Choices::default() };
    let reason = apiserver_config(&https, &policies, "deploy-k8s", level).unwrap_err();
    assert!(reason.contains("\"level\" claim is not a string or an array of strings"), "{reason}");
}

#[test]
fn an_authentication_config_is_read_strictly() {
    let good = "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: AuthenticationConfiguration\njwt:\n  - issuer: {url: \"https://x\", audiences: [a]}\n    claimMappings:\n      username: {claim: sub, prefix: \"\"}\n";
    assert_eq!(Settings::from_authentication_config(good).unwrap().client_id, "a");
    assert!(Settings::from_authentication_config(&good.replace("prefix", "prefixx")).is_err(), "unknown fields");
    assert!(Settings::from_authentication_config(&good.replace("v1beta1", "v9")).is_err());
    assert!(Settings::from_authentication_config(&good.replace("[a]", "[a, b]")).unwrap_err().contains("MatchAny"));
    assert!(Settings::from_flags("--oidc-issuer-url=https://x --oidc-foo=1").unwrap_err().contains("--oidc-foo"));
}

#[test]
fn check_counts_warnings_and_notes_per_relying_party() {
    let parties = "relying_parties:\n  - {name: k, kind: kubernetes, audience: prod-cluster, groups_claim: groups}\n  - {name: v, audience: vault}\n";
    let findings = check(&config("https://tg.example.com", "ES256", parties), &policies());
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert_eq!(findings.iter().filter(|f| f.severity == Severity::Note).count(), 1, "{text:?}");
    assert!(
        text.iter().any(|t| t == "warning: relying party v: no role grants a token for audience \"vault\""),
        "{text:?}"
    );
    assert_eq!(findings.len(), 2, "{text:?}");
}

#[test]
fn every_published_algorithm_is_listed_once() {
    let previous = "  previous_keys:\n    - {key_file: a.pem, retired_at: \"2026-11-01T00:00:00Z\", alg: RS256}\n    - {key_file: b.pem, retired_at: \"2026-10-01T00:00:00Z\"}\n";
    let yaml = format!(
        "listen: 127.0.0.1:8080\nissuer_url: https://tg.example.com\nsigning:\n  alg: ES256\n  key_file: k.pem\n{previous}policies: p\ntrusted_issuers:\n  - {{name: ci, issuer: \"https://ci.example.com\", audiences: [tollgate]}}\n"
    );
    let config = Config::parse(&yaml, Path::new("/etc/tollgate/tollgate.yaml"), &|_| None).unwrap();
    let settings = apiserver_config(&config, &policies(), "deploy-k8s", Choices::default()).unwrap();
    assert_eq!(settings.signing_algs, ["ES256", "RS256"], "the live key first, the previous ES256 not twice");
    assert!(settings.flags().contains("--oidc-signing-algs=ES256,RS256\n"));
}

//! Config parsing tests: every error names file, line and key.

use std::path::Path;

use super::*;
use crate::issuers::{IssuerMatcher, KeysConfig};

const GOOD: &str = r#"
listen: 127.0.0.1:8080
issuer_url: https://tollgate.example.com/
signing:
  alg: ES256
  key_file: keys/signing.pem
policies: policies
tokens:
  max_ttl_seconds: 1800
trusted_issuers:
  - name: github
    profile: github
    audiences: [tollgate]
  - name: semaphore
    profile: semaphore
    template_values: [acme]
    audiences: [tollgate]
  - name: circleci
    profile: circleci
    template_pattern: "[0-9a-f-]{36}"
    audiences: [tollgate]
  - name: local
    issuer: http://127.0.0.1:9999
    jwks_file: jwks.json
    algorithms: [ES256, RS256]
    audiences: [tollgate, other]
    leeway_seconds: 30
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/tollgate/tollgate.yaml"), &no_env)
}

#[test]
fn a_good_config_is_validated_into_module_configs() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.minter.issuer_url, "https://tollgate.example.com");
    assert_eq!(config.minter.max_ttl_secs, 1800);
    assert_eq!(config.signing.key_file.as_deref(), Some(Path::new("/etc/tollgate/keys/signing.pem")));
    assert_eq!(config.policies_dir, Path::new("/etc/tollgate/policies"));
    assert_eq!(config.issuer_names(), ["github", "semaphore", "circleci", "local", "tollgate-runners"]);
    let github = &config.issuers[0];
    assert!(
        matches!(&github.matcher, IssuerMatcher::Exact(url) if url == "https://token.actions.githubusercontent.com")
    );
    assert_eq!(github.algorithms, [jsonwebtoken::Algorithm::RS256]);
    assert_eq!(github.leeway_secs, 60);
    let IssuerMatcher::Template(semaphore) = &config.issuers[1].matcher else { panic!("template expected") };
    assert_eq!(semaphore.match_issuer("https://acme.semaphoreci.com"), Some("acme"));
    let IssuerMatcher::Template(circle) = &config.issuers[2].matcher else { panic!("template expected") };
    assert!(circle.match_issuer("https://oidc.circleci.com/org/0b2f6a8e-5c41-4d7b-a0c9-1e2d3f4a5b6c").is_some());
    assert!(circle.match_issuer("https://oidc.circleci.com/org/nope").is_none());
    let local = &config.issuers[3];
    assert!(matches!(&local.keys, KeysConfig::JwksFile(p) if p == Path::new("/etc/tollgate/jwks.json")));
    assert_eq!(local.leeway_secs, 30);
}

#[test]
fn environment_overrides_the_file() {
    let env = |name: &str| match name {
        ENV_LISTEN => Some("0.0.0.0:9000".to_owned()),
        ENV_ISSUER_URL => Some("https://other.example".to_owned()),
        ENV_KEY_FILE => Some("/run/secrets/key.pem".to_owned()),
        _ => None,
    };
    let config = Config::parse(GOOD, Path::new("t.yaml"), &env).unwrap();
    assert_eq!(config.listen.port(), 9000);
    assert_eq!(config.minter.issuer_url, "https://other.example");
    assert_eq!(config.signing.key_file.as_deref(), Some(Path::new("/run/secrets/key.pem")));
}

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("listen: 127.0.0.1:8080\nissuer_url: https://x\npolicies: p\ntrusted_issuers: []\nlisen: 1\n", ":5:", "lisen"),
        ("listen: nope\nissuer_url: https://x\npolicies: p\ntrusted_issuers: []\n", ":1: listen:", "address"),
        (
            "listen: 127.0.0.1:1\nissuer_url: http://example.com\npolicies: p\ntrusted_issuers: []\n",
            ":2: issuer_url:",
            "https",
        ),
        (
            "listen: 127.0.0.1:1\nissuer_url: https://x\nsigning:\n  alg: HS256\npolicies: p\ntrusted_issuers: []\n",
            ":4: signing.alg:",
            "HS256",
        ),
        (
            "listen: 127.0.0.1:1\nissuer_url: https://x\npolicies: p\ntokens:\n  max_ttl_seconds: 5\ntrusted_issuers: []\n",
            ":5: tokens.max_ttl_seconds:",
            "between",
        ),
        (
            "listen: 127.0.0.1:1\nissuer_url: https://x\npolicies: p\ntrusted_issuers: []\n",
            "tollgate.yaml: trusted_issuers",
            "at least one",
        ),
    ];
    for (text, location, detail) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("/etc/tollgate/tollgate.yaml"), "{error}");
        assert!(error.contains(location) && error.contains(detail), "expected {location} and {detail} in {error}");
    }
}

#[test]
fn issuer_entries_are_checked() {
    let issuer = |body: &str| {
        format!("listen: 127.0.0.1:1\nissuer_url: https://x\npolicies: p\ntrusted_issuers:\n  - name: a\n{body}")
    };
    let cases: &[(&str, &str)] = &[
        ("    issuer: https://a\n    audiences: [t]\n    algorithms: [HS256]\n", "HS256"),
        ("    issuer: https://a\n    audiences: [t]\n    algorithms: [none]\n", "none"),
        ("    issuer: https://a\n    audiences: [t]\n    algorithms: []\n", "algorithms"),
        ("    issuer: https://a\n    audiences: []\n", "audiences"),
        ("    issuer: http://a.example\n    audiences: [t]\n", "issuer"),
        ("    profile: jenkins\n    audiences: [t]\n", "jenkins"),
        ("    profile: semaphore\n    audiences: [t]\n", "template_values or template_pattern"),
        (
            "    issuer_template: https://{org}.x\n    template_values: [a]\n    template_pattern: a\n    audiences: [t]\n",
            "exactly one",
        ),
        ("    issuer_template: https://x\n    template_values: [a]\n    audiences: [t]\n", "placeholder"),
        ("    issuer: https://a\n    issuer_template: https://{o}.a\n    audiences: [t]\n", "not both"),
        ("    issuer: https://a\n    jwks_uri: http://evil.example/jwks\n    audiences: [t]\n", "jwks_uri"),
        ("    audiences: [t]\n", "give issuer"),
        ("    issuer: https://10.0.0.5\n    audiences: [t]\n", "allow_private_network"),
        (
            "    issuer: https://a\n    jwks_uri: https://169.254.169.254/jwks\n    audiences: [t]\n",
            "allow_private_network",
        ),
        ("    issuer: https://localhost:8443\n    audiences: [t]\n", "allow_private_network"),
        ("    issuer: https://a\n    audiences: [t]\n    tenancy: many\n", "tenancy"),
        ("    issuer: https://a\n    audiences: [t]\n    tenancy: shared\n", "tenancy"),
        (
            "    issuer: https://a\n    audiences: [t]\n    max_token_lifetime_seconds: 10\n",
            "max_token_lifetime_seconds",
        ),
    ];
    let private = issuer("    issuer: https://10.0.0.5\n    audiences: [t]\n    allow_private_network: true\n");
    assert!(parse(&private).is_ok());
    for (body, detail) in cases {
        let error = parse(&issuer(body)).unwrap_err().to_string();
        assert!(error.contains(":5: trusted_issuers[a]") && error.contains(detail), "expected {detail} in {error}");
    }
    let same_url = "listen: 127.0.0.1:1\nissuer_url: https://x\npolicies: p\ntrusted_issuers:\n  - {name: a, profile: github, audiences: [t]}\n  - {name: b, profile: github, audiences: [t]}\n";
    assert!(parse(same_url).unwrap_err().to_string().contains("same issuer"));
    let zero_cooldown = "listen: 127.0.0.1:1\nissuer_url: https://x\npolicies: p\njwks:\n  unknown_kid_cooldown_seconds: 0\ntrusted_issuers:\n  - {name: a, profile: github, audiences: [t]}\n";
    assert!(parse(zero_cooldown).unwrap_err().to_string().contains("at least 10"));
    let twice = "listen: 127.0.0.1:1\nissuer_url: https://x\npolicies: p\ntrusted_issuers:\n  - {name: a, issuer: https://a, audiences: [t]}\n  - {name: a, issuer: https://b, audiences: [t]}\n";
    assert!(parse(twice).unwrap_err().to_string().contains("used twice"));
}

#[test]
fn shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["deploy/tollgate.example.yaml", "deploy/dev/tollgate.yaml"] {
        Config::load(&root.join(file), &no_env).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn listener_limits_tls_and_grace_have_defaults_and_are_checked() {
    let defaults = parse(GOOD).unwrap();
    assert_eq!(defaults.limits, crate::limits::LimitsConfig::default());
    assert_eq!(defaults.limits.max_body_bytes, 65_536);
    assert_eq!((defaults.tls, defaults.shutdown_grace.as_secs()), (None, 20));
    let listener = "limits:\n  max_body_bytes: 4096\n  header_read_timeout_seconds: 2\n  request_timeout_seconds: 3\n  max_concurrent_requests: 7\n  per_client_ip: {requests_per_second: 5}\n  per_issuer: {requests_per_second: 10, burst: 40}\ntls:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\nshutdown_grace_seconds: 5\n";
    let config = parse(&format!("{listener}{GOOD}")).unwrap();
    let limits = &config.limits;
    assert_eq!((limits.max_body_bytes, limits.max_concurrent_requests), (4096, 7));
    assert_eq!((limits.header_read_timeout.as_secs(), limits.request_timeout.as_secs()), (2, 3));
    let rate = |rps, burst| Some(crate::limits::RateLimit { requests_per_second: rps, burst });
    assert_eq!((limits.per_client_ip, limits.per_issuer), (rate(5, 5), rate(10, 40)), "burst defaults to the rate");
    let tls = config.tls.unwrap();
    assert_eq!(tls.cert_file, Path::new("/etc/tollgate/tls/cert.pem"));
    assert_eq!(tls.key_file, Path::new("/etc/tollgate/tls/key.pem"));
    assert_eq!(config.shutdown_grace.as_secs(), 5);
    for (bad, detail) in [
        ("limits:\n  max_body_bytes: 10\n", "limits: max_body_bytes"),
        ("limits:\n  request_timeout_seconds: 0\n", "limits: header_read_timeout_seconds"),
        ("limits:\n  max_concurrent_requests: 0\n", "limits: max_concurrent_requests"),
        ("limits:\n  per_issuer: {requests_per_second: 0}\n", "limits: per_issuer"),
        ("limits:\n  per_client_ip: {burst: 3}\n", "requests_per_second"),
        ("limits:\n  queue: 5\n", "queue"),
        ("tls:\n  cert_file: c.pem\n", "key_file"),
        ("shutdown_grace_seconds: 7200\n", "shutdown_grace_seconds"),
    ] {
        let error = parse(&format!("{bad}{GOOD}")).unwrap_err().to_string();
        assert!(error.starts_with("/etc/tollgate/tollgate.yaml") && error.contains(detail), "{detail}: {error}");
    }
}

#[test]
fn admin_listener_defaults_to_loopback_and_takes_file_and_env() {
    assert_eq!(parse(GOOD).unwrap().admin_listen.to_string(), DEFAULT_ADMIN_LISTEN);
    let with_admin = format!("{GOOD}admin:\n  listen: 127.0.0.1:9191\n");
    assert_eq!(parse(&with_admin).unwrap().admin_listen.port(), 9191);
    let env = |name: &str| (name == ENV_ADMIN_LISTEN).then(|| "127.0.0.1:9292".to_owned());
    assert_eq!(Config::parse(&with_admin, Path::new("t.yaml"), &env).unwrap().admin_listen.port(), 9292);
    let bad = format!("{GOOD}admin:\n  listen: everywhere\n");
    let error = parse(&bad).unwrap_err().to_string();
    assert!(error.contains(":29: admin.listen:") && error.contains("everywhere"), "{error}");
}

#[test]
fn the_example_config_parses_with_each_state_backend() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/tollgate.example.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::parse(&text, &path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(config.state, crate::store::StateConfig::Sqlite { .. }));
    assert_eq!(config.revocations, RevocationSettings::default());
    // The commented PostgreSQL alternative, switched on; the URL may come from the environment instead.
    let postgres =
        text.replace("  backend: sqlite\n", "  backend: postgres\n").replace("  path: tollgate-state.db\n", "");
    let env =
        |name: &str| (name == ENV_STATE_URL).then(|| "postgres://tollgate:pw@db.internal:5432/tollgate".to_owned());
    let config = Config::parse(&postgres, &path, &env).unwrap_or_else(|e| panic!("{e}"));
    let crate::store::StateConfig::Postgres(postgres_config) = &config.state else { panic!("postgres") };
    assert!(postgres_config.tls, "off loopback TLS is required");
    assert!(Config::parse(&postgres, &path, &|_| None).unwrap_err().to_string().contains("TOLLGATE_STATE_URL"));
    let mixed = text.replace("  backend: sqlite\n", "  backend: sqlite\n  pool_size: 4\n");
    assert!(Config::parse(&mixed, &path, &|_| None).unwrap_err().to_string().contains("for backend: postgres"));
}

#[test]
fn operators_are_validated_members_name_their_provider_when_several_and_break_glass_is_explicit() {
    let with = |operators: &str| format!("{GOOD}operators:\n{operators}");
    let two = "  providers:\n    - {name: a, issuer: \"https://a.example\", client_id: x}\n    - {name: b, issuer: \"https://b.example/\", client_id: y}\n";
    let unqualified = with(&format!(
        "{two}  iam_policy:\n    bindings:\n      - {{role: role/admin, members: [\"group:admins\"]}}\n"
    ));
    assert!(
        parse(&unqualified).unwrap_err().to_string().contains("name theirs"),
        "a group means nothing across providers"
    );
    let unknown = with(&format!(
        "{two}  iam_policy:\n    bindings:\n      - {{role: role/admin, members: [\"group:c:admins\"]}}\n"
    ));
    assert!(parse(&unknown).unwrap_err().to_string().contains("no provider is named \"c\""));
    let qualified = with(&format!(
        "{two}  iam_policy:\n    bindings:\n      - {{role: role/admin, members: [\"group:a:admins\", \"user:b:bob@acme.com\"]}}\n"
    ));
    let config = parse(&qualified).unwrap();
    assert_eq!(config.operators.providers[1].issuer, "https://b.example/", "kept exactly, trailing / too");
    assert!(!config.operators.providers[0].id_token_sign_in, "raw ID tokens are off by default");
    assert!(format!("{:?}", config.operators.providers[0]).contains("client_secret: None"));
    let long_session = with("  max_session_ttl_seconds: 900\n  session_ttl_seconds: 3600\n");
    assert!(parse(&long_session).unwrap_err().to_string().contains("session_ttl_seconds"));
    let capped = parse(&with("  max_session_ttl_seconds: 900\n")).unwrap();
    assert_eq!((capped.operators.session_secs, capped.operators.max_session_secs), (900, 900));
    let leeway =
        with("  providers:\n    - {name: a, issuer: \"https://a.example\", client_id: x, leeway_seconds: 601}\n");
    assert!(parse(&leeway).unwrap_err().to_string().contains("leeway_seconds"));
    // Break-glass from the environment only when the config names the variable.
    let env = |name: &str| (name == "BREAK_GLASS").then(|| "a-long-enough-break-glass-secret".to_owned());
    let named = with("  bootstrap:\n    secret_env: BREAK_GLASS\n");
    let config = Config::parse(&named, Path::new("/etc/tollgate/tollgate.yaml"), &env).unwrap();
    assert!(config.operators.bootstrap_sha256.is_some());
    let config = Config::parse(&with("  providers: []\n"), Path::new("/etc/tollgate/tollgate.yaml"), &env).unwrap();
    assert!(config.operators.bootstrap_sha256.is_none(), "off unless configured, whatever the environment holds");
    assert!(parse(&named).unwrap_err().to_string().contains("BREAK_GLASS is not set"));
}

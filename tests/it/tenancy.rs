//! Issuers on which many tenants can mint tokens (issue 8, findings 1 and 5): pattern templates and shared
//! platforms recognised by URL must have their tenant pinned, a template's placeholder claim must agree with
//! its `iss`, and the per-issuer rate limit is kept per tenant.

use serde_json::json;
use tollgate::config::Config;
use tollgate::credentials::SigningAlg;
use tollgate::policy::PolicySet;

use crate::support::*;

/// Loads `policy` against the issuers of `issuers_yaml` (nothing is fetched); the error text, if any.
fn load(issuers_yaml: &str, policy: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("p.yaml"), policy).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: https://t.example\npolicies: {}\ntrusted_issuers:\n{issuers_yaml}",
        policies.display()
    );
    let config = Config::parse(&yaml, &dir.path().join("t.yaml"), &|_| None).map_err(|e| e.to_string())?;
    PolicySet::load_dir(&policies, &config.known_issuers()).map(|_| ()).map_err(|e| e.to_string())
}

fn policy(issuer: &str, conditions: &str) -> String {
    format!(
        "role: r\nissuer: {issuer}\naudience: tollgate\nstatements:\n  - effect: allow\n    condition:\n{conditions}grant:\n  type: token\n  audience: x\n  ttl: 5m\n"
    )
}

const CIRCLECI: &str = "  - name: circleci\n    profile: circleci\n    template_pattern: \"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\"\n    audiences: [tollgate]\n";
const ORG: &str = "0d0b3a4e-1111-4000-8000-000000000001";

#[test]
fn policies_on_multi_tenant_issuers_must_pin_the_tenant_at_load() {
    let vcs_ref = "      StringEquals:\n        oidc.circleci.com/vcs-ref: refs/heads/main\n";
    let error = load(CIRCLECI, &policy("circleci", vcs_ref)).unwrap_err();
    assert!(error.contains("pin iss"), "{error}");
    let context = "      ForAnyValue:StringEquals:\n        oidc.circleci.com/context-ids: [c1]\n";
    assert!(load(CIRCLECI, &policy("circleci", context)).unwrap_err().contains("pin iss"));
    let pinned = format!(
        "      StringEquals:\n        iss: https://oidc.circleci.com/org/{ORG}\n        oidc.circleci.com/vcs-ref: refs/heads/main\n"
    );
    load(CIRCLECI, &policy("circleci", &pinned)).unwrap();
    let wildcard = "      StringLike:\n        iss: https://oidc.circleci.com/org/*\n";
    assert!(load(CIRCLECI, &policy("circleci", wildcard)).unwrap_err().contains("pin iss"));

    // Semaphore: a pattern, or several allow-listed orgs, are many tenants (pin iss or org); one org is one tenant.
    let semaphore = |rule: &str| {
        format!(
            "  - name: semaphore\n    profile: semaphore\n    {rule}\n    audiences: [\"https://acme.semaphoreci.com\"]\n"
        )
    };
    let by_branch = "      StringEquals:\n        branch: main\n";
    for rule in ["template_pattern: \"[a-z]+\"", "template_values: [acme, beta]"] {
        let error = load(&semaphore(rule), &policy("semaphore", by_branch)).unwrap_err();
        assert!(error.contains("pin iss or org"), "{rule}: {error}");
        load(&semaphore(rule), &policy("semaphore", "      StringEquals:\n        org: acme\n")).unwrap();
    }
    load(&semaphore("template_values: [acme]"), &policy("semaphore", by_branch)).unwrap();

    // A shared platform is recognised by its URL, with or without `profile:`; `tenancy: single` opts out.
    let by_sub = "      StringLike:\n        sub: \"repo:acme/*\"\n";
    for (url, claim) in [
        ("https://token.actions.githubusercontent.com", "repository_owner_id"),
        ("https://token.actions.githubusercontent.com/acme-enterprise", "repository_owner_id"),
        ("https://gitlab.com", "namespace_id"),
        ("https://agent.buildkite.com", "organization_slug"),
    ] {
        let issuer = format!("  - name: ci\n    issuer: {url}\n    audiences: [tollgate]\n");
        let error = load(&issuer, &policy("ci", by_sub)).unwrap_err();
        assert!(error.contains(claim), "{url}: {error}");
        load(&format!("{issuer}    tenancy: single\n"), &policy("ci", by_sub)).unwrap();
    }
    let ghes = "  - name: ghes\n    profile: github\n    issuer: https://ghes.example.com/_services/token\n    audiences: [tollgate]\n";
    assert!(load(ghes, &policy("ghes", by_sub)).unwrap_err().contains("repository_owner_id"));
    load(&format!("{ghes}    tenancy: single\n"), &policy("ghes", by_sub)).unwrap();
    let custom = "  - name: ci\n    issuer: https://ci.example.com\n    audiences: [tollgate]\n    tenancy: shared\n";
    assert!(load(custom, &policy("ci", by_sub)).unwrap_err().contains("tenancy"));
}

#[tokio::test]
async fn another_orgs_token_under_a_pattern_is_refused_where_the_policy_pins_the_org() {
    let fake = FakeIssuer::start(SigningAlg::Rs256).await;
    let base = fake.url().to_owned();
    // CircleCI-shaped: one issuer per org at {base}/{org}, any UUID admitted by the pattern, same audience.
    let issuers = format!(
        "  - name: circleci\n    profile: circleci\n    issuer_template: \"{base}/{{org_id}}\"\n    template_pattern: \"[0-9a-f-]{{36}}\"\n    audiences: [tollgate]\n"
    );
    let conditions = format!(
        "      StringEquals:\n        iss: \"{base}/{ORG}\"\n        oidc.circleci.com/vcs-ref: refs/heads/main\n"
    );
    let app = spawn_app(Setup {
        issuers,
        policies: vec![("deploy.yaml".into(), policy("circleci", &conditions).replace("role: r", "role: deploy"))],
        extra: String::new(),
    })
    .await;
    let token = |org: &str| {
        fake.token(
            NOW,
            json!({"iss": format!("{base}/{org}"), "sub": format!("org/{org}/project/p1/user/u1"),
                   "oidc.circleci.com/vcs-ref": "refs/heads/main"}),
        )
    };
    let (status, body) = app.exchange(&token(ORG), "deploy").await;
    assert_eq!(status, 200, "{body}");
    let other = "7e7e7e7e-2222-4000-8000-000000000002";
    let (status, body) = app.exchange(&token(other), "deploy").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("\"iss\""), "{body}");
}

#[tokio::test]
async fn a_template_placeholder_claim_must_match_the_issuer() {
    let fake = FakeIssuer::start(SigningAlg::Rs256).await;
    let base = fake.url().to_owned();
    let issuers = format!(
        "  - name: semaphore\n    profile: semaphore\n    issuer_template: \"{base}/{{org}}\"\n    template_values: [acme, beta]\n    audiences: [tollgate]\n"
    );
    let pinned = policy("semaphore", "      StringEquals:\n        org: acme\n").replace("role: r", "role: build");
    let app = spawn_app(Setup { issuers, policies: vec![("build.yaml".into(), pinned)], extra: String::new() }).await;
    let token =
        |org: &str, claim: &str| fake.token(NOW, json!({"iss": format!("{base}/{org}"), "sub": "s", "org": claim}));
    assert_eq!(app.exchange(&token("acme", "acme"), "build").await.0, 200);
    // beta's issuer signing a token that claims to be acme's: refused before any policy sees it.
    let (status, body) = app.exchange(&token("beta", "acme"), "build").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("does not match the token's issuer"), "{body}");
    let (status, _) = app.exchange(&token("beta", "beta"), "build").await;
    assert_eq!(status, 403, "beta's own token is beta's, and the policy serves acme only");
}

#[tokio::test]
async fn the_per_issuer_rate_limit_is_kept_per_tenant_with_an_optional_total() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let owner =
        |id: &str| github.token(NOW, json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository_owner_id": id}));
    let pinned = policy("github", "      StringEquals:\n        repository_owner_id: \"1000\"\n")
        .replace("role: r", "role: deploy");
    let start = |extra: &str| {
        spawn_app(Setup {
            issuers: issuer_entry("github", &github, "    profile: github\n"),
            policies: vec![("deploy.yaml".into(), pinned.clone())],
            extra: extra.into(),
        })
    };
    let app = start("limits:\n  per_issuer: {requests_per_second: 1, burst: 1}\n").await;
    // Another tenant (any repository on the platform, aud=tollgate) drains only its own bucket.
    assert_eq!(app.exchange(&owner("2000"), "deploy").await.0, 403);
    let (status, body) = app.exchange(&owner("2000"), "deploy").await;
    assert_eq!((status, body["error"].as_str()), (429, Some("rate_limited")), "{body}");
    assert_eq!(app.exchange(&owner("1000"), "deploy").await.0, 200, "the pinned tenant is not starved");
    assert_eq!(app.exchange(&owner("1000"), "deploy").await.0, 429);
    // The total across tenants is a separate ceiling.
    let app = start("limits:\n  per_issuer: {requests_per_second: 1, burst: 5}\n  per_issuer_total: {requests_per_second: 1, burst: 2}\n").await;
    assert_eq!(app.exchange(&owner("2000"), "deploy").await.0, 403);
    assert_eq!(app.exchange(&owner("3000"), "deploy").await.0, 403);
    assert_eq!(app.exchange(&owner("1000"), "deploy").await.0, 429);
}

//! Tenant pinning at load: every allow statement of a policy on a shared issuer must pin one of the issuer's
//! tenant claims with a fixed value; `allow_unpinned_tenant: true` is the logged escape hatch.

use super::load;
use crate::policy::PolicyError;

/// A policy for `issuer` whose statements are `(effect, condition block)` pairs; `extra` goes at the top.
fn text(issuer: &str, extra: &str, statements: &[(&str, &str)]) -> String {
    let mut text = format!(
        "role: r\nissuer: {issuer}\naudience: tollgate\n{extra}grant: {{type: token, audience: x, ttl: 60}}\nstatements:\n"
    );
    for (effect, condition) in statements {
        text.push_str(&format!("  - effect: {effect}\n    condition: {condition}\n"));
    }
    text
}

/// `Ok(())` when it loads, else the claims the refusal asks to pin.
fn pins(issuer: &str, statements: &[(&str, &str)]) -> Result<(), Vec<String>> {
    match load(&text(issuer, "", statements)) {
        Ok(_) => Ok(()),
        Err(PolicyError::UnpinnedTenant { claims, .. }) => Err(claims),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn every_shared_profile_needs_its_pin() {
    let github = || vec!["repository_owner_id".to_owned(), "repository_owner".to_owned()];
    let gitlab = || vec!["namespace_id".to_owned(), "namespace_path".to_owned()];
    type Case<'a> = (&'a str, &'a str, Result<(), Vec<String>>);
    let cases: Vec<Case<'_>> = vec![
        ("github", "{StringEquals: {repository_owner_id: '1000'}}", Ok(())),
        ("github", "{StringEquals: {repository_owner: acme}}", Ok(())),
        ("github", "{StringEqualsIgnoreCase: {repository_owner: Acme}}", Ok(())),
        ("github", "{ForAnyValue:StringEquals: {repository_owner: acme}}", Ok(())),
        ("github", "{StringEquals: {token.actions.githubusercontent.com:repository_owner_id: '1000'}}", Ok(())),
        ("github", "{StringEquals: {repository_owner_id: ['1000', '2000']}}", Ok(())),
        ("github", "{StringLike: {repository_owner: acme}}", Ok(())),
        ("github", "{StringMatches: {repository_owner: acme}}", Ok(())),
        ("github", "{StringLike: {sub: 'repo:acme/*'}}", Err(github())),
        ("github", "{StringLike: {repository_owner: 'acme*'}}", Err(github())),
        ("github", "{StringEquals: {repository_owner: 'acme*'}}", Err(github())),
        ("github", "{StringMatches: {repository_owner: 'acme.*'}}", Err(github())),
        ("github", "{StringMatches: {repository_owner: 'ac.me'}}", Err(github())),
        ("github", "{StringEqualsIfExists: {repository_owner_id: '1000'}}", Err(github())),
        ("github", "{StringEquals: {repository_owner: '${actor}'}}", Err(github())),
        ("github", "{ForAllValues:StringEquals: {repository_owner: acme}}", Err(github())),
        ("github", "{StringNotEquals: {repository_owner: evil}}", Err(github())),
        ("github", "{Null: {repository_owner_id: 'false'}}", Err(github())),
        ("github", "{StringEquals: {repository_owner_id: ''}}", Err(github())),
        ("gitlab", "{StringEquals: {namespace_id: '42'}}", Ok(())),
        ("gitlab", "{StringEquals: {namespace_path: acme}}", Ok(())),
        ("gitlab", "{StringEquals: {repository_owner_id: '1000'}}", Err(gitlab())),
        ("buildkite", "{StringEquals: {organization_slug: acme}}", Ok(())),
        ("buildkite", "{StringLike: {organization_slug: 'acme-?'}}", Err(vec!["organization_slug".to_owned()])),
        ("semaphore", "{StringLike: {sub: '*'}}", Ok(())),
        ("ci", "{StringEquals: {project: web}}", Ok(())),
    ];
    for (issuer, condition, expected) in cases {
        assert_eq!(pins(issuer, &[("allow", condition)]), expected, "{issuer}: {condition}");
    }
}

#[test]
fn every_allow_statement_needs_a_pin_and_deny_statements_do_not() {
    let pinned = "{StringEquals: {repository_owner_id: '1000'}}";
    let unpinned = "{StringEquals: {repository: acme/web}}";
    assert!(pins("github", &[("allow", pinned), ("deny", unpinned)]).is_ok());
    assert!(pins("github", &[("allow", pinned), ("allow", unpinned)]).is_err());
    // Two shared issuers: the claims of both are offered.
    assert_eq!(
        pins("[github, gitlab]", &[("allow", unpinned)]),
        Err(["repository_owner_id", "repository_owner", "namespace_id", "namespace_path"].map(str::to_owned).to_vec())
    );
}

#[test]
fn refusal_names_file_line_role_and_claims() {
    let text = text(
        "github",
        "",
        &[("allow", "{StringEquals: {repository_owner_id: '1000'}}"), ("allow", "{StringLike: {sub: 'repo:acme/*'}}")],
    );
    let error = load(&text).unwrap_err();
    assert_eq!(
        error.to_string(),
        "p.yaml:8: role r: allow statement 2 does not pin the tenant of a shared issuer: pin repository_owner_id or \
         repository_owner with a StringEquals on fixed values (or set allow_unpinned_tenant: true)"
    );
}

#[test]
fn escape_hatch_loads_with_a_lint() {
    let statements = [("allow", "{StringLike: {sub: 'repo:acme/*'}}")];
    let set = load(&text("github", "allow_unpinned_tenant: true\n", &statements)).unwrap();
    let unpinned: Vec<String> =
        set.warnings().iter().filter(|lint| lint.code == "unpinned-tenant").map(ToString::to_string).collect();
    assert_eq!(
        unpinned,
        ["p.yaml:7: warning[unpinned-tenant]: statement 1 does not pin the tenant of shared issuer github: any \
          tenant's token may match (allowed by allow_unpinned_tenant: true; pin repository_owner_id or \
          repository_owner)"]
    );
    let refused = load(&text("github", "allow_unpinned_tenant: false\n", &statements));
    assert!(matches!(refused, Err(PolicyError::UnpinnedTenant { .. })));
    let pinned = load(&text(
        "github",
        "allow_unpinned_tenant: true\n",
        &[("allow", "{StringEquals: {repository_owner_id: '1'}}")],
    ))
    .unwrap();
    assert!(pinned.lints().iter().all(|lint| lint.code != "unpinned-tenant"));
}

//! Tenant pinning, checked at load: a policy that trusts a shared issuer (one with tenant claims, such as
//! github.com's `repository_owner_id`) must, in every allow statement, pin one of those claims to fixed values.
//! A pin is a positive `StringEquals`/`StringEqualsIgnoreCase` (not `…IfExists`, not `ForAllValues:`, no `${}`,
//! no `*`/`?`), or a `StringLike`/`StringMatches` without wildcard or regex metacharacter. Otherwise loading
//! fails, unless the policy sets `allow_unpinned_tenant: true`, which turns the refusal into an `unpinned-tenant`
//! lint. Anyone on a shared platform can mint a token from its issuer; only the pin tells tenants apart.

use crate::policy::error::{CompileError, pin_hint};
use crate::policy::eval::{Effect, Policy};
use crate::policy::issuer::KnownIssuer;
use crate::policy::lint::{Finding, UNPINNED_TENANT};

/// Checks every allow statement; returns the lints of the escape hatch when it was used.
/// `allow_unpinned` is the `allow_unpinned_tenant` key (value, line) when written.
pub(in crate::policy) fn check(
    policy: &Policy,
    known: &[KnownIssuer],
    allow_unpinned: Option<(bool, Option<u64>)>,
) -> Result<Vec<Finding>, CompileError> {
    let shared: Vec<&KnownIssuer> =
        known.iter().filter(|issuer| issuer.is_shared() && policy.accepts_issuer(&issuer.name)).collect();
    let mut claims: Vec<String> = Vec::new();
    for claim in shared.iter().flat_map(|issuer| &issuer.tenant_claims) {
        if !claims.contains(claim) {
            claims.push(claim.clone());
        }
    }
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let mut findings = Vec::new();
    for (number, statement) in policy.numbered() {
        let pinned = statement
            .conditions
            .iter()
            .any(|condition| claims.iter().any(|claim| condition.tests_claim(claim)) && condition.pins_value());
        if statement.effect != Effect::Allow || pinned {
            continue;
        }
        if !matches!(allow_unpinned, Some((true, _))) {
            return Err(CompileError::UnpinnedTenant {
                line: statement.line,
                role: policy.role.clone(),
                statement: number,
                claims,
            });
        }
        let names: Vec<&str> = shared.iter().map(|issuer| issuer.name.as_str()).collect();
        findings.push(Finding {
            line: statement.line,
            code: UNPINNED_TENANT,
            message: format!(
                "statement {number} does not pin the tenant of shared issuer {}: any tenant's token may match \
                 (allowed by allow_unpinned_tenant: true; {})",
                names.join(", "),
                pin_hint(&claims)
            ),
        });
    }
    Ok(findings)
}

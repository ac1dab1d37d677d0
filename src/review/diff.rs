//! Rendering `policy diff`: per role, what changed and whether the new set grants access the old one does not
//! (with the checked witness), as text, Markdown or JSON. In a pull request the author writes NEW: everything
//! from the policies (values, sids, issuers, witnesses) goes into Markdown as escaped code spans only.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::report::{Format, code};
use crate::policy::diff::{Access, RoleDiff, RoleStatus};

/// Roles with new access.
pub fn new_access(roles: &[RoleDiff]) -> usize {
    count_new(roles)
}

/// Roles the diff could not decide.
pub fn undecided(roles: &[RoleDiff]) -> usize {
    count_undecided(roles)
}

fn count_new<'a>(roles: impl IntoIterator<Item = &'a RoleDiff>) -> usize {
    roles.into_iter().filter(|role| matches!(role.access, Access::New { .. })).count()
}

fn count_undecided<'a>(roles: impl IntoIterator<Item = &'a RoleDiff>) -> usize {
    roles.into_iter().filter(|role| matches!(role.access, Access::Undecided(_))).count()
}

/// Roles whose grant or replay rule changed: not new claim sets, but what an allowed token may do.
fn count_grant_changes<'a>(roles: impl IntoIterator<Item = &'a RoleDiff>) -> usize {
    roles
        .into_iter()
        .filter(|role| {
            role.changes.iter().any(|change| change.starts_with("~ grant") || change.starts_with("~ single use"))
        })
        .count()
}

/// The closing sentences: new access, undecided roles, changed grants.
fn summary(changed: &[&RoleDiff]) -> String {
    let (new, undecided) = (count_new(changed.iter().copied()), count_undecided(changed.iter().copied()));
    let mut out = match new {
        0 => "No role allows a claim set it denied before".to_owned(),
        n => format!("NEW ACCESS in {n} roles"),
    };
    if undecided > 0 {
        out.push_str(&format!("; {undecided} roles could not be decided (see above): review them by hand"));
    }
    let grants = count_grant_changes(changed.iter().copied());
    if grants > 0 {
        out.push_str(&format!(
            "; {grants} roles changed their grant or single-use rule (what an allowed token may do)"
        ));
    }
    out.push('.');
    out
}

/// The report of `roles` (unchanged roles left out) in `format`.
pub fn render(roles: &[RoleDiff], format: Format, old: &str, new: &str) -> String {
    let changed: Vec<&RoleDiff> = roles.iter().filter(|role| role.status != RoleStatus::Unchanged).collect();
    match format {
        Format::Json => {
            let roles: Vec<Value> = changed.iter().map(|role| role_json(role)).collect();
            let body =
                json!({"old": old, "new": new, "new_access": count_new(changed.iter().copied()), "roles": roles});
            serde_json::to_string_pretty(&body).unwrap_or_default() + "\n"
        }
        Format::Text | Format::Markdown => {
            let markdown = format == Format::Markdown;
            let mut out = if markdown {
                format!("### Policy diff {} → {}\n", code(old), code(new))
            } else {
                format!("Policy diff {old:?} -> {new:?}: {} roles changed.\n", changed.len())
            };
            for role in &changed {
                let name = if markdown { code(&role.role) } else { format!("{:?}", role.role) };
                let _ = writeln!(
                    out,
                    "\n{}{name}: {}",
                    if markdown { "#### " } else { "" },
                    access_line(&role.access, markdown)
                );
                for change in &role.changes {
                    if markdown {
                        let _ = writeln!(out, "- {}", code(change));
                    } else {
                        let _ = writeln!(out, "  {change}");
                    }
                }
            }
            let _ = writeln!(out, "\n{}", summary(&changed));
            out
        }
    }
}

fn access_line(access: &Access, markdown: bool) -> String {
    match access {
        Access::NoNew => "no new access".into(),
        Access::New { issuer, claims } => {
            let claims = Value::Object(claims.clone()).to_string();
            if markdown {
                let claims = claims.replace('`', "\\u0060").replace('|', "\\u007c");
                format!("**new access**, e.g. issuer {} with claims `{claims}`", code(issuer))
            } else {
                format!("NEW ACCESS, e.g. issuer {issuer:?} with claims {claims}")
            }
        }
        Access::Undecided(reasons) if markdown => {
            format!("**cannot decide**: {}", reasons.iter().map(|reason| code(reason)).collect::<Vec<_>>().join("; "))
        }
        Access::Undecided(reasons) => format!("cannot decide: {}", reasons.join("; ")),
    }
}

fn role_json(role: &RoleDiff) -> Value {
    let status = match role.status {
        RoleStatus::Added => "added",
        RoleStatus::Removed => "removed",
        RoleStatus::Changed => "changed",
        RoleStatus::Unchanged => "unchanged",
    };
    let access = match &role.access {
        Access::NoNew => json!({"new_access": false}),
        Access::New { issuer, claims } => json!({"new_access": true, "witness": {"issuer": issuer, "claims": claims}}),
        Access::Undecided(reasons) => json!({"new_access": null, "undecided": reasons}),
    };
    json!({"role": role.role, "status": status, "changes": role.changes, "access": access})
}

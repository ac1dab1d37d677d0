//! Rendering `policy diff`: per role, what changed and whether the new set grants access the old one does not
//! (with the checked witness), as text, Markdown or JSON. Policy text is the reviewer's own, but claim values
//! in witnesses are printed escaped all the same.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::report::{Format, code};
use crate::policy::diff::{Access, RoleDiff, RoleStatus};

/// Roles with new access.
pub fn new_access(roles: &[RoleDiff]) -> usize {
    count_new(roles)
}

fn count_new<'a>(roles: impl IntoIterator<Item = &'a RoleDiff>) -> usize {
    roles.into_iter().filter(|role| matches!(role.access, Access::New { .. })).count()
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
                    let _ = writeln!(out, "{}{change}", if markdown { "- " } else { "  " });
                }
            }
            let count = count_new(changed.iter().copied());
            let _ = writeln!(
                out,
                "\n{}",
                if count == 0 {
                    "No role grants access it did not grant before.".to_owned()
                } else {
                    format!("NEW ACCESS in {count} roles.")
                }
            );
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

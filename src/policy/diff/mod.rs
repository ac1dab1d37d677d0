//! `policy diff`: two policy sets compared without traffic — per role, what changed (`changes`) and whether the
//! new set allows any claim set the old one denies (`access`, over the automata of `lang`), with a witness that
//! was checked by evaluating it under both sets, or an explicit "cannot decide" and why.

mod access;
mod changes;
mod lang;

use std::collections::BTreeSet;

pub use access::Access;

use crate::policy::set::PolicySet;

/// One role's comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDiff {
    pub role: String,
    pub status: RoleStatus,
    /// What changed, one sentence each (empty when the role is unchanged).
    pub changes: Vec<String>,
    /// Whether NEW grants access OLD does not.
    pub access: Access,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleStatus {
    Added,
    Removed,
    Changed,
    Unchanged,
}

/// Compares every role of either set, in role order.
pub fn diff(old: &PolicySet, new: &PolicySet) -> Vec<RoleDiff> {
    let roles: BTreeSet<&str> = old.roles().chain(new.roles()).collect();
    roles
        .into_iter()
        .map(|role| {
            let (status, changes) = match (old.get(role), new.get(role)) {
                (None, Some(_)) => (RoleStatus::Added, vec!["+ new role".to_owned()]),
                (Some(_), None) => (RoleStatus::Removed, vec!["- role removed".to_owned()]),
                (Some(before), Some(after)) => {
                    let changes = changes::changes(before, after);
                    (if changes.is_empty() { RoleStatus::Unchanged } else { RoleStatus::Changed }, changes)
                }
                (None, None) => (RoleStatus::Unchanged, Vec::new()),
            };
            let access = match status {
                RoleStatus::Removed | RoleStatus::Unchanged => Access::NoNew,
                RoleStatus::Added | RoleStatus::Changed => access::new_access(role, old, new),
            };
            RoleDiff { role: role.to_owned(), status, changes, access }
        })
        .collect()
}

//! Role bindings, IAM style (`operators.iam_policy.bindings`): each binding grants one role to a list of members.
//!
//! Roles: `role/admin` (every admin action, in a session that asked for `scope=admin`), `role/viewer` (read the
//! admin API), `role/runner.admin` (read and, in an admin-scoped session, manage runner credentials) and
//! `role/<tollgate-role>.user` (who may exchange for that Tollgate role: when a role has such a binding, both
//! its trust policy and the binding must allow).
//!
//! Members: `user:EMAIL` (an operator whose ID token says `email_verified: true`), `group:NAME` (in the provider's
//! groups claim) — each may name its provider, `user:PROVIDER:EMAIL`, `group:PROVIDER:NAME`, and must when several
//! providers are configured (a group name means nothing across providers) —, `subject:PROVIDER:SUB` (an operator's
//! exact `sub` at one provider), `runner:NAME` (a runner
//! credential), and `ci:ISSUER:SUB` (a CI token of a trusted issuer, `sub` matched as an AWS `StringLike`
//! pattern). Pure data; nothing here reads a token.

use std::collections::HashMap;

use crate::policy::Pattern;

/// A role of the operator plane.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IamRole {
    Admin,
    Viewer,
    RunnerAdmin,
    /// `role/<name>.user`.
    User(String),
}

impl IamRole {
    pub fn parse(text: &str) -> Result<IamRole, String> {
        let name = text.strip_prefix("role/").ok_or_else(|| format!("{text:?} must start with role/"))?;
        match name {
            "admin" => Ok(IamRole::Admin),
            "viewer" => Ok(IamRole::Viewer),
            "runner.admin" => Ok(IamRole::RunnerAdmin),
            other => match other.strip_suffix(".user") {
                Some(role) if !role.is_empty() => Ok(IamRole::User(role.to_owned())),
                _ => Err(format!(
                    "{text:?} is not one of role/admin, role/viewer, role/runner.admin, role/<tollgate-role>.user"
                )),
            },
        }
    }

    pub fn name(&self) -> String {
        match self {
            IamRole::Admin => "role/admin".into(),
            IamRole::Viewer => "role/viewer".into(),
            IamRole::RunnerAdmin => "role/runner.admin".into(),
            IamRole::User(role) => format!("role/{role}.user"),
        }
    }
}

/// Who a binding names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    User { provider: Option<String>, email: String },
    Group { provider: Option<String>, name: String },
    Subject { provider: String, sub: String },
    Runner(String),
    Ci { issuer: String, sub_pattern: String },
}

impl Member {
    pub fn parse(text: &str) -> Result<Member, String> {
        let (kind, rest) = text.split_once(':').ok_or_else(|| format!("{text:?} must be KIND:VALUE"))?;
        let nonempty = |value: &str| {
            if value.is_empty() { Err(format!("{text:?} has an empty value")) } else { Ok(value.to_owned()) }
        };
        let pair = |value: &str| match value.split_once(':') {
            Some((first, second)) if !first.is_empty() && !second.is_empty() => {
                Ok((first.to_owned(), second.to_owned()))
            }
            _ => Err(format!("{text:?} must be {kind}:NAME:VALUE")),
        };
        // `PROVIDER:VALUE` or `VALUE` (split at the first `:`).
        let maybe_qualified = |value: &str| match value.split_once(':') {
            Some((provider, rest)) if !provider.is_empty() => Ok((Some(provider.to_owned()), nonempty(rest)?)),
            _ => Ok((None, nonempty(value)?)),
        };
        match kind {
            "user" => maybe_qualified(rest)
                .map(|(provider, email)| Member::User { provider, email: email.to_ascii_lowercase() }),
            "group" => maybe_qualified(rest).map(|(provider, name)| Member::Group { provider, name }),
            "runner" => Ok(Member::Runner(nonempty(rest)?)),
            "subject" => pair(rest).map(|(provider, sub)| Member::Subject { provider, sub }),
            "ci" => pair(rest).map(|(issuer, sub_pattern)| Member::Ci { issuer, sub_pattern }),
            other => Err(format!("{other:?} is not one of user, group, subject, runner, ci")),
        }
    }
}

/// Who is asking, as far as bindings can see.
#[derive(Clone, Copy, Debug)]
pub enum Principal<'a> {
    Operator { provider: &'a str, sub: &'a str, verified_email: Option<&'a str>, groups: &'a [String] },
    Runner { name: &'a str },
    Ci { issuer: &'a str, sub: &'a str },
}

impl Member {
    /// The provider a `user:` or `group:` member names, and whether it names one at all (`None`: not such a member).
    pub fn provider_qualifier(&self) -> Option<Option<&str>> {
        match self {
            Member::User { provider, .. } | Member::Group { provider, .. } => Some(provider.as_deref()),
            _ => None,
        }
    }

    fn matches(&self, principal: &Principal<'_>) -> bool {
        match (self, principal) {
            (
                Member::User { provider, email },
                Principal::Operator { provider: p, verified_email: Some(verified), .. },
            ) => provider.as_deref().is_none_or(|provider| provider == *p) && email.eq_ignore_ascii_case(verified),
            (Member::Group { provider, name }, Principal::Operator { provider: p, groups, .. }) => {
                provider.as_deref().is_none_or(|provider| provider == *p) && groups.iter().any(|g| g == name)
            }
            (Member::Subject { provider, sub }, Principal::Operator { provider: p, sub: s, .. }) => {
                provider == p && sub == s
            }
            (Member::Runner(name), Principal::Runner { name: n }) => name == n,
            (Member::Ci { issuer, sub_pattern }, Principal::Ci { issuer: i, sub }) => {
                issuer == i && Pattern::new(sub_pattern).matches(sub)
            }
            _ => false,
        }
    }
}

/// One binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub role: IamRole,
    pub members: Vec<Member>,
}

/// Every binding, and which of them name each `role/<role>.user` (the exchange path asks by role).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    all: Vec<Binding>,
    users_of_role: HashMap<String, Vec<usize>>,
}

impl Bindings {
    pub fn new(all: Vec<Binding>) -> Bindings {
        let mut users_of_role: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, binding) in all.iter().enumerate() {
            if let IamRole::User(role) = &binding.role {
                users_of_role.entry(role.clone()).or_default().push(index);
            }
        }
        Bindings { all, users_of_role }
    }

    /// The roles bound to `principal`, sorted, each once.
    pub fn roles_of(&self, principal: &Principal<'_>) -> Vec<IamRole> {
        let mut roles: Vec<IamRole> = self
            .all
            .iter()
            .filter(|binding| binding.members.iter().any(|member| member.matches(principal)))
            .map(|binding| binding.role.clone())
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Whether a Tollgate role's use is restricted by a `role/<role>.user` binding, and if so whether
    /// `principal` is a member: `None` when no binding names the role (the trust policy alone decides).
    pub fn may_use(&self, role: &str, principal: &Principal<'_>) -> Option<bool> {
        let bound = self.users_of_role.get(role)?;
        let mut bindings = bound.iter().filter_map(|index| self.all.get(*index));
        Some(bindings.any(|binding| binding.members.iter().any(|member| member.matches(principal))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(list: &[(&str, &[&str])]) -> Bindings {
        Bindings::new(
            list.iter()
                .map(|(role, members)| Binding {
                    role: IamRole::parse(role).unwrap(),
                    members: members.iter().map(|m| Member::parse(m).unwrap()).collect(),
                })
                .collect(),
        )
    }

    fn operator<'a>(email: Option<&'a str>, groups: &'a [String]) -> Principal<'a> {
        Principal::Operator { provider: "corp", sub: "u-1", verified_email: email, groups }
    }

    #[test]
    fn roles_and_members_parse_or_say_why_not() {
        assert_eq!(IamRole::parse("role/deploy.user").unwrap(), IamRole::User("deploy".into()));
        assert_eq!(IamRole::parse("role/runner.admin").unwrap().name(), "role/runner.admin");
        for bad in ["admin", "role/", "role/.user", "role/owner"] {
            assert!(IamRole::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Member::parse("user:Alice@Acme.com").unwrap(),
            Member::User { provider: None, email: "alice@acme.com".into() }
        );
        assert_eq!(
            Member::parse("group:okta:platform:admins").unwrap(),
            Member::Group { provider: Some("okta".into()), name: "platform:admins".into() }
        );
        assert_eq!(
            Member::parse("ci:github:repo:acme/*").unwrap(),
            Member::Ci { issuer: "github".into(), sub_pattern: "repo:acme/*".into() }
        );
        for bad in ["alice@acme.com", "user:", "user:corp:", "subject:corp", "ci::x", "robot:r2"] {
            assert!(Member::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_email_counts_only_when_verified_and_groups_and_subjects_match_exactly() {
        let b = bindings(&[
            ("role/admin", &["user:alice@acme.com"]),
            ("role/viewer", &["group:platform", "subject:corp:u-1"]),
        ]);
        let none: Vec<String> = vec![];
        let platform = vec!["platform".to_owned()];
        assert_eq!(b.roles_of(&operator(Some("ALICE@acme.com"), &none)), vec![IamRole::Admin, IamRole::Viewer]);
        assert_eq!(b.roles_of(&operator(None, &none)), vec![IamRole::Viewer], "unverified email: subject only");
        assert_eq!(b.roles_of(&operator(None, &platform)), vec![IamRole::Viewer]);
        let other = Principal::Operator { provider: "other", sub: "u-1", verified_email: None, groups: &none };
        assert!(b.roles_of(&other).is_empty(), "a subject is per provider");
        let scoped = bindings(&[("role/admin", &["group:corp:platform", "user:corp:bob@acme.com"])]);
        assert_eq!(scoped.roles_of(&operator(None, &platform)), vec![IamRole::Admin]);
        let elsewhere = Principal::Operator {
            provider: "other",
            sub: "x",
            verified_email: Some("bob@acme.com"),
            groups: &platform,
        };
        assert!(scoped.roles_of(&elsewhere).is_empty(), "a qualified member matches its provider only");
    }

    #[test]
    fn a_role_user_binding_restricts_only_the_role_it_names() {
        let b = bindings(&[("role/deploy.user", &["runner:jenkins-1", "ci:github:repo:acme/web:*"])]);
        assert_eq!(b.may_use("other", &Principal::Runner { name: "x" }), None);
        assert_eq!(b.may_use("deploy", &Principal::Runner { name: "jenkins-1" }), Some(true));
        assert_eq!(b.may_use("deploy", &Principal::Runner { name: "jenkins-2" }), Some(false));
        let ci = |sub| Principal::Ci { issuer: "github", sub };
        assert_eq!(b.may_use("deploy", &ci("repo:acme/web:ref:refs/heads/main")), Some(true));
        assert_eq!(b.may_use("deploy", &ci("repo:acme/api:ref:refs/heads/main")), Some(false));
        // Several bindings of one role: any of them admits; other roles' bindings never do.
        let several = bindings(&[
            ("role/deploy.user", &["runner:jenkins-1"]),
            ("role/viewer", &["runner:jenkins-3"]),
            ("role/build.user", &["runner:jenkins-3"]),
            ("role/deploy.user", &["runner:jenkins-2"]),
        ]);
        assert_eq!(several.may_use("deploy", &Principal::Runner { name: "jenkins-2" }), Some(true));
        assert_eq!(several.may_use("deploy", &Principal::Runner { name: "jenkins-3" }), Some(false));
        assert_eq!(several.may_use("build", &Principal::Runner { name: "jenkins-3" }), Some(true));
    }
}

//! Built-in CI provider profiles: the issuer URL (or template), algorithms and tenant claim of each provider.
//!
//! Facts only (see REFERENCE.md); a configured `issuer`, `issuer_template` or `algorithms` overrides a profile's.

use std::str::FromStr;

use jsonwebtoken::Algorithm;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Github,
    Gitlab,
    Semaphore,
    Circleci,
    Buildkite,
}

/// Where a profile's issuer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileIssuer {
    Exact(&'static str),
    /// A template with one `{placeholder}`; the operator must bind it to an allow-list or pattern.
    Template(&'static str),
}

impl Profile {
    pub const ALL: [Profile; 5] =
        [Profile::Github, Profile::Gitlab, Profile::Semaphore, Profile::Circleci, Profile::Buildkite];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Github => "github",
            Profile::Gitlab => "gitlab",
            Profile::Semaphore => "semaphore",
            Profile::Circleci => "circleci",
            Profile::Buildkite => "buildkite",
        }
    }

    pub fn issuer(self) -> ProfileIssuer {
        match self {
            Profile::Github => ProfileIssuer::Exact("https://token.actions.githubusercontent.com"),
            Profile::Gitlab => ProfileIssuer::Exact("https://gitlab.com"),
            Profile::Semaphore => ProfileIssuer::Template("https://{org}.semaphoreci.com"),
            Profile::Circleci => ProfileIssuer::Template("https://oidc.circleci.com/org/{org_id}"),
            Profile::Buildkite => ProfileIssuer::Exact("https://agent.buildkite.com"),
        }
    }

    pub fn algorithms(self) -> &'static [Algorithm] {
        &[Algorithm::RS256]
    }

    /// The claims that identify the tenant on a shared issuer (either pins it); empty for per-tenant issuers.
    pub fn tenant_claims(self) -> &'static [&'static str] {
        match self {
            Profile::Github => &["repository_owner_id", "repository_owner"],
            Profile::Gitlab => &["namespace_id", "namespace_path"],
            Profile::Buildkite => &["organization_slug"],
            Profile::Semaphore | Profile::Circleci => &[],
        }
    }

    /// Whether anyone on the platform can mint tokens from the same issuer (tenant pinning is then mandatory).
    pub fn is_shared(self) -> bool {
        !self.tenant_claims().is_empty()
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Profile::ALL.into_iter().find(|p| p.name() == text).ok_or_else(|| {
            let names: Vec<_> = Profile::ALL.iter().map(|p| p.name()).collect();
            format!("unknown profile {text:?}; expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_shared_issuers_have_tenant_claims() {
        for profile in Profile::ALL {
            assert_eq!(profile.name().parse::<Profile>().unwrap(), profile);
        }
        assert!("jenkins".parse::<Profile>().is_err());
        assert!(Profile::Github.is_shared() && Profile::Gitlab.is_shared() && Profile::Buildkite.is_shared());
        assert!(!Profile::Semaphore.is_shared() && !Profile::Circleci.is_shared());
        assert!(matches!(Profile::Semaphore.issuer(), ProfileIssuer::Template(t) if t.contains("{org}")));
    }
}

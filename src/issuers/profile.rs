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

    /// The claim that repeats a per-tenant issuer's template value (Semaphore's `org` is the `{org}` of
    /// `https://{org}.semaphoreci.com`). Verification refuses a token whose claim differs from its `iss`, so
    /// pinning the claim pins the issuer. CircleCI's tokens carry the org only in `iss`, `sub` and `aud`.
    pub fn placeholder_claim(self) -> Option<&'static str> {
        match self {
            Profile::Semaphore => Some("org"),
            Profile::Github | Profile::Gitlab | Profile::Circleci | Profile::Buildkite => None,
        }
    }

    /// Default ceiling on `exp - iat` of this provider's tokens (`max_token_lifetime_seconds`): generous
    /// against the real lifetimes (GitHub 5 min, CircleCI 1 h, Buildkite 5 min by default and longer on
    /// request; GitLab and Semaphore tokens may live as long as the job's timeout).
    pub fn max_token_lifetime_secs(self) -> i64 {
        match self {
            Profile::Github => 3_600,
            Profile::Circleci | Profile::Buildkite => 7_200,
            Profile::Gitlab | Profile::Semaphore => 86_400,
        }
    }

    /// The shared platform an exact issuer URL belongs to, with or without `profile:`: github.com's token
    /// service (also an enterprise's `…/<slug>` issuer and GHE.com's `token.actions.<sub>.ghe.com`),
    /// gitlab.com and Buildkite. Per-tenant URLs (CircleCI's, Semaphore's) and custom hosts are `None`.
    pub fn shared_platform_of(url: &str) -> Option<Profile> {
        let bare = url.strip_prefix("https://")?.trim_end_matches('/');
        let (host, path) = bare.split_once('/').map_or((bare, ""), |(host, path)| (host, path));
        let host = host.to_ascii_lowercase();
        if host == "token.actions.githubusercontent.com"
            || (host.starts_with("token.actions.") && host.ends_with(".ghe.com"))
        {
            return Some(Profile::Github);
        }
        match (host.as_str(), path) {
            ("gitlab.com", "") => Some(Profile::Gitlab),
            ("agent.buildkite.com", "") => Some(Profile::Buildkite),
            _ => None,
        }
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

    #[test]
    fn shared_platforms_are_recognised_by_url() {
        let cases = [
            ("https://token.actions.githubusercontent.com", Some(Profile::Github)),
            ("https://token.actions.githubusercontent.com/", Some(Profile::Github)),
            ("https://Token.Actions.GithubUserContent.com/acme-enterprise", Some(Profile::Github)),
            ("https://token.actions.acme.ghe.com", Some(Profile::Github)),
            ("https://gitlab.com", Some(Profile::Gitlab)),
            ("https://agent.buildkite.com", Some(Profile::Buildkite)),
            ("https://gitlab.com/sub", None),
            ("https://gitlab.example.com", None),
            ("https://oidc.circleci.com/org/0d0b3a4e-0000-4000-8000-000000000001", None),
            ("https://acme.semaphoreci.com", None),
            ("http://token.actions.githubusercontent.com", None),
            ("https://token.actions.githubusercontent.com.evil.com", None),
        ];
        for (url, expected) in cases {
            assert_eq!(Profile::shared_platform_of(url), expected, "{url}");
        }
        for profile in Profile::ALL {
            if let ProfileIssuer::Exact(url) = profile.issuer() {
                assert_eq!(Profile::shared_platform_of(url), Some(profile), "{url}");
            }
            assert!(profile.max_token_lifetime_secs() >= 3_600);
        }
    }
}

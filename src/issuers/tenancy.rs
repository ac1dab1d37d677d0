//! Tenancy of a trusted issuer: whether more than one tenant (organisation, namespace, owner) can mint tokens
//! that verify under it, and which claims tell those tenants apart.
//!
//! An issuer is **shared** when its exact URL belongs to a shared platform (github.com's token service,
//! gitlab.com, Buildkite: known from `profile:` *or* from the URL itself), or when it is a template whose
//! placeholder can take more than one value (a `template_pattern`, or a `template_values` list of several):
//! then every tenant's token verifies, and only a pinned claim tells them apart. A template's tenant is its
//! placeholder value, carried by `iss` (and by the profile's placeholder claim, e.g. Semaphore's `org`, which
//! verification holds equal to it). `tenancy: single` in config declares a custom issuer single-tenant
//! (GitHub Enterprise Server, self-managed GitLab); `tenancy: shared` forces the shared rules.
//! Pure: computed from config, no I/O.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{IssuerConfig, IssuerMatcher, Profile};

/// The `tenancy:` key of a trusted issuer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TenancySetting {
    /// Shared when the URL, profile or template says so (the default).
    #[default]
    Derived,
    Single,
    Shared,
}

/// Who can mint tokens from an issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tenancy {
    Single,
    /// Many tenants: a policy must pin one of `claims` to fixed values in every allow statement.
    Shared {
        claims: Vec<String>,
    },
}

impl Tenancy {
    pub fn claims(&self) -> &[String] {
        match self {
            Tenancy::Single => &[],
            Tenancy::Shared { claims } => claims,
        }
    }
}

impl IssuerConfig {
    /// This issuer's tenancy (see the module doc). `None` when `tenancy: shared` is set on an issuer that has
    /// no claim to pin (config refuses that).
    pub fn tenancy(&self) -> Option<Tenancy> {
        if self.tenancy == TenancySetting::Single {
            return Some(Tenancy::Single);
        }
        let forced = self.tenancy == TenancySetting::Shared;
        match &self.matcher {
            IssuerMatcher::Template(template) if forced || template.may_match_many() => {
                let mut claims = vec!["iss".to_owned()];
                claims.extend(self.profile.and_then(Profile::placeholder_claim).map(str::to_owned));
                Some(Tenancy::Shared { claims })
            }
            IssuerMatcher::Template(_) => Some(Tenancy::Single),
            IssuerMatcher::Exact(url) => {
                let platform = self.profile.filter(|p| p.is_shared()).or_else(|| Profile::shared_platform_of(url));
                match platform {
                    Some(platform) => Some(Tenancy::Shared {
                        claims: platform.tenant_claims().iter().map(|claim| (*claim).to_owned()).collect(),
                    }),
                    None if forced => None,
                    None => Some(Tenancy::Single),
                }
            }
        }
    }
}

/// The tenant a verified token belongs to, for per-tenant limits: a template's placeholder value, else the
/// first tenant claim the token carries as a string or number. `None` on a single-tenant issuer.
pub fn tenant_of<'a>(
    tenancy: &Tenancy,
    template_value: Option<&'a str>,
    claims: &'a Map<String, Value>,
) -> Option<Cow<'a, str>> {
    let Tenancy::Shared { claims: names } = tenancy else {
        return None;
    };
    if let Some(value) = template_value {
        return Some(Cow::Borrowed(value));
    }
    names.iter().find_map(|name| match claims.get(name) {
        Some(Value::String(text)) => Some(Cow::Borrowed(text.as_str())),
        Some(Value::Number(number)) => Some(Cow::Owned(number.to_string())),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::issuers::{IssuerTemplate, KeysConfig, PlaceholderRule};

    fn config(profile: Option<Profile>, matcher: IssuerMatcher, tenancy: TenancySetting) -> IssuerConfig {
        IssuerConfig {
            name: "ci".into(),
            matcher,
            keys: KeysConfig::Discovery,
            algorithms: vec![jsonwebtoken::Algorithm::RS256],
            audiences: vec!["tollgate".into()],
            leeway_secs: 60,
            max_lifetime_secs: 3600,
            profile,
            tenancy,
            allow_private_network: false,
        }
    }

    fn exact(url: &str) -> IssuerMatcher {
        IssuerMatcher::Exact(url.into())
    }

    fn template(text: &str, rule: PlaceholderRule) -> IssuerMatcher {
        IssuerMatcher::Template(IssuerTemplate::parse(text, rule).unwrap())
    }

    fn shared(claims: &[&str]) -> Option<Tenancy> {
        Some(Tenancy::Shared { claims: claims.iter().map(|c| (*c).to_owned()).collect() })
    }

    #[test]
    fn shared_from_profile_url_or_template() {
        use TenancySetting::*;
        let github = ["repository_owner_id", "repository_owner"];
        let circle = "https://oidc.circleci.com/org/{org_id}";
        let any = || PlaceholderRule::Pattern(regex::Regex::new("^(?:[a-z0-9-]+)$").unwrap());
        let one = || PlaceholderRule::AllowList(vec!["acme".into()]);
        let two = || PlaceholderRule::AllowList(vec!["acme".into(), "beta".into()]);
        let semaphore = "https://{org}.semaphoreci.com";
        let cases = [
            (config(None, exact("https://token.actions.githubusercontent.com"), Derived), shared(&github)),
            (config(None, exact("https://gitlab.com"), Derived), shared(&["namespace_id", "namespace_path"])),
            (config(None, exact("https://agent.buildkite.com"), Derived), shared(&["organization_slug"])),
            (
                config(Some(Profile::Github), exact("https://ghes.example.com/_services/token"), Derived),
                shared(&github),
            ),
            (
                config(Some(Profile::Github), exact("https://ghes.example.com/_services/token"), Single),
                Some(Tenancy::Single),
            ),
            (
                config(Some(Profile::Gitlab), exact("https://gitlab.example.com"), Derived),
                shared(&["namespace_id", "namespace_path"]),
            ),
            (config(None, exact("https://ci.example.com"), Derived), Some(Tenancy::Single)),
            (config(None, exact("https://ci.example.com"), Shared), None),
            (config(Some(Profile::Circleci), template(circle, any()), Derived), shared(&["iss"])),
            (config(Some(Profile::Semaphore), template(semaphore, any()), Derived), shared(&["iss", "org"])),
            (config(Some(Profile::Semaphore), template(semaphore, one()), Derived), Some(Tenancy::Single)),
            (config(Some(Profile::Semaphore), template(semaphore, two()), Derived), shared(&["iss", "org"])),
            (config(Some(Profile::Semaphore), template(semaphore, one()), Shared), shared(&["iss", "org"])),
            (config(None, template(circle, any()), Single), Some(Tenancy::Single)),
        ];
        for (issuer, expected) in cases {
            assert_eq!(issuer.tenancy(), expected, "{:?} {:?}", issuer.matcher, issuer.tenancy);
        }
    }

    #[test]
    fn tenant_of_a_token() {
        let github = shared(&["repository_owner_id", "repository_owner"]).unwrap();
        let claims = |value: Value| value.as_object().cloned().unwrap();
        assert_eq!(tenant_of(&github, None, &claims(json!({"repository_owner_id": "1000"}))), Some("1000".into()));
        assert_eq!(tenant_of(&github, None, &claims(json!({"repository_owner": "acme"}))), Some("acme".into()));
        assert_eq!(tenant_of(&github, None, &claims(json!({"repository_owner_id": 7}))), Some("7".into()));
        assert_eq!(tenant_of(&github, None, &claims(json!({"other": "x"}))), None);
        let circle = shared(&["iss"]).unwrap();
        assert_eq!(tenant_of(&circle, Some("org-1"), &claims(json!({}))), Some("org-1".into()));
        assert_eq!(tenant_of(&Tenancy::Single, Some("acme"), &claims(json!({"org": "acme"}))), None);
        assert!(matches!(
            tenant_of(&github, None, &claims(json!({"repository_owner_id": "1"}))),
            Some(Cow::Borrowed(_))
        ));
    }
}

//! What the policy module knows about the configured trusted issuers ([`KnownIssuer`]): their names, where
//! they live (host + path, to read AWS `Federated` principals and `host:claim` condition keys) and which claims
//! pin a tenant on a shared issuer. It resolves principals and condition keys to issuer and claim names; it
//! never fetches anything and knows nothing of provider profiles (the caller builds the list from config).

/// A configured trusted issuer, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownIssuer {
    /// The issuer's configured name, as policies write it in `issuer:`.
    pub name: String,
    /// Host and optional path of the issuer URL without scheme, e.g. `token.actions.githubusercontent.com` or
    /// `gitlab.example.com/gitlab`; `None` for template issuers, which AWS-form policies cannot name.
    pub url_prefix: Option<String>,
    /// Claims identifying the tenant; non-empty means a shared issuer, on which every allow statement must
    /// pin one of them.
    pub tenant_claims: Vec<String>,
}

/// Resolves condition keys (`claim` or `host[/path]:claim`) against the policy's trusted issuers.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyResolver<'a> {
    pub(super) known: &'a [KnownIssuer],
    pub(super) trusted: &'a [String],
    /// Condition keys name claims case-insensitively, as IAM reads them (the pasted AWS form).
    pub(super) ignore_key_case: bool,
}

/// Leading key parts that name AWS request context, which tokens do not carry.
const AWS_CONTEXT_PREFIXES: &[&str] = &["aws", "sts", "iam"];

impl KnownIssuer {
    /// An issuer without location or tenant claims (a per-tenant issuer named only by `issuer:`).
    pub fn named(name: &str) -> KnownIssuer {
        KnownIssuer { name: name.to_owned(), url_prefix: None, tenant_claims: Vec::new() }
    }

    /// Whether anyone on the platform can mint tokens from this issuer.
    pub fn is_shared(&self) -> bool {
        !self.tenant_claims.is_empty()
    }

    fn location(&self) -> Option<String> {
        self.url_prefix.as_deref().and_then(normalize_location)
    }
}

impl KeyResolver<'_> {
    /// The claim a condition key (or a policy variable) names. `host[/path]:claim` is stripped only when the
    /// prefix is a trusted issuer's location; another known issuer's, a host-shaped or an AWS context prefix
    /// is an error. Claim names may contain `.`, `/` and (past such a prefix) `:`.
    pub(super) fn claim<'k>(&self, key: &'k str) -> Result<&'k str, String> {
        let mut best: Option<(&KnownIssuer, usize)> = None;
        for issuer in self.known {
            let Some(location) = issuer.location() else {
                continue;
            };
            let matches =
                key.get(..location.len()).is_some_and(|head| normalize_location(head).as_deref() == Some(&location))
                    && key.get(location.len()..).is_some_and(|rest| rest.starts_with(':'));
            if matches && best.is_none_or(|(_, length)| location.len() > length) {
                best = Some((issuer, location.len()));
            }
        }
        if let Some((issuer, length)) = best {
            if !self.trusted.contains(&issuer.name) {
                return Err(format!(
                    "condition key {key:?} names issuer {:?}, which this policy does not trust",
                    issuer.name
                ));
            }
            let claim = key.get(length + 1..).unwrap_or_default();
            if claim.is_empty() {
                return Err(format!("condition key {key:?} names no claim"));
            }
            return Ok(claim);
        }
        if let Some((head, _)) = key.split_once(':') {
            if AWS_CONTEXT_PREFIXES.contains(&head.to_ascii_lowercase().as_str()) {
                return Err(format!("condition key {key:?} is AWS request context, which a CI token does not carry"));
            }
            if looks_like_location(head) {
                return Err(format!(
                    "condition key {key:?} has the prefix {head:?}, which is not the location of a trusted issuer"
                ));
            }
        }
        if key.is_empty() {
            return Err("a condition needs a claim name".to_owned());
        }
        Ok(key)
    }
}

/// The issuers a `Federated` principal names: an IAM OIDC-provider ARN
/// (`arn:aws:iam::123456789012:oidc-provider/HOST[/PATH]`), a bare `HOST[/PATH]`, or an `https://` URL.
/// Returns the names of the known issuers at that location, among `candidates` when given.
pub(super) fn principal_issuers(
    principal: &str,
    known: &[KnownIssuer],
    candidates: Option<&[String]>,
) -> Result<Vec<String>, String> {
    let location = principal_location(principal)?;
    Ok(known
        .iter()
        .filter(|issuer| issuer.location().as_deref() == Some(location.as_str()))
        .filter(|issuer| candidates.is_none_or(|names| names.contains(&issuer.name)))
        .map(|issuer| issuer.name.clone())
        .collect())
}

fn principal_location(principal: &str) -> Result<String, String> {
    let rest = if let Some(arn) = principal.strip_prefix("arn:") {
        let mut fields = arn.splitn(5, ':');
        let (_partition, service, region, _account, resource) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next().unwrap_or_default());
        match (service, region, resource.strip_prefix("oidc-provider/")) {
            (Some("iam"), Some(""), Some(location)) => location,
            _ => {
                return Err(format!(
                    "Federated principal {principal:?} is not an IAM OIDC-provider ARN (arn:aws:iam::ACCOUNT:oidc-provider/HOST)"
                ));
            }
        }
    } else {
        principal
    };
    normalize_location(rest).ok_or_else(|| format!("Federated principal {principal:?} names no issuer host"))
}

/// `https://Host/Path/` → `host/Path`: no scheme, no trailing `/`, host lower-cased; `None` when empty.
fn normalize_location(text: &str) -> Option<String> {
    let bare =
        text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")).unwrap_or(text).trim_end_matches('/');
    let (host, path) = match bare.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (bare, None),
    };
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    Some(match path {
        Some(path) => format!("{host}/{path}"),
        None => host,
    })
}

/// A key head such as `gitlab.example.com` or `oidc.example.com/org/1`: a dotted host, host characters only.
fn looks_like_location(head: &str) -> bool {
    let host = head.split('/').next().unwrap_or_default();
    host.contains('.')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && !head.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<KnownIssuer> {
        let located = |name: &str, prefix: &str, tenant: &[&str]| KnownIssuer {
            name: name.to_owned(),
            url_prefix: Some(prefix.to_owned()),
            tenant_claims: tenant.iter().map(|claim| (*claim).to_owned()).collect(),
        };
        vec![
            located("github", "token.actions.githubusercontent.com", &["repository_owner_id"]),
            located("gitlab", "gitlab.example.com", &[]),
            located("gitlab-sub", "https://gitlab.example.com/gitlab/", &[]),
            located("circle", "oidc.circleci.com/org/42", &[]),
            KnownIssuer::named("semaphore"),
        ]
    }

    #[test]
    fn condition_keys() {
        let known = known();
        let trusted = ["github".to_owned(), "gitlab-sub".to_owned(), "circle".to_owned()];
        let resolver = KeyResolver { known: &known, trusted: &trusted, ignore_key_case: false };
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("sub", Ok("sub")),
            ("token.actions.githubusercontent.com:sub", Ok("sub")),
            ("Token.Actions.GithubUserContent.com:aud", Ok("aud")),
            ("token.actions.githubusercontent.com:a:b", Ok("a:b")),
            ("gitlab.example.com/gitlab:project_path", Ok("project_path")),
            ("oidc.circleci.com/context-ids", Ok("oidc.circleci.com/context-ids")),
            ("oidc.circleci.com/org/42:oidc.circleci.com/context-ids", Ok("oidc.circleci.com/context-ids")),
            ("https://aws.amazon.com/tags", Ok("https://aws.amazon.com/tags")),
            ("gitlab.example.com:sub", Err("names issuer \"gitlab\", which this policy does not trust")),
            ("accounts.google.com:sub", Err("not the location of a trusted issuer")),
            ("token.actions.githubusercontent.com.evil.com:sub", Err("not the location of a trusted issuer")),
            ("aws:SourceIp", Err("AWS request context")),
            ("sts:ExternalId", Err("AWS request context")),
            ("token.actions.githubusercontent.com:", Err("names no claim")),
            ("", Err("needs a claim name")),
        ];
        for (key, expected) in cases {
            match (resolver.claim(key), expected) {
                (Ok(claim), Ok(wanted)) => assert_eq!(claim, *wanted, "{key}"),
                (Err(message), Err(fragment)) => {
                    assert!(message.contains(fragment), "{key}: {message}")
                }
                (got, _) => panic!("{key}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn principals() {
        let known = known();
        let cases: &[(&str, Result<&[&str], &str>)] = &[
            ("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com", Ok(&["github"])),
            ("arn:aws-us-gov:iam::1:oidc-provider/gitlab.example.com/gitlab", Ok(&["gitlab-sub"])),
            ("token.actions.githubusercontent.com", Ok(&["github"])),
            ("https://token.actions.githubusercontent.com/", Ok(&["github"])),
            ("https://gitlab.example.com", Ok(&["gitlab"])),
            ("accounts.google.com", Ok(&[])),
            ("arn:aws:iam::1:saml-provider/x", Err("not an IAM OIDC-provider ARN")),
            ("arn:aws:sts::1:oidc-provider/x", Err("not an IAM OIDC-provider ARN")),
            ("https://", Err("names no issuer host")),
        ];
        for (principal, expected) in cases {
            match (principal_issuers(principal, &known, None), expected) {
                (Ok(names), Ok(wanted)) => assert_eq!(names, *wanted, "{principal}"),
                (Err(message), Err(fragment)) => {
                    assert!(message.contains(fragment), "{principal}: {message}")
                }
                (got, _) => panic!("{principal}: got {got:?}, expected {expected:?}"),
            }
        }
        let only_gitlab = ["gitlab".to_owned()];
        assert!(
            principal_issuers("token.actions.githubusercontent.com", &known, Some(&only_gitlab)).unwrap().is_empty()
        );
    }
}

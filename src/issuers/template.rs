//! Issuer templates (`issuer_template: https://{org}.semaphoreci.com`): one placeholder, bound to an allow-list
//! or an anchored pattern, whose values must also be plain labels, so that no value can move a URL's host or
//! path.

use regex::Regex;

/// `https://{org}.semaphoreci.com`: a prefix, a placeholder bound to a rule, a suffix.
#[derive(Clone, Debug)]
pub struct IssuerTemplate {
    prefix: String,
    placeholder: String,
    suffix: String,
    rule: PlaceholderRule,
}

#[derive(Clone, Debug)]
pub enum PlaceholderRule {
    AllowList(Vec<String>),
    /// Anchored at both ends when compiled.
    Pattern(Regex),
}

impl std::fmt::Display for IssuerTemplate {
    /// The template as written: `prefix{name}suffix`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{{}}}{}", self.prefix, self.placeholder, self.suffix)
    }
}

impl IssuerTemplate {
    /// Parses `prefix{name}suffix` (exactly one placeholder). Values must also be plain labels
    /// (`[A-Za-z0-9][A-Za-z0-9_-]*`), so no value can change a URL's host or path shape.
    pub fn parse(template: &str, rule: PlaceholderRule) -> Result<Self, String> {
        let open = template.find('{').ok_or("an issuer_template needs one {placeholder}")?;
        let close = template.find('}').filter(|c| *c > open).ok_or("unbalanced { } in issuer_template")?;
        let (prefix, rest) = template.split_at(open);
        let (placeholder, suffix) = rest.split_at(close - open + 1);
        if suffix.contains(['{', '}']) || prefix.contains('}') {
            return Err("an issuer_template takes exactly one {placeholder}".into());
        }
        let placeholder = placeholder.trim_matches(|c| c == '{' || c == '}').to_owned();
        if placeholder.is_empty() {
            return Err("the {placeholder} needs a name".into());
        }
        if let PlaceholderRule::AllowList(values) = &rule
            && let Some(bad) = values.iter().find(|v| !is_label(v))
        {
            return Err(format!("allowed value {bad:?} is not a plain label ([A-Za-z0-9_-])"));
        }
        Ok(Self { prefix: prefix.to_owned(), placeholder, suffix: suffix.to_owned(), rule })
    }

    /// The placeholder value if `iss` fits the template and the value passes the rule.
    pub fn match_issuer<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let value = iss.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        let allowed = is_label(value)
            && match &self.rule {
                PlaceholderRule::AllowList(values) => values.iter().any(|v| v == value),
                PlaceholderRule::Pattern(pattern) => pattern.is_match(value),
            };
        allowed.then_some(value)
    }

    pub fn render(&self, value: &str) -> String {
        format!("{}{value}{}", self.prefix, self.suffix)
    }

    pub fn placeholder(&self) -> &str {
        &self.placeholder
    }

    pub fn allow_list(&self) -> &[String] {
        match &self.rule {
            PlaceholderRule::AllowList(values) => values,
            PlaceholderRule::Pattern(_) => &[],
        }
    }

    /// Whether more than one value (so more than one tenant's issuer) can pass the rule.
    pub fn may_match_many(&self) -> bool {
        match &self.rule {
            PlaceholderRule::AllowList(values) => values.len() > 1,
            PlaceholderRule::Pattern(_) => true,
        }
    }
}

fn is_label(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && value.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    fn semaphore(rule: PlaceholderRule) -> IssuerTemplate {
        IssuerTemplate::parse("https://{org}.semaphoreci.com", rule).unwrap()
    }

    #[test]
    fn template_matches_only_allowed_plain_values() {
        let t = semaphore(PlaceholderRule::AllowList(vec!["acme".into()]));
        assert_eq!(t.match_issuer("https://acme.semaphoreci.com"), Some("acme"));
        assert_eq!(t.match_issuer("https://evil.semaphoreci.com"), None);
        assert_eq!(t.match_issuer("https://acme.semaphoreci.com/"), None);
        let p = semaphore(PlaceholderRule::Pattern(Regex::new("^(?:acme-[a-z]+)$").unwrap()));
        assert_eq!(p.match_issuer("https://acme-web.semaphoreci.com"), Some("acme-web"));
        // A value that would move the host elsewhere never passes, whatever the pattern says.
        let any = semaphore(PlaceholderRule::Pattern(Regex::new("^(?:.*)$").unwrap()));
        assert_eq!(any.match_issuer("https://evil.com/x.semaphoreci.com"), None);
        assert_eq!(any.match_issuer("https://a@evil.com#.semaphoreci.com"), None);
        assert_eq!(any.match_issuer("https://.semaphoreci.com"), None);
    }

    #[test]
    fn template_parse_errors() {
        let rule = || PlaceholderRule::AllowList(vec!["a".into()]);
        assert!(IssuerTemplate::parse("https://x.example", rule()).is_err());
        assert!(IssuerTemplate::parse("https://{a}.{b}.example", rule()).is_err());
        assert!(IssuerTemplate::parse("https://{}.example", rule()).is_err());
        assert!(IssuerTemplate::parse("https://}{a.example", rule()).is_err());
        assert!(IssuerTemplate::parse("https://{o}.x", PlaceholderRule::AllowList(vec!["a.b".into()])).is_err());
        let t = IssuerTemplate::parse("https://oidc.circleci.com/org/{org_id}", rule()).unwrap();
        assert_eq!(t.render("a"), "https://oidc.circleci.com/org/a");
        assert_eq!(t.placeholder(), "org_id");
    }
}

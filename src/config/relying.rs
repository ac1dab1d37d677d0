//! The `relying_parties:` block: the services that trust Tollgate's tokens, named so that `tollgate check` can
//! hold the config and the policies to what each kind of relying party requires (`crate::relying_party`). It has
//! no effect at run time.

use serde::Deserialize;

/// What kind of service a relying party is: which requirements `tollgate check` applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelyingPartyKind {
    /// kube-apiserver's OIDC authenticator (`--oidc-*` flags or an `AuthenticationConfiguration`).
    Kubernetes,
    /// Any other OIDC library: only the audience is checked.
    Generic,
}

/// One relying party: the audience it expects and, for Kubernetes, the claims it maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub name: String,
    pub kind: RelyingPartyKind,
    /// The `aud` it requires (kube-apiserver: `--oidc-client-id`).
    pub audience: String,
    /// The claim it takes the user name from (kube-apiserver: `--oidc-username-claim`, default `sub`).
    pub username_claim: String,
    /// The claim it takes groups from (kube-apiserver: `--oidc-groups-claim`), if any.
    pub groups_claim: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelyingParty {
    name: String,
    kind: Option<String>,
    audience: String,
    username_claim: Option<String>,
    groups_claim: Option<String>,
}

pub(super) fn relying_parties(raw: &[RawRelyingParty]) -> Result<Vec<RelyingParty>, String> {
    let mut parties: Vec<RelyingParty> = Vec::new();
    for (index, party) in raw.iter().enumerate() {
        let key = format!("relying_parties[{index}]");
        if party.name.is_empty() || parties.iter().any(|p| p.name == party.name) {
            return Err(format!("{key}.name: must be present and unique"));
        }
        let kind = match party.kind.as_deref() {
            None | Some("generic") => RelyingPartyKind::Generic,
            Some("kubernetes") => RelyingPartyKind::Kubernetes,
            Some(other) => return Err(format!("{key}.kind: {other:?} is not one of kubernetes, generic")),
        };
        let named = |field: &str, value: &Option<String>| match value.as_deref() {
            Some("") => Err(format!("{key}.{field}: must not be empty")),
            _ => Ok(value.clone()),
        };
        if party.audience.is_empty() {
            return Err(format!("{key}.audience: must not be empty"));
        }
        parties.push(RelyingParty {
            name: party.name.clone(),
            kind,
            audience: party.audience.clone(),
            username_claim: named("username_claim", &party.username_claim)?.unwrap_or_else(|| "sub".to_owned()),
            groups_claim: named("groups_claim", &party.groups_claim)?,
        });
    }
    Ok(parties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Vec<RelyingParty>, String> {
        let raw: Vec<RawRelyingParty> = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        relying_parties(&raw)
    }

    #[test]
    fn defaults_and_kinds() {
        let parties = parse("- {name: prod, kind: kubernetes, audience: prod-cluster, groups_claim: groups}\n- {name: bao, audience: vault}\n").unwrap();
        assert_eq!(
            parties.first().map(|p| (p.kind, p.username_claim.as_str())),
            Some((RelyingPartyKind::Kubernetes, "sub"))
        );
        assert_eq!(parties.first().and_then(|p| p.groups_claim.as_deref()), Some("groups"));
        assert_eq!(parties.get(1).map(|p| (p.kind, p.groups_claim.is_none())), Some((RelyingPartyKind::Generic, true)));
    }

    #[test]
    fn refusals_name_the_key() {
        let twice = parse("- {name: a, audience: x}\n- {name: a, audience: y}\n").unwrap_err();
        assert!(twice.contains("relying_parties[1].name"), "{twice}");
        let kind = parse("- {name: a, kind: k8s, audience: x}\n").unwrap_err();
        assert!(kind.contains("\"k8s\" is not one of kubernetes, generic"), "{kind}");
        assert!(parse("- {name: a, audience: \"\"}\n").unwrap_err().contains("audience"));
        assert!(parse("- {name: a, audience: x, groups_claim: \"\"}\n").unwrap_err().contains("groups_claim"));
        assert!(parse("- {name: a, audience: x, extra: 1}\n").is_err(), "unknown keys are refused");
    }
}

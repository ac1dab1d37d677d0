//! Token introspection (RFC 7662) for relying parties: is this Tollgate token active? Only authenticated
//! clients may ask (`introspection.clients`: a name and the SHA-256 of a random bearer secret, compared in
//! constant time; the secret itself is never stored). A token is active when Tollgate signed it with a
//! published key, it is within its window (no leeway), its audience is one the client may see, and no
//! revocation hits it; anything else — expired, unknown, foreign, malformed, revoked — is just inactive, with
//! no reason given to the caller.

use serde_json::{Map, Value};

use super::Broker;
use crate::clock::UnixTime;
use crate::issuers::KeySet;
use crate::revocation::{IssuedQuery, Revoked};
use crate::verify::{self, ClaimRules, RawToken};

/// A relying party allowed to introspect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntrospectionClient {
    pub name: String,
    /// SHA-256 of the bearer secret.
    pub secret_sha256: [u8; 32],
    /// The audiences whose tokens it may introspect (`None`: any).
    pub audiences: Option<Vec<String>>,
}

/// The configured clients (empty: the endpoint answers 401 to everyone).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntrospectionClients(pub Vec<IntrospectionClient>);

impl IntrospectionClients {
    /// The client whose secret this is (and whose name, when the caller gave one). Every configured hash is
    /// compared, in constant time, whatever matched first.
    pub fn authenticate(&self, name: Option<&str>, secret: &str) -> Option<&IntrospectionClient> {
        let presented = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        let mut found = None;
        for client in &self.0 {
            let same = aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_ref(), &client.secret_sha256);
            if same.is_ok() && found.is_none() && name.is_none_or(|name| name == client.name) {
                found = Some(client);
            }
        }
        found
    }
}

/// What introspection found.
#[derive(Debug, PartialEq)]
pub enum Introspection {
    /// The token's claims (RFC 7662 adds `active: true`).
    Active(Map<String, Value>),
    Inactive,
}

/// The key set of Tollgate's own published keys, parsed once per publication (not per introspection).
#[derive(Default)]
pub(super) struct IssuedKeys(arc_swap::ArcSwapOption<(Vec<u8>, KeySet)>);

impl IssuedKeys {
    /// The parsed set for this JWKS document, reparsed only when the document changed (a key rotated out).
    fn for_document(&self, jwks: Vec<u8>) -> Option<std::sync::Arc<(Vec<u8>, KeySet)>> {
        if let Some(cached) = self.0.load_full()
            && cached.0 == jwks
        {
            return Some(cached);
        }
        let keys = KeySet::parse(&jwks).ok()?;
        let parsed = std::sync::Arc::new((jwks, keys));
        self.0.store(Some(std::sync::Arc::clone(&parsed)));
        Some(parsed)
    }
}

/// The revocation view is too old to tell; the caller should retry.
#[derive(Debug, thiserror::Error)]
#[error("revocations cannot be checked right now (the view is {age_secs} s old)")]
pub struct IntrospectionUnavailable {
    pub age_secs: i64,
}

impl Broker {
    /// Lets these clients introspect.
    pub fn with_introspection(mut self, clients: IntrospectionClients) -> Self {
        self.introspection = clients;
        self
    }

    pub fn introspection_clients(&self) -> &IntrospectionClients {
        &self.introspection
    }

    /// Introspects `token` for `client`.
    pub fn introspect(
        &self,
        client: &IntrospectionClient,
        token: &str,
    ) -> Result<Introspection, IntrospectionUnavailable> {
        let now = self.clock.now();
        let Some((claims, kid)) = self.verify_issued(token, now) else {
            return Ok(Introspection::Inactive);
        };
        let audiences = verify::audience_values(&claims);
        if let Some(allowed) = &client.audiences
            && !audiences.iter().any(|audience| allowed.contains(audience))
        {
            return Ok(Introspection::Inactive);
        }
        if let Some(view) = &self.revocations {
            let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
            let role = claims.get("role").and_then(Value::as_str);
            let issued_at = UnixTime::from_secs(claims.get("iat").and_then(Value::as_i64).unwrap_or(i64::MIN));
            let query = IssuedQuery { jti, kid: kid.as_deref(), role, issued_at };
            match view.check_issued(&query, now) {
                Ok(()) => {}
                Err(Revoked::Hit { .. }) => return Ok(Introspection::Inactive),
                Err(Revoked::Stale { age_secs }) => return Err(IntrospectionUnavailable { age_secs }),
            }
        }
        Ok(Introspection::Active(claims))
    }

    /// The claims and `kid` of a token Tollgate signed with a key it publishes now, within its window.
    fn verify_issued(&self, token: &str, now: UnixTime) -> Option<(Map<String, Value>, Option<String>)> {
        let token = RawToken::parse(token).ok()?;
        let jwks = serde_json::to_vec(&self.minter.jwks(now)).ok()?;
        let parsed = self.issued_keys.for_document(jwks)?;
        let keys = &parsed.1;
        let unverified = verify::unverified_claims(&token).ok()?;
        let audiences = verify::audience_values(&unverified);
        let rules = ClaimRules {
            issuer_name: "tollgate",
            iss: self.minter.issuer_url(),
            audiences: &audiences,
            leeway_secs: 0,
            max_lifetime_secs: i64::from(self.minter.config().max_ttl_secs),
            placeholder: None,
        };
        let algorithms = self.minter.published_algorithms(now);
        let verified = verify::verify_with_keys(&token, keys, &algorithms, &rules, now).ok()?;
        let kid = verified.kid().map(str::to_owned);
        Some((verified.claims().clone(), kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, secret: &str) -> IntrospectionClient {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        let mut secret_sha256 = [0; 32];
        secret_sha256.copy_from_slice(digest.as_ref());
        IntrospectionClient { name: name.into(), secret_sha256, audiences: None }
    }

    #[test]
    fn our_keys_are_parsed_once_per_published_document() {
        use crate::credentials::{SigningAlg, SigningKey};
        let document = |key: &SigningKey| {
            serde_json::to_vec(&serde_json::json!({"keys": [Value::Object(key.public_jwk().clone())]})).unwrap()
        };
        let (first, second) =
            (SigningKey::generate(SigningAlg::Es256).unwrap(), SigningKey::generate(SigningAlg::Es256).unwrap());
        let cache = IssuedKeys::default();
        let parsed = cache.for_document(document(&first)).unwrap();
        assert!(std::sync::Arc::ptr_eq(&parsed, &cache.for_document(document(&first)).unwrap()), "not parsed again");
        let rotated = cache.for_document(document(&second)).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&parsed, &rotated));
        assert!(matches!(rotated.1.find(Some(second.kid())), crate::issuers::KeyMatch::Found(_)));
        assert!(cache.for_document(b"not json".to_vec()).is_none());
    }

    #[test]
    fn a_client_is_found_by_its_secret_and_by_its_name_only_when_both_match() {
        let clients = IntrospectionClients(vec![client("vault", "s1"), client("k8s", "s2")]);
        assert_eq!(clients.authenticate(None, "s2").map(|c| c.name.as_str()), Some("k8s"));
        assert_eq!(clients.authenticate(Some("vault"), "s1").map(|c| c.name.as_str()), Some("vault"));
        assert!(clients.authenticate(Some("vault"), "s2").is_none());
        assert!(clients.authenticate(None, "s3").is_none());
        assert!(clients.authenticate(None, "").is_none());
        assert!(IntrospectionClients::default().authenticate(None, "s1").is_none());
    }
}

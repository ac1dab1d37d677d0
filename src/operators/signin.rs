//! Sign-in: an operator proves who they are with an ID token from a configured provider (sent directly, or as
//! an authorization code with its PKCE verifier that Tollgate redeems at the provider's token endpoint, with the
//! client secret where the provider needs one), or with the break-glass secret. The ID token is verified like
//! any trusted issuer's (discovery, cached keys, the client id as audience), may open one session only (its use
//! is claimed in the store), and must carry the expected `nonce` when one was sent.

use serde_json::{Map, Value};

use super::sessions::{Issued, Operator};
use super::{OperatorError, Operators, ProviderConfig};
use crate::clock::UnixTime;
use crate::issuers::Network;
use crate::store::{Claim, JtiKey};
use crate::verify::{RawToken, VerifiedToken};

/// How long past its `exp` an ID token's use is remembered (longer than any provider leeway allowed).
const KEEP_PAST_EXP_SECS: i64 = 660;

/// The oldest ID token (by `iat`) that may open a session: a sign-in uses a token just issued.
const MAX_ID_TOKEN_AGE_SECS: i64 = 600;

/// What the operator presents.
pub enum Proof {
    IdToken { token: RawToken, nonce: Option<String> },
    Code { code: String, code_verifier: String, redirect_uri: String, nonce: Option<String> },
    Bootstrap(String),
}

/// A sign-in request.
pub struct SignIn {
    /// The provider's configured name (may be left out with one provider, or with an ID token).
    pub provider: Option<String>,
    pub proof: Proof,
    /// `scope=admin` was asked for.
    pub admin_scope: bool,
    pub ttl_seconds: Option<u32>,
}

impl Operators {
    /// Verifies the proof and opens a session.
    pub async fn sign_in(&self, request: SignIn) -> Result<Issued, OperatorError> {
        let operator = match request.proof {
            Proof::Bootstrap(secret) => self.bootstrap(&secret)?,
            Proof::IdToken { token, nonce } => {
                let provider = self.pick_provider(request.provider.as_deref())?;
                if !provider.id_token_sign_in {
                    return Err(OperatorError::BadRequest(format!(
                        "provider {:?} does not take ID tokens sent as is (id_token_sign_in: false): sign in with `tollgate admin login`",
                        provider.name
                    )));
                }
                self.operator_from_id_token(provider, &token, nonce.as_deref()).await?
            }
            Proof::Code { code, code_verifier, redirect_uri, nonce } => {
                let provider = self.pick_provider(request.provider.as_deref())?;
                // The CLI's loopback flow always sends both; anything else is not a flow we started.
                let nonce = nonce.filter(|n| n.chars().count() >= 16).ok_or_else(|| {
                    OperatorError::BadRequest("nonce: a random value of at least 16 characters is required".into())
                })?;
                if !is_loopback_redirect(&redirect_uri) {
                    return Err(OperatorError::BadRequest(
                        "redirect_uri: must be a loopback http redirect (127.0.0.0/8, [::1] or localhost)".into(),
                    ));
                }
                let token = self.redeem(provider, &code, &code_verifier, &redirect_uri).await?;
                self.operator_from_id_token(provider, &token, Some(&nonce)).await?
            }
        };
        self.open_session(operator, request.admin_scope, request.ttl_seconds).await
    }

    /// The named provider, or the only one.
    fn pick_provider(&self, name: Option<&str>) -> Result<&ProviderConfig, OperatorError> {
        match (name, self.config.providers.as_slice()) {
            (Some(name), _) => self.config.provider(name).ok_or_else(|| OperatorError::UnknownProvider(name.into())),
            (None, [only]) => Ok(only),
            (None, []) => Err(OperatorError::BadRequest("no identity provider is configured".into())),
            (None, _) => Err(OperatorError::BadRequest("several providers are configured: name one".into())),
        }
    }

    fn bootstrap(&self, presented: &str) -> Result<Operator, OperatorError> {
        let Some(expected) = &self.config.bootstrap_sha256 else {
            tracing::warn!("A break-glass sign-in was tried, but break-glass is off.");
            return Err(OperatorError::Unauthenticated("break-glass sign-in is off"));
        };
        let now = self.clock.now();
        let mut failures =
            self.bootstrap_failures.lock().map_err(|_| OperatorError::Unauthenticated("break-glass is unavailable"))?;
        failures.retain(|at| now.secs_since(*at) < super::BOOTSTRAP_WINDOW_SECS);
        if failures.len() >= super::BOOTSTRAP_FAILURES {
            tracing::warn!("A break-glass sign-in was refused: too many wrong secrets in the last minute.");
            return Err(OperatorError::Unauthenticated("too many wrong break-glass secrets; wait a minute"));
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
        if aws_lc_rs::constant_time::verify_slices_are_equal(digest.as_ref(), expected).is_err() {
            failures.push_back(now);
            tracing::warn!("A break-glass sign-in with a wrong secret was refused.");
            return Err(OperatorError::Unauthenticated("wrong break-glass secret"));
        }
        drop(failures);
        tracing::warn!(
            "BREAK-GLASS sign-in: an admin session was opened with the bootstrap secret. Configure a provider and bindings, then remove operators.bootstrap."
        );
        Ok(Operator {
            provider: "bootstrap".into(),
            subject: "bootstrap".into(),
            user: "bootstrap".into(),
            email: None,
            groups: Vec::new(),
            admin_claim: false,
            bootstrap: true,
        })
    }

    async fn operator_from_id_token(
        &self,
        provider: &ProviderConfig,
        token: &RawToken,
        nonce: Option<&str>,
    ) -> Result<Operator, OperatorError> {
        let verifier = self.verifier.as_ref().ok_or_else(|| OperatorError::UnknownProvider(provider.name.clone()))?;
        let now = self.clock.now();
        let verified = verifier.verify(token, now).await.map_err(|e| OperatorError::SignInRefused(e.to_string()))?;
        if verified.issuer_name() != provider.name {
            return Err(OperatorError::SignInRefused(format!(
                "the token was not issued by provider {:?}",
                provider.name
            )));
        }
        if let Some(expected) = nonce
            && verified.claims().get("nonce").and_then(Value::as_str) != Some(expected)
        {
            return Err(OperatorError::SignInRefused("the ID token's nonce does not match".into()));
        }
        // OIDC Core 3.1.3.7: with several audiences, `azp` must name this client.
        if verified.audiences().len() > 1
            && verified.claims().get("azp").and_then(Value::as_str) != Some(provider.client_id.as_str())
        {
            return Err(OperatorError::SignInRefused(
                "the ID token has several audiences and no azp for this client".into(),
            ));
        }
        if now.secs_since(verified.iat()) > MAX_ID_TOKEN_AGE_SECS {
            return Err(OperatorError::SignInRefused(format!(
                "the ID token was issued more than {MAX_ID_TOKEN_AGE_SECS} s ago; sign in again"
            )));
        }
        let operator = identity(provider, &verified)?;
        self.claim_id_token(&verified, token, now).await?;
        Ok(operator)
    }

    /// An ID token opens one session: a stolen one cannot open another.
    async fn claim_id_token(
        &self,
        verified: &VerifiedToken,
        token: &RawToken,
        now: UnixTime,
    ) -> Result<(), OperatorError> {
        let digest;
        let jti = match verified.jti() {
            Some(jti) => jti,
            None => {
                digest = super::sha256_hex(token.as_str().as_bytes());
                &digest
            }
        };
        let key = JtiKey { issuer: verified.iss(), jti, scope: "operator-session" };
        match self.store.claim_jti(key, verified.exp().plus_secs(KEEP_PAST_EXP_SECS), now).await? {
            Claim::First => Ok(()),
            Claim::AlreadyUsed => Err(OperatorError::SignInRefused("this ID token was already used to sign in".into())),
        }
    }

    /// Redeems an authorization code at the provider's token endpoint; the ID token it returns.
    async fn redeem(
        &self,
        provider: &ProviderConfig,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<RawToken, OperatorError> {
        let network = if provider.allow_private_network { Network::Private } else { Network::Public };
        let endpoint = self.token_endpoint(provider, network).await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect_uri),
            ("client_id", provider.client_id.as_str()),
        ];
        let basic = provider.client_secret.as_deref().map(|secret| (provider.client_id.as_str(), secret));
        let (status, body) = self.fetcher.post_form(&endpoint, &form, basic, network).await?;
        let answer: Map<String, Value> = serde_json::from_slice(&body).unwrap_or_default();
        if status != 200 {
            let error = answer.get("error").and_then(Value::as_str).unwrap_or("unknown error");
            let error = crate::text::shorten(error);
            return Err(OperatorError::SignInRefused(format!("the provider refused the code: HTTP {status} {error}")));
        }
        let id_token = answer
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OperatorError::Provider("the token response has no id_token".into()))?;
        RawToken::parse(id_token).map_err(|e| OperatorError::Provider(format!("the provider's ID token: {e}")))
    }
}

/// A loopback redirect, as native apps use (RFC 8252 §7.3).
fn is_loopback_redirect(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        url.scheme() == "http" && loopback
    })
}

/// How long a provider's token endpoint (from its discovery document) is reused before discovery is read again.
const DISCOVERY_TTL_SECS: i64 = 3600;

impl Operators {
    /// The provider's token endpoint, from its discovery document (cached for `DISCOVERY_TTL_SECS`): an https
    /// issuer's must be https, so a code and its verifier never travel in the clear.
    async fn token_endpoint(&self, provider: &ProviderConfig, network: Network) -> Result<String, OperatorError> {
        let now = self.clock.now();
        if let Ok(cached) = self.token_endpoints.lock()
            && let Some((endpoint, at)) = cached.get(&provider.name)
            && now.secs_since(*at) < DISCOVERY_TTL_SECS
        {
            return Ok(endpoint.clone());
        }
        let discovery = self.fetcher.discovery_document(&provider.issuer, network).await?;
        let endpoint = serde_json::from_slice::<Map<String, Value>>(&discovery)
            .ok()
            .and_then(|doc| doc.get("token_endpoint").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| OperatorError::Provider("the discovery document names no token_endpoint".into()))?;
        let parsed = crate::issuers::parse_allowed(&endpoint)?;
        if provider.issuer.starts_with("https:") && parsed.scheme() != "https" {
            return Err(OperatorError::Provider(format!("token_endpoint {endpoint:?} is not https")));
        }
        if let Ok(mut cached) = self.token_endpoints.lock() {
            cached.insert(provider.name.clone(), (endpoint.clone(), now));
        }
        Ok(endpoint)
    }
}

/// The operator a verified ID token names.
fn identity(provider: &ProviderConfig, verified: &VerifiedToken) -> Result<Operator, OperatorError> {
    let claims = verified.claims();
    let verified_email = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "true");
    // ASCII only, folded as ASCII: Unicode case folding would let a look-alike (the Kelvin sign for k) match.
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|email| verified_email && !email.is_empty() && email.is_ascii())
        .map(str::to_ascii_lowercase);
    let user = match provider.user_claim.as_str() {
        "email" => email.clone(),
        "sub" => Some(verified.sub().to_owned()),
        claim => claims.get(claim).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned),
    }
    .ok_or_else(|| {
        let claim = &provider.user_claim;
        let hint = if claim == "email" { " (a verified, non-empty email)" } else { "" };
        OperatorError::SignInRefused(format!("the ID token has no {claim:?} claim{hint}"))
    })?;
    let groups = provider.groups_claim.as_deref().map(|claim| strings(claims.get(claim))).unwrap_or_default();
    let admin_claim =
        provider.admin_role.as_ref().is_some_and(|admin| strings(claims.get(&admin.claim)).contains(&admin.value));
    Ok(Operator {
        provider: provider.name.clone(),
        subject: verified.sub().to_owned(),
        user,
        email,
        groups,
        admin_claim,
        bootstrap: false,
    })
}

/// A claim as a list of strings: an array's strings, or a single string.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_http_redirects_are_accepted() {
        for ok in ["http://127.0.0.1:8765/callback", "http://[::1]:1/cb", "http://localhost:9/cb"] {
            assert!(super::is_loopback_redirect(ok), "{ok}");
        }
        for bad in ["https://127.0.0.1/cb", "http://evil.example/cb", "http://10.0.0.1/cb", "not a url"] {
            assert!(!super::is_loopback_redirect(bad), "{bad}");
        }
    }
}

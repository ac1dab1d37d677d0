//! The operator plane's settings (`operators:` in the config file, validated by `config::operators`): the OpenID
//! providers operators sign in with, the role bindings, the session lifetime, and the optional break-glass secret.

use jsonwebtoken::Algorithm;

use super::bindings::Bindings;
use crate::issuers::{IssuerConfig, IssuerMatcher, KeysConfig, TenancySetting};

/// The issuer name runner identities carry: trust policies name it (`issuer: tollgate-runners`).
pub const RUNNERS_ISSUER: &str = "tollgate-runners";

/// What policy loading knows of the runners' issuer: one organisation, no AWS-form host.
pub fn runners_known_issuer() -> crate::policy::KnownIssuer {
    crate::policy::KnownIssuer { name: RUNNERS_ISSUER.to_owned(), url_prefix: None, tenant_claims: Vec::new() }
}

/// The longest session anyone may ask for.
pub const MAX_SESSION_SECS: i64 = 8 * 3600;

/// One OpenID provider. `Debug` never shows the client secret.
#[derive(Clone)]
pub struct ProviderConfig {
    pub name: String,
    /// The provider's issuer, exactly as its ID tokens and discovery document say it.
    pub issuer: String,
    pub client_id: String,
    /// Read from `client_secret_file` at start; sent only to the provider's token endpoint.
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    /// The claim that names the operator (default `email`; an email counts only when verified).
    pub user_claim: String,
    pub groups_claim: Option<String>,
    /// A claim whose value (or one of whose values) makes the identity admin-eligible.
    pub admin_role: Option<AdminClaim>,
    /// Fetch discovery and keys from a private address over https (on-prem providers).
    pub allow_private_network: bool,
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on the provider's ID tokens.
    pub leeway_secs: i64,
    /// Accept an ID token sent as is (`id_token`), e.g. from the CLI's device flow. Off by default: an ID token
    /// for this client id seen anywhere else (another app sharing the client id, a log) would open a session;
    /// the code flow (redeemed here, with PKCE) cannot be replayed so.
    pub id_token_sign_in: bool,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("id_token_sign_in", &self.id_token_sign_in)
            .finish_non_exhaustive()
    }
}

/// `admin_role: {claim, value}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminClaim {
    pub claim: String,
    pub value: String,
}

/// `operators:`.
#[derive(Clone, Debug)]
pub struct OperatorsConfig {
    pub providers: Vec<ProviderConfig>,
    pub bindings: Bindings,
    /// Default session lifetime.
    pub session_secs: i64,
    /// The longest session anyone may ask for (≤ `MAX_SESSION_SECS`).
    pub max_session_secs: i64,
    /// SHA-256 of the break-glass secret; `None` (the default) turns break-glass off.
    pub bootstrap_sha256: Option<[u8; 32]>,
}

impl Default for OperatorsConfig {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            bindings: Bindings::default(),
            session_secs: 3600,
            max_session_secs: MAX_SESSION_SECS,
            bootstrap_sha256: None,
        }
    }
}

impl OperatorsConfig {
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|provider| provider.name == name)
    }

    /// The providers as trusted issuers of ID tokens: exact issuer, keys by discovery, the client id as the
    /// only audience, one organisation each.
    pub(super) fn provider_issuers(&self) -> Vec<IssuerConfig> {
        self.providers
            .iter()
            .map(|provider| IssuerConfig {
                name: provider.name.clone(),
                matcher: IssuerMatcher::Exact(provider.issuer.clone()),
                keys: KeysConfig::Discovery,
                algorithms: provider.algorithms.clone(),
                audiences: vec![provider.client_id.clone()],
                leeway_secs: provider.leeway_secs,
                max_lifetime_secs: 86_400,
                profile: None,
                tenancy: TenancySetting::Single,
                allow_private_network: provider.allow_private_network,
            })
            .collect()
    }
}

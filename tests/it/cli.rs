//! The `tollgate` binary: `verify` on a real captured token, `check` on good and bad configs, `keys generate`.

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
    assert!(stdout.contains("ok (2 trusted issuers, 3 policies, 0 warnings)"), "{stdout}");
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
    assert!(stdout.contains("schema version 2"), "{stdout}");
    let (code, stdout, _) = tollgate(&["state", "check", "--config", config]);
    assert_eq!((code, stdout.contains("schema version 2")), (0, true), "{stdout}");
}

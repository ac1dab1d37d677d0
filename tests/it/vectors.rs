//! Third-party vectors from ../shared/vectors (used by path, never copied): real GitHub Actions tokens with the
//! JWKS that signed them, and the Wycheproof JWS cases that apply to RS256/ES256.

use std::path::Path;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tollgate::clock::UnixTime;
use tollgate::issuers::{KeySet, read_jwks_file};
use tollgate::verify::{self, ClaimRules, RawToken, VerifyError};

use crate::support::*;

const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn manifest(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("github-actions/manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["tokens"].as_array().unwrap().clone()
}

fn check(
    token: &RawToken,
    keys: &KeySet,
    iss: &str,
    audience: &str,
    at: i64,
) -> Result<verify::VerifiedToken, VerifyError> {
    let audiences = [audience.to_owned()];
    // The github profile's default lifetime ceiling: real tokens must pass it.
    let max_lifetime_secs = tollgate::issuers::Profile::Github.max_token_lifetime_secs();
    let placeholder = None;
    let rules = ClaimRules {
        issuer_name: "github",
        iss,
        audiences: &audiences,
        leeway_secs: 60,
        max_lifetime_secs,
        placeholder,
    };
    verify::verify_with_keys(token, keys, &[Algorithm::RS256], &rules, UnixTime::from_secs(at))
}

#[test]
fn real_github_actions_tokens() {
    let Some(dir) = vectors() else { return };
    let gh = dir.join("github-actions");
    let generations = ["jwks_github_2022-2023.json", "jwks_github_2025-2026.json"];
    let entries = manifest(&dir);
    assert_eq!(entries.len(), 7);
    for entry in entries {
        let name = entry["file"].as_str().unwrap();
        let text = std::fs::read_to_string(gh.join(name)).unwrap();
        let token = RawToken::parse(&text).unwrap();
        let own = entry["jwks"].as_str().unwrap();
        let keys = read_jwks_file(&gh.join(own), 1 << 20).unwrap();
        let expect = &entry["expect"];
        let at = |key: &str| expect[key].as_i64().unwrap();
        let audience = expect["accept_with_audience"].as_str().unwrap();

        let verified =
            check(&token, &keys, GITHUB, audience, at("accept_at_unix")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.sub(), entry["claims"]["sub"].as_str().unwrap(), "{name}");
        assert_eq!(verified.claims()["repository"], entry["claims"]["repository"], "{name}");

        let expired = check(&token, &keys, GITHUB, audience, at("reject_expired_at_unix"));
        assert!(matches!(expired, Err(VerifyError::Expired { .. })), "{name}: {expired:?}");
        let early = check(&token, &keys, GITHUB, audience, at("reject_not_yet_valid_at_unix"));
        assert!(matches!(early, Err(VerifyError::NotYetValid { .. })), "{name}: {early:?}");
        let other_aud =
            check(&token, &keys, GITHUB, expect["reject_with_audience"].as_str().unwrap(), at("accept_at_unix"));
        assert!(matches!(other_aud, Err(VerifyError::AudienceNotAccepted)), "{name}: {other_aud:?}");
        let slash = expect["reject_with_issuer_configured_as"].as_str().unwrap();
        assert!(check(&token, &keys, slash, audience, at("accept_at_unix")).is_err(), "{name}: issuer {slash}");
        let other_generation = generations.iter().find(|g| **g != own).unwrap();
        let other_keys = read_jwks_file(&gh.join(other_generation), 1 << 20).unwrap();
        let wrong = check(&token, &other_keys, GITHUB, audience, at("accept_at_unix"));
        assert!(matches!(wrong, Err(VerifyError::Key(_))), "{name}: {wrong:?}");
        // A flipped signature byte never verifies.
        let mut tampered = text.trim().to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let tampered = RawToken::parse(&tampered).unwrap();
        assert!(check(&tampered, &keys, GITHUB, audience, at("accept_at_unix")).is_err(), "{name}: tampered");
    }
}

#[tokio::test]
async fn a_real_github_token_is_exchanged_end_to_end() {
    let Some(dir) = vectors() else { return };
    let gh = dir.join("github-actions");
    let entry = manifest(&dir).into_iter().find(|e| e["claims"]["repository_owner_id"].is_string()).unwrap();
    let claims = &entry["claims"];
    let owner_id = claims["repository_owner_id"].as_str().unwrap();
    let sub = claims["sub"].as_str().unwrap();
    let audience = entry["expect"]["accept_with_audience"].as_str().unwrap();
    let issuers = format!(
        "  - name: github\n    profile: github\n    jwks_file: {}\n    audiences: [\"{audience}\"]\n",
        gh.join(entry["jwks"].as_str().unwrap()).display()
    );
    let policy = format!(
        "role: deploy\nissuer: github\naudience: \"{audience}\"\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"{owner_id}\"\n        sub: \"{sub}\"\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 5m\n  claims:\n    repository: \"${{repository}}\"\n"
    );
    let app = spawn_app(Setup { issuers, policies: vec![("deploy.yaml".into(), policy)], extra: String::new() }).await;
    app.clock.set(UnixTime::from_secs(entry["expect"]["accept_at_unix"].as_i64().unwrap()));
    let token = std::fs::read_to_string(gh.join(entry["file"].as_str().unwrap())).unwrap();
    let (status, body) = app.exchange(token.trim(), "deploy").await;
    assert_eq!(status, 200, "{body}");
    let minted = crate::exchange::verify_minted(&app, body["access_token"].as_str().unwrap(), "deploy-api").await;
    assert_eq!(minted["act"], json!({"iss": GITHUB, "sub": sub}));
    assert_eq!(minted["repository"], claims["repository"]);
    app.clock.set(UnixTime::from_secs(entry["expect"]["reject_expired_at_unix"].as_i64().unwrap()));
    let (status, body) = app.exchange(token.trim(), "deploy").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
}

#[test]
fn wycheproof_jws_cases_for_rs256_and_es256() {
    let Some(dir) = vectors() else { return };
    let text = std::fs::read_to_string(dir.join("wycheproof/json_web_signature_test.json")).unwrap();
    let suite: Value = serde_json::from_str(&text).unwrap();
    let (mut accepted, mut rejected, mut hmac_groups) = (0, 0, 0);
    for group in suite["testGroups"].as_array().unwrap() {
        let key = group.get("public").unwrap_or(&group["private"]);
        if key["kty"] == "oct" {
            hmac_groups += 1; // HMAC can never be configured: nothing to accept, every case is refused below anyway
        }
        let applies = key["kty"] == "oct"
            || matches!(key["alg"].as_str(), Some("RS256" | "ES256"))
            || (key.get("alg").is_none() && (key["kty"] == "RSA" || key["crv"] == "P-256"));
        if !applies {
            continue;
        }
        let keys = KeySet::parse(json!({"keys": [key]}).to_string().as_bytes());
        for case in group["tests"].as_array().unwrap() {
            let id = case["tcId"].as_i64().unwrap();
            let outcome = keys.as_ref().map_err(|e| e.to_string()).and_then(|keys| {
                let token = RawToken::parse(case["jws"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
                verify::verify_signature_only(&token, keys, &[Algorithm::RS256, Algorithm::ES256])
                    .map_err(|e| e.to_string())
            });
            let hmac = key["kty"] == "oct";
            match (case["result"].as_str().unwrap(), outcome) {
                (_, Ok(_)) if hmac => panic!("case {id}: an HMAC token was accepted"),
                ("valid", Ok(_)) => accepted += 1,
                ("valid", Err(e)) if !hmac => panic!("case {id} ({}) is valid but was refused: {e}", case["comment"]),
                ("invalid", Ok(_)) => panic!("case {id} ({}) is invalid but was accepted", case["comment"]),
                _ => rejected += 1,
            }
        }
    }
    assert!(accepted >= 10 && rejected >= 250 && hmac_groups >= 2, "accepted {accepted}, rejected {rejected}");
}

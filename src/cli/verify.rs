//! `tollgate verify`: check a captured token offline against a JWKS file or a config's issuers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use tollgate::clock::{Clock, SystemClock, UnixTime};
use tollgate::config::{Config, process_env};
use tollgate::issuers::{Issuers, KeySet, known_alg, read_jwks_file};
use tollgate::verify::{self, ClaimRules, RawToken, Verifier};

pub async fn verify_token(
    token_file: &Path,
    jwks: Option<PathBuf>,
    config: Option<PathBuf>,
    audience: Option<String>,
    at: Option<String>,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(token_file).with_context(|| format!("reading {}", token_file.display()))?;
    let now = match at {
        Some(at) => UnixTime::parse_rfc3339(&at).with_context(|| format!("--at {at:?} is not RFC 3339"))?,
        None => SystemClock.now(),
    };
    let result = match (jwks, config) {
        (Some(jwks), _) => verify_with_jwks_file(&text, &jwks, audience, now),
        (None, Some(config)) => verify_with_config(&text, &config, now).await?,
        (None, None) => bail!("give --jwks FILE or --config FILE"),
    };
    match result {
        Ok(claims) => {
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("rejected: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

type Verdict = Result<serde_json::Map<String, serde_json::Value>, String>;

fn verify_with_jwks_file(text: &str, jwks: &Path, audience: Option<String>, now: UnixTime) -> Verdict {
    let keys: KeySet = read_jwks_file(jwks, 1024 * 1024).map_err(|e| e.to_string())?;
    let token = RawToken::parse(text).map_err(|e| e.to_string())?;
    let unverified = verify::unverified_claims(&token).map_err(|e| e.to_string())?;
    let iss = unverified.get("iss").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let audiences = match audience {
        Some(audience) => vec![audience],
        None => verify::audience_values(&unverified),
    };
    let algorithms: Vec<_> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
        .iter()
        .filter_map(|name| known_alg(name))
        .collect();
    // Offline, no issuer config: the ceiling of an issuer without a profile.
    let rules = ClaimRules {
        issuer_name: "cli",
        iss: &iss,
        audiences: &audiences,
        leeway_secs: 60,
        max_lifetime_secs: 86_400,
        placeholder: None,
    };
    verify::verify_with_keys(&token, &keys, &algorithms, &rules, now)
        .map(|verified| verified.claims().clone())
        .map_err(|e| e.to_string())
}

async fn verify_with_config(text: &str, path: &Path, now: UnixTime) -> anyhow::Result<Verdict> {
    let config = Config::load(path, &process_env)?;
    let issuers = Arc::new(Issuers::new(config.issuers.clone(), config.jwks.clone(), now)?);
    let verifier = Verifier::new(issuers);
    let token = match RawToken::parse(text) {
        Ok(token) => token,
        Err(error) => return Ok(Err(error.to_string())),
    };
    Ok(verifier.verify(&token, now).await.map(|v| v.claims().clone()).map_err(|e| e.to_string()))
}

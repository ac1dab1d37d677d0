//! The `aws:` block of the config: the upstream STS endpoint, deadline and retries (`sts::StsConfig`).

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::sts::StsConfig;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    region: Option<String>,
    endpoint_url: Option<Spanned<String>>,
    timeout_seconds: Option<u32>,
    max_attempts: Option<u32>,
}

pub(super) fn sts_config(raw: &RawAws, env_endpoint: Option<String>) -> Result<StsConfig, (u64, &'static str, String)> {
    let defaults = StsConfig::default();
    let endpoint = match (env_endpoint, &raw.endpoint_url) {
        (Some(url), _) => Some((url, 0)),
        (None, Some(url)) => Some((url.value.clone(), url.referenced.line())),
        (None, None) => None,
    };
    let endpoint_url = match endpoint {
        None => None,
        Some((url, line)) => {
            let parsed = reqwest::Url::parse(&url).map_err(|e| (line, "aws.endpoint_url", e.to_string()))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err((line, "aws.endpoint_url", "must be an http(s) URL".into()));
            }
            Some(url)
        }
    };
    Ok(StsConfig {
        region: raw.region.clone().unwrap_or(defaults.region),
        endpoint_url,
        timeout_secs: raw.timeout_seconds.map_or(defaults.timeout_secs, |s| u64::from(s.clamp(1, 60))),
        max_attempts: raw.max_attempts.map_or(defaults.max_attempts, |a| a.clamp(1, 5)),
    })
}

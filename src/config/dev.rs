//! Dev mode's config on any port: the dev config (deploy/dev/tollgate.yaml) writes its embedded CI issuers'
//! URLs on the `listen:` it names. When `TOLLGATE_LISTEN` (or `TOLLGATE_ISSUER_URL`) moves Tollgate elsewhere,
//! those URLs follow: every `http://<written listen>` in the file becomes the base Tollgate really serves at
//! (`TOLLGATE_ISSUER_URL`, else `http://<TOLLGATE_LISTEN>`) before the file is read. Dev mode only: a production
//! config is read as written.

use std::path::Path;

use serde::Deserialize;

use super::{Config, ConfigError, ENV_ISSUER_URL, ENV_LISTEN};

/// The one key read before the rest.
#[derive(Deserialize)]
struct Written {
    listen: String,
}

impl Config {
    /// Reads a dev-mode config (see the module doc); the base its dev issuers' URLs were moved to, if they were.
    pub fn load_dev(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Config, Option<String>), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        let (text, moved) = moved_to_listener(&text, env);
        Ok((Config::parse(&text, path, env)?, moved))
    }
}

/// `text` with `http://<written listen>` replaced by the base Tollgate serves at, when that differs.
fn moved_to_listener(text: &str, env: &dyn Fn(&str) -> Option<String>) -> (String, Option<String>) {
    let Ok(written) = serde_saphyr::from_str::<Written>(text) else { return (text.to_owned(), None) };
    let from = format!("http://{}", written.listen);
    let to = env(ENV_ISSUER_URL)
        .map(|url| url.trim_end_matches('/').to_owned())
        .or_else(|| env(ENV_LISTEN).map(|listen| format!("http://{listen}")));
    match to {
        Some(to) if to != from => (text.replace(&from, &to), Some(to)),
        _ => (text.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "listen: 127.0.0.1:8080\nissuer_url: http://127.0.0.1:8080\ntrusted_issuers:\n  - issuer: http://127.0.0.1:8080/dev/issuer/github\n";

    #[test]
    fn dev_issuer_urls_follow_the_listener_or_the_issuer_url() {
        let env = |listen: Option<&'static str>, issuer: Option<&'static str>| {
            move |name: &str| match name {
                ENV_LISTEN => listen.map(str::to_owned),
                ENV_ISSUER_URL => issuer.map(str::to_owned),
                _ => None,
            }
        };
        let (text, moved) = moved_to_listener(DEV, &env(Some("127.0.0.1:8181"), None));
        assert_eq!(moved.as_deref(), Some("http://127.0.0.1:8181"));
        assert!(text.contains("issuer: http://127.0.0.1:8181/dev/issuer/github") && !text.contains(":8080/"), "{text}");
        assert!(text.contains("listen: 127.0.0.1:8080"), "the listen key itself is left to TOLLGATE_LISTEN");
        let (text, moved) = moved_to_listener(DEV, &env(Some("127.0.0.1:8181"), Some("https://tg.example/")));
        assert_eq!(moved.as_deref(), Some("https://tg.example"));
        assert!(text.contains("issuer: https://tg.example/dev/issuer/github"), "{text}");
        assert_eq!(moved_to_listener(DEV, &env(None, None)), (DEV.to_owned(), None));
        assert_eq!(moved_to_listener(DEV, &env(Some("127.0.0.1:8080"), None)).1, None, "same place: untouched");
    }
}

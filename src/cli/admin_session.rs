//! The session cache of `tollgate admin`: `session.json` in `$TOLLGATE_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/tollgate`, else `~/.config/tollgate`. The folder is made with mode 0700 and the file is
//! created with mode 0600 from the start (a new file renamed over the old one: never loosened, never chmod-ed
//! after the secret is in it). The session token is read from here and sent to the admin URL it was issued by,
//! and nowhere else: never to stdout, stderr or another URL.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tollgate::clock::{Clock, SystemClock, UnixTime};

/// The cache file's name inside the config folder.
pub const FILE_NAME: &str = "session.json";

/// A session as cached. No `Debug`: it holds the session token.
#[derive(Serialize, Deserialize)]
pub struct CachedSession {
    /// The admin API it belongs to (no trailing slash).
    pub url: String,
    pub session_token: String,
    /// RFC 3339.
    pub expires_at: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub scope: Vec<String>,
}

/// The config folder, from the environment.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("TOLLGATE_CONFIG_DIR") {
        return Ok(dir);
    }
    if let Some(dir) = var("XDG_CONFIG_HOME").filter(|dir| dir.is_absolute()) {
        return Ok(dir.join("tollgate"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".config").join("tollgate")),
        None => bail!("cannot tell where to keep the session: set TOLLGATE_CONFIG_DIR (or HOME)"),
    }
}

/// Writes the session to `dir/session.json` (mode 0600, in a 0700 folder); the file's path.
pub fn save(dir: &Path, session: &CachedSession) -> anyhow::Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!("warning: {} is readable by others (mode {:o}); consider chmod 700", dir.display(), mode(&meta));
    }
    let text = serde_json::to_vec_pretty(session).context("encoding the session")?;
    let path = dir.join(FILE_NAME);
    let temporary = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("writing {}", path.display()));
    }
    Ok(path)
}

/// The cached session, if any.
pub fn load(dir: &Path) -> anyhow::Result<Option<CachedSession>> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    if let Ok(meta) = std::fs::metadata(&path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} is readable by others (mode {:o}): its session may be stolen",
            path.display(),
            mode(&meta)
        );
    }
    let session = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a Tollgate session; remove it and sign in again", path.display()))?;
    Ok(Some(session))
}

/// Removes the cached session; whether there was one.
pub fn remove(dir: &Path) -> anyhow::Result<bool> {
    let path = dir.join(FILE_NAME);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| format!("removing {}", path.display())),
    }
}

/// An admin URL without its trailing slashes, so that two spellings of one URL compare equal.
pub fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// The admin URL and session token for a command: the cached session's, which must belong to `--url` when given
/// (a session token is never sent to another URL) and must not have expired.
pub fn current(url: Option<&str>) -> anyhow::Result<(String, String)> {
    let dir = config_dir()?;
    let cached = load(&dir)?;
    let session = match (url.map(normalize), cached) {
        (None, None) => bail!("not signed in: run `tollgate admin login --url ADMIN_URL`"),
        (Some(url), None) => bail!("not signed in to {url}: run `tollgate admin login --url {url}`"),
        (Some(url), Some(session)) if normalize(&session.url) != url => {
            bail!("the cached session is for {}, not {url}: run `tollgate admin login --url {url}`", session.url)
        }
        (_, Some(session)) => session,
    };
    if let Ok(expires_at) = UnixTime::parse_rfc3339(&session.expires_at)
        && expires_at.as_secs() <= SystemClock.now().as_secs()
    {
        bail!("the session expired at {}: run `tollgate admin login --url {}`", session.expires_at, session.url);
    }
    Ok((normalize(&session.url), session.session_token))
}

fn mode(meta: &std::fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o777
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> CachedSession {
        CachedSession {
            url: "http://127.0.0.1:8471".into(),
            session_token: "tgs_secret".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            id: "s1".into(),
            provider: "bao".into(),
            user: "alice@example.com".into(),
            scope: vec!["admin".into()],
        }
    }

    #[test]
    fn the_file_is_private_from_its_creation_and_replaced_whole() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nested").join("tollgate");
        let path = save(&dir, &session()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let mut second = session();
        second.session_token = "tgs_other".into();
        save(&dir, &second).unwrap();
        assert_eq!(load(&dir).unwrap().unwrap().session_token, "tgs_other");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left");
        assert!(remove(&dir).unwrap());
        assert!(!remove(&dir).unwrap());
        assert!(load(&dir).unwrap().is_none());
    }

    #[test]
    fn urls_compare_without_trailing_slashes() {
        assert_eq!(normalize("http://127.0.0.1:8471/ "), "http://127.0.0.1:8471");
    }
}

//! Where state lives (`state:` in config), as the store needs it: a SQLite path, or a PostgreSQL URL with its
//! pool bounds. The URL may carry a password: it is never shown (`Debug` and [`PostgresConfig::describe`] drop it).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Where state lives (config `state:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateConfig {
    /// One SQLite file (WAL, `synchronous=FULL`).
    Sqlite { path: PathBuf },
    /// One PostgreSQL database shared by every replica.
    Postgres(PostgresConfig),
}

/// A PostgreSQL store: connection settings parsed from the URL, and the pool's bounds.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    url: String,
    /// Connections held at most (also the most concurrent store calls).
    pub pool_size: usize,
    /// Opening one connection, and waiting for a free one in the pool.
    pub connect_timeout: Duration,
    /// The server cancels a statement running longer (`statement_timeout`); the client gives up a little later.
    pub statement_timeout: Duration,
}

impl PostgresConfig {
    /// Checks that `url` is a PostgreSQL connection string (`postgres://user:password@host:port/db?…` or
    /// `key=value` form). The error never repeats the URL.
    pub fn new(
        url: &str,
        pool_size: usize,
        connect_timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<Self, String> {
        let parsed = tokio_postgres::Config::from_str(url)
            .map_err(|e| format!("is not a PostgreSQL connection URL ({})", strip_url(&e.to_string())))?;
        if parsed.get_hosts().is_empty() {
            return Err("names no host".into());
        }
        if parsed.get_dbname().is_none() {
            return Err("names no database".into());
        }
        if pool_size == 0 {
            return Err("pool_size must be at least 1".into());
        }
        Ok(Self { url: url.to_owned(), pool_size, connect_timeout, statement_timeout })
    }

    /// The parsed connection settings, with our timeouts applied.
    pub(super) fn connection(&self) -> Result<tokio_postgres::Config, String> {
        let mut config = tokio_postgres::Config::from_str(&self.url).map_err(|e| strip_url(&e.to_string()))?;
        let millis = self.statement_timeout.as_millis();
        config.connect_timeout(self.connect_timeout);
        config.options(format!("-c statement_timeout={millis} -c lock_timeout={millis}"));
        config.application_name("tollgate");
        Ok(config)
    }

    /// `user@host:port/db`, never the password.
    pub fn describe(&self) -> String {
        let Ok(config) = tokio_postgres::Config::from_str(&self.url) else {
            return "an unparsable URL".into();
        };
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!("{}@{host}:{port}/{}", config.get_user().unwrap_or(""), config.get_dbname().unwrap_or(""))
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.describe())
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// Parser messages may quote the input; keep only their first clause, which names the problem.
fn strip_url(message: &str) -> String {
    message.split(':').next().unwrap_or("invalid").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_and_bad_urls_are_refused_without_echo() {
        let second = Duration::from_secs(1);
        let config = PostgresConfig::new("postgres://tollgate:s3cret@127.0.0.1:5433/state", 4, second, second);
        let config = config.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(config.describe(), "tollgate@127.0.0.1:5433/state");
        assert!(!format!("{config:?}").contains("s3cret"));
        let error = PostgresConfig::new("postgres://u:s3cret@[bad/x", 4, second, second).err().unwrap_or_default();
        assert!(!error.contains("s3cret"), "{error}");
        let no_db = PostgresConfig::new("host=127.0.0.1 user=u password=s3cret", 4, second, second);
        assert_eq!(no_db.err().as_deref(), Some("names no database"));
    }
}

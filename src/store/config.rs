//! Where state lives (`state:` in config), as the store needs it: a SQLite path, or a PostgreSQL URL with its
//! pool bounds and TLS. The URL may carry a password: it is never shown (`Debug` and
//! [`PostgresConfig::describe`] drop it).
//!
//! TLS to PostgreSQL is never downgraded silently: off loopback, `sslmode` unset or `prefer` means `require`
//! (the server's certificate is verified against `ca_file`, else the system's roots, and must name the host);
//! only an explicit `sslmode=disable` sends plaintext. On loopback or a unix socket, unset means plaintext.

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
    /// PEM roots that verify the server's certificate (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// Whether connections use TLS (decided from the URL's `sslmode` and the host).
    pub tls: bool,
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
        let tls = match parsed.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => false,
            tokio_postgres::config::SslMode::Require => true,
            // `prefer` (also the default) would fall back to plaintext when the server refuses TLS.
            _ => !local(&parsed),
        };
        Ok(Self { url: url.to_owned(), pool_size, connect_timeout, statement_timeout, ca_file: None, tls })
    }

    /// Verifies the server's certificate against these PEM roots instead of the system's.
    pub fn with_ca_file(mut self, ca_file: PathBuf) -> Self {
        self.ca_file = Some(ca_file);
        self
    }

    /// The parsed connection settings, with our timeouts applied.
    pub(super) fn connection(&self) -> Result<tokio_postgres::Config, String> {
        let mut config = tokio_postgres::Config::from_str(&self.url).map_err(|e| strip_url(&e.to_string()))?;
        let millis = self.statement_timeout.as_millis();
        config.connect_timeout(self.connect_timeout);
        config.options(format!("-c statement_timeout={millis} -c lock_timeout={millis}"));
        config.application_name("tollgate");
        config.ssl_mode(if self.tls {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
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
            .field("ca_file", &self.ca_file)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Every host is a loopback address, `localhost` or a unix socket.
fn local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        tokio_postgres::config::Host::Unix(_) => true,
    })
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

    #[test]
    fn tls_is_required_off_loopback_unless_disabled_explicitly() {
        let tls =
            |url: &str| PostgresConfig::new(url, 1, Duration::from_secs(1), Duration::from_secs(1)).map(|c| c.tls);
        assert_eq!(tls("postgres://u@db.example.com/state"), Ok(true), "unset means require off loopback");
        assert_eq!(tls("postgres://u@db.example.com/state?sslmode=prefer"), Ok(true), "prefer never downgrades");
        assert_eq!(tls("postgres://u@db.example.com/state?sslmode=disable"), Ok(false));
        assert_eq!(tls("postgres://u@127.0.0.1/state"), Ok(false), "loopback: plaintext unless asked");
        assert_eq!(tls("postgres://u@localhost/state?sslmode=require"), Ok(true));
        assert_eq!(tls("postgres://u@[::1]:5433/state"), Ok(false));
        assert_eq!(tls("host=127.0.0.1,db.example.com user=u dbname=state"), Ok(true), "every host must be local");
    }
}

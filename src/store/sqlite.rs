//! The embedded backend: one SQLite file, in WAL mode with `synchronous=FULL`, so a claim acknowledged to a
//! caller is on disk before the answer (NORMAL would be durable across a process crash but can lose the last
//! commits on power loss: a replay window). One connection per process, owned by one thread that commits
//! claims in groups (`writer.rs`); other processes on the same file are serialised by SQLite's own locks, waited
//! for up to `BUSY_TIMEOUT`. Migrations run in one `BEGIN IMMEDIATE` transaction, so two processes starting at once
//! cannot both apply them.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::migrations::require_current;
use super::migrations::{SQLITE as MIGRATIONS, latest};
use super::writer::Writer;
use super::{Claim, ClaimJob, JtiKey, Migrations, StoreError, revocation_from_row};
use crate::clock::UnixTime;
use crate::revocation::Revocation;

/// How long a call waits for another process's lock before it fails (and the caller fails closed).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct SqliteStore {
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating the file, not its folder) and migrates; blocks.
    pub(super) fn open(path: &Path, migrations: Migrations) -> Result<SqliteStore, StoreError> {
        let connection = open_and_migrate(path, migrations).map_err(|error| match error {
            StoreError::Unavailable(reason) => StoreError::Open { path: path.display().to_string(), reason },
            other => other,
        })?;
        Ok(SqliteStore { writer: Writer::start(connection)? })
    }

    pub(super) async fn claim_jti(&self, key: JtiKey<'_>, until: UnixTime, now: UnixTime) -> Result<Claim, StoreError> {
        self.writer.claim(ClaimJob::new(key, until, now)).await
    }

    pub(super) async fn extend_jti(&self, key: JtiKey<'_>, until: UnixTime) -> Result<(), StoreError> {
        let (issuer, jti, scope) = (key.issuer.to_owned(), key.jti.to_owned(), key.scope.to_owned());
        self.call(move |connection| {
            connection
                .prepare_cached("UPDATE used_jti_v1 SET expires_at = ?4 WHERE issuer = ?1 AND jti = ?2 AND scope = ?3")?
                .execute(params![issuer, jti, scope, until.as_secs()])
                .map(drop)
        })
        .await
    }

    pub(super) async fn release_jti(&self, key: JtiKey<'_>) -> Result<(), StoreError> {
        let (issuer, jti, scope) = (key.issuer.to_owned(), key.jti.to_owned(), key.scope.to_owned());
        self.call(move |connection| {
            connection
                .prepare_cached("DELETE FROM used_jti_v1 WHERE issuer = ?1 AND jti = ?2 AND scope = ?3")?
                .execute(params![issuer, jti, scope])
                .map(drop)
        })
        .await
    }

    pub(super) async fn add_revocation(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let r = revocation.clone();
        let target = r.target_json();
        self.call(move |connection| {
            connection
                .execute(
                    "INSERT INTO revocation_v1 (id, target, reason, author, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![r.id, target, r.reason, r.author, r.created_at.as_secs(), r.expires_at.as_secs()],
                )
                .map(drop)
        })
        .await
    }

    pub(super) async fn delete_revocation(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.call(move |connection| connection.execute("DELETE FROM revocation_v1 WHERE id = ?1", [id]).map(|n| n > 0))
            .await
    }

    pub(super) async fn list_revocations(&self, now: UnixTime, limit: u32) -> Result<Vec<Revocation>, StoreError> {
        type Row = (String, String, String, String, i64, i64);
        let rows: Vec<Row> = self
            .call(move |connection| {
                let mut statement = connection.prepare_cached(
                    "SELECT id, target, reason, author, created_at, expires_at FROM revocation_v1
                     WHERE expires_at > ?1 ORDER BY created_at, id LIMIT ?2",
                )?;
                let rows = statement.query_map(params![now.as_secs(), limit], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })?;
                rows.collect()
            })
            .await?;
        rows.into_iter()
            .map(|(id, target, reason, author, created, expires)| {
                revocation_from_row(id, &target, reason, author, created, expires)
            })
            .collect()
    }

    pub(super) async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64, StoreError> {
        self.call(move |connection| {
            let mut deleted = 0;
            for table in ["used_jti_v1", "revocation_v1", "record_v1"] {
                deleted += connection.execute(
                    &format!(
                        "DELETE FROM {table} WHERE rowid IN
                         (SELECT rowid FROM {table} WHERE expires_at <= ?1 LIMIT ?2)"
                    ),
                    params![now.as_secs(), batch],
                )?;
            }
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }

    pub(super) async fn check(&self) -> Result<u32, StoreError> {
        self.call(|connection| {
            connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0))
        })
        .await
    }

    /// Runs `work` on the connection's thread; any SQLite error means the store is unavailable.
    pub(super) async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.call(move |connection| work(connection)).await
    }
}

fn open_and_migrate(path: &Path, migrations: Migrations) -> Result<Connection, StoreError> {
    if migrations == Migrations::RequireCurrent {
        // Checked read-only first, so a store that does not exist is not created empty.
        require_current(schema_version(path)?)?;
    }
    create_private(path)?;
    let unavailable = |e: rusqlite::Error| StoreError::Unavailable(e.to_string());
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(unavailable)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!("journal_mode is {mode}, not wal")));
    }
    connection.execute_batch("PRAGMA synchronous = FULL;").map_err(unavailable)?;
    if migrations == Migrations::Apply {
        migrate(&mut connection)?;
    }
    Ok(connection)
}

/// Creates the database file readable by its owner only (0600), when it does not exist yet: it holds session and
/// credential digests, and with `signing.managed` the signing keys. SQLite gives its `-wal` and `-shm` files the
/// database file's permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Unavailable(error.to_string())),
    }
}

/// Whether the database file at `path` is readable by its owner only.
pub(super) fn is_private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 == 0)
}

/// The recorded schema version of the file at `path` (0 when it has no schema yet), opened read-only.
pub(super) fn schema_version(path: &Path) -> Result<u32, StoreError> {
    let open = |e: rusqlite::Error| StoreError::Open { path: path.display().to_string(), reason: e.to_string() };
    if !path.exists() {
        return Ok(0);
    }
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(open)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(open)?;
    let has_table: bool = connection
        .query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'schema_migrations'", [], |row| row.get(0))
        .map_err(open)?;
    if !has_table {
        return Ok(0);
    }
    connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0)).map_err(open)
}

/// Applies every migration newer than the recorded version, in one immediate (write-locked) transaction.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| StoreError::Migration(e.to_string());
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .map_err(failed)?;
    let current: u32 = transaction
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0))
        .map_err(failed)?;
    if current > latest() {
        return Err(StoreError::Migration(format!(
            "the store is at schema version {current}, newer than this build knows ({})",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        transaction.execute_batch(sql).map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, strftime('%s', 'now'))",
                [version],
            )
            .map_err(failed)?;
    }
    transaction.commit().map_err(failed)
}

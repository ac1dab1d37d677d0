//! The shared backend: one PostgreSQL database for every replica, through a bounded pool (deadpool-postgres on
//! tokio-postgres). A claim is an `INSERT … ON CONFLICT DO UPDATE … WHERE expired` statement: PostgreSQL's
//! unique index makes concurrent claims of one key, from any replica, wait for each other, and exactly one
//! inserts; a replica sends its claims in groups (`pg_claims.rs`). Every call is bounded: the pool's wait and create timeouts, the server's `statement_timeout`, and
//! an outer deadline. Migrations run in one transaction under an advisory lock, so replicas starting at once
//! apply them once. A recorded revocation is announced with `NOTIFY` in its transaction; `watch_revocations`
//! holds one extra connection in `LISTEN` and wakes the replica's refresh. Connections use TLS (rustls on
//! aws-lc-rs, the server's certificate verified against `ca_file` or the system's roots) whenever the config
//! decided so (`config.rs`).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::migrations::require_current;
use super::migrations::{POSTGRES as MIGRATIONS, latest};
use super::pg_claims::PgClaims;
pub(super) use super::pg_connect::{connector, schema_version};
use super::{Claim, ClaimJob, JtiKey, Migrations, PoolStatus, PostgresConfig, StoreError, revocation_from_row};
use crate::clock::UnixTime;
use crate::revocation::Revocation;

/// The advisory lock migrations hold ("tollgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x746f_6c6c_6761_7465;

/// The channel revocations are announced on (versioned like the tables).
const REVOCATION_CHANNEL: &str = "tollgate_revocations_v1";

/// How long the watcher waits before reconnecting after its connection failed.
const WATCH_RETRY: Duration = Duration::from_secs(1);

pub(super) struct PgStore {
    pool: Pool,
    /// Claims, committed in groups (`pg_claims.rs`).
    claims: PgClaims,
    connection: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    /// The outer bound on any one call: acquiring, then running.
    deadline: Duration,
}

pub(super) fn unavailable(error: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(chain(&error))
}

/// An error and its causes, `outer: inner: …` (TLS and pool errors name the real cause only in their sources).
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl PgStore {
    /// Builds the pool and migrates, or checks the schema is current (the first connection proves the
    /// database answers).
    pub(super) async fn open(config: &PostgresConfig, migrations: Migrations) -> Result<PgStore, StoreError> {
        let open = |reason: String| StoreError::Open { path: config.describe(), reason };
        let connection = config.connection().map_err(open)?;
        let tls = connector(config).map_err(open)?;
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = Manager::from_config(connection.clone(), tls.clone(), recycling);
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| open(e.to_string()))?;
        let deadline = config.connect_timeout + config.statement_timeout + Duration::from_secs(1);
        let claims = PgClaims::start(pool.clone(), deadline);
        let store = PgStore { pool, claims, connection, tls, deadline };
        let ready = match migrations {
            Migrations::Apply => store.migrate().await,
            Migrations::RequireCurrent => match store.check().await {
                Ok(current) => require_current(current),
                Err(error) => Err(error),
            },
        };
        ready.map_err(|error| match error {
            StoreError::Unavailable(reason) => open(reason),
            other => other,
        })?;
        Ok(store)
    }

    pub(super) fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus { max: status.max_size, open: status.size, in_use: status.size.saturating_sub(status.available) }
    }

    pub(super) async fn claim_jti(&self, key: JtiKey<'_>, until: UnixTime, now: UnixTime) -> Result<Claim, StoreError> {
        self.claims.claim(ClaimJob::new(key, until, now)).await
    }

    pub(super) async fn extend_jti(&self, key: JtiKey<'_>, until: UnixTime) -> Result<(), StoreError> {
        self.execute(
            "UPDATE used_jti_v1 SET expires_at = $4 WHERE issuer = $1 AND jti = $2 AND scope = $3",
            &[&key.issuer, &key.jti, &key.scope, &until.as_secs()],
        )
        .await
        .map(drop)
    }

    pub(super) async fn release_jti(&self, key: JtiKey<'_>) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM used_jti_v1 WHERE issuer = $1 AND jti = $2 AND scope = $3",
            &[&key.issuer, &key.jti, &key.scope],
        )
        .await
        .map(drop)
    }

    pub(super) async fn add_revocation(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let target = revocation.target_json();
        self.bounded(async {
            let mut client = self.pool.get().await.map_err(unavailable)?;
            let transaction = client.transaction().await.map_err(unavailable)?;
            transaction
                .execute(
                    "INSERT INTO revocation_v1 (id, target, reason, author, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &revocation.id,
                        &target,
                        &revocation.reason,
                        &revocation.author,
                        &revocation.created_at.as_secs(),
                        &revocation.expires_at.as_secs(),
                    ],
                )
                .await
                .map_err(unavailable)?;
            // Delivered to every listener when (and only if) the transaction commits.
            transaction
                .execute("SELECT pg_notify($1, $2)", &[&REVOCATION_CHANNEL, &revocation.id])
                .await
                .map_err(unavailable)?;
            transaction.commit().await.map_err(unavailable)
        })
        .await
    }

    pub(super) async fn delete_revocation(&self, id: &str) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut client = self.pool.get().await.map_err(unavailable)?;
            let transaction = client.transaction().await.map_err(unavailable)?;
            let deleted =
                transaction.execute("DELETE FROM revocation_v1 WHERE id = $1", &[&id]).await.map_err(unavailable)?;
            transaction.execute("SELECT pg_notify($1, $2)", &[&REVOCATION_CHANNEL, &id]).await.map_err(unavailable)?;
            transaction.commit().await.map_err(unavailable)?;
            Ok(deleted > 0)
        })
        .await
    }

    pub(super) async fn list_revocations(&self, now: UnixTime, limit: u32) -> Result<Vec<Revocation>, StoreError> {
        let rows = self
            .bounded(async {
                let client = self.pool.get().await.map_err(unavailable)?;
                client
                    .query(
                        "SELECT id, target, reason, author, created_at, expires_at FROM revocation_v1
                         WHERE expires_at > $1 ORDER BY created_at, id LIMIT $2",
                        &[&now.as_secs(), &i64::from(limit)],
                    )
                    .await
                    .map_err(unavailable)
            })
            .await?;
        rows.into_iter()
            .map(|row| {
                let get = |index| row.try_get::<_, String>(index).map_err(unavailable);
                let time = |index| row.try_get::<_, i64>(index).map_err(unavailable);
                revocation_from_row(get(0)?, &get(1)?, get(2)?, get(3)?, time(4)?, time(5)?)
            })
            .collect()
    }

    pub(super) async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for table in ["used_jti_v1", "revocation_v1", "record_v1"] {
            // Rows a claim holds are skipped (never waited for): the purge cannot deadlock with a claim group.
            let sql = format!(
                "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
            );
            deleted += self.execute(&sql, &[&now.as_secs(), &i64::from(batch)]).await?;
        }
        Ok(deleted)
    }

    pub(super) async fn check(&self) -> Result<u32, StoreError> {
        let version: i32 = self
            .bounded(async {
                let client = self.pool.get().await.map_err(unavailable)?;
                let row = client
                    .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
                    .await
                    .map_err(unavailable)?;
                row.try_get(0).map_err(unavailable)
            })
            .await?;
        Ok(u32::try_from(version).unwrap_or(0))
    }

    /// Runs until dropped: one connection in `LISTEN`, each notification waking `changed`; after a failure it
    /// reconnects (and wakes `changed`, since notifications sent meanwhile were lost).
    pub(super) async fn watch_revocations(&self, changed: Arc<Notify>) {
        loop {
            match self.listen_once(&changed).await {
                Ok(()) => tracing::warn!("The revocation listener's connection closed; reconnecting."),
                Err(error) => tracing::warn!(error = %error, "The revocation listener failed; reconnecting."),
            }
            tokio::time::sleep(WATCH_RETRY).await;
        }
    }

    async fn listen_once(&self, changed: &Notify) -> Result<(), tokio_postgres::Error> {
        let (client, mut connection) = self.connection.connect(self.tls.clone()).await?;
        let (sender, mut messages) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = stream.next().await {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let listening = client.batch_execute(&format!("LISTEN {REVOCATION_CHANNEL}")).await;
        if let Err(error) = listening {
            driver.abort();
            return Err(error);
        }
        changed.notify_one();
        while let Some(message) = messages.recv().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => changed.notify_one(),
                Ok(_) => {}
                Err(error) => {
                    driver.abort();
                    return Err(error);
                }
            }
        }
        driver.abort();
        Ok(())
    }

    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.bounded(async {
            let client = self.pool.get().await.map_err(unavailable)?;
            let statement = client.prepare_cached(sql).await.map_err(unavailable)?;
            client.query(&statement, params).await.map_err(unavailable)
        })
        .await
    }

    /// `execute`, with a unique-key violation told apart (`StoreError::Duplicate`).
    pub(super) async fn execute_unique(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.run(sql, params, |error| {
            if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                StoreError::Duplicate("name or id")
            } else {
                unavailable(error)
            }
        })
        .await
    }

    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.run(sql, params, unavailable).await
    }

    /// One prepared statement on a pooled connection, bounded; `failed` names a statement error.
    async fn run(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        failed: impl FnOnce(tokio_postgres::Error) -> StoreError,
    ) -> Result<u64, StoreError> {
        self.bounded(async {
            let client = self.pool.get().await.map_err(unavailable)?;
            let statement = client.prepare_cached(sql).await.map_err(unavailable)?;
            client.execute(&statement, params).await.map_err(failed)
        })
        .await
    }

    /// The outer deadline on one call (pool wait + statement), should the server not answer at all.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        tokio::time::timeout(self.deadline, work)
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer within {} ms", self.deadline.as_millis())))?
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let failed = |e: tokio_postgres::Error| StoreError::Migration(chain(&e));
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let transaction = client.transaction().await.map_err(failed)?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(failed)?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await
            .map_err(failed)?;
        let row = transaction
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            .await
            .map_err(failed)?;
        let current = u32::try_from(row.try_get::<_, i32>(0).map_err(failed)?).unwrap_or(0);
        if current > latest() {
            return Err(StoreError::Migration(format!(
                "the store is at schema version {current}, newer than this build knows ({})",
                latest()
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
            transaction.batch_execute(sql).await.map_err(failed)?;
            let version = i32::try_from(*version).unwrap_or(i32::MAX);
            transaction
                .execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
                    &[&version],
                )
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)
    }
}

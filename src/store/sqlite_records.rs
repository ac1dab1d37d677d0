//! The embedded backend's operator records (`records.rs`): one table, `record_v1`, keyed by (kind, id) with a
//! unique (kind, lookup) index.

use rusqlite::{OptionalExtension, params};

use super::StoreError;
use super::records::{Record, RecordKind};
use super::sqlite::SqliteStore;
use crate::clock::UnixTime;

type Row = (String, String, String, i64, i64);

fn record((id, lookup, body, created_at, expires_at): Row) -> Record {
    Record {
        id,
        lookup,
        body,
        created_at: UnixTime::from_secs(created_at),
        expires_at: UnixTime::from_secs(expires_at),
    }
}

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

impl SqliteStore {
    pub(super) async fn add_record(&self, kind: RecordKind, record: &Record) -> Result<(), StoreError> {
        let r = record.clone();
        let inserted = self
            .call(move |connection| {
                let inserted = connection
                    .prepare_cached(
                        "INSERT INTO record_v1 (kind, id, lookup, body, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![kind.as_str(), r.id, r.lookup, r.body, r.created_at.as_secs(), r.expires_at.as_secs()]);
                match inserted {
                    Err(rusqlite::Error::SqliteFailure(error, _))
                        if error.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        Ok(false)
                    }
                    other => other.map(|_| true),
                }
            })
            .await?;
        if inserted { Ok(()) } else { Err(StoreError::Duplicate("name or id")) }
    }

    pub(super) async fn record_by_lookup(
        &self,
        kind: RecordKind,
        lookup: &str,
        now: UnixTime,
    ) -> Result<Option<Record>, StoreError> {
        let lookup = lookup.to_owned();
        let found = self
            .call(move |connection| {
                connection
                    .prepare_cached(
                        "SELECT id, lookup, body, created_at, expires_at FROM record_v1
                         WHERE kind = ?1 AND lookup = ?2 AND expires_at > ?3",
                    )?
                    .query_row(params![kind.as_str(), lookup, now.as_secs()], row)
                    .optional()
            })
            .await?;
        Ok(found.map(record))
    }

    pub(super) async fn list_records(
        &self,
        kind: RecordKind,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<Row> = self
            .call(move |connection| {
                let mut statement = connection.prepare_cached(
                    "SELECT id, lookup, body, created_at, expires_at FROM record_v1
                     WHERE kind = ?1 AND expires_at > ?2 ORDER BY created_at DESC, id LIMIT ?3",
                )?;
                let rows = statement.query_map(params![kind.as_str(), now.as_secs(), limit], row)?;
                rows.collect()
            })
            .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    pub(super) async fn replace_record(
        &self,
        kind: RecordKind,
        id: &str,
        lookup: &str,
        body: &str,
    ) -> Result<bool, StoreError> {
        let (id, lookup, body) = (id.to_owned(), lookup.to_owned(), body.to_owned());
        self.call(move |connection| {
            connection
                .prepare_cached("UPDATE record_v1 SET lookup = ?3, body = ?4 WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind.as_str(), id, lookup, body])
                .map(|changed| changed > 0)
        })
        .await
    }

    pub(super) async fn set_record_expiry(
        &self,
        kind: RecordKind,
        id: &str,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.call(move |connection| {
            connection
                .prepare_cached("UPDATE record_v1 SET expires_at = ?3 WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind.as_str(), id, expires_at.as_secs()])
                .map(|changed| changed > 0)
        })
        .await
    }

    pub(super) async fn delete_record(&self, kind: RecordKind, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.call(move |connection| {
            connection
                .prepare_cached("DELETE FROM record_v1 WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind.as_str(), id])
                .map(|changed| changed > 0)
        })
        .await
    }
}

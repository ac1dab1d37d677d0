//! The shared backend's operator records (`records.rs`): one table, `record_v1`, keyed by (kind, id) with a
//! unique (kind, lookup) index. Every replica reads them straight from the database, so a deleted record is
//! gone everywhere at once.

use super::StoreError;
use super::postgres::{PgStore, unavailable};
use super::records::{Record, RecordKind};
use crate::clock::UnixTime;

fn record(row: &tokio_postgres::Row) -> Result<Record, StoreError> {
    let text = |index| row.try_get::<_, String>(index).map_err(unavailable);
    let time = |index| row.try_get::<_, i64>(index).map_err(unavailable).map(UnixTime::from_secs);
    Ok(Record { id: text(0)?, lookup: text(1)?, body: text(2)?, created_at: time(3)?, expires_at: time(4)? })
}

impl PgStore {
    pub(super) async fn add_record(&self, kind: RecordKind, record: &Record) -> Result<(), StoreError> {
        self.execute_unique(
            "INSERT INTO record_v1 (kind, id, lookup, body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &kind.as_str(),
                &record.id,
                &record.lookup,
                &record.body,
                &record.created_at.as_secs(),
                &record.expires_at.as_secs(),
            ],
        )
        .await
        .map(drop)
    }

    pub(super) async fn record_by_lookup(
        &self,
        kind: RecordKind,
        lookup: &str,
        now: UnixTime,
    ) -> Result<Option<Record>, StoreError> {
        let rows = self
            .query(
                "SELECT id, lookup, body, created_at, expires_at FROM record_v1
                 WHERE kind = $1 AND lookup = $2 AND expires_at > $3",
                &[&kind.as_str(), &lookup, &now.as_secs()],
            )
            .await?;
        rows.first().map(record).transpose()
    }

    pub(super) async fn list_records(
        &self,
        kind: RecordKind,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError> {
        let rows = self
            .query(
                "SELECT id, lookup, body, created_at, expires_at FROM record_v1
                 WHERE kind = $1 AND expires_at > $2 ORDER BY created_at DESC, id LIMIT $3",
                &[&kind.as_str(), &now.as_secs(), &i64::from(limit)],
            )
            .await?;
        rows.iter().map(record).collect()
    }

    pub(super) async fn replace_record(
        &self,
        kind: RecordKind,
        id: &str,
        lookup: &str,
        body: &str,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE record_v1 SET lookup = $3, body = $4 WHERE kind = $1 AND id = $2";
        Ok(self.execute(sql, &[&kind.as_str(), &id, &lookup, &body]).await? > 0)
    }

    pub(super) async fn set_record_expiry(
        &self,
        kind: RecordKind,
        id: &str,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE record_v1 SET expires_at = $3 WHERE kind = $1 AND id = $2";
        Ok(self.execute(sql, &[&kind.as_str(), &id, &expires_at.as_secs()]).await? > 0)
    }

    pub(super) async fn delete_record(&self, kind: RecordKind, id: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM record_v1 WHERE kind = $1 AND id = $2", &[&kind.as_str(), &id]).await? > 0)
    }
}

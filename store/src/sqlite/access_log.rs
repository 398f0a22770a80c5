//! The access log on SQLite: a batch is one transaction of single-row inserts (one writer, no
//! arrays); `at` is stored as [`timestamp_text`].

use super::SqliteStore;
use crate::access_log::{AccessRecord, COLUMNS, Row, record};
use crate::error::StoreError;
use crate::model::timestamp_text;
use chrono::{DateTime, Utc};

impl SqliteStore {
    pub(crate) async fn write_access_log(&self, records: &[AccessRecord]) -> Result<(), StoreError> {
        let mut tx = super::begin_write(self.writer()).await?;
        for r in records {
            sqlx::query(
                "insert into access_log (at, request_id, issuer, subject, client_ip, method, path, operation, \
                 status, duration_ms, error_codes) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(timestamp_text(r.at))
            .bind(&r.request_id)
            .bind(&r.issuer)
            .bind(&r.subject)
            .bind(&r.client_ip)
            .bind(&r.method)
            .bind(&r.path)
            .bind(&r.operation)
            .bind(i32::from(r.status))
            .bind(r.duration_ms)
            .bind(&r.error_codes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn purge_access_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from access_log where at < $1")
            .bind(timestamp_text(before))
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn read_access_log(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, AccessRecord)>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from access_log where ($1 is null or at >= $1) and ($2 is null or at < $2) \
             and id > $3 order by id limit $4"
        );
        let rows: Vec<Row<String>> = sqlx::query_as(&sql)
            .bind(from.map(timestamp_text))
            .bind(to.map(timestamp_text))
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
        rows.into_iter()
            .map(|row| {
                let at = DateTime::parse_from_rfc3339(&row.1).map_err(StoreError::unexpected)?.to_utc();
                record(row, at)
            })
            .collect()
    }
}

//! The access log on PostgreSQL: a batch is one `insert … select * from unnest(…)`.

use super::PgStore;
use crate::access_log::{AccessRecord, COLUMNS, Row, record};
use crate::error::StoreError;
use chrono::{DateTime, Utc};

impl PgStore {
    pub(crate) async fn write_access_log(&self, records: &[AccessRecord]) -> Result<(), StoreError> {
        let column = |f: fn(&AccessRecord) -> Option<String>| records.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "insert into access_log (at, request_id, issuer, subject, client_ip, method, path, operation, \
             status, duration_ms, error_codes) \
             select * from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::int[], $10::float8[], $11::text[])",
        )
        .bind(records.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.request_id.clone()).collect::<Vec<_>>())
        .bind(column(|r| r.issuer.clone()))
        .bind(column(|r| r.subject.clone()))
        .bind(column(|r| r.client_ip.clone()))
        .bind(records.iter().map(|r| r.method.clone()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.path.clone()).collect::<Vec<_>>())
        .bind(column(|r| r.operation.clone()))
        .bind(records.iter().map(|r| i32::from(r.status)).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.duration_ms).collect::<Vec<_>>())
        .bind(column(|r| r.error_codes.clone()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn purge_access_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from access_log where at < $1").bind(before).execute(self.pool()).await?;
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
            "select {COLUMNS} from access_log where ($1::timestamptz is null or at >= $1) \
             and ($2::timestamptz is null or at < $2) and id > $3 order by id limit $4"
        );
        let rows: Vec<Row<DateTime<Utc>>> =
            sqlx::query_as(&sql).bind(from).bind(to).bind(after_id).bind(limit).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|row| {
                let at = row.1;
                record(row, at)
            })
            .collect()
    }
}

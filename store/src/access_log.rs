//! The access log: who called the API, when, for which operation, with what outcome (DESIGN §1,
//! "auditors reconstruct who did what"; the event log already says who *changed* what, this says
//! who *read*). One row per HTTP request, written in batches by the server.
//!
//! It holds personal data — the caller's subject and address — so it is not kept forever:
//! [`purge_access_log`] deletes what is older than the configured retention (the CNIL recommends
//! six months to a year for access logs), and the server runs it periodically. Unlike the event
//! log, rows here are deleted: no hash chain covers them. An erasure replaces the erased person's
//! provider subjects by their opaque person id ([`pseudonymise`]).

use crate::integrity::timestamp_text;
use crate::{AnyStore, StoreError};
use chrono::{DateTime, Utc};

/// One request, as the server saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessRecord {
    pub at: DateTime<Utc>,
    pub request_id: String,
    /// The caller's token issuer and subject; `None` without a (valid) token.
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub client_ip: Option<String>,
    pub method: String,
    pub path: String,
    /// The GraphQL operation's name, or its root fields when it has none.
    pub operation: Option<String>,
    /// The HTTP status the client saw.
    pub status: u16,
    pub duration_ms: f64,
    /// The distinct `extensions.code` of the answer's errors, comma-separated in order
    /// (`FORBIDDEN`); `None` when it had none. A GraphQL answer is often 200 with errors.
    pub error_codes: Option<String>,
}

/// Writes `records` in one statement per backend round trip.
pub async fn write_access_log(store: &AnyStore, records: &[AccessRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    match store {
        AnyStore::Postgres(s) => {
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
            .execute(s.pool())
            .await?;
        }
        AnyStore::Sqlite(s) => {
            let mut tx = s.writer().begin().await?;
            for r in records {
                sqlx::query(
                    "insert into access_log (at, request_id, issuer, subject, client_ip, method, path, operation, \
                     status, duration_ms, error_codes) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        }
    }
    Ok(())
}

/// After an erasure: the records of the erased person's `identities` (`(issuer, subject)` of
/// their provider tokens) keep their issuer but name the person by `person` (their opaque id)
/// instead of the provider's subject, which is personal data and erased with them. Who read
/// what stays on record; who that was, no longer. Returns how many records changed.
pub async fn pseudonymise(store: &AnyStore, identities: &[(String, String)], person: &str) -> Result<u64, StoreError> {
    let mut changed = 0;
    for (issuer, subject) in identities {
        let sql = "update access_log set subject = $1 where issuer = $2 and subject = $3";
        changed += match store {
            AnyStore::Postgres(s) => {
                sqlx::query(sql).bind(person).bind(issuer).bind(subject).execute(s.pool()).await?.rows_affected()
            }
            AnyStore::Sqlite(s) => {
                sqlx::query(sql).bind(person).bind(issuer).bind(subject).execute(s.writer()).await?.rows_affected()
            }
        };
    }
    Ok(changed)
}

/// Deletes the records older than `before`; returns how many went.
pub async fn purge_access_log(store: &AnyStore, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let deleted = match store {
        AnyStore::Postgres(s) => {
            sqlx::query("delete from access_log where at < $1").bind(before).execute(s.pool()).await?.rows_affected()
        }
        AnyStore::Sqlite(s) => sqlx::query("delete from access_log where at < ?")
            .bind(timestamp_text(before))
            .execute(s.writer())
            .await?
            .rows_affected(),
    };
    Ok(deleted)
}

/// The records of `[from, to)`, oldest first, at most `limit`, after record `after_id`
/// (keyset: the id of the last record of the previous page), with their ids.
pub async fn read_access_log(
    store: &AnyStore,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<(i64, AccessRecord)>, StoreError> {
    type Row<At> = (
        i64,
        At,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<String>,
        i32,
        f64,
        Option<String>,
    );
    fn record<At>(row: Row<At>, at: DateTime<Utc>) -> Result<(i64, AccessRecord), StoreError> {
        let (id, _, request_id, issuer, subject, client_ip, method, path, operation, status, duration_ms, error_codes) =
            row;
        let status = u16::try_from(status).map_err(StoreError::unexpected)?;
        let record = AccessRecord {
            at,
            request_id,
            issuer,
            subject,
            client_ip,
            method,
            path,
            operation,
            status,
            duration_ms,
            error_codes,
        };
        Ok((id, record))
    }
    const COLUMNS: &str =
        "id, at, request_id, issuer, subject, client_ip, method, path, operation, status, duration_ms, error_codes";
    match store {
        AnyStore::Postgres(s) => {
            let sql = format!(
                "select {COLUMNS} from access_log where ($1::timestamptz is null or at >= $1) \
                 and ($2::timestamptz is null or at < $2) and id > $3 order by id limit $4"
            );
            let rows: Vec<Row<DateTime<Utc>>> = sqlx::query_as(&sql)
                .bind(from)
                .bind(to)
                .bind(after_id.unwrap_or(0))
                .bind(i64::from(limit))
                .fetch_all(s.pool())
                .await?;
            rows.into_iter()
                .map(|row| {
                    let at = row.1;
                    record(row, at)
                })
                .collect()
        }
        AnyStore::Sqlite(s) => {
            let sql = format!(
                "select {COLUMNS} from access_log where (?1 is null or at >= ?1) and (?2 is null or at < ?2) \
                 and id > ?3 order by id limit ?4"
            );
            let rows: Vec<Row<String>> = sqlx::query_as(&sql)
                .bind(from.map(timestamp_text))
                .bind(to.map(timestamp_text))
                .bind(after_id.unwrap_or(0))
                .bind(i64::from(limit))
                .fetch_all(s.writer())
                .await?;
            rows.into_iter()
                .map(|row| {
                    let at = DateTime::parse_from_rfc3339(&row.1).map_err(StoreError::unexpected)?.to_utc();
                    record(row, at)
                })
                .collect()
        }
    }
}

//! The access log: who called the API, when, for which operation, with what outcome (DESIGN §1,
//! "auditors reconstruct who did what"; the event log already says who *changed* what, this says
//! who *read*). One row per HTTP request, written in batches by the server.
//!
//! It holds personal data — the caller's subject and address — so it is not kept forever:
//! [`purge_access_log`] deletes what is older than the configured retention (the CNIL recommends
//! six months to a year for access logs), and the server runs it periodically. Unlike the event
//! log, rows here are deleted: no hash chain covers them. An erasure replaces the erased person's
//! provider subjects by their opaque person id ([`pseudonymise`]).

use crate::any::{on_backend, on_pool};
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
    on_backend!(store, s => s.write_access_log(records).await)
}

/// After an erasure: the records of the erased person's `identities` (`(issuer, subject)` of
/// their provider tokens) keep their issuer but name the person by `person` (their opaque id)
/// instead of the provider's subject, which is personal data and erased with them. Who read
/// what stays on record; who that was, no longer. Returns how many records changed.
pub async fn pseudonymise(store: &AnyStore, identities: &[(String, String)], person: &str) -> Result<u64, StoreError> {
    let mut changed = 0;
    for (issuer, subject) in identities {
        let sql = "update access_log set subject = $1 where issuer = $2 and subject = $3";
        changed += on_pool!(store, writer pool => {
            sqlx::query(sql).bind(person).bind(issuer).bind(subject).execute(pool).await?.rows_affected()
        });
    }
    Ok(changed)
}

/// Deletes the records older than `before`; returns how many went.
pub async fn purge_access_log(store: &AnyStore, before: DateTime<Utc>) -> Result<u64, StoreError> {
    on_backend!(store, s => s.purge_access_log(before).await)
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
    on_backend!(store, s => s.read_access_log(from, to, after_id.unwrap_or(0), i64::from(limit)).await)
}

/// The columns every backend writes and reads, in [`Row`]'s order.
pub(crate) const COLUMNS: &str =
    "id, at, request_id, issuer, subject, client_ip, method, path, operation, status, duration_ms, error_codes";

/// A row of [`COLUMNS`], `At` being the backend's type of `at`.
pub(crate) type Row<At> = (
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

/// A row read back, its `at` already decoded by the backend.
pub(crate) fn record<At>(row: Row<At>, at: DateTime<Utc>) -> Result<(i64, AccessRecord), StoreError> {
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

//! The statements both backends run as written (`$n` placeholders, standard SQL), each written
//! once: [`event_reads!`] expands them inside each backend's `impl EventStore`, where
//! `decode_row` and the pool are the backend's own. What differs stays in `postgres/` and
//! `sqlite/`, with each backend's `VISIBLE`, the condition a catch-up read adds (PostgreSQL's
//! horizon; none on SQLite's single writer).

/// `read_stream`, `stream_version` and `read_all` for a backend whose reading pool is
/// `self.$pool`, whose row decoder is `decode_row` in scope, and whose `read_all` adds the
/// backend's `VISIBLE` condition.
macro_rules! event_reads {
    ($pool:ident) => {
        async fn read_stream(
            &self,
            stream: &StreamId,
            from_version: u64,
            to_version: Option<u64>,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            let sql = format!(
                "select {EVENT_COLUMNS} from events \
                 where stream_id = $1 and stream_version >= $2 and stream_version <= $3 order by stream_version"
            );
            let rows = sqlx::query(&sql)
                .bind(stream.as_str())
                .bind(from_version as i64)
                .bind(to_version.map_or(i64::MAX, |v| v as i64))
                .fetch_all(&self.$pool)
                .await?;
            rows.iter().map(decode_row).collect()
        }

        async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
            let v: i64 = sqlx::query_scalar("select coalesce(max(stream_version), 0) from events where stream_id = $1")
                .bind(stream.as_str())
                .fetch_one(&self.$pool)
                .await?;
            Ok(v as u64)
        }

        async fn read_all(&self, after: Checkpoint, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
            let sql = format!(
                "select {EVENT_COLUMNS} from events where (transaction_id, global_position) > ($1, $2) {} \
                 order by transaction_id, global_position limit {limit}",
                VISIBLE
            );
            // the limit written in (Carnet's own integer): a generic plan sees it
            // (`PgStore::connect_options`, "Generic plans")
            let rows =
                sqlx::query(&sql).bind(after.transaction_id).bind(after.global_position).fetch_all(&self.$pool).await?;
            rows.iter().map(decode_row).collect()
        }
    };
}

pub(crate) use event_reads;

//! The log with its hashes (`carnet export`), for auditors who re-verify it without Carnet
//! (DESIGN §3.3; the recipe is in `carnet_store::integrity`, the third party's script in
//! `tools/verify_export.py`).
//!
//! One line per event, in the log's reading order, with every field the event's hash covers in
//! the exact text the hash covers: the payload and the metadata as the database renders them
//! (JSON text, kept as a string: re-serializing it would change the bytes), `recorded_at` to the
//! microsecond, the hashes in lowercase hex. JSON Lines, or CSV (RFC 4180) with a header.
//!
//! The period (`--from`, `--to`, both included) is on `recorded_at`, the store's time: a date is
//! a whole UTC day. Events are read like the auditors' feed (`carnet_store::feed`), so a period
//! that ends now is exported up to the moment the export started, and an event whose
//! transaction was still open then is included when it commits within the period, never
//! skipped. An export of part of the log starts each stream's chain where the period starts:
//! the first line of such a stream is checked against its own hash, and linked from there on.

use anyhow::Context;
use carnet_store::AnyStore;
use carnet_store::feed::{Feed, FeedFilter};
use carnet_store::integrity::{HashedEvent, to_hex};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use std::io::Write;

/// Events read per query.
const BATCH: usize = 2_000;

/// The format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object a line.
    Jsonl,
    /// RFC 4180, with a header.
    Csv,
}

impl Format {
    /// Every format, by its name on the command line.
    pub const ALL: [(&'static str, Format); 2] = [("jsonl", Format::Jsonl), ("csv", Format::Csv)];
}

/// One exported event: the columns of the `events` table the hash covers, in their canonical
/// text, plus `transaction_id` (the reading order; not hashed).
#[derive(Serialize)]
struct Line<'a> {
    global_position: i64,
    transaction_id: i64,
    stream_id: &'a str,
    stream_version: u64,
    event_id: &'a str,
    event_type: &'a str,
    schema_version: i32,
    recorded_at: &'a str,
    payload: &'a str,
    metadata: &'a str,
    /// Lowercase hex; `null` (an empty CSV field) only in a database someone altered.
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl<'a> From<&'a HashedEvent> for Line<'a> {
    fn from(e: &'a HashedEvent) -> Self {
        Self {
            global_position: e.global_position,
            transaction_id: e.transaction_id,
            stream_id: &e.stream_id,
            stream_version: e.stream_version,
            event_id: &e.event_id,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            recorded_at: &e.recorded_at,
            payload: &e.payload,
            metadata: &e.metadata,
            prev_hash: e.prev_hash.map(|h| to_hex(&h)),
            hash: e.hash.map(|h| to_hex(&h)),
        }
    }
}

/// Where lines go, in either format.
enum Sink<W: Write> {
    Jsonl(W),
    // boxed: a CSV writer carries its buffer inline
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    fn new(format: Format, out: W) -> Self {
        match format {
            Format::Jsonl => Self::Jsonl(out),
            Format::Csv => Self::Csv(Box::new(csv::Writer::from_writer(out))),
        }
    }

    fn write(&mut self, line: &Line<'_>) -> anyhow::Result<()> {
        match self {
            Self::Jsonl(out) => {
                serde_json::to_writer(&mut *out, line)?;
                out.write_all(b"\n")?;
            }
            Self::Csv(out) => out.serialize(line)?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Jsonl(mut out) => out.flush()?,
            Self::Csv(mut out) => out.flush()?,
        }
        Ok(())
    }
}

/// A period of recording time, both bounds included; `None`: open on that side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The period `--from`/`--to` name: dates are whole UTC days, date-times are taken as given.
pub fn period(from: Option<&str>, to: Option<&str>) -> anyhow::Result<Period> {
    let parse = |text: &str, end_of_day: bool| -> anyhow::Result<DateTime<Utc>> {
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let time = if end_of_day {
                NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap_or(NaiveTime::MIN)
            } else {
                NaiveTime::MIN
            };
            return Ok(day.and_time(time).and_utc());
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("{text:?} is neither a date (2026-06-30) nor a date-time (2026-06-30T12:00:00Z)"))
    };
    let from = from.map(|t| parse(t, false)).transpose()?;
    let to = to.map(|t| parse(t, true)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        anyhow::ensure!(from <= to, "--from ({from}) is after --to ({to})");
    }
    Ok(Period { from, to })
}

/// Writes the events of `filter` (a period) to `out` in `format`, in reading order; calls
/// `progress` with the count written after each batch. Returns how many were written.
pub async fn write_log(
    store: &AnyStore,
    filter: &FeedFilter,
    format: Format,
    out: impl Write,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<u64> {
    let mut sink = Sink::new(format, out);
    let mut after = carnet_store::Checkpoint::START;
    let mut written = 0;
    loop {
        let batch = store.read_hashed(filter, after, BATCH).await.context("cannot read the log")?;
        for event in &batch {
            sink.write(&Line::from(event))?;
        }
        written += batch.len() as u64;
        progress(written);
        match batch.last() {
            Some(last) if batch.len() == BATCH => after = last.checkpoint(),
            _ => break,
        }
    }
    sink.finish()?;
    Ok(written)
}

/// Whether `e` is a write to a pipe whose reader is gone (`carnet export | head`: not a failure).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = if let Some(e) = cause.downcast_ref::<csv::Error>() {
            match e.kind() {
                csv::ErrorKind::Io(io) => Some(io.kind()),
                _ => None,
            }
        } else if let Some(e) = cause.downcast_ref::<serde_json::Error>() {
            e.io_error_kind()
        } else {
            cause.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
        };
        io == Some(std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_utc_days_and_date_times_are_exact() {
        let Period { from, to } = period(Some("2026-06-01"), Some("2026-06-30")).unwrap();
        assert_eq!(from.unwrap().to_rfc3339(), "2026-06-01T00:00:00+00:00");
        assert_eq!(to.unwrap().to_rfc3339(), "2026-06-30T23:59:59.999999+00:00");
        let Period { from, to } = period(Some("2026-06-01T10:00:00+02:00"), None).unwrap();
        assert_eq!(from.unwrap().to_rfc3339(), "2026-06-01T08:00:00+00:00");
        assert_eq!(to, None);
        assert!(period(Some("1er juin"), None).is_err());
        assert!(period(Some("2026-07-01"), Some("2026-06-30")).is_err(), "an empty period is a mistake");
    }

    #[test]
    fn csv_quotes_as_rfc_4180() {
        let event = HashedEvent {
            transaction_id: 7,
            global_position: 12,
            stream_id: "project-x".into(),
            stream_version: 1,
            event_id: "e".into(),
            event_type: "ProjectSubmitted".into(),
            schema_version: 1,
            payload: r#"{"title": "Un, \"deux\""}"#.into(),
            metadata: "{}".into(),
            recorded_at: "2026-06-01T08:00:00.000000Z".into(),
            prev_hash: Some([0; 32]),
            hash: None,
        };
        let mut out = vec![];
        let mut sink = Sink::new(Format::Csv, &mut out);
        sink.write(&Line::from(&event)).unwrap();
        sink.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "global_position,transaction_id,stream_id,stream_version,event_id,event_type,schema_version,\
                 recorded_at,payload,metadata,prev_hash,hash"
            )
        );
        let zeros = "0".repeat(64);
        let row = format!(
            r#"12,7,project-x,1,e,ProjectSubmitted,1,2026-06-01T08:00:00.000000Z,"{{""title"": ""Un, \""deux\""""}}",{{}},{zeros},"#
        );
        assert_eq!(lines.next(), Some(row.as_str()));
    }
}

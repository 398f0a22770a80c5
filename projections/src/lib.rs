//! # carnet-projections — read models
//!
//! Projectors turn events of the log into the tables the GraphQL API queries (DESIGN §2, §5).
//! Three read models, one machinery:
//! - [`project`]: current state, phase history, holders, académies, establishments, themes;
//! - [`session`]: current state, facilitators, registrations, linked projects, the académies of
//!   the attendance (shown-only data — methods, agenda, attendance by profile, follow-up
//!   actions — in a JSON `details` column);
//! - [`person`]: the only one with personal data, nulled on erasure; identities (unique
//!   `(issuer, sub)`), roles, consents.
//!
//! [`backing`] checks that every entity the read models hold is backed by the log.
//!
//! And [`indicators`]: the lab's figures for a period and a territory (DESIGN §4.5), counted by
//! aggregate statements over the project and session read models — and, as of a past moment,
//! over their *timelines* (private `timeline` module: the counted columns kept over time,
//! written by the same batch as the live tables, rebuilt with them).
//!
//! - **Inline.** [`InlineProjections`] is the store's [`InlineHook`]: handed to
//!   `Repository::execute`, it applies the appended events to every read model inside the
//!   append's transaction, so the read models commit (or roll back) with the events and a
//!   mutation's payload already shows its effect (read-your-writes). A projector failure fails
//!   the command: the log never holds an event its inline read model refused (a second project
//!   or session with a taken reference, an identity already linked to another person, say, is
//!   refused as [`StoreError::Refused`], naming its rule).
//! - **Catch-up.** [`catch_up`] follows the global log from a projection's checkpoint (table
//!   `projection_checkpoint`), each batch and its checkpoint in one transaction: for projectors
//!   that do not run inline, and for rebuilds.
//! - **Rebuild.** [`rebuild`] builds every read model afresh from the whole log, in one pass,
//!   into shadow tables (`project__rebuild`, `session__rebuild`, …) and renames them in within
//!   one transaction, so readers never see an empty or half-built read model and commands keep
//!   running meanwhile; [`rebuild_with`] rebuilds one [`ReadModel`] or all. Its fill is the
//!   only writer and reader of the shadow tables, so its projectors *hold* the entities in
//!   memory between batches ([`HELD`] at most a read model, the least recently changed written
//!   and let go past it) and write the rest once the log is read, in statements of at most
//!   5 000 rows, the read models side by side: an entity is written about once, not once per
//!   batch its events fall in, and a timeline version closed before it is written is inserted
//!   closed. Catch-up reads the next batch, in a task of its own, while it applies one; the
//!   shadow tables get their indexes side by side too.
//! - **Queries.** By id and by ids (for loaders: one query for any number of ids) for each read
//!   model, [`sessions_by_project_ids`] (one statement for any number of projects) and
//!   [`person_by_identity`]; lists ([`list_projects`], [`list_sessions`] and their `_backward`
//!   twins): filters, three orders, keyset cursors ([`ProjectCursor`], [`SessionCursor`], never
//!   OFFSET), at most [`MAX_PAGE_SIZE`] rows, and the total count; their `_fetching` twins take
//!   a [`Fetch`]: the parts of the rows to leave out (what the caller did not select) and whether
//!   to count, the count then riding on the page's own statement (one statement per page).
//!
//! Decisions a newcomer must know:
//! - **One mechanism.** The private `model` module holds what every read model shares: a read
//!   model describes itself (`Model`: its tables, how an event changes a row, which table rows
//!   a row stands for) and `ModelProjector` does the rest, as does the keyset paging.
//! - **Idempotent by version.** Each main row keeps the stream version of the last event it
//!   reflects; an event at or below it is skipped. Applying a batch twice changes nothing.
//! - **Batches, not events.** A projector loads the rows a batch touches in one query, applies
//!   the events in memory (a plain function mirroring the decider's `evolve`), and writes each
//!   table once per batch. Cost per command: one read, one upsert, and a delete + insert for
//!   each child table that changed.
//! - **Derived at read time.** A session belongs to the académies of its linked projects as
//!   well as to those of its attendance; the former are joined from `project_academie` when
//!   read, so that no session row has to follow project events.
//! - **One Rust path for both backends.** Rows travel as JSON between Rust and SQL
//!   (`json_build_object`/`jsonb_populate_recordset` on PostgreSQL, `json_object`/`json_each`
//!   on SQLite), placeholders are `$n` on both. What differs is in one place, the private `sql`
//!   module: its `postgres.rs` and `sqlite.rs` spell the same fragments side by side, and no
//!   other module matches on the backend. Every value is bound, never formatted into SQL.
//! - **The migrations declare the tables, once.** `migrations/*/0002_project_read_model.sql`
//!   and `0003_session_person_read_model.sql` create them; `rebuild`
//!   copies the live tables from the database's catalog (private `schema` module), so no DDL is
//!   written twice; the rebuild tests check that the catalog after a rebuild is the migrated
//!   one. Rust names the columns it writes and reads, once per table (`COLUMNS`, each
//!   `Child`); their types come from the tables. No foreign keys between read-model tables:
//!   they are derived data, swapped as a set.
//! - **Codes.** Statuses, phases, formats, modes, roles… are stored as the domain's serde
//!   names (`ACTIVE`, `NETWORK_LAB`); timestamps on SQLite as fixed-width UTC text with
//!   microseconds, so text order is time order.

/// Declares `$name`, the public projector of the read model `$model`: a thin wrapper over the
/// shared `model::ModelProjector`, so that the model types stay private to the crate.
macro_rules! public_projector {
    ($(#[$doc:meta])* $name:ident, $model:ty, $category:literal) => {
        $(#[$doc])*
        pub struct $name($crate::model::ModelProjector<$model>);

        impl $name {
            /// The projector of the live tables.
            pub fn new(codec: std::sync::Arc<carnet_store::Codec>) -> Self {
                Self($crate::model::ModelProjector::new(codec, ""))
            }

            /// The projector of a rebuild's shadow tables: holding up to `holding` entities
            /// between batches if given (see `model::ModelProjector::holding`).
            pub(crate) fn with_suffix(
                codec: std::sync::Arc<carnet_store::Codec>,
                suffix: &str,
                holding: Option<usize>,
            ) -> Self {
                Self(match holding {
                    Some(limit) => $crate::model::ModelProjector::holding(codec, suffix, limit),
                    None => $crate::model::ModelProjector::new(codec, suffix),
                })
            }

            #[doc = concat!("Applies the `", $category, "` events among `events` (others are ignored), in their")]
            /// order. Returns how many it applied.
            pub async fn apply(
                &self,
                tx: carnet_store::TxConn<'_>,
                events: &[carnet_store::RecordedEvent],
            ) -> Result<usize, $crate::ProjectionError> {
                self.0.apply(tx, events).await
            }
        }

        impl $crate::Projector for $name {
            fn apply<'c>(
                &'c self,
                tx: carnet_store::TxConn<'c>,
                events: &'c [carnet_store::RecordedEvent],
            ) -> futures::future::BoxFuture<'c, Result<usize, $crate::ProjectionError>> {
                Box::pin(self.0.apply(tx, events))
            }

            fn finish<'c>(
                &'c self,
                tx: carnet_store::TxConn<'c>,
            ) -> futures::future::BoxFuture<'c, Result<(), $crate::ProjectionError>> {
                Box::pin(self.0.finish(tx))
            }
        }
    };
}

/// Declares the public list functions of a read model over [`model::list`] with its
/// `$listing`: `$fetching` (with a [`Fetch`]), `$forward` (`first` rows after a cursor) and
/// `$backward` (Relay's `last` rows before a cursor, still in `order`), both whole.
macro_rules! paged_lists {
    ($listing:ty, $what:literal, $forward:ident, $backward:ident, $fetching:ident, $filter:ty, $order:ty,
     $cursor:ty, $page:ty, $part:ty) => {
        paged_lists!(@one $listing, $filter, $order, $cursor, $page, $forward, first, after, false,
            concat!("The first `first` ", $what, " matching `filter` in `order`, after `after`."));
        paged_lists!(@one $listing, $filter, $order, $cursor, $page, $backward, last, before, true,
            concat!("The last `last` ", $what, " matching `filter` in `order`, before `before` (Relay's \
                     backward paging); the rows come in `order` too."));
        #[doc = concat!("A page of ", $what, " with only what `fetch` asks: `size` of them after `at` in \
                         `order`, or before it when paging `backward`.")]
        #[allow(clippy::too_many_arguments)]
        pub async fn $fetching(
            db: $crate::Db<'_>,
            filter: &$filter,
            order: $order,
            size: u32,
            at: Option<&$cursor>,
            backward: bool,
            fetch: &$crate::model::Fetch<$part>,
        ) -> Result<$page, $crate::ProjectionError> {
            $crate::model::list::<$listing>(db, filter, order, size, at, backward, fetch).await
        }
    };
    (@one $listing:ty, $filter:ty, $order:ty, $cursor:ty, $page:ty, $name:ident, $size:ident, $at:ident,
     $backward:literal, $doc:expr) => {
        #[doc = $doc]
        pub async fn $name(
            db: $crate::Db<'_>,
            filter: &$filter,
            order: $order,
            $size: u32,
            $at: Option<&$cursor>,
        ) -> Result<$page, $crate::ProjectionError> {
            $crate::model::list::<$listing>(db, filter, order, $size, $at, $backward, &$crate::model::Fetch::everything())
                .await
        }
    };
}

mod as_of;
pub mod backing;
pub mod indicators;
pub mod metrics;
mod model;
pub mod person;
pub mod project;
mod runner;
mod schema;
pub mod session;
mod sql;
mod timeline;

pub use as_of::{project_as_of, session_as_of};
pub use indicators::{Count, Indicators, Period, ProjectIndicators, SessionIndicators, indicators, indicators_as_of};
pub use model::{Direction, Fetch, MAX_PAGE_SIZE, Order, Page};
pub use person::{
    ConsentRow, ERASED_DISPLAY_NAME, IdentityRow, PersonProjector, PersonRow, RoleRow, people_by_ids, person_by_id,
    person_by_identity,
};
pub use project::{
    HolderRow, PhaseRow, ProjectCursor, ProjectFilter, ProjectOrder, ProjectOrderField, ProjectPage, ProjectPart,
    ProjectProjector, ProjectRow, list_projects, list_projects_backward, list_projects_fetching, project_by_id,
    projects_by_ids,
};
pub use runner::{
    CatchUpProgress, DEFAULT_BATCH_SIZE, HELD, ReadModel, catch_up, checkpoint, rebuild_holding, rebuild_with,
};
pub use session::{
    AgendaItemRow, AttendanceRow, FollowUpActionRow, ProfileCount, RegistrationRow, ReportRow, SatisfactionRow,
    SessionCursor, SessionFilter, SessionOrder, SessionOrderField, SessionPage, SessionPart, SessionProjector,
    SessionRow, list_sessions, list_sessions_backward, list_sessions_fetching, seminars_of, session_by_id,
    sessions_by_ids, sessions_by_project_ids,
};

pub use sql::{Db, ProjectionStore};

use carnet_store::{Codec, InlineHook, RecordedEvent, StoreError, TxConn};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Why a projection or a query failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed (its text is in the source, never in the message).
    #[error("the read model's database failed")]
    Database(#[from] sqlx::Error),
    /// An event that does not fit the read model (e.g. for a project it does not have).
    #[error(
        "event at global position {global_position} ({stream_id}, version {stream_version}) cannot be projected: {reason}"
    )]
    Inconsistent { stream_id: String, stream_version: u64, global_position: i64, reason: String },
    /// The read model refuses what the events say, in words for a user (e.g. a taken
    /// reference); `rule` names the rule, as a domain rejection does.
    #[error("{message}")]
    Refused { rule: &'static str, message: String },
    /// A cursor that does not fit the list it is used with.
    #[error("{0}")]
    InvalidCursor(String),
    /// A query argument out of range (page size).
    #[error("{0}")]
    InvalidArgument(String),
    /// A stored row that does not read back.
    #[error("a read-model row cannot be read: {0}")]
    Corrupt(String),
}

impl ProjectionError {
    pub(crate) fn inconsistent(event: &RecordedEvent, reason: &str) -> Self {
        Self::Inconsistent {
            stream_id: event.stream_id.to_string(),
            stream_version: event.stream_version,
            global_position: event.global_position,
            reason: reason.to_owned(),
        }
    }

    /// What the append that ran this projector reports.
    pub fn into_store_error(self) -> StoreError {
        match self {
            Self::Store(e) => e,
            Self::Database(e) => e.into(),
            Self::Refused { rule, message } => StoreError::Refused { rule, reason: message },
            other => StoreError::Unexpected(Box::new(other)),
        }
    }
}

/// Something that applies a batch of the log's events to its read model, inside a transaction.
pub trait Projector: Send + Sync {
    /// Applies what concerns it among `events` (in log order); returns how many it applied.
    fn apply<'c>(
        &'c self,
        tx: TxConn<'c>,
        events: &'c [RecordedEvent],
    ) -> BoxFuture<'c, Result<usize, ProjectionError>>;

    /// Writes what it held back from the batches it applied, inside `tx`: a rebuild's fill holds
    /// its entities between batches and writes each one when it lets it go, or here. Nothing
    /// for a projector that writes each batch as it applies it.
    fn finish<'c>(&'c self, tx: TxConn<'c>) -> BoxFuture<'c, Result<(), ProjectionError>> {
        let _ = tx;
        Box::pin(async { Ok(()) })
    }
}

/// The projectors that run inside the append transaction (read-your-writes): pass it as the
/// hook of `Repository::execute` / `EventStore::append_with`. Every read model runs inline: a
/// mutation's payload shows its effect whatever it changed.
pub struct InlineProjections {
    projectors: runner::Several,
}

impl InlineProjections {
    pub fn new(codec: Arc<Codec>) -> Self {
        Self {
            projectors: runner::Several(vec![
                Box::new(ProjectProjector::new(codec.clone())),
                Box::new(SessionProjector::new(codec.clone())),
                Box::new(PersonProjector::new(codec)),
            ]),
        }
    }
}

impl InlineHook for InlineProjections {
    fn run<'c>(&'c self, tx: TxConn<'c>, events: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
        Box::pin(async move {
            self.projectors.apply(tx, events).await.map_err(ProjectionError::into_store_error)?;
            Ok(())
        })
    }
}

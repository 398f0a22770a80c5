//! The log itself, for those who reconstruct who did what and when (DESIGN §1, §3): `history`,
//! every event of one entity in version order, and `events`, the global feed in reading order.
//!
//! Each event comes with its place in the log, its actor, its correlation and causation ids, both
//! times, and its payload **as Carnet reads it**: decoded by the lab's codec (upcast to the
//! current schema version, personal fields opened with the person's key, exactly as the read
//! models and `asOf` read them), then serialized back to JSON. Personal data is then redacted for
//! whoever may not see it ([`redact_personal_data`], the one place that does): the personal field
//! of a Person event (the `profile`, and the `identity` of `PersonIdentityLinked`: a provider's
//! `sub` is personal data) reads [`REDACTED`] for `AUDITOR` and `ACADEMIE`, in clear for
//! `LAB_TEAM` and `ADMIN`, and [`ERASED`] for everyone once the person's key is destroyed.
//!
//! `reason` is the metadata's: the reason the command gave (a decline, an abandonment, a
//! cancellation, an erasure…), recorded by `carnet_lab::Lab::execute` from `Decider::reason`.
//! Events recorded before it did so have none there, although their payload may say why.
//!
//! Access follows the entity's: `history` of a project or session outside an `ACADEMIE` caller's
//! territory is `NOT_FOUND` (its existence does not leak), and within it, a payload that names
//! another académie's project (`SessionLinkedToProject`) reads [`OUT_OF_TERRITORY`] in place of
//! its id ([`hide_other_territories`]); a person's history is for those who may look people up; `READER` reads no history. `events` is the auditors' (`AUDITOR`, `ADMIN`): it
//! spans every académie and every person.
//!
//! `events` pages by checkpoint in the store's reading order (`carnet_store::feed`): paging
//! forward with `endCursor`, an auditor never skips an event whose transaction committed late.

use super::access::{self, Caller};
use super::connection::{self, CountedConnection, PageRequest};
use super::error::ApiError;
use super::ids::{self, Kind};
use super::person::PERSON_READERS;
use super::project::visible_project;
use super::session::visible_session;
use super::subscription::{Actor, entity_of};
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use carnet_domain::Decider;
use carnet_domain::person::{Person, PersonEvent, Role};
use carnet_domain::project::{Project, ProjectEvent};
use carnet_domain::reference::{ReferenceSequence, SequenceEvent};
use carnet_domain::session::{Session, SessionEvent};
use carnet_projections::{Page, ProjectionStore, people_by_ids};
use carnet_store::feed::{Feed, FeedFilter};
use carnet_store::{Checkpoint, Codec, EventStore, PersonKeys, RecordedEvent, StoreError, StreamId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a caller who may not see personal data reads in place of a personal field.
pub const REDACTED: &str = "Données personnelles masquées";
/// What everyone reads in place of the personal fields of an erased person.
pub const ERASED: &str = "Personne effacée";
/// What an `ACADEMIE` caller reads in place of the id of another académie's project.
pub const OUT_OF_TERRITORY: &str = "Hors de votre territoire";

/// Bounds of a feed filter: enough for any real audit, not a way to make every event cost.
const MAX_FILTER_VALUES: usize = 50;
const MAX_FILTER_VALUE_LEN: usize = 200;
/// Roles that read the global feed.
const FEED_READERS: [Role; 2] = [Role::Auditor, Role::Admin];

const NOT_FOUND: &str = "cette entité n'existe pas";

/// One event of the log, as Carnet reads it.
#[derive(SimpleObject)]
pub struct LogEvent {
    /// The event's place in the global log (unique). The feed's reading order is commit order,
    /// which with concurrent writers may differ slightly from the order of these numbers.
    global_position: i64,
    /// The kind of stream: `project`, `session`, `person`, `reference`…
    stream_type: String,
    /// The entity's opaque id, for project, session and person streams; `null` for others.
    entity_id: Option<ID>,
    /// The entity's version after this event (1 for its first).
    version: u64,
    /// e.g. `ProjectAccepted`.
    #[graphql(name = "type")]
    event_type: String,
    /// The schema version the event was recorded at; `payload` is shown at the current one.
    schema_version: i32,
    /// The event's unique id, as in `carnet export`.
    event_id: String,
    /// When it happened, as the user said.
    occurred_at: DateTime<Utc>,
    /// When the log recorded it.
    recorded_at: DateTime<Utc>,
    /// Who acted: an opaque id and its issuer, never a name.
    actor: Actor,
    /// Shared by every event of one user action, across entities (a submission and the
    /// reference it took, say).
    correlation_id: String,
    /// The command that caused this one, when another did.
    causation_id: Option<String>,
    /// The reason the actor gave, when the command takes one (an erasure, say).
    reason: Option<String>,
    /// What the event says, as Carnet reads it (current schema version), personal data
    /// redacted for callers who may not see it.
    payload: Json<Value>,
}

/// Which events `events` lists. Each list means "any of these" (empty or absent: no
/// condition); the conditions add up.
#[derive(InputObject, Default)]
pub struct EventFilterInput {
    /// Stream kinds: `project`, `session`, `person`, `reference`.
    stream_types: Option<Vec<String>>,
    /// Event types, e.g. `["ProjectAccepted", "ProjectDeclined"]`.
    types: Option<Vec<String>>,
    /// The events of this actor (its opaque id, `actor.id`).
    actor: Option<String>,
    /// The events whose actor this issuer vouched for (`actor.issuer`).
    actor_issuer: Option<String>,
    /// Recorded at or after this moment.
    from: Option<DateTime<Utc>>,
    /// Recorded at or before this moment.
    to: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct HistoryQuery;

#[Object]
impl HistoryQuery {
    /// Every event of one entity (a `Project`, `Session` or `Person` id), in version order:
    /// `first`/`after` from its creation, `last`/`before` from its latest change. `null` and
    /// `NOT_FOUND` when it does not exist or is outside the caller's territory; `FORBIDDEN`
    /// for `READER`, and for a person's history to whoever may not look people up.
    #[graphql(complexity = "super::limits::page_cost(first, last, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Option<CountedConnection<LogEvent>>> {
        let caller = access::reader(ctx)?;
        let (kind, uuid) = ids::decode_any(&id).ok_or_else(|| caller.not_found(NOT_FOUND))?;
        // the entity's own rules: a territory sees its projects and sessions only
        let visible = match kind {
            Kind::Person => {
                caller.require(&PERSON_READERS)?;
                true
            }
            _ if caller.territory().is_none() => true,
            Kind::Project => visible_project(&caller, uuid).await?.is_some(),
            Kind::Session => visible_session(&caller, uuid).await?.is_some(),
        };
        if !visible {
            return Err(caller.not_found(NOT_FOUND));
        }
        let request = connection::page_request::<u64>(&caller, first, after, last, before)?;
        let store = caller.state.lab.store();
        let stream = StreamId::new(category(kind), uuid);
        let total = store.stream_version(&stream).await.map_err(|e| caller.fail(e))?;
        if total == 0 {
            return Err(caller.not_found(NOT_FOUND));
        }
        // versions run 1..=total without gaps: a page is a range of them
        let (from, to, has_previous_page, has_next_page) = match request {
            PageRequest::Forward(n, after) => {
                let from = after.map_or(1, |v| v.saturating_add(1));
                let to = from.saturating_add(u64::from(n) - 1).min(total);
                (from, to, after.is_some(), to < total)
            }
            PageRequest::Backward(n, before) => {
                let to = before.map_or(total, |v| v.saturating_sub(1)).min(total);
                let from = to.saturating_sub(u64::from(n) - 1).max(1);
                (from, to, from > 1, before.is_some())
            }
        };
        let events = if from <= to {
            store.read_stream(&stream, from, Some(to)).await.map_err(|e| caller.fail(e))?
        } else {
            vec![]
        };
        metrics::counter!(carnet_projections::metrics::LOG_EVENTS_READ, "reader" => "history")
            .increment(events.len() as u64);
        let rows = log_events(&caller, events).await?;
        let page = Page { rows, has_next_page, has_previous_page, total_count: total };
        Ok(Some(connection::connection(page, |(e, _)| e.stream_version, |(_, node)| node)))
    }

    /// The global log, oldest first, for `AUDITOR` and `ADMIN` (others `FORBIDDEN`): every
    /// event of every entity, filtered by stream type, event type, actor and recording period.
    /// Paging forward with `endCursor` never skips an event, even one whose transaction
    /// committed after later ones: the feed only shows what can no longer be preceded.
    #[graphql(complexity = "super::limits::page_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)] // the Relay arguments plus the filter
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CountedConnection<LogEvent>> {
        let caller = access::authenticated(ctx)?;
        caller.require(&FEED_READERS)?;
        let filter = feed_filter(filter.unwrap_or_default()).map_err(|e| caller.fail(e))?;
        let request = connection::page_request::<Checkpoint>(&caller, first, after, last, before)?;
        let store = caller.state.lab.store();
        let (events, has_previous_page, has_next_page) = match request {
            PageRequest::Forward(n, after) => {
                let n = n as usize;
                let mut events = store
                    .read_feed(&filter, after.unwrap_or(Checkpoint::START), n + 1)
                    .await
                    .map_err(|e| caller.fail(e))?;
                let more = events.len() > n;
                events.truncate(n);
                (events, after.is_some(), more)
            }
            PageRequest::Backward(n, before) => {
                let n = n as usize;
                let mut events = store.read_feed_back(&filter, before, n + 1).await.map_err(|e| caller.fail(e))?;
                let more = events.len() > n;
                if more {
                    events.remove(0);
                }
                (events, more, before.is_some())
            }
        };
        // a count of the feed is a scan of what matches: only when asked for
        let total_count = if connection::total_count_selected(ctx) {
            store.count_feed(&filter).await.map_err(|e| caller.fail(e))?
        } else {
            0
        };
        let rows = log_events(&caller, events).await?;
        let page = Page { rows, has_next_page, has_previous_page, total_count };
        Ok(connection::connection(page, |(e, _)| e.checkpoint(), |(_, node)| node))
    }
}

/// The stream category of an entity kind.
fn category(kind: Kind) -> &'static str {
    match kind {
        Kind::Project => Project::CATEGORY,
        Kind::Session => Session::CATEGORY,
        Kind::Person => Person::CATEGORY,
    }
}

/// The filter of `events`, checked: bounded lists of non-empty values, a period in order.
fn feed_filter(input: EventFilterInput) -> Result<FeedFilter, ApiError> {
    let bad = |message: String| ApiError::BadUserInput(message, "events.filter");
    let fits = |v: &str| !v.is_empty() && v.chars().count() <= MAX_FILTER_VALUE_LEN && !v.contains('\0');
    let list = |name: &str, values: Option<Vec<String>>| {
        let values = values.unwrap_or_default();
        if values.len() <= MAX_FILTER_VALUES && values.iter().all(|v| fits(v)) {
            Ok(values)
        } else {
            Err(bad(format!(
                "filter.{name} : au plus {MAX_FILTER_VALUES} valeurs de 1 à {MAX_FILTER_VALUE_LEN} caractères"
            )))
        }
    };
    let one = |name: &str, value: Option<String>| match value {
        Some(v) if !fits(&v) => Err(bad(format!("filter.{name} : de 1 à {MAX_FILTER_VALUE_LEN} caractères"))),
        other => Ok(other),
    };
    if let (Some(from), Some(to)) = (input.from, input.to)
        && from > to
    {
        return Err(bad("filter.from est postérieur à filter.to".into()));
    }
    Ok(FeedFilter {
        stream_types: list("streamTypes", input.stream_types)?,
        event_types: list("types", input.types)?,
        actor: one("actor", input.actor)?,
        actor_issuer: one("actorIssuer", input.actor_issuer)?,
        from: input.from,
        to: input.to,
    })
}

/// `events` as the caller may read them, each beside its recorded form (for its cursor).
async fn log_events(
    caller: &Caller<'_>,
    events: Vec<RecordedEvent>,
) -> async_graphql::Result<Vec<(RecordedEvent, LogEvent)>> {
    let lab = &caller.state.lab;
    let codec = lab.codec();
    let keys = codec.load_keys(lab.store(), &events).await.map_err(|e| caller.fail(e))?;
    let erased = erased_with_clear_fields(caller, codec, &events).await?;
    let sees_personal_data = caller.sees_personal_data();
    let mut read = events
        .into_iter()
        .map(|event| {
            let mut payload = read_payload(codec, &keys, &event).map_err(|e| caller.fail(e))?;
            let of_erased = codec
                .personal_fields()
                .and_then(|p| p.person_of(&event.stream_id))
                .is_some_and(|person| erased.contains(&person));
            redact_personal_data(codec, &event, &mut payload, sees_personal_data, of_erased);
            Ok((event, payload))
        })
        .collect::<async_graphql::Result<Vec<_>>>()?;
    hide_other_territories(caller, &mut read).await?;
    Ok(read
        .into_iter()
        .map(|(event, payload)| {
            let node = log_event(&event, payload);
            (event, node)
        })
        .collect())
}

/// The payload fields that name a project, by event type: what an `ACADEMIE` caller may read
/// of another entity's history stops at its territory.
const PROJECT_FIELDS: [(&str, &str); 1] = [("SessionLinkedToProject", "project")];

/// For a caller limited to a territory: every project id a payload names outside it reads
/// [`OUT_OF_TERRITORY`] (its existence does not leak). Each project is looked up once.
async fn hide_other_territories(caller: &Caller<'_>, read: &mut [(RecordedEvent, Value)]) -> async_graphql::Result<()> {
    if caller.territory().is_none() {
        return Ok(());
    }
    let mut visible = std::collections::HashMap::new();
    for (event, payload) in read.iter_mut() {
        let Some((_, field)) = PROJECT_FIELDS.iter().find(|(t, _)| *t == event.event_type) else { continue };
        let Some(value) = payload.get_mut(*field) else { continue };
        let id = value.as_str().and_then(|v| uuid::Uuid::parse_str(v).ok());
        let seen = match id {
            Some(id) => match visible.get(&id) {
                Some(&seen) => seen,
                None => {
                    let seen = visible_project(caller, id).await?.is_some();
                    visible.insert(id, seen);
                    seen
                }
            },
            None => false,
        };
        if !seen {
            *value = Value::from(OUT_OF_TERRITORY);
        }
    }
    Ok(())
}

/// The people, among the authors of `events` whose personal field is stored in clear (written
/// before such fields were sealed: profiles by the first Carnet, identities until issue 10),
/// who have been erased since: the log keeps those fields as written (its hashes cover them),
/// the API shows them erased. One read-model lookup, none when no such field is on the page.
async fn erased_with_clear_fields(
    caller: &Caller<'_>,
    codec: &Codec,
    events: &[RecordedEvent],
) -> async_graphql::Result<std::collections::HashSet<uuid::Uuid>> {
    let Some(personal) = codec.personal_fields() else { return Ok(Default::default()) };
    let mut people: Vec<uuid::Uuid> = events
        .iter()
        .filter(|e| {
            personal
                .field_of(&e.event_type)
                .and_then(|field| e.payload.get(field))
                .is_some_and(|v| !v.is_null() && carnet_store::personal_data::sealed_parts(v).is_none())
        })
        .filter_map(|e| personal.person_of(&e.stream_id))
        .collect();
    people.sort_unstable();
    people.dedup();
    if people.is_empty() {
        return Ok(Default::default());
    }
    let rows = people_by_ids(caller.state.store.db(), &people).await.map_err(|e| caller.fail(e))?;
    Ok(rows.into_values().filter(|p| p.is_erased()).map(|p| p.id).collect())
}

fn log_event(e: &RecordedEvent, payload: Value) -> LogEvent {
    let m = &e.metadata;
    LogEvent {
        global_position: e.global_position,
        stream_type: e.stream_id.category().to_owned(),
        entity_id: entity_of(&e.stream_id).map(|(kind, id)| ids::encode(kind, id)),
        version: e.stream_version,
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        event_id: e.event_id.to_string(),
        occurred_at: m.occurred_at,
        recorded_at: e.recorded_at,
        actor: Actor { id: m.actor.id.clone(), issuer: m.actor.issuer.clone() },
        correlation_id: m.correlation_id.to_string(),
        causation_id: m.causation_id.map(|id| id.to_string()),
        reason: m.reason.clone(),
        payload: Json(payload),
    }
}

/// The payload of `event` as Carnet reads it: decoded into its aggregate's domain event by the
/// lab's codec (upcast, personal fields opened with `keys`; an erased person's come back
/// `null`), then serialized back. Streams of no known aggregate show their stored payload, with
/// any sealed field opened all the same.
fn read_payload(codec: &Codec, keys: &PersonKeys, event: &RecordedEvent) -> Result<Value, StoreError> {
    fn through<E: DeserializeOwned + Serialize>(
        codec: &Codec,
        keys: &PersonKeys,
        event: &RecordedEvent,
    ) -> Result<Value, StoreError> {
        let decoded: E = codec.decode_with(event, keys)?;
        let tagged = serde_json::to_value(decoded).map_err(|e| StoreError::Unexpected(Box::new(e)))?;
        // `{type, payload}`, as the codec encodes it; a variant without fields has no payload
        Ok(tagged.get("payload").cloned().unwrap_or_else(|| Value::Object(Default::default())))
    }
    match event.stream_id.category() {
        Project::CATEGORY => through::<ProjectEvent>(codec, keys, event),
        Session::CATEGORY => through::<SessionEvent>(codec, keys, event),
        Person::CATEGORY => through::<PersonEvent>(codec, keys, event),
        ReferenceSequence::CATEGORY => through::<SequenceEvent>(codec, keys, event),
        _ => codec.open_payload(event, keys),
    }
}

/// The one place history and the feed redact personal data. In a decoded Person event, the
/// personal field (the `profile` or the `identity`, as the codec's `PersonalFields` names it)
/// becomes [`ERASED`] when it read back `null` (the person's key is destroyed: nothing is left
/// to show anyone) or when the person is `erased` (a field stored in clear before sealing),
/// else [`REDACTED`] unless the caller may see personal data.
fn redact_personal_data(
    codec: &Codec,
    event: &RecordedEvent,
    payload: &mut Value,
    sees_personal_data: bool,
    erased: bool,
) {
    let Some(personal) = codec.personal_fields() else { return };
    if event.stream_id.category() != personal.category {
        return;
    }
    let Some(value) = personal.field_of(&event.event_type).and_then(|field| payload.get_mut(field)) else {
        return;
    };
    if value.is_null() || erased {
        *value = Value::from(ERASED);
    } else if !sees_personal_data {
        *value = Value::from(REDACTED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_store::{Actor as LogActor, Metadata};
    use serde_json::json;

    fn person_event(event_type: &str, payload: Value) -> RecordedEvent {
        RecordedEvent {
            global_position: 3,
            transaction_id: 2,
            stream_id: StreamId::new("person", uuid::Uuid::now_v7()),
            stream_version: 1,
            event_id: uuid::Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: Metadata::new(LogActor { id: "alice".into(), issuer: "carnet-local".into() }),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn profiles_are_redacted_unless_the_caller_sees_personal_data_and_erased_for_everyone() {
        let codec = carnet_lab::codec::carnet_codec();
        let profile = json!({ "given_name": "Lou", "usual_name": "Martin" });
        let registered = person_event("PersonRegistered", json!({ "profile": profile, "registered_on": "2026-04-01" }));
        for (sees, expected) in [(true, profile.clone()), (false, Value::from(REDACTED))] {
            let mut payload = registered.payload.clone();
            redact_personal_data(&codec, &registered, &mut payload, sees, false);
            assert_eq!(payload["profile"], expected);
            assert_eq!(payload["registered_on"], "2026-04-01", "the rest stays");
        }
        let erased = person_event("PersonProfileUpdated", json!({ "profile": null }));
        for sees in [true, false] {
            let mut payload = erased.payload.clone();
            redact_personal_data(&codec, &erased, &mut payload, sees, false);
            assert_eq!(payload["profile"], ERASED);
        }
        let granted = person_event("PersonRoleGranted", json!({ "role": "AUDITOR", "academies": [] }));
        let mut payload = granted.payload.clone();
        redact_personal_data(&codec, &granted, &mut payload, false, false);
        assert_eq!(payload, granted.payload, "no personal field, nothing redacted");
        // an identity stored in clear (before identities were sealed) of a person erased since
        let identity = json!({ "issuer": "https://auth.example.gouv.fr", "sub": "agent-1" });
        let linked = person_event("PersonIdentityLinked", json!({ "identity": identity }));
        for (sees, erased, expected) in
            [(true, false, identity.clone()), (false, false, Value::from(REDACTED)), (true, true, Value::from(ERASED))]
        {
            let mut payload = linked.payload.clone();
            redact_personal_data(&codec, &linked, &mut payload, sees, erased);
            assert_eq!(payload["identity"], expected, "sees {sees}, erased {erased}");
        }
    }
}

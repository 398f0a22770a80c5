//! Subscriptions (DESIGN §5): live updates over `graphql-transport-ws` at `/graphql/ws`
//! (transport in [`crate::ws`]). Every subscription filters the process's one follower of the
//! log ([`carnet_lab::live::LiveFeed`]), so a change made through any instance reaches it, in commit
//! order, without a database poller per subscriber.
//!
//! Access is the queries' access: a project or session outside an `ACADEMIE` caller's territory
//! is `NOT_FOUND`, and the activity feed only shows such a caller the events of its académies'
//! projects and sessions. No subscription ever carries an event's payload (personal data): an
//! activity event says what happened to what, when and by whom; the entity itself is read from
//! the read model with the caller's rights.
//!
//! A subscription that falls too far behind the feed ends with `SUBSCRIPTION_LAGGED` rather than
//! skip events silently; the client subscribes again.
//!
//! Access is checked again whenever the connection's identity changes (a role granted or
//! revoked, an erasure: see `crate::ws`): with the new identity, a subscription checks its
//! role, then its entity's territory, and ends with `ACCESS_REVOKED` (`reason`: `ROLE_REVOKED`,
//! `OUT_OF_TERRITORY`, `IDENTITY_REFUSED`) when either fails; `activity` takes the new
//! territory from then on.

use super::access::{self, Caller};
use super::error::{ApiError, Revocation};
use super::ids::{self, Kind};
use super::project::{Project, visible_project};
use super::session::{Session, visible_session};
use crate::auth::Identity;
use crate::startup::AppState;
use async_graphql::{Context, ID, InputObject, SimpleObject, Subscription as GraphQLSubscription};
use carnet_domain::person::Role;
use carnet_lab::live::LiveEvent;
use carnet_store::StreamId;
use chrono::{DateTime, Utc};
use futures::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

/// Bounds of an activity filter: enough for any real screen, not a way to make every event cost.
const MAX_FILTER_VALUES: usize = 50;
const MAX_FILTER_VALUE_LEN: usize = 100;
/// Projects whose visibility an `ACADEMIE` activity subscription remembers before starting over.
const MAX_REMEMBERED_PROJECTS: usize = 10_000;

/// Every subscription of the API.
#[derive(Default)]
pub struct Subscription;

#[GraphQLSubscription]
impl Subscription {
    /// The project each time a change to it commits, through any instance of the server.
    /// `NOT_FOUND` when it does not exist or is outside the caller's territory (also if it
    /// leaves the territory later: the subscription then ends).
    ///
    /// `afterVersion`: the version the client already shows. If the project is past it when
    /// the subscription starts, the current project comes at once, so nothing committed
    /// between a query and the subscription is missed (and a client that resubscribes after
    /// `SUBSCRIPTION_LAGGED` catches up). Without it, only changes from now on are sent.
    /// Several events of one command give one update.
    async fn project_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after_version: Option<u64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Project>>> {
        changes::<Project>(ctx, &id, after_version).await
    }

    /// The session each time a change to it commits, as `projectChanged` does for projects
    /// (same `afterVersion`, same `NOT_FOUND`).
    async fn session_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after_version: Option<u64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Session>>> {
        changes::<Session>(ctx, &id, after_version).await
    }

    /// Every event of the log as it commits, in commit order, from the subscription's start (the
    /// feed follows commits by a few milliseconds: an event committed just before may come
    /// too): what happened to which entity, when and by whom, never its content. `LAB_TEAM`,
    /// `ADMIN` and `AUDITOR` see every event; `ACADEMIE` the events of its académies' projects
    /// and sessions only (judged on the entity as it is when the event arrives), never those of
    /// people; other roles are `FORBIDDEN`.
    async fn activity(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ActivityEvent>>> {
        let caller = access::reader(ctx)?;
        let filter = Filter::parse(filter.unwrap_or_default()).map_err(|e| caller.fail(e))?;
        let feed = ActivityFeed {
            events: caller.state.live.subscribe(),
            filter,
            territory: caller.territory(),
            visible: HashMap::new(),
            owner: Owner::of(ctx, &caller),
            ended: false,
        };
        Ok(futures::stream::unfold(feed, ActivityFeed::next))
    }
}

/// What `activity` returns for each event.
#[derive(SimpleObject)]
pub struct ActivityEvent {
    /// The event's place in the global log (unique). Events arrive in commit order, which with
    /// concurrent writers may differ slightly from the order of these numbers.
    global_position: i64,
    /// The kind of stream: `project`, `session`, `person`, `reference`…
    stream_type: String,
    /// The entity's opaque id, for project, session and person streams; `null` for others.
    entity_id: Option<ID>,
    /// e.g. `ProjectAccepted`.
    event_type: String,
    /// The entity's version after this event.
    version: u64,
    /// When it happened, as the user said.
    occurred_at: DateTime<Utc>,
    /// When the log recorded it.
    recorded_at: DateTime<Utc>,
    actor: Actor,
}

/// Who acted: an opaque person id and the issuer that vouched for it. Never a name.
#[derive(SimpleObject)]
pub struct Actor {
    pub(super) id: String,
    pub(super) issuer: String,
}

impl From<&LiveEvent> for ActivityEvent {
    fn from(e: &LiveEvent) -> Self {
        Self {
            global_position: e.global_position,
            stream_type: e.stream_id.category().to_owned(),
            entity_id: entity_of(&e.stream_id).map(|(kind, id)| ids::encode(kind, id)),
            event_type: e.event_type.clone(),
            version: e.stream_version,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            actor: Actor { id: e.actor.id.clone(), issuer: e.actor.issuer.clone() },
        }
    }
}

/// Which events `activity` sends. Each list means "any of these" (empty or absent: no
/// condition); the conditions add up.
#[derive(InputObject, Default)]
pub struct ActivityFilter {
    /// Stream kinds, e.g. `["project", "session"]`.
    stream_types: Option<Vec<String>>,
    /// Event types, e.g. `["ProjectAccepted", "ProjectDeclined"]`.
    event_types: Option<Vec<String>>,
    /// Only the events of this entity (a `Project`, `Session` or `Person` id).
    entity_id: Option<ID>,
}

struct Filter {
    stream_types: Vec<String>,
    event_types: Vec<String>,
    stream: Option<StreamId>,
}

impl Filter {
    fn parse(input: ActivityFilter) -> Result<Self, ApiError> {
        let list = |name: &str, values: Option<Vec<String>>| {
            let values = values.unwrap_or_default();
            let fits = values.len() <= MAX_FILTER_VALUES
                && values.iter().all(|v| !v.is_empty() && v.chars().count() <= MAX_FILTER_VALUE_LEN);
            if fits {
                Ok(values)
            } else {
                Err(ApiError::BadUserInput(
                    format!(
                        "filter.{name} : au plus {MAX_FILTER_VALUES} valeurs de 1 à {MAX_FILTER_VALUE_LEN} caractères"
                    ),
                    "activity.filter",
                ))
            }
        };
        let stream = input
            .entity_id
            .map(|id| {
                ids::decode_any(&id).map(|(kind, uuid)| StreamId::new(category(kind), uuid)).ok_or_else(|| {
                    ApiError::BadUserInput("filter.entityId : identifiant inconnu".into(), "activity.entity_id")
                })
            })
            .transpose()?;
        Ok(Self {
            stream_types: list("streamTypes", input.stream_types)?,
            event_types: list("eventTypes", input.event_types)?,
            stream,
        })
    }

    fn matches(&self, e: &LiveEvent) -> bool {
        let any = |values: &[String], value: &str| values.is_empty() || values.iter().any(|v| v == value);
        any(&self.stream_types, e.stream_id.category())
            && any(&self.event_types, &e.event_type)
            && self.stream.as_ref().is_none_or(|s| *s == e.stream_id)
    }
}

/// The caller, owned: a subscription outlives the request that started it.
struct Owner {
    state: AppState,
    identity: Identity,
    request_id: String,
    /// Over WebSocket, the connection's identity as it changes.
    live: Option<crate::ws::LiveIdentity>,
    changes: Option<tokio::sync::watch::Receiver<Option<Identity>>>,
}

impl Owner {
    fn of(ctx: &Context<'_>, caller: &Caller<'_>) -> Self {
        let live = ctx.data_opt::<crate::ws::LiveIdentity>().cloned();
        let changes = live.as_ref().map(|live| {
            let mut changes = live.watch();
            // what the caller was checked with is not news
            changes.mark_unchanged();
            changes
        });
        Self {
            state: caller.state.clone(),
            identity: caller.identity.clone().into_owned(),
            request_id: caller.request_id.to_owned(),
            live,
            changes,
        }
    }

    fn caller(&self) -> Caller<'_> {
        Caller {
            state: &self.state,
            identity: std::borrow::Cow::Borrowed(&self.identity),
            request_id: &self.request_id,
        }
    }

    /// The error that ends a subscription for `why`, counted for the connection (which closes
    /// once none is left).
    fn revoked(&self, why: Revocation) -> async_graphql::Error {
        if let Some(live) = &self.live {
            live.revoked();
        }
        tracing::info!(request_id = %self.request_id, reason = why.code(), "subscription ended: access revoked");
        ApiError::AccessRevoked(why).into_graphql(&self.request_id)
    }

    /// The caller's identity once it changed; `Err` when it no longer authenticates at all.
    /// Never returns without a connection to follow.
    async fn changed(changes: &mut Option<tokio::sync::watch::Receiver<Option<Identity>>>) -> Option<Identity> {
        let Some(receiver) = changes else { return std::future::pending().await };
        if receiver.changed().await.is_err() {
            // the connection is gone: so is the subscription, soon
            return std::future::pending().await;
        }
        receiver.borrow_and_update().clone()
    }

    /// Takes `identity` (the connection's new one): `Err` for the error that ends the
    /// subscription unless the caller still holds one of `roles`.
    fn update(&mut self, identity: Option<Identity>, roles: &[Role]) -> Result<(), async_graphql::Error> {
        let Some(identity) = identity else { return Err(self.revoked(Revocation::IdentityRefused)) };
        self.identity = identity;
        if !self.caller().has_any(roles) {
            return Err(self.revoked(Revocation::RoleRevoked));
        }
        Ok(())
    }
}

/// Roles that may follow a public project (`projectChanged` of the catalogue).
const PUBLIC_READERS: [Role; 5] = [Role::Reader, Role::LabTeam, Role::Admin, Role::Auditor, Role::Academie];

/// What the subscription waits for next.
enum Wake {
    Event(Option<async_graphql::Result<Arc<LiveEvent>>>),
    Identity(Option<Identity>),
}

impl Wake {
    /// What a subscription wakes up for next: a change of its owner's rights, which comes
    /// before any event that follows it, or the next event of the feed.
    async fn next(owner: &mut Owner, events: &mut Receiver<Arc<LiveEvent>>) -> Self {
        tokio::select! {
            biased;
            identity = Owner::changed(&mut owner.changes) => Wake::Identity(identity),
            event = next_event(events, &owner.request_id) => Wake::Event(event),
        }
    }
}

/// The next event of the feed; `None` once the feed is closed (shutdown), an error that ends
/// the subscription when it fell too far behind.
async fn next_event(
    events: &mut Receiver<Arc<LiveEvent>>,
    request_id: &str,
) -> Option<async_graphql::Result<Arc<LiveEvent>>> {
    match events.recv().await {
        Ok(event) => Some(Ok(event)),
        Err(RecvError::Lagged(missed)) => {
            metrics::counter!(crate::telemetry::metric::SUBSCRIPTIONS_LAGGED).increment(1);
            tracing::info!(%request_id, missed, "subscription ended: too far behind the live feed");
            Some(Err(ApiError::SubscriptionLagged.into_graphql(request_id)))
        }
        Err(RecvError::Closed) => None,
    }
}

/// An entity a `…Changed` subscription follows: read from its read model with the caller's
/// rights, its version the stream version of the last event it reflects.
trait Watched: Sized + Send + 'static {
    const KIND: Kind;
    /// Whether the entity can be in the public catalogue (`READER` may then follow it).
    const PUBLIC: bool;
    const NOT_FOUND: &'static str;
    fn version(&self) -> u64;
    /// The entity if it exists and the caller may see it.
    fn load(caller: &Caller<'_>, id: Uuid) -> impl Future<Output = async_graphql::Result<Option<Self>>> + Send;
}

impl Watched for Project {
    const KIND: Kind = Kind::Project;
    const PUBLIC: bool = true;
    const NOT_FOUND: &'static str = "ce projet n'existe pas";
    fn version(&self) -> u64 {
        self.0.version
    }
    fn load(caller: &Caller<'_>, id: Uuid) -> impl Future<Output = async_graphql::Result<Option<Self>>> + Send {
        visible_project(caller, id)
    }
}

impl Watched for Session {
    const KIND: Kind = Kind::Session;
    const PUBLIC: bool = false;
    const NOT_FOUND: &'static str = "cette session n'existe pas";
    fn version(&self) -> u64 {
        self.0.version
    }
    fn load(caller: &Caller<'_>, id: Uuid) -> impl Future<Output = async_graphql::Result<Option<Self>>> + Send {
        visible_session(caller, id)
    }
}

/// `projectChanged` and `sessionChanged`: `NOT_FOUND` now, or the entity after each change.
async fn changes<T: Watched>(
    ctx: &Context<'_>,
    id: &ID,
    after_version: Option<u64>,
) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<T>> + use<T>> {
    let caller = if T::PUBLIC { access::public_reader(ctx)? } else { access::reader(ctx)? };
    let uuid = ids::decode(T::KIND, id).ok_or_else(|| caller.not_found(T::NOT_FOUND))?;
    // listen before reading: a change committed in between is then seen, not lost
    let events = caller.state.live.subscribe();
    let current = T::load(&caller, uuid).await?.ok_or_else(|| caller.not_found(T::NOT_FOUND))?;
    let known = after_version.unwrap_or(current.version());
    let watch = Watch {
        stream: StreamId::new(category(T::KIND), uuid),
        id: uuid,
        // sent first or already known: either way nothing up to it is news
        last: known.max(current.version()),
        first: (current.version() > known).then_some(current),
        owner: Owner::of(ctx, &caller),
        events,
        ended: false,
    };
    Ok(futures::stream::unfold(watch, Watch::next))
}

/// A `…Changed` subscription's state between two updates.
struct Watch<T> {
    owner: Owner,
    id: Uuid,
    stream: StreamId,
    events: Receiver<Arc<LiveEvent>>,
    /// The last version sent (or known to the client).
    last: u64,
    /// The current entity, to send first (`afterVersion` behind it).
    first: Option<T>,
    /// An error was sent: the subscription is over.
    ended: bool,
}

impl<T: Watched> Watch<T> {
    async fn next(mut self) -> Option<(async_graphql::Result<T>, Self)> {
        if self.ended {
            return None;
        }
        if let Some(entity) = self.first.take() {
            return Some((Ok(entity), self));
        }
        loop {
            let wake = Wake::next(&mut self.owner, &mut self.events).await;
            let event = match wake {
                Wake::Event(None) => return None,
                Wake::Event(Some(Ok(event))) => event,
                Wake::Event(Some(Err(e))) => return self.end(e),
                Wake::Identity(identity) => {
                    let roles: &[Role] = if T::PUBLIC { &PUBLIC_READERS } else { &access::READERS };
                    if let Err(e) = self.owner.update(identity, roles) {
                        return self.end(e);
                    }
                    match T::load(&self.owner.caller(), self.id).await {
                        Ok(Some(_)) => continue,
                        Ok(None) => {
                            let e = self.owner.revoked(Revocation::OutOfTerritory);
                            return self.end(e);
                        }
                        Err(e) => return self.end(e),
                    }
                }
            };
            // the read model commits with the events (inline): it shows at least this version
            if event.stream_id != self.stream || event.stream_version <= self.last {
                continue;
            }
            let caller = self.owner.caller();
            match T::load(&caller, self.id).await {
                Ok(Some(entity)) if entity.version() > self.last => {
                    self.last = entity.version();
                    return Some((Ok(entity), self));
                }
                // already sent with an earlier event of the same command
                Ok(Some(_)) => {}
                // it left the caller's territory
                Ok(None) => {
                    let e = caller.not_found(T::NOT_FOUND);
                    return self.end(e);
                }
                Err(e) => return self.end(e),
            }
        }
    }

    fn end(mut self, e: async_graphql::Error) -> Option<(async_graphql::Result<T>, Self)> {
        self.ended = true;
        Some((Err(e), self))
    }
}

/// `activity`'s state between two events.
struct ActivityFeed {
    owner: Owner,
    events: Receiver<Arc<LiveEvent>>,
    filter: Filter,
    /// `Some(académie codes)` for a caller limited to a territory.
    territory: Option<Vec<String>>,
    /// For a territory: whether each project met so far is in it.
    visible: HashMap<Uuid, bool>,
    ended: bool,
}

impl ActivityFeed {
    async fn next(mut self) -> Option<(async_graphql::Result<ActivityEvent>, Self)> {
        if self.ended {
            return None;
        }
        loop {
            let wake = Wake::next(&mut self.owner, &mut self.events).await;
            let event = match wake {
                Wake::Event(None) => return None,
                Wake::Event(Some(Ok(event))) => event,
                Wake::Event(Some(Err(e))) => return self.end(e),
                Wake::Identity(identity) => {
                    if let Err(e) = self.owner.update(identity, &access::READERS) {
                        return self.end(e);
                    }
                    // the new territory, from now on
                    self.territory = self.owner.caller().territory();
                    self.visible.clear();
                    continue;
                }
            };
            if !self.filter.matches(&event) {
                continue;
            }
            match self.sees(&event).await {
                Ok(true) => return Some((Ok(ActivityEvent::from(event.as_ref())), self)),
                Ok(false) => {}
                Err(e) => return self.end(e),
            }
        }
    }

    /// Whether the caller may see `event`: always without a territory; otherwise only events
    /// of projects and sessions of its académies, as the read models show them now. A project
    /// is looked up once and remembered until an event changes its académies; a session (rare
    /// events, académies that follow its attendance) at each event.
    async fn sees(&mut self, event: &LiveEvent) -> async_graphql::Result<bool> {
        if self.territory.is_none() {
            return Ok(true);
        }
        let id = match entity_of(&event.stream_id) {
            Some((Kind::Project, id)) => id,
            Some((Kind::Session, id)) => return Ok(visible_session(&self.owner.caller(), id).await?.is_some()),
            Some((Kind::Person, _)) | None => return Ok(false),
        };
        if carnet_domain::project::ProjectEvent::TERRITORY_CHANGES.contains(&event.event_type.as_str()) {
            self.visible.remove(&id);
        }
        if let Some(&visible) = self.visible.get(&id) {
            return Ok(visible);
        }
        let visible = visible_project(&self.owner.caller(), id).await?.is_some();
        if self.visible.len() >= MAX_REMEMBERED_PROJECTS {
            self.visible.clear();
        }
        self.visible.insert(id, visible);
        Ok(visible)
    }

    fn end(mut self, e: async_graphql::Error) -> Option<(async_graphql::Result<ActivityEvent>, Self)> {
        self.ended = true;
        Some((Err(e), self))
    }
}

/// The stream category of entities of `kind` (the deciders' `CATEGORY`).
fn category(kind: Kind) -> &'static str {
    match kind {
        Kind::Project => <carnet_domain::project::Project as carnet_domain::Decider>::CATEGORY,
        Kind::Session => <carnet_domain::session::Session as carnet_domain::Decider>::CATEGORY,
        Kind::Person => <carnet_domain::person::Person as carnet_domain::Decider>::CATEGORY,
    }
}

/// The entity a stream holds, for the kinds that have an opaque id.
pub(super) fn entity_of(stream: &StreamId) -> Option<(Kind, Uuid)> {
    let (name, id) = stream.as_str().split_once('-')?;
    let kind = [Kind::Project, Kind::Session, Kind::Person].into_iter().find(|k| category(*k) == name)?;
    Some((kind, Uuid::parse_str(id).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_store::Actor as LogActor;

    fn event(stream: &StreamId, event_type: &str) -> LiveEvent {
        LiveEvent {
            global_position: 7,
            stream_id: stream.clone(),
            stream_version: 3,
            event_type: event_type.into(),
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
            actor: LogActor { id: "alice".into(), issuer: "carnet-local".into() },
        }
    }

    #[tokio::test]
    async fn a_subscription_too_far_behind_gets_an_error_and_one_closed_ends() {
        let (sender, mut events) = tokio::sync::broadcast::channel(2);
        let stream = StreamId::new("project", Uuid::now_v7());
        for _ in 0..3 {
            sender.send(Arc::new(event(&stream, "X"))).unwrap();
        }
        let lagged = next_event(&mut events, "req-1").await.expect("an item").expect_err("lagged");
        let code = lagged.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        assert_eq!(code, Some(async_graphql::Value::from("SUBSCRIPTION_LAGGED")));
        drop(sender);
        assert!(next_event(&mut events, "req-1").await.is_some_and(|e| e.is_ok()), "what is left comes");
        assert!(next_event(&mut events, "req-1").await.is_some_and(|e| e.is_ok()));
        assert!(next_event(&mut events, "req-1").await.is_none(), "then the end");
    }

    #[test]
    fn streams_name_their_entities_with_opaque_ids() {
        let id = Uuid::now_v7();
        for kind in [Kind::Project, Kind::Session, Kind::Person] {
            let stream = StreamId::new(category(kind), id);
            assert_eq!(entity_of(&stream), Some((kind, id)));
            assert_eq!(ActivityEvent::from(&event(&stream, "X")).entity_id, Some(ids::encode(kind, id)));
        }
        let reference = StreamId::new("reference", id);
        assert_eq!(entity_of(&reference), None, "no opaque id for a reference series");
        let seen = ActivityEvent::from(&event(&reference, "ReferenceAllocated"));
        assert_eq!((seen.stream_type.as_str(), seen.entity_id), ("reference", None));
    }

    #[test]
    fn filters_add_up_and_refuse_what_they_cannot_mean() {
        let project = StreamId::new("project", Uuid::now_v7());
        let other = StreamId::new("project", Uuid::now_v7());
        let filter = Filter::parse(ActivityFilter {
            stream_types: Some(vec!["project".into()]),
            event_types: Some(vec!["ProjectAccepted".into(), "ProjectDeclined".into()]),
            entity_id: Some(ids::encode(Kind::Project, entity_of(&project).unwrap().1)),
        })
        .unwrap();
        assert!(filter.matches(&event(&project, "ProjectDeclined")));
        assert!(!filter.matches(&event(&project, "ProjectSubmitted")));
        assert!(!filter.matches(&event(&other, "ProjectAccepted")));
        assert!(Filter::parse(ActivityFilter::default()).unwrap().matches(&event(&other, "Anything")));

        let bad = [
            ActivityFilter { entity_id: Some(ID("nope".into())), ..Default::default() },
            ActivityFilter { event_types: Some(vec![String::new()]), ..Default::default() },
            ActivityFilter { stream_types: Some(vec!["x".into(); 51]), ..Default::default() },
        ];
        for filter in bad {
            assert_eq!(Filter::parse(filter).err().map(|e| e.code()), Some("BAD_USER_INPUT"));
        }
    }
}

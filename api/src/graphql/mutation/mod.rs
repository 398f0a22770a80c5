//! Mutations (DESIGN §5): one per domain command, `verbNoun(input: VerbNounInput!):
//! VerbNounPayload!`, GitHub style. Each one is the way of a command of DESIGN §2 and nothing
//! more: [`Change::begin`] authenticates and authorizes the caller and builds the metadata,
//! the resolver parses its input into a domain command (bad input is `BAD_USER_INPUT` naming
//! the rule, before anything is written), [`carnet_lab::Lab::execute`] decides and appends with
//! the inline projections, and the payload reads the read model the same transaction updated.
//!
//! Idempotence: a `clientMutationId` becomes the command id (a UUID v5 of the caller and the
//! id), so a client that retries after a lost answer gets the first result, and nothing is
//! written twice. The command also carries the request's fingerprint
//! ([`carnet_store::request_fingerprint`] of the mutation's name and its canonical arguments,
//! the `clientMutationId` left out): the same id with another mutation, another entity or
//! another input is `BAD_USER_INPUT`, rule `clientMutationId.reused`, and writes nothing. The
//! arguments are canonical as async-graphql resolves them (variables substituted), with object
//! keys sorted, and `null` fields and empty lists dropped (for these inputs, the same as leaving
//! them out). An id is taken by the first command that *writes*: a refused command records
//! nothing, so its id may be sent again, corrected or not; so does a command that changed
//! nothing (erasing a person already erased), whose retry decides again.
//!
//! One file per aggregate declares its inputs ([`entity_inputs!`]), payloads ([`payloads!`]) and
//! resolvers ([`mutations!`]): a command on an existing entity is one line of table and the
//! block that builds the command from the input; what does more (creating an entity with its
//! reference, an erasure) is written out.

mod person;
mod project;
mod session;

use super::access::{self, Caller};
use super::error::ApiError;
use super::ids::{self, Kind};
use async_graphql::{Context, ID, MergedObject};
use carnet_domain::values::LongText;
use carnet_domain::{Decider, ValueError};
use carnet_store::{Actor, Metadata};
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

/// Every mutation of the API, merged from one object per aggregate.
#[derive(MergedObject, Default)]
pub struct Mutation(project::ProjectMutation, session::SessionMutation, person::PersonMutation);

/// A change under way: who asks, and the metadata its events will carry.
pub(crate) struct Change<'c> {
    pub caller: Caller<'c>,
    pub metadata: Metadata,
    pub client_mutation_id: Option<String>,
    /// The events written on the entity's stream, for the payload's `events`.
    written: std::sync::Mutex<Vec<super::proofs::WrittenEvent>>,
}

impl<'c> Change<'c> {
    /// A change by a caller holding one of `roles`.
    pub fn begin(
        ctx: &'c Context<'_>,
        client_mutation_id: Option<String>,
        roles: &[carnet_domain::person::Role],
    ) -> async_graphql::Result<Self> {
        let caller = access::authenticated(ctx)?;
        caller.require(roles)?;
        let identity = &caller.identity;
        let mut metadata = Metadata::new(actor(identity));
        if let Some(client_id) = &client_mutation_id {
            let key = format!("{}\n{}\n{client_id}", identity.issuer, identity.sub);
            metadata.command_id = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes());
            metadata.correlation_id = metadata.command_id;
            metadata.fingerprint = Some(fingerprint(ctx)?);
        }
        Ok(Self { caller, metadata, client_mutation_id, written: Default::default() })
    }

    /// The uuid of an entity id of `kind`; `NOT_FOUND` for anything else.
    pub fn target(&self, kind: Kind, id: &ID, what: &str) -> async_graphql::Result<Uuid> {
        ids::decode(kind, id).ok_or_else(|| self.caller.not_found(what))
    }

    /// The GraphQL error for `e`.
    pub fn fail(&self, e: impl Into<ApiError>) -> async_graphql::Error {
        self.caller.fail(e)
    }

    /// The id of the entity this change creates: derived from the command id when the client
    /// gave a `clientMutationId` (a retried mutation then finds the entity it created), else new.
    /// `kind` tells the entities of one command apart.
    pub fn new_id(&self, kind: &[u8]) -> Uuid {
        match self.client_mutation_id {
            Some(_) => Uuid::new_v5(&self.metadata.command_id, kind),
            None => Uuid::now_v7(),
        }
    }

    /// Runs `build`'s command on the entity `id` of `E` (its opaque id; `NOT_FOUND` for
    /// anything else), and gives its uuid.
    pub async fn on<E: Changed>(
        &self,
        id: &ID,
        expected_version: Option<i64>,
        build: impl FnOnce() -> Result<<E::Decider as Decider>::Command, ApiError>,
    ) -> async_graphql::Result<Uuid> {
        let id = self.target(E::KIND, id, E::NOT_FOUND)?;
        self.execute::<E::Decider>(id, expected_version, build).await?;
        Ok(id)
    }

    /// Keeps the events a command wrote (or, replayed, had written) for the payload.
    pub fn record(&self, events: &[carnet_store::RecordedEvent]) {
        let mut written = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        written.extend(events.iter().map(super::proofs::WrittenEvent::of));
    }

    /// The entity `id` of `E` as the read model shows it after the change, with the client's
    /// mutation id and the events written.
    pub async fn finish<E: Changed>(
        self,
        id: Uuid,
    ) -> async_graphql::Result<(Option<String>, E, Vec<super::proofs::WrittenEvent>)> {
        let entity = E::visible(&self.caller, id).await?.ok_or_else(|| self.caller.not_found(E::NOT_FOUND))?;
        let written = self.written.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok((self.client_mutation_id, entity, written))
    }

    /// The input `parse` reads, or its `BAD_USER_INPUT`.
    pub fn input<T>(&self, parse: impl FnOnce() -> Result<T, ApiError>) -> async_graphql::Result<T> {
        parse().map_err(|e| self.fail(e))
    }

    /// Decides and appends `build`'s command on entity `id` of `D` (bad input refused before
    /// anything is loaded), at the version the client saw if it gave one.
    pub async fn execute<D: Decider>(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        build: impl FnOnce() -> Result<D::Command, ApiError>,
    ) -> async_graphql::Result<()> {
        let expected = expected(expected_version).map_err(|e| self.fail(e))?;
        let command = build().map_err(|e| self.fail(e))?;
        let executed = self
            .caller
            .state
            .lab
            .execute::<D>(id, &command, &self.metadata, expected)
            .await
            .map_err(|e| self.fail(e))?;
        self.record(&executed.events);
        Ok(())
    }
}

/// An entity that mutations change: the aggregate that decides, and how the payload reads the
/// entity back.
pub(crate) trait Changed: Sized {
    type Decider: Decider;
    /// The kind of its opaque ids.
    const KIND: Kind;
    /// The message of `NOT_FOUND` for it.
    const NOT_FOUND: &'static str;
    /// The entity `id`, if the caller may see it.
    fn visible(caller: &Caller<'_>, id: Uuid) -> impl Future<Output = async_graphql::Result<Option<Self>>> + Send;
}

/// The entities mutations change, each with its decider, the kind of its ids, the function that
/// reads it as the caller may see it, and its `NOT_FOUND` message.
macro_rules! changed {
    ($($entity:ty => $decider:ty, $kind:ident, $visible:path, $not_found:path;)*) => {
        $(
            impl Changed for $entity {
                type Decider = $decider;
                const KIND: Kind = Kind::$kind;
                const NOT_FOUND: &'static str = $not_found;
                fn visible(
                    caller: &Caller<'_>,
                    id: Uuid,
                ) -> impl Future<Output = async_graphql::Result<Option<Self>>> + Send {
                    $visible(caller, id)
                }
            }
        )*
    };
}

changed! {
    super::project::Project => carnet_domain::project::Project, Project,
        super::project::visible_project, project::NOT_FOUND;
    super::session::Session => carnet_domain::session::Session, Session,
        super::session::visible_session, session::NOT_FOUND;
    super::person::Person => carnet_domain::person::Person, Person,
        super::person::find_person, person::NOT_FOUND;
}

/// The fingerprint of the mutation being resolved: its field name and its arguments, canonical.
fn fingerprint(ctx: &Context<'_>) -> async_graphql::Result<String> {
    let field = ctx.field();
    let mut arguments = serde_json::Map::new();
    for (name, value) in field.arguments()? {
        let mut value = value.into_json()?;
        if let Some(input) = value.as_object_mut() {
            input.remove("clientMutationId");
        }
        arguments.insert(name.to_string(), value);
    }
    let mut canonical = String::new();
    canonical_json(&serde_json::Value::Object(arguments), &mut canonical);
    Ok(carnet_store::request_fingerprint(field.name(), &canonical))
}

/// `value` as JSON text with sorted keys, without `null` members and empty lists.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    let insignificant = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.iter().filter(|(_, v)| !insignificant(v)).map(|(k, _)| k).collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&members[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Who the log records as the actor: a provider's caller by the opaque id of the person their
/// identity is linked to (the provider's `sub` is personal data, and would outlive an erasure
/// in the log), a local token's by its subject (the name an operator gave it).
pub(crate) fn actor(identity: &crate::auth::Identity) -> Actor {
    let id = identity.person.map_or_else(|| identity.sub.clone(), |person| person.to_string());
    Actor { id, issuer: identity.issuer.clone() }
}

/// `value`, or `BAD_USER_INPUT` naming the input field and the rule.
pub(crate) fn field<T>(name: &str, value: Result<T, ValueError>) -> Result<T, ApiError> {
    value.map_err(|e| ApiError::BadUserInput(format!("{name} : {}", e.message), e.rule))
}

/// An optional text field, parsed when present.
pub(crate) fn optional<T>(
    name: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<Option<T>, ApiError> {
    raw.map(|r| field(name, parse(r))).transpose()
}

/// A list of text values, each parsed.
pub(crate) fn list<T>(
    name: &str,
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<Vec<T>, ApiError> {
    raw.iter().map(|r| field(name, parse(r))).collect()
}

/// The `reason` of a refusal, a withdrawal, a cancellation…: a long text.
pub(crate) fn reason(text: &str) -> Result<LongText, ApiError> {
    field("reason", LongText::parse(text))
}

/// The day a fact happened: the given one, or today.
pub(crate) fn day(on: Option<NaiveDate>) -> NaiveDate {
    on.unwrap_or_else(|| Utc::now().date_naive())
}

/// An `expectedVersion` as the store takes it; negative ones are refused.
fn expected(version: Option<i64>) -> Result<Option<u64>, ApiError> {
    version
        .map(|v| {
            u64::try_from(v).map_err(|_| {
                ApiError::BadUserInput("expectedVersion : une version est positive".into(), "version.positive")
            })
        })
        .transpose()
}

/// A count given as an `Int`: refused by `rule` when negative.
pub(crate) fn count(name: &str, value: i64, rule: &'static str) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| ApiError::BadUserInput(format!("{name} : un nombre positif est attendu"), rule))
}

/// The person behind an opaque `Person` id; `NOT_FOUND` for anything else.
pub(crate) fn person_id(id: &ID) -> Result<carnet_domain::values::PersonId, ApiError> {
    ids::decode(Kind::Person, id)
        .map(carnet_domain::values::PersonId)
        .ok_or_else(|| ApiError::NotFound("cette personne n'existe pas".into()))
}

/// A payload type per mutation (GitHub style): the client's `clientMutationId`, the entity as
/// the read model shows it after the change, and the events written.
macro_rules! payloads {
    ($field:ident: $entity:ty => $($name:ident),* $(,)?) => {
        $(
            #[derive(async_graphql::SimpleObject)]
            pub struct $name {
                /// The client's id for this mutation, echoed.
                client_mutation_id: Option<String>,
                $field: $entity,
                /// The events this mutation wrote on the entity's stream (a retried mutation:
                /// those of its first run), in order: their `leafIndex` in the log's tree, and
                /// later a `receipt` of each, verifiable with the log's public key alone.
                events: Vec<$crate::graphql::proofs::WrittenEvent>,
            }

            impl $name {
                fn new(
                    client_mutation_id: Option<String>,
                    $field: $entity,
                    events: Vec<$crate::graphql::proofs::WrittenEvent>,
                ) -> Self {
                    Self { client_mutation_id, $field, events }
                }
            }
        )*
    };
}
pub(crate) use payloads;

/// The input types of the mutations on an existing entity: the client's mutation id, the
/// entity's opaque id (`$id`), the version the client saw (`$version` documents it), then the
/// mutation's own fields.
macro_rules! entity_inputs {
    ($id:ident, $version:tt; $($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? })*) => {
        $(
            $(#[$m])*
            #[derive(async_graphql::InputObject)]
            pub struct $name {
                client_mutation_id: Option<String>,
                $id: ID,
                #[doc = $version]
                expected_version: Option<i64>,
                $($(#[$fm])* $f: $t,)*
            }
        )*
    };
}
pub(crate) use entity_inputs;

/// The object of one aggregate's mutations and its `#[Object]` (module docs), one resolver per
/// entry, in the order written:
/// - `name(input: Input) -> Payload { build }`: runs the command `build` makes of the input on
///   the entity `input.$id` of `$entity` ([`Change::on`]);
/// - `name(input: Input) -> Payload with change { … }`: runs the block with the `change` begun,
///   which does what the mutation needs (create an entity, erase one) and gives the id of the
///   entity it created or changed.
///
/// Either way the resolver begins the change for writers (`access::WRITERS`), or for the roles
/// `, roles: [Role::…]` after the payload names, and answers the entity as the read model shows
/// it after the change. (The entries are expanded one by one into the body of the `#[Object]`
/// impl, which must see every resolver written out.)
macro_rules! mutations {
    (pub struct $object:ident for $entity:ty, id $id:ident; $($entries:tt)*) => {
        #[derive(Default)]
        pub struct $object;

        $crate::graphql::mutation::mutations!(@munch $object, $entity, $id, [] $($entries)*);
    };
    (@munch $object:ident, $entity:ty, $id:ident, [$($done:tt)*]) => {
        #[async_graphql::Object]
        impl $object {
            $($done)*
        }
    };
    (@munch $object:ident, $entity:ty, $id:ident, [$($done:tt)*]
        $(#[$m:meta])*
        $name:ident($input:ident: $input_ty:ty) -> $payload:ident $(, roles: [$($role:path),+])?
            with $change:ident $body:block
        $($rest:tt)*
    ) => {
        $crate::graphql::mutation::mutations!(@munch $object, $entity, $id, [
            $($done)*
            $(#[$m])*
            async fn $name(
                &self,
                ctx: &async_graphql::Context<'_>,
                $input: $input_ty,
            ) -> async_graphql::Result<$payload> {
                let roles = $crate::graphql::mutation::mutations!(@roles $($($role),+)?);
                let $change = $crate::graphql::mutation::Change::begin(ctx, $input.client_mutation_id, roles)?;
                let id: uuid::Uuid = $body;
                let (client_mutation_id, entity, events) = $change.finish(id).await?;
                Ok($payload::new(client_mutation_id, entity, events))
            }
        ] $($rest)*);
    };
    // a command on an existing entity: the same, with the command run as its block
    (@munch $object:ident, $entity:ty, $id:ident, [$($done:tt)*]
        $(#[$m:meta])*
        $name:ident($input:ident: $input_ty:ty) -> $payload:ident $(, roles: [$($role:path),+])? $build:block
        $($rest:tt)*
    ) => {
        $crate::graphql::mutation::mutations!(@munch $object, $entity, $id, [$($done)*]
            $(#[$m])*
            $name($input: $input_ty) -> $payload $(, roles: [$($role),+])? with change {
                change.on::<$entity>(&$input.$id, $input.expected_version, || $build).await?
            }
            $($rest)*
        );
    };
    (@roles) => { &$crate::graphql::access::WRITERS };
    (@roles $($role:path),+) => { &[$($role),+] };
}
pub(crate) use mutations;

//! Relay's `Node` interface (DESIGN §5): `node(id:)` and `nodes(ids:)` fetch any entity by its
//! opaque id, with the same access rules as `project`, `session` and `person`: what the caller
//! may not see is `NOT_FOUND` for `node` and `null` for `nodes`, never a hint that it exists.
//! A `READER` finds public projects only: sessions and people are not in the catalogue.

use super::access::{self, Caller};
use super::ids::{self, Kind};
use super::loaders::{PersonKey, ProjectKey, SessionKey, load_many};
use super::person::{PERSON_READERS, Person};
use super::project::{Project, fail};
use super::session::Session;
use async_graphql::{Context, ID, Interface, Object};

/// An entity with a global, opaque id.
// the variants are read-model rows, built once per answer and moved out at once: boxing them
// would only add an allocation
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque id, valid for `node(id:)`."))]
pub enum Node {
    Project(Project),
    Session(Session),
    Person(Person),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any entity by its opaque id; `null` and `NOT_FOUND` when it does not exist or the
    /// caller may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let caller = access::public_reader(ctx)?;
        let found = fetch(ctx, &caller, std::slice::from_ref(&id)).await?.pop().flatten();
        found.ok_or_else(|| caller.not_found("cet identifiant ne désigne rien que vous puissiez voir")).map(Some)
    }

    /// Entities by their opaque ids, in the same order; `null` for each one that does not
    /// exist or that the caller may not see. At most 100 ids.
    #[graphql(complexity = "super::limits::list_cost(ids.len(), child_complexity)")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> async_graphql::Result<Vec<Option<Node>>> {
        let caller = access::public_reader(ctx)?;
        if ids.len() > 100 {
            return Err(caller
                .fail(super::error::ApiError::BadUserInput("nodes : 100 identifiants au plus".into(), "pagination")));
        }
        fetch(ctx, &caller, &ids).await
    }
}

/// The visible entity behind each id, in order: one batched read per kind.
async fn fetch(ctx: &Context<'_>, caller: &Caller<'_>, wanted: &[ID]) -> async_graphql::Result<Vec<Option<Node>>> {
    let decoded: Vec<_> = wanted.iter().map(ids::decode_any).collect();
    let of = |kind: Kind| decoded.iter().flatten().filter(move |(k, _)| *k == kind).map(|(_, id)| *id);
    let projects = load_many(ctx, of(Kind::Project).map(ProjectKey).collect()).await.map_err(|e| fail(ctx, e))?;
    let sessions = load_many(ctx, of(Kind::Session).map(SessionKey).collect()).await.map_err(|e| fail(ctx, e))?;
    let people = if caller.has_any(&PERSON_READERS) {
        load_many(ctx, of(Kind::Person).map(PersonKey).collect()).await.map_err(|e| fail(ctx, e))?
    } else {
        vec![]
    };
    Ok(decoded
        .iter()
        .map(|found| match *found {
            Some((Kind::Project, id)) => projects
                .iter()
                .find(|p| p.id == id && caller.sees_project(&p.academies, p.visibility))
                .cloned()
                .map(|p| Node::Project(Project::whole(p))),
            Some((Kind::Session, id)) => sessions
                .iter()
                .find(|s| s.id == id && !caller.public_only() && caller.sees(&s.academies))
                .cloned()
                .map(|s| Node::Session(Session(s))),
            Some((Kind::Person, id)) => people.iter().find(|p| p.id == id).cloned().map(|p| Node::Person(Person(p))),
            None => None,
        })
        .collect())
}

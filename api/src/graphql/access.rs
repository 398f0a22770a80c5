//! Who is calling, and what they may read (DESIGN §6). Every resolver starts with [`caller`];
//! territory-limited callers (`ACADEMIE`) get their académie codes from [`territory`] and see
//! another académie's entity as `NOT_FOUND`, never `FORBIDDEN`, so that its existence does not
//! leak.

use super::error::ApiError;
use super::request::RequestId;
use crate::auth::Identity;
use crate::startup::AppState;
use async_graphql::Context;
use carnet_domain::person::Role;
use carnet_domain::project::Visibility;
use carnet_domain::values::AcademieCode;
use std::borrow::Cow;

/// What a resolver needs of the request: the services, the identity, the request id. Over
/// WebSocket the identity is the connection's as it stands now (`crate::ws::LiveIdentity`),
/// hence owned there.
pub struct Caller<'c> {
    pub state: &'c AppState,
    pub identity: Cow<'c, Identity>,
    pub request_id: &'c str,
}

impl Caller<'_> {
    /// The GraphQL error for `e`, carrying this request's id.
    pub fn fail(&self, e: impl Into<ApiError>) -> async_graphql::Error {
        e.into().into_graphql(self.request_id)
    }

    /// Runs `fold`, a read of the log, in one of the process's places for such folds
    /// (`expensive.rs`): `RATE_LIMITED` (`reason: "BUSY"`) when none is free; its own failure
    /// as the GraphQL error it maps to.
    pub async fn fold<T, E: Into<ApiError>>(
        &self,
        fold: impl Future<Output = Result<T, E>>,
    ) -> async_graphql::Result<T> {
        match self.state.expensive.run(&self.identity, fold).await {
            Ok(folded) => folded.map_err(|e| self.fail(e)),
            Err(busy) => Err(self.fail(busy)),
        }
    }

    /// `NOT_FOUND` with `message`.
    pub fn not_found(&self, message: &str) -> async_graphql::Error {
        self.fail(ApiError::NotFound(message.to_owned()))
    }

    /// Whether the caller holds one of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.identity.roles.iter().any(|r| roles.contains(r))
    }

    /// `FORBIDDEN` unless the caller holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> async_graphql::Result<()> {
        if self.has_any(roles) { Ok(()) } else { Err(self.fail(ApiError::Forbidden)) }
    }

    /// `Some(codes)` for a caller limited to académies (no role that reads everything).
    /// A public-only caller has none: the catalogue is national.
    pub fn territory(&self) -> Option<Vec<String>> {
        if self.has_any(&READS_EVERYTHING) || self.public_only() {
            return None;
        }
        Some(self.identity.academies.iter().map(|a| a.as_str().to_owned()).collect())
    }

    /// The académies a filter may count for this caller: what it asked for (all académies when
    /// empty), within its territory if it has one. `None` when that leaves nothing to see (a
    /// territory caller asking only for others): an empty answer, never an error.
    pub fn within_territory(&self, asked: Vec<AcademieCode>) -> Option<Vec<AcademieCode>> {
        let Some(codes) = self.territory() else { return Some(asked) };
        let own: Vec<AcademieCode> = codes.iter().filter_map(|c| AcademieCode::from_stored(c).ok()).collect();
        let allowed: Vec<AcademieCode> =
            if asked.is_empty() { own } else { asked.into_iter().filter(|c| own.contains(c)).collect() };
        (!allowed.is_empty()).then_some(allowed)
    }

    /// Whether an entity of these académies is within the caller's territory.
    pub fn sees(&self, academies: &[String]) -> bool {
        self.territory().is_none_or(|codes| academies.iter().any(|a| codes.contains(a)))
    }

    /// Whether the caller reads only what the lab publishes: `READER` and no role that reads
    /// the lab's entities.
    pub fn public_only(&self) -> bool {
        !self.has_any(&READERS)
    }

    /// Whether the caller may see a project of these académies and this visibility: within its
    /// territory, and in the public catalogue for a public-only caller.
    pub fn sees_project(&self, academies: &[String], visibility: Visibility) -> bool {
        self.sees(academies) && (!self.public_only() || visibility == Visibility::Public)
    }

    /// Whether the caller may see personal data (names, emails): `LAB_TEAM` and `ADMIN` only.
    pub fn sees_personal_data(&self) -> bool {
        self.has_any(&[Role::LabTeam, Role::Admin])
    }
}

/// Roles that read every entity, whatever its académie.
const READS_EVERYTHING: [Role; 3] = [Role::LabTeam, Role::Admin, Role::Auditor];
/// Roles that read the lab's entities (within their territory for `ACADEMIE`). `READER` reads
/// less: see [`public_reader`].
pub const READERS: [Role; 4] = [Role::LabTeam, Role::Admin, Role::Auditor, Role::Academie];
/// Roles that change things.
pub const WRITERS: [Role; 2] = [Role::LabTeam, Role::Admin];

/// The authenticated caller; `UNAUTHENTICATED` without a token.
pub fn authenticated<'c>(ctx: &'c Context<'_>) -> async_graphql::Result<Caller<'c>> {
    let request_id = &ctx.data::<RequestId>()?.0;
    let unauthenticated = || ApiError::Unauthenticated.into_graphql(request_id);
    let identity = match ctx.data_opt::<crate::ws::LiveIdentity>() {
        Some(live) => Cow::Owned(live.current().ok_or_else(unauthenticated)?),
        None => Cow::Borrowed(ctx.data_opt::<Identity>().ok_or_else(unauthenticated)?),
    };
    Ok(Caller { state: ctx.data::<AppState>()?, identity, request_id })
}

/// A caller who reads the public catalogue at least: [`READERS`], or `READER`, who sees the
/// public projects only ([`Caller::sees_project`]) and their public fields only ([`NotPublic`]).
pub fn public_reader<'c>(ctx: &'c Context<'_>) -> async_graphql::Result<Caller<'c>> {
    let caller = authenticated(ctx)?;
    caller.require(&[Role::Reader, Role::LabTeam, Role::Admin, Role::Auditor, Role::Academie])?;
    Ok(caller)
}

/// Guards a field that is not in the public catalogue (who holds a project, its sessions, its
/// progress): `FORBIDDEN` for a public-only caller, naming the field.
pub struct NotPublic;

impl async_graphql::Guard for NotPublic {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let caller = authenticated(ctx)?;
        if caller.public_only() {
            let field = ctx.item.node.name.node.as_str();
            return Err(caller.fail(ApiError::NotPublic(field.to_owned())));
        }
        Ok(())
    }
}

/// A caller who reads the lab's entities (see [`READERS`]); `FORBIDDEN` otherwise.
pub fn reader<'c>(ctx: &'c Context<'_>) -> async_graphql::Result<Caller<'c>> {
    let caller = authenticated(ctx)?;
    caller.require(&READERS)?;
    Ok(caller)
}

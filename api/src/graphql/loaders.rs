//! Batched reads for nested fields (DataLoader): a page of 50 projects asking for their
//! sessions and their holders costs one statement per kind of thing, not one per project.
//!
//! One [`ReadModels`] loader per request (attached in `execute`), so its cache never outlives
//! the request or crosses callers. Resolvers reach it through [`load_many`], which reads
//! directly when no loader is attached (subscriptions over WebSocket), so nothing depends on it
//! being there but speed.

use super::error::ApiError;
use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use carnet_projections::{
    PersonRow, ProjectRow, ProjectionError, ProjectionStore, SessionRow, people_by_ids, projects_by_ids,
    sessions_by_ids, sessions_by_project_ids,
};
use carnet_store::AnyStore;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use uuid::Uuid;

/// A person, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersonKey(pub Uuid);
/// A project, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProjectKey(pub Uuid);
/// A session, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey(pub Uuid);
/// The sessions linked to a project, by the project's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionsOfProject(pub Uuid);

/// The read models, batched.
pub struct ReadModels {
    store: AnyStore,
}

impl ReadModels {
    /// A loader for one request.
    pub fn loader(store: AnyStore) -> DataLoader<Self> {
        DataLoader::new(Self { store }, tokio::spawn)
    }
}

type Loaded<K, V> = Result<HashMap<K, V>, Arc<ProjectionError>>;

fn keyed<K: Hash + Eq, V>(rows: HashMap<Uuid, V>, key: impl Fn(Uuid) -> K) -> HashMap<K, V> {
    rows.into_iter().map(|(id, v)| (key(id), v)).collect()
}

impl Loader<PersonKey> for ReadModels {
    type Value = PersonRow;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[PersonKey]) -> Loaded<PersonKey, PersonRow> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(keyed(people_by_ids(self.store.db(), &ids).await?, PersonKey))
    }
}

impl Loader<ProjectKey> for ReadModels {
    type Value = ProjectRow;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[ProjectKey]) -> Loaded<ProjectKey, ProjectRow> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(keyed(projects_by_ids(self.store.db(), &ids).await?, ProjectKey))
    }
}

impl Loader<SessionKey> for ReadModels {
    type Value = SessionRow;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[SessionKey]) -> Loaded<SessionKey, SessionRow> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(keyed(sessions_by_ids(self.store.db(), &ids).await?, SessionKey))
    }
}

impl Loader<SessionsOfProject> for ReadModels {
    type Value = Vec<SessionRow>;
    type Error = Arc<ProjectionError>;

    async fn load(&self, keys: &[SessionsOfProject]) -> Loaded<SessionsOfProject, Vec<SessionRow>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(keyed(sessions_by_project_ids(self.store.db(), &ids).await?, SessionsOfProject))
    }
}

/// The values of `keys` that exist, in the order of `keys`: through the request's loader when
/// it has one, otherwise read at once.
pub async fn load_many<K>(ctx: &Context<'_>, keys: Vec<K>) -> Result<Vec<<ReadModels as Loader<K>>::Value>, ApiError>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    ReadModels: Loader<K, Error = Arc<ProjectionError>>,
{
    let found = match ctx.data_opt::<DataLoader<ReadModels>>() {
        Some(loader) => loader.load_many(keys.clone()).await,
        None => {
            let state = ctx.data::<crate::startup::AppState>().map_err(|e| ApiError::Internal(e.message.into()))?;
            ReadModels { store: state.store.clone() }.load(&keys).await
        }
    };
    let found = found.map_err(|e| ApiError::internal(Box::new(SharedError(e))))?;
    Ok(keys.iter().filter_map(|k| found.get(k).cloned()).collect())
}

/// A loader's error, shared by every field that waited on the same batch.
#[derive(Debug)]
struct SharedError(Arc<ProjectionError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

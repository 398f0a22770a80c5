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

/// One loader per kind of key: `key => value, read` loads the values of many keys with one
/// `read` of their ids.
macro_rules! loaders {
    ($($key:ident => $value:ty, $read:path;)*) => {
        $(
            impl Loader<$key> for ReadModels {
                type Value = $value;
                type Error = Arc<ProjectionError>;

                async fn load(&self, keys: &[$key]) -> Loaded<$key, $value> {
                    let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
                    Ok(keyed($read(self.store.db(), &ids).await?, $key))
                }
            }
        )*
    };
}

loaders! {
    PersonKey => PersonRow, people_by_ids;
    ProjectKey => ProjectRow, projects_by_ids;
    SessionKey => SessionRow, sessions_by_ids;
    SessionsOfProject => Vec<SessionRow>, sessions_by_project_ids;
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

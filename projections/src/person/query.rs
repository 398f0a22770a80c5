//! Reading the person read model: by id, by ids (for the API's loaders) and by external
//! identity (a token's `(iss, sub)`).

use super::{PersonRow, decode, select_people};
use crate::model::{Tables, backend};
use crate::sql::{self, Arg, in_list};
use crate::{Db, ProjectionError};
use std::collections::HashMap;
use uuid::Uuid;

/// The people with these ids.
async fn by_ids(db: Db<'_>, ids: &[Uuid]) -> Result<Vec<PersonRow>, ProjectionError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let b = backend(db);
    let sql = format!("{} where {}", select_people(b, &Tables::live()), in_list(b, "p.id", 1));
    let texts = with_reader!(db, |conn| sql::fetch_texts(&mut conn, &sql, vec![Arg::Uuids(ids.to_vec())]).await?);
    texts.iter().map(|t| decode(t)).collect()
}

/// The person with this id, if the read model has them (erased people included).
pub async fn person_by_id(db: Db<'_>, id: Uuid) -> Result<Option<PersonRow>, ProjectionError> {
    Ok(by_ids(db, &[id]).await?.into_iter().next())
}

/// The people with these ids (one query, whatever their number): what a loader batches.
pub async fn people_by_ids(db: Db<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, PersonRow>, ProjectionError> {
    Ok(by_ids(db, ids).await?.into_iter().map(|p| (p.id, p)).collect())
}

/// The person to whom the identity `sub` at `issuer` is linked, if any (an erased person has
/// none left).
pub async fn person_by_identity(db: Db<'_>, issuer: &str, sub: &str) -> Result<Option<PersonRow>, ProjectionError> {
    let b = backend(db);
    let sql = format!(
        "{} where p.id = (select i.person_id from person_identity i where i.issuer = $1 and i.sub = $2)",
        select_people(b, &Tables::live())
    );
    let args = vec![Arg::Text(issuer.to_owned()), Arg::Text(sub.to_owned())];
    let texts = with_reader!(db, |conn| sql::fetch_texts(&mut conn, &sql, args).await?);
    texts.first().map(|t| decode(t)).transpose()
}

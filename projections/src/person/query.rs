//! Reading the person read model: by id, by ids (for the API's loaders) and by external
//! identity (a token's `(iss, sub)`).

use super::{PersonModel, PersonRow};
use crate::model::Model;
use crate::model::{Tables, load};
use crate::sql::{self, Arg, Reader};
use crate::{Db, ProjectionError};
use std::collections::HashMap;
use uuid::Uuid;

/// The person with this id, if the read model has them (erased people included).
pub async fn person_by_id(db: Db<'_>, id: Uuid) -> Result<Option<PersonRow>, ProjectionError> {
    Ok(people_by_ids(db, &[id]).await?.into_values().next())
}

/// The people with these ids (one query, whatever their number): what a loader batches.
pub async fn people_by_ids(db: Db<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, PersonRow>, ProjectionError> {
    let rows = load::<PersonModel>(&mut Reader::acquire(db).await?.conn(), &Tables::live(), ids).await?;
    Ok(rows.into_iter().map(|p| (p.id, p)).collect())
}

/// The person to whom the identity `sub` at `issuer` is linked, if any (an erased person has
/// none left).
pub async fn person_by_identity(db: Db<'_>, issuer: &str, sub: &str) -> Result<Option<PersonRow>, ProjectionError> {
    let sql = format!(
        "{} where p.id = (select i.person_id from person_identity i where i.issuer = $1 and i.sub = $2)",
        PersonModel::select(db.backend(), &Tables::live())
    );
    let args = vec![Arg::Text(issuer.to_owned()), Arg::Text(sub.to_owned())];
    let texts = sql::read_texts(db, &sql, args).await?;
    texts.first().map(|t| PersonModel::decode(t)).transpose()
}

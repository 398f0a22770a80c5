//! Queries.

use async_graphql::{Object, SimpleObject};
use carnet_domain::values::academies;

pub struct Query;

/// An académie of the national reference (rectorat), and its région académique.
#[derive(SimpleObject)]
pub struct Academie {
    /// The académie code, e.g. `01` for Paris.
    code: &'static str,
    name: &'static str,
    /// `null` for the Pacific vice-rectorats and Saint-Pierre-et-Miquelon.
    region_academique: Option<&'static str>,
    /// Historical codes (Caen, Rouen) are kept for old records and refused for new ones.
    current: bool,
}

#[Object]
impl Query {
    /// The académies of the reference, current ones only unless `includeHistorical`.
    async fn academies(&self, #[graphql(default = false)] include_historical: bool) -> Vec<Academie> {
        academies()
            .iter()
            .filter(|a| include_historical || a.current)
            .map(|a| Academie {
                code: a.code,
                name: a.name,
                region_academique: a.region_academique,
                current: a.current,
            })
            .collect()
    }
}

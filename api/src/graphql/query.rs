//! Queries.

use super::access;
use async_graphql::{Context, ID, Object, SimpleObject};
use carnet_domain::values::academies;

/// Every query of the API, merged from one object per area.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    BaseQuery,
    super::node::NodeQuery,
    super::project::ProjectQuery,
    super::session::SessionQuery,
    super::person::PersonQuery,
    super::indicators::IndicatorsQuery,
    super::history::HistoryQuery,
    super::integrity::IntegrityQuery,
    super::proofs::ProofQuery,
);

/// Reference data and the caller.
#[derive(Default)]
pub struct BaseQuery;

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

/// A role and its French label.
#[derive(SimpleObject)]
pub struct RoleGrant {
    code: String,
    label: &'static str,
}

/// The caller: who the token says they are, and the roles Carnet gives them.
#[derive(SimpleObject)]
pub struct Me {
    /// Opaque subject given by the issuer.
    sub: String,
    issuer: String,
    /// The person this identity is linked to (`null` for local tokens): `node(id:)` or
    /// `person(id:)` reads it, with the usual access rules.
    person_id: Option<ID>,
    /// For a provider's identity, the person's granted roles (and those the provider's claims
    /// map to); for a local token, the token's.
    roles: Vec<RoleGrant>,
    /// For `ACADEMIE` callers: the académie codes of their territory.
    academies: Vec<String>,
}

#[Object]
impl BaseQuery {
    /// The authenticated caller; `UNAUTHENTICATED` without a token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let identity = access::authenticated(ctx)?.identity;
        Ok(Me {
            sub: identity.sub.clone(),
            issuer: identity.issuer.clone(),
            person_id: identity.person.map(|id| super::ids::encode(super::ids::Kind::Person, id)),
            roles: identity
                .roles
                .iter()
                .map(|r| RoleGrant {
                    code: serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                    label: r.label(),
                })
                .collect(),
            academies: identity.academies.iter().map(|a| a.as_str().to_owned()).collect(),
        })
    }

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

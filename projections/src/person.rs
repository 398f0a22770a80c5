//! The person read model (DESIGN §4.3, §6): one row per person with their personal data, and
//! their identities at OpenID Connect providers, roles and consents.
//!
//! This is the only read model that holds personal data. Erasure nulls every personal column
//! and removes the person's identities, roles and consents, so that no table keeps a copy of
//! what the log crypto-shreds (DESIGN §3.2); the row itself stays, so that other read models'
//! person ids still resolve ("Personne effacée"). An identity `(issuer, sub)` belongs to one
//! person at most: linking it to a second one is refused, as the API maps a token's
//! `(iss, sub)` to a person through it ([`person_by_identity`]).
//!
//! The log seals identities like profiles (`carnet_store::sealing`); `person_identity` keeps
//! `(issuer, sub)` in clear, as `person` keeps the name, because the token lookup needs it and
//! the erasure deletes it: it is the one place an identity is readable, and only until erasure.
//! [`PERSONAL_TABLES`] names the tables that hold personal data, for the store's scrub of the
//! database files after an erasure.

mod query;

pub use query::*;

use crate::model::{Child, Model, Tables, Unique, code, column_pairs, records};
use crate::sql::{self, Backend};
use carnet_domain::person::{ConsentPurpose, Person, PersonEvent, PersonalData, Role};
use carnet_store::RecordedEvent;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The read-model tables that hold personal data until an erasure (each live table, not its
/// rebuild shadow): vacuumed after an erasure (`carnet_store::KeyStore::scrub`).
pub const PERSONAL_TABLES: &[&str] = &[<PersonModel as Model>::TABLE, IDENTITIES.table, ROLES.table, CONSENTS.table];

/// What the API shows instead of the name of an erased person.
pub const ERASED_DISPLAY_NAME: &str = "Personne effacée";

/// A person as the read model holds them. The personal fields are `None` once erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRow {
    pub id: Uuid,
    pub given_name: Option<String>,
    pub usual_name: Option<String>,
    pub email: Option<String>,
    pub organisation: Option<String>,
    pub affiliation: Option<String>,
    pub academie_code: Option<String>,
    pub uai: Option<String>,
    pub registered_on: NaiveDate,
    /// `Some` once erased.
    pub erased_on: Option<NaiveDate>,
    /// Ordered by role code.
    pub roles: Vec<RoleRow>,
    /// Ordered by issuer, then subject.
    pub identities: Vec<IdentityRow>,
    /// Consents currently given, ordered by purpose code.
    pub consents: Vec<ConsentRow>,
    /// The stream version of the last event applied: the entity's `version` in the API.
    pub version: u64,
    /// When the last event applied was recorded.
    pub updated_at: DateTime<Utc>,
    /// The global position of the last event applied.
    pub last_position: i64,
}

impl PersonRow {
    pub fn is_erased(&self) -> bool {
        self.erased_on.is_some()
    }

    /// "Prénom Nom", or "Personne effacée" once erased (as the domain's `display_name`).
    pub fn display_name(&self) -> String {
        match (&self.given_name, &self.usual_name) {
            _ if self.is_erased() => ERASED_DISPLAY_NAME.to_owned(),
            (Some(given), Some(usual)) => format!("{given} {usual}"),
            _ => "Personne inconnue".to_owned(),
        }
    }
}

/// A role held; `academies` (sorted codes) only for `ACADEMIE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRow {
    pub role: Role,
    pub academies: Vec<String>,
}

/// An identity at an OpenID Connect provider.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdentityRow {
    pub issuer: String,
    pub sub: String,
}

/// A consent given, and the day it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRow {
    pub purpose: ConsentPurpose,
    pub given_on: NaiveDate,
}

// ---------------------------------------------------------------------------------------------
// Applying one event

/// Nulls every personal column.
fn clear_profile(p: &mut PersonRow) {
    p.given_name = None;
    p.usual_name = None;
    p.email = None;
    p.organisation = None;
    p.affiliation = None;
    p.academie_code = None;
    p.uai = None;
}

fn set_profile(p: &mut PersonRow, profile: &PersonalData) {
    let text = |l: &Option<carnet_domain::values::Label>| l.as_ref().map(|l| l.as_str().to_owned());
    p.given_name = Some(profile.given_name.as_str().to_owned());
    p.usual_name = Some(profile.usual_name.as_str().to_owned());
    p.email = profile.email.as_ref().map(|e| e.as_str().to_owned());
    p.organisation = text(&profile.organisation);
    p.affiliation = text(&profile.affiliation);
    p.academie_code = profile.academie.map(|c| c.as_str().to_owned());
    p.uai = profile.uai.as_ref().map(|u| u.as_str().to_owned());
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Columns of `person` as written (their types are the migrated table's).
const PERSON_COLUMNS: &[&str] = &[
    "id",
    "given_name",
    "usual_name",
    "email",
    "organisation",
    "affiliation",
    "academie_code",
    "uai",
    "registered_on",
    "erased_on",
    "version",
    "updated_at",
    "last_position",
];
/// Ordered by issuer, then subject.
const IDENTITIES: Child<PersonRow> =
    Child { table: "person_identity", columns: &["person_id", "issuer", "sub"], rows: |p| records(&p.identities) };

/// `academie_codes` is a JSON array.
const ROLES: Child<PersonRow> = Child {
    table: "person_role",
    columns: &["person_id", "role", "academie_codes"],
    rows: |p| {
        let row = |r: &RoleRow| serde_json::json!({ "role": code(&r.role), "academie_codes": r.academies });
        p.roles.iter().map(row).collect()
    },
};

const CONSENTS: Child<PersonRow> =
    Child { table: "person_consent", columns: &["person_id", "purpose", "given_on"], rows: |p| records(&p.consents) };

/// The person read model, for the shared machinery of [`crate::model`].
pub(crate) struct PersonModel;

impl Model for PersonModel {
    type Row = PersonRow;
    type Stored = PersonRow;
    type Aggregate = Person;
    const COLUMNS: &'static [&'static str] = PERSON_COLUMNS;
    const CHILDREN: &'static [Child<PersonRow>] = &[IDENTITIES, ROLES, CONSENTS];
    const ID: &'static str = "p.id";
    /// An identity already linked to another person is refused in words.
    const UNIQUE: &'static [Unique<PersonRow>] = &[Unique {
        constraint: "person_identity_key",
        table: "person_identity",
        column: "issuer",
        rule: "person.identity_taken",
        message: |_| "cette identité est déjà rattachée à une autre personne".to_owned(),
    }];

    fn select(b: Backend, t: &Tables) -> String {
        let mut pairs = column_pairs("p", PERSON_COLUMNS);
        let role = b.json_object(&[("role", "c.role".into()), ("academies", b.json_column("c.academie_codes"))]);
        let identity_order = format!("{}, {}", b.bytewise("c.issuer"), b.bytewise("c.sub"));
        pairs.push(("roles", ROLES.array(b, t, "p", &role, &b.bytewise("c.role"))));
        pairs.push(("identities", IDENTITIES.array(b, t, "p", &IDENTITIES.object(b), &identity_order)));
        pairs.push(("consents", CONSENTS.array(b, t, "p", &CONSENTS.object(b), &b.bytewise("c.purpose"))));
        format!("select {} from {} p", b.json_text(b.json_object(&pairs)), t.of("person"))
    }

    fn create(id: Uuid, recorded: &RecordedEvent, event: &PersonEvent) -> Option<PersonRow> {
        use PersonEvent as E;
        let E::PersonRegistered { registered_on, .. } = event else { return None };
        Some(PersonRow {
            id,
            given_name: None,
            usual_name: None,
            email: None,
            organisation: None,
            affiliation: None,
            academie_code: None,
            uai: None,
            registered_on: *registered_on,
            erased_on: None,
            roles: vec![],
            identities: vec![],
            consents: vec![],
            version: 0,
            updated_at: recorded.recorded_at,
            last_position: recorded.global_position,
        })
    }

    fn change(p: &mut PersonRow, recorded: &RecordedEvent, event: &PersonEvent) {
        use PersonEvent as E;
        match event {
            E::PersonRegistered { profile, .. } | E::PersonProfileUpdated { profile } => match profile {
                Some(profile) => set_profile(p, profile),
                // read back after the person's key was destroyed: they were erased. The key goes
                // only with `PersonErased`, which follows and gives the date; until then, the day
                // of this event.
                None => {
                    clear_profile(p);
                    p.erased_on.get_or_insert(recorded.recorded_at.date_naive());
                }
            },
            // `None`: read back after the key was destroyed (a rebuild after an erasure)
            E::PersonIdentityLinked { identity: None } => {}
            E::PersonIdentityLinked { identity: Some(identity) } => {
                let identity =
                    IdentityRow { issuer: identity.issuer.as_str().to_owned(), sub: identity.sub.as_str().to_owned() };
                if !p.identities.contains(&identity) {
                    p.identities.push(identity);
                    p.identities.sort();
                }
            }
            E::PersonConsentGiven { purpose, on } => {
                p.consents.retain(|c| c.purpose != *purpose);
                p.consents.push(ConsentRow { purpose: *purpose, given_on: *on });
                p.consents.sort_by_key(|c| code(&c.purpose));
            }
            E::PersonConsentWithdrawn { purpose, .. } => p.consents.retain(|c| c.purpose != *purpose),
            E::PersonRoleGranted { role, academies } => {
                let mut codes: Vec<String> = academies.iter().map(|c| c.as_str().to_owned()).collect();
                codes.sort();
                p.roles.retain(|r| r.role != *role);
                p.roles.push(RoleRow { role: *role, academies: codes });
                p.roles.sort_by_key(|r| code(&r.role));
            }
            E::PersonRoleRevoked { role } => p.roles.retain(|r| r.role != *role),
            E::PersonErased { on, .. } => {
                p.erased_on = Some(*on);
                clear_profile(p);
                p.identities.clear();
                p.consents.clear();
                p.roles.clear();
            }
        }
    }

    fn main_row(p: &PersonRow) -> serde_json::Value {
        serde_json::json!({
            "id": p.id,
            "given_name": p.given_name,
            "usual_name": p.usual_name,
            "email": p.email,
            "organisation": p.organisation,
            "affiliation": p.affiliation,
            "academie_code": p.academie_code,
            "uai": p.uai,
            "registered_on": p.registered_on,
            "erased_on": p.erased_on,
            "version": p.version,
            "updated_at": sql::timestamp_text(p.updated_at),
            "last_position": p.last_position,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The projector

public_projector!(
    /// Applies person events to the person tables, inside the caller's transaction.
    PersonProjector,
    PersonModel,
    "person"
);

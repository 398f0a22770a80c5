//! Carnet's codec: how its events go in and out of the log, and which of their fields are
//! personal data (DESIGN §3.2). The store knows no event of Carnet's; this is where they are
//! named — from the domain's own constants, so that renaming an event or its personal field
//! fails to compile or fails the domain's tests, instead of silently leaving a field in clear.

use carnet_domain::Decider;
use carnet_domain::person::{Person, PersonEvent};
use carnet_store::Codec;
use carnet_store::personal_data::PersonalFields;

/// The personal fields of Carnet's events: a person's profile and their identities at OpenID
/// Connect providers (an issuer and the `sub` it gives them), all in `Person` streams, erased
/// with the person's key by `PersonErased`.
pub const PERSONAL_FIELDS: PersonalFields =
    PersonalFields { category: Person::CATEGORY, fields: PersonEvent::PERSONAL_FIELDS, erased_by: PersonEvent::ERASED };

/// Carnet's codec (every event type is at schema version 1 so far: no upcaster yet), with its
/// personal fields. Without `with_master_keys`, personal fields are written in clear and sealed
/// ones cannot be read: for tests and tools only.
pub fn carnet_codec() -> Codec {
    Codec::default().with_personal_fields(PERSONAL_FIELDS)
}

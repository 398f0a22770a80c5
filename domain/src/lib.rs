//! # carnet-domain — what the lab does, as pure functions
//!
//! Everything Carnet knows is a fact (an event) about one aggregate: a [`project`], a
//! [`session`] or a [`person`]. Each aggregate is a [`Decider`]: `decide(&State, &Command)`
//! returns the new events or a [`Rejection`] naming the rule that refused the command, and
//! `evolve(State, &Event)` applies a fact. Nothing here does I/O, awaits or knows SQL:
//! whatever a decision needs from outside (the current time, the next reference number, how
//! many seminars a direction already held this year) travels inside the command.
//!
//! Layout:
//! - [`decider`]: the contract, [`Rejection`] and [`ValueError`]; the `decider!` macro that
//!   makes an aggregate folder a [`Decider`], and `event_types!`, that names each event enum's
//!   stored types;
//! - [`values`]: types that parse rather than validate (`AcademieCode`, `Uai`, `Siret`,
//!   `Email`, bounded `Text`, `DateRange`, ids);
//! - [`project`], [`session`], [`person`]: one decider each, a folder of the same files —
//!   `mod.rs` (the aggregate and its state), `command.rs`, `decide.rs`, `event.rs`, `evolve.rs`,
//!   `vocabulary.rs` (codes and labels), and tests of every rule (for projects and sessions, with
//!   a property test of the invariants); `testing.rs`'s given/when/then and table helpers serve
//!   them all;
//! - [`reference`]: the sequences that give reference numbers, one small decider.
//!
//! Decisions a newcomer must know:
//! - event enums are serialized adjacently tagged, and the variant name *is* the event type
//!   stored in the log (`ProjectAccepted`): renaming a variant is a schema change that needs an
//!   upcaster in the store. Code that works on stored events by type uses the enum's constants
//!   (`ProjectEvent::PROJECT_ACADEMIE_LINKED`, `ProjectEvent::TERRITORY_CHANGES`,
//!   `PersonEvent::PERSONAL_FIELDS`) and `event_type()`, never a string of its own;
//! - personal data (names, email, organisation of a person) lives only in
//!   [`person::PersonalData`], inside `Person` events, so that encrypting it touches one type.

pub mod decider;
pub mod person;
pub mod project;
pub mod reference;
pub mod session;
pub mod values;

#[cfg(test)]
pub(crate) mod testing;

pub use decider::{Decider, Rejection, RejectionKind, ValueError};

#[cfg(test)]
mod tests {
    use crate::Decider;

    /// Streams are named `<category>-<uuid>` in every log already written: the categories are
    /// stored names, pinned like the event types.
    #[test]
    fn stream_categories_are_pinned() {
        let categories = [
            crate::project::Project::CATEGORY,
            crate::session::Session::CATEGORY,
            crate::person::Person::CATEGORY,
            crate::reference::ReferenceSequence::CATEGORY,
        ];
        assert_eq!(categories, ["project", "session", "person", "reference"]);
    }
}

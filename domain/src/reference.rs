//! Reference numbers (`110B-P-2026-007`, `110B-S-2026-012`): one sequence per lab, kind and
//! year, each a stream of its own whose version *is* the last number given. Two requests that
//! race for the same number append at the same expected version: the store lets one through
//! and the other decides again on the new state, so a number is never given twice and no lock
//! outlives an append.
//!
//! A number is allocated in its own append, before the command that uses it: a command refused
//! afterwards (or a crash between the two) leaves a gap in the sequence, never a duplicate.
//! Callers check the command first so that refusals cost no number.

use crate::decider::{Decider, Rejection, event_types};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What a reference numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReferenceKind {
    Project,
    Session,
}

impl ReferenceKind {
    fn letter(self) -> char {
        match self {
            Self::Project => 'P',
            Self::Session => 'S',
        }
    }
}

/// One sequence: a lab's projects or sessions of one year, e.g. `110B-P-2026`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    /// The lab's prefix, e.g. `110B`.
    pub lab: String,
    pub kind: ReferenceKind,
    pub year: i32,
}

impl Series {
    /// The stable id of this series' stream: the same series always maps to the same stream.
    pub fn stream_key(&self) -> Uuid {
        Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("carnet:reference:{self}").as_bytes())
    }

    /// The reference numbered `number` in this series.
    pub fn reference(&self, number: u32) -> String {
        format!("{self}-{number:03}")
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{:04}", self.lab, self.kind.letter(), self.year)
    }
}

/// The numbers a series gave so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceState {
    pub series: Option<Series>,
    /// The last number given (0 before the first).
    pub last: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SequenceCommand {
    /// Give the next number of `series` to the entity `to`.
    AllocateReference { series: Series, to: Uuid },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum SequenceEvent {
    ReferenceAllocated { series: Series, number: u32, reference: String, to: Uuid },
}

event_types!(SequenceEvent {
    ReferenceAllocated => REFERENCE_ALLOCATED,
});

/// The largest number of a series: references keep at most six digits.
pub const MAX_NUMBER: u32 = 999_999;

pub struct ReferenceSequence;

impl Decider for ReferenceSequence {
    type State = SequenceState;
    type Command = SequenceCommand;
    type Event = SequenceEvent;

    const CATEGORY: &'static str = "reference";
    const VERSION: u32 = 1;

    fn decide(state: &SequenceState, command: &SequenceCommand) -> Result<Vec<SequenceEvent>, Rejection> {
        let SequenceCommand::AllocateReference { series, to } = command;
        if state.series.as_ref().is_some_and(|s| s != series) {
            return Err(Rejection::input(
                "reference.series_mismatch",
                format!("cette suite de références n'est pas {series}"),
            ));
        }
        if state.last >= MAX_NUMBER {
            return Err(Rejection::transition(
                "reference.series_exhausted",
                format!("la suite {series} a donné tous ses numéros ({MAX_NUMBER})"),
            ));
        }
        let number = state.last + 1;
        Ok(vec![SequenceEvent::ReferenceAllocated {
            series: series.clone(),
            number,
            reference: series.reference(number),
            to: *to,
        }])
    }

    fn evolve(_: SequenceState, event: &SequenceEvent) -> SequenceState {
        let SequenceEvent::ReferenceAllocated { series, number, .. } = event;
        SequenceState { series: Some(series.clone()), last: *number }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_event_types, given};

    fn series(year: i32) -> Series {
        Series { lab: "110B".into(), kind: ReferenceKind::Project, year }
    }

    fn allocated(number: u32, to: Uuid) -> SequenceEvent {
        SequenceEvent::ReferenceAllocated {
            series: series(2026),
            number,
            reference: series(2026).reference(number),
            to,
        }
    }

    #[test]
    fn numbers_follow_each_other_from_one() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        given::<ReferenceSequence>([])
            .when(SequenceCommand::AllocateReference { series: series(2026), to: a })
            .then([allocated(1, a)]);
        let state = given::<ReferenceSequence>([allocated(1, a), allocated(2, a)])
            .when(SequenceCommand::AllocateReference { series: series(2026), to: b })
            .then([allocated(3, b)]);
        assert_eq!(state.last, 3);
        assert_eq!(series(2026).reference(3), "110B-P-2026-003");
        assert_eq!(series(2026).reference(1234), "110B-P-2026-1234");
    }

    #[test]
    fn a_series_keeps_to_its_own_stream() {
        given::<ReferenceSequence>([allocated(1, Uuid::nil())])
            .when(SequenceCommand::AllocateReference { series: series(2027), to: Uuid::nil() })
            .then_rejects("reference.series_mismatch");
        assert_ne!(series(2026).stream_key(), series(2027).stream_key());
        assert_eq!(series(2026).stream_key(), series(2026).stream_key(), "the key is stable");
        let session = Series { kind: ReferenceKind::Session, ..series(2026) };
        assert_ne!(series(2026).stream_key(), session.stream_key());
        assert_eq!(session.reference(12), "110B-S-2026-012");
    }

    #[test]
    fn a_full_series_refuses_more() {
        let full = SequenceEvent::ReferenceAllocated {
            series: series(2026),
            number: MAX_NUMBER,
            reference: series(2026).reference(MAX_NUMBER),
            to: Uuid::nil(),
        };
        given::<ReferenceSequence>([full])
            .when(SequenceCommand::AllocateReference { series: series(2026), to: Uuid::nil() })
            .then_rejects("reference.series_exhausted");
    }

    #[test]
    fn the_event_type_is_the_variant_name() {
        check_event_types(
            &[(allocated(7, Uuid::nil()), "ReferenceAllocated")],
            SequenceEvent::TYPES,
            SequenceEvent::event_type,
        );
    }
}

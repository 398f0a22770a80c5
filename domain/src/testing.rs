//! Given / when / then for deciders (after cqrs-es `TestFramework` and Emmett's
//! `DeciderSpecification`): `given(events).when(command).then(events)` or
//! `.then_rejects(rule)`; and the checks of the stored form every aggregate shares
//! ([`check_event_types`], [`check_snapshot`]). `#[track_caller]` makes a failure point at the
//! test's line.

use crate::decider::{Decider, Rejection};
use crate::values::{AcademieCode, PersonId, Text, Uai};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeSet;
use std::fmt::Debug;

// ---------------------------------------------------------------------------------------------
// Values for fixtures: parsed, or the test fails on its own typo.

pub fn text<const MAX: usize>(raw: &str) -> Text<MAX> {
    Text::parse(raw).unwrap()
}
pub fn aca(code: &str) -> AcademieCode {
    AcademieCode::parse(code).unwrap()
}
pub fn uai(raw: &str) -> Uai {
    Uai::parse(raw).unwrap()
}
pub fn person(n: u128) -> PersonId {
    PersonId(uuid::Uuid::from_u128(n))
}

// ---------------------------------------------------------------------------------------------
// Given / when / then

pub struct Given<D: Decider> {
    state: D::State,
    history: Vec<D::Event>,
}

pub fn given<D: Decider>(events: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let history: Vec<D::Event> = events.into_iter().collect();
    Given { state: D::fold(D::initial_state(), &history), history }
}

pub struct Then<D: Decider> {
    state: D::State,
    outcome: Result<Vec<D::Event>, Rejection>,
    command: String,
}

impl<D: Decider> Given<D> {
    pub fn when(self, command: D::Command) -> Then<D> {
        let outcome = D::decide(&self.state, &command);
        let _ = self.history;
        Then { state: self.state, outcome, command: format!("{command:?}") }
    }
}

impl<D: Decider> Then<D> {
    /// The command is accepted and emits exactly these events.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) -> D::State {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "events emitted by {}", self.command);
                D::fold(self.state, &events)
            }
            Err(r) => panic!("expected {} to be accepted, it was rejected: {r}", self.command),
        }
    }

    /// The command is accepted; the caller inspects the events.
    #[track_caller]
    pub fn accepted(self) -> (Vec<D::Event>, D::State) {
        match self.outcome {
            Ok(events) => {
                let state = D::fold(self.state, &events);
                (events, state)
            }
            Err(r) => panic!("expected {} to be accepted, it was rejected: {r}", self.command),
        }
    }

    /// The command is refused by `rule`; returns the rejection for further checks.
    #[track_caller]
    pub fn then_rejects(self, rule: &str) -> Rejection {
        match self.outcome {
            Ok(events) => panic!("expected {} to be rejected by {rule}, it emitted {events:?}", self.command),
            Err(r) => {
                assert_eq!(r.rule, rule, "rule that refused {}: {}", self.command, r.message);
                assert!(!r.message.is_empty(), "a rejection explains itself");
                r
            }
        }
    }
}

/// Each command, on a stream holding its history, is refused by `rule`: one `(history, command)`
/// a case, for the rules that refuse several commands or states alike.
#[track_caller]
pub fn refused_by<D: Decider>(rule: &str, cases: impl IntoIterator<Item = (Vec<D::Event>, D::Command)>) {
    for (history, command) in cases {
        given::<D>(history).when(command).then_rejects(rule);
    }
}

/// Each command, on a stream holding its history, is accepted and emits exactly its events: one
/// `(history, command, events)` a case.
#[track_caller]
pub fn records<D: Decider>(cases: impl IntoIterator<Item = (Vec<D::Event>, D::Command, Vec<D::Event>)>) {
    for (history, command, expected) in cases {
        given::<D>(history).when(command).then(expected);
    }
}

/// The stored names of an event enum, on one value of each variant paired with the type it is
/// stored under, written out in the test (renaming a variant would break every log already
/// written): the serialized `type` is that name and `event_type()`, the payload is an object
/// that reads back to the same event, and the values cover each of `all_types` (the enum's
/// `TYPES`) exactly once.
#[track_caller]
pub fn check_event_types<E>(cases: &[(E, &str)], all_types: &[&str], event_type: fn(&E) -> &'static str)
where
    E: Serialize + DeserializeOwned + PartialEq + Debug,
{
    for (event, name) in cases {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], *name, "the stored type of {event:?}");
        assert_eq!(event_type(event), *name, "event_type() of {event:?}");
        assert!(json["payload"].is_object(), "{name}: every variant is a struct variant");
        assert_eq!(&serde_json::from_value::<E>(json).unwrap(), event, "{name} reads back");
    }
    let covered: Vec<&str> = cases.iter().map(|(e, _)| event_type(e)).collect();
    assert_eq!(covered.iter().collect::<BTreeSet<_>>().len(), covered.len(), "one value of each type: {covered:?}");
    assert_eq!(covered.len(), all_types.len(), "one value of every type: {covered:?} for {all_types:?}");
}

/// A state survives a snapshot: serialized and read back, it is the same state.
#[track_caller]
pub fn check_snapshot<D: Decider>(state: &D::State)
where
    D::State: PartialEq,
{
    let json = serde_json::to_string(state).unwrap();
    assert_eq!(&serde_json::from_str::<D::State>(&json).unwrap(), state);
}

//! Given / when / then for deciders (after cqrs-es `TestFramework` and Emmett's
//! `DeciderSpecification`): `given(events).when(command).then(events)` or
//! `.then_rejects(rule)`. `#[track_caller]` makes a failure point at the test's line.

use crate::decider::{Decider, Rejection};

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

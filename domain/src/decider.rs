//! The decider contract every aggregate implements and the rejection it answers with; and two
//! macros every aggregate folder uses: `decider!`, which wires its `decide.rs` and `evolve.rs`
//! into a [`Decider`], and `event_types!`, which names the stored types of its event enum.

use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// An aggregate as three plain functions on plain data (J. Chassaing's "functional event
/// sourcing decider"). Everything a decision needs from outside — the current time, a counter,
/// a lookup — travels inside the command, so `decide` stays a pure function.
pub trait Decider {
    /// `Default` is the state of an empty stream, before the first event.
    type State: Clone + Default + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static;
    type Command: fmt::Debug + Send + Sync;
    /// Serialized adjacently tagged (`{"type": "...", "payload": {...}}`): the tag is the
    /// event type stored in the log, so variant names *are* the event names of DESIGN §4.
    type Event: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;

    /// Stream category: streams are named `<CATEGORY>-<uuid>`.
    const CATEGORY: &'static str;
    /// Bumped whenever `evolve` changes meaning; snapshots taken by another version are ignored.
    const VERSION: u32;

    /// The state of an empty stream.
    fn initial_state() -> Self::State {
        Self::State::default()
    }
    fn decide(state: &Self::State, command: &Self::Command) -> Result<Vec<Self::Event>, Rejection>;
    /// Applies a fact. Never fails and holds no logic beyond applying it.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The reason the user gave, for a command that takes one (a decline, a cancellation, an
    /// erasure…): recorded in the metadata of the events it produces (`reason`, DESIGN §3), so
    /// that an auditor reads why beside who and when. `None` for the others.
    fn reason(command: &Self::Command) -> Option<&str> {
        let _ = command;
        None
    }

    /// Folds events onto a state.
    fn fold<'a>(state: Self::State, events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(state, Self::evolve)
    }
}

/// Why a command was refused. `rule` is a stable machine code (`project.phase_forward_only`);
/// `message` says it in French, in words a user understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({rule})")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub rule: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The command is not allowed in the entity's current state.
    InvalidTransition,
    /// The command's data breaks a rule whatever the state.
    InvalidInput,
    /// The entity does not exist (yet) or no longer accepts anything.
    NotFound,
}

impl Rejection {
    pub fn transition(rule: &'static str, message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::InvalidTransition, rule, message: message.into() }
    }
    pub fn input(rule: &'static str, message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::InvalidInput, rule, message: message.into() }
    }
    pub fn not_found(rule: &'static str, message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::NotFound, rule, message: message.into() }
    }
}

/// A rule of the entity's state, in one line of `decide`: `refuse_if(already, rule, message)?`
/// is [`Rejection::transition`] when `refused`, nothing otherwise.
pub(crate) fn refuse_if(refused: bool, rule: &'static str, message: impl Into<String>) -> Result<(), Rejection> {
    if refused { Err(Rejection::transition(rule, message)) } else { Ok(()) }
}

/// A value that failed to parse: the rule it broke and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({rule})")]
pub struct ValueError {
    pub rule: &'static str,
    pub message: String,
}

impl ValueError {
    pub fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self { rule, message: message.into() }
    }
}

impl From<ValueError> for Rejection {
    fn from(e: ValueError) -> Self {
        Rejection::input(e.rule, e.message)
    }
}

/// Implements [`Decider`] for an aggregate kept as a folder (`project/`, `session/`, `person/`):
/// `decide` is its `decide.rs`'s `decide`, `evolve` its `evolve.rs`'s `evolve`, and `reason` its
/// command's own `reason()`. One line in the aggregate's `mod.rs` names what differs: the
/// types, the stream category and the version of `evolve` (bumped whenever `evolve` changes
/// meaning, so that older snapshots are ignored).
macro_rules! decider {
    ($aggregate:ident: state $state:ty, command $command:ty, event $event:ty,
     category $category:literal, version $version:literal) => {
        impl $crate::decider::Decider for $aggregate {
            type State = $state;
            type Command = $command;
            type Event = $event;

            const CATEGORY: &'static str = $category;
            const VERSION: u32 = $version;

            fn reason(command: &$command) -> Option<&str> {
                command.reason()
            }

            fn decide(state: &$state, command: &$command) -> Result<Vec<$event>, $crate::decider::Rejection> {
                decide::decide(state, command)
            }

            fn evolve(state: $state, event: &$event) -> $state {
                evolve::evolve(state, event)
            }
        }
    };
}
pub(crate) use decider;

/// Names the stored event types of an event enum, one line a variant: `Variant => CONSTANT`.
///
/// An event enum is serialized adjacently tagged and its tag is the variant name, so the type
/// stored in the log is the variant's name. This macro gives the enum, from that one list:
/// - a constant per variant holding its type (`ProjectEvent::PROJECT_ACADEMIE_LINKED`), for the
///   code that works on stored events by type (the personal-data policy, the live feed's
///   filters), so that no other crate spells an event type as a string of its own;
/// - `TYPES`, every type in declaration order;
/// - `event_type(&self)`, an exhaustive match: a new or renamed variant fails to compile until
///   it is listed here.
///
/// Each aggregate's tests check, for one value of every variant, that the serialized `type` is
/// `event_type()` and the name written out in the test (a `#[serde(rename)]` would break the
/// first, a renamed variant — a schema change — the second).
macro_rules! event_types {
    ($event:ident { $($variant:ident => $constant:ident),+ $(,)? }) => {
        impl $event {
            $(
                #[doc = concat!("`", stringify!($variant), "`, as stored in the log.")]
                pub const $constant: &'static str = stringify!($variant);
            )+

            /// Every event type of this enum, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$(Self::$constant),+];

            /// The type this event is stored under: its variant's name.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => Self::$constant,)+
                }
            }
        }
    };
}
pub(crate) use event_types;

//! Property: whatever the sequence of commands, the invariants hold and an ended session
//! accepts nothing (but follow-up actions after its close).

use super::*;
use proptest::prelude::*;

/// A small command vocabulary: few people, few ids, capacities 0..=5 and schedules a few
/// hours around the advancing clock (one hour a command), so that every rule gets hit.
#[derive(Clone, Debug)]
enum Op {
    Request(usize, bool, u32),
    Scope,
    Decline,
    Withdraw,
    Assign(u128),
    Unassign(u128),
    Schedule(i64, u32),
    Reschedule(i64, u32),
    Cancel,
    AddAgenda,
    RemoveAgenda(u32),
    Register(u128),
    CancelRegistration(u128),
    Hold,
    Attendance(u32, bool),
    Report(bool),
    FollowUp,
    CompleteFollowUp(u32),
    Satisfaction(u32, u8),
    Link(u128),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..SessionFormat::ALL.len(), any::<bool>(), 0u32..2).prop_map(|(f, d, n)| Op::Request(f, d, n)),
        8 => Just(Op::Scope),
        1 => Just(Op::Decline),
        1 => Just(Op::Withdraw),
        2 => (0u128..3).prop_map(Op::Assign),
        1 => (0u128..3).prop_map(Op::Unassign),
        8 => (-3i64..8, 0u32..=5).prop_map(|(s, c)| Op::Schedule(s, c)),
        2 => (-3i64..8, 0u32..=5).prop_map(|(s, c)| Op::Reschedule(s, c)),
        1 => Just(Op::Cancel),
        2 => Just(Op::AddAgenda),
        1 => (1u32..4).prop_map(Op::RemoveAgenda),
        6 => (0u128..7).prop_map(Op::Register),
        2 => (0u128..7).prop_map(Op::CancelRegistration),
        6 => Just(Op::Hold),
        5 => (0u32..8, any::<bool>()).prop_map(|(n, o)| Op::Attendance(n, o)),
        5 => any::<bool>().prop_map(Op::Report),
        2 => Just(Op::FollowUp),
        2 => (1u32..4).prop_map(Op::CompleteFollowUp),
        2 => (0u32..9, 0u8..12).prop_map(|(r, m)| Op::Satisfaction(r, m)),
        1 => (0u128..2).prop_map(Op::Link),
        5 => Just(Op::Close),
    ]
}

fn command(op: &Op, step: i64) -> C {
    let now = t(step);
    let today = now.date_naive();
    match op {
        Op::Request(f, direction, n) => {
            let kind = if *direction { RequesterKind::Direction } else { RequesterKind::Partner };
            request_with(SessionFormat::ALL[*f], kind, *n)
        }
        Op::Scope => C::StartScoping { on: today },
        Op::Decline => C::DeclineSession { reason: text("hors périmètre"), on: today },
        Op::Withdraw => C::WithdrawSession { reason: text("plus de besoin"), on: today },
        Op::Assign(p) => C::AssignFacilitator { facilitator: person(*p) },
        Op::Unassign(p) => C::UnassignFacilitator { facilitator: person(*p) },
        Op::Schedule(s, c) => C::ScheduleSession {
            schedule: range(step + s, step + s + 3),
            location: text("110 bis"),
            mode: SessionMode::InPerson,
            capacity: *c,
        },
        Op::Reschedule(s, c) => C::RescheduleSession {
            schedule: range(step + s, step + s + 3),
            location: text("110 bis"),
            mode: SessionMode::Hybrid,
            capacity: *c,
        },
        Op::Cancel => C::CancelSession { reason: text("grève"), on: today },
        Op::AddAgenda => C::AddAgendaItem { label: text("Atelier"), at: None },
        Op::RemoveAgenda(id) => C::RemoveAgendaItem { item_id: *id },
        Op::Register(p) => C::RegisterParticipant { participant: person(*p), profile: text("enseignant") },
        Op::CancelRegistration(p) => C::CancelRegistration { participant: person(*p) },
        Op::Hold => C::HoldSession { now },
        Op::Attendance(n, with_orgs) => C::RecordAttendance {
            attendance: Attendance {
                count: *n,
                by_profile: BTreeMap::new(),
                organisations: if *with_orgs { vec![text("DSDEN 93")] } else { vec![] },
                academies: BTreeSet::new(),
            },
        },
        Op::Report(v2) => C::PublishReport { report: text(if *v2 { "CR v2" } else { "CR" }), on: today },
        Op::FollowUp => C::RecordFollowUpAction { description: text("Relancer"), due: None },
        Op::CompleteFollowUp(id) => C::CompleteFollowUpAction { action_id: *id, on: today },
        Op::Satisfaction(r, m) => C::RecordSatisfactionSurvey { respondents: *r, mean: f64::from(*m) / 2.0 },
        Op::Link(p) => C::LinkToProject { project: ProjectId(uuid::Uuid::from_u128(*p)) },
        Op::Close => C::CloseSession { on: today },
    }
}

/// Up to 40 random commands; in half the cases the path to a closed session is woven in at
/// random places, so that the late states (held, closed, follow-ups) are explored too. Its
/// capacity (1 to 3) is small beside its three registrations, so the capacity rule is hit.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let happy_path = |capacity| {
        [
            Op::Scope,
            Op::Schedule(0, capacity),
            Op::Register(1),
            Op::Register(2),
            Op::Register(3),
            Op::Hold,
            Op::Attendance(4, true),
            Op::Satisfaction(3, 8),
            Op::Report(false),
            Op::Close,
            Op::FollowUp,
            Op::CompleteFollowUp(1),
        ]
    };
    let woven = happy_path(1).len();
    (
        prop::collection::vec(op(), 1..=40 - woven),
        prop::collection::vec(0usize..=40 - woven, woven),
        1u32..=3,
        any::<bool>(),
    )
        .prop_map(move |(mut ops, mut at, capacity, weave)| {
            if weave {
                at.sort_unstable();
                for (offset, (op, i)) in happy_path(capacity).into_iter().zip(at).enumerate() {
                    ops.insert((i + offset).min(ops.len()), op);
                }
            }
            ops
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_and_endings_are_final(ops in ops()) {
        let mut state = Session::initial_state();
        let first = request_with(SessionFormat::DesignSprint, RequesterKind::Direction, 0);
        let mut events = Session::decide(&state, &first).unwrap();
        state = Session::fold(state, &events);
        for (step, op) in ops.iter().enumerate() {
            let cmd = command(op, step as i64);
            let before = state.status;
            match Session::decide(&state, &cmd) {
                Ok(new) => {
                    if let Some(status) = before.filter(|s| s.is_terminal()) {
                        let follow_up_only = status == SessionStatus::Closed
                            && new.iter().all(|e| matches!(
                                e,
                                E::FollowUpActionRecorded { .. } | E::FollowUpActionCompleted { .. }
                            ));
                        prop_assert!(follow_up_only, "{cmd:?} accepted after {status:?}: {new:?}");
                    }
                    state = Session::fold(state, &new);
                    prop_assert_eq!(state.check_invariants(), Ok(()), "after {:?}", cmd);
                    events.extend(new);
                }
                Err(rejection) => {
                    prop_assert!(!rejection.message.is_empty());
                    prop_assert!(rejection.rule.starts_with("session."));
                }
            }
        }
        // Replaying the log gives the same state, and the state survives a snapshot.
        prop_assert_eq!(&Session::fold(Session::initial_state(), &events), &state);
        let json = serde_json::to_string(&state).unwrap();
        prop_assert_eq!(&serde_json::from_str::<SessionState>(&json).unwrap(), &state);
    }
}

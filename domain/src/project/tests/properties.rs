//! Property: whatever the sequence of commands, the invariants hold and a closed project accepts
//! nothing but a reopening.

use super::*;

use proptest::prelude::*;

/// The raw material of one command; its kind picks which fields are used.
#[derive(Clone, Debug)]
struct Step {
    kind: u8,
    days_later: u64,
    /// Days the command is dated before the clock: usually none; sometimes a late entry,
    /// which the date rules must sort out.
    backdated: u64,
    phase: Phase,
    academie: usize,
    person: u128,
    decision: ReviewDecision,
    number: i64,
    flag: bool,
}

const ACADEMIES: [&str; 3] = ["01", "24", "25"];
const UAIS: [&str; 3] = ["0750654D", "0750655E", "0690026D"];

/// Command kinds 0..24, each at least once; the ones that lead forward (qualify, accept,
/// change phase, pause, resume, end, reopen) are weighted up so that sequences travel far
/// rather than stopping at a withdrawal.
fn kinds() -> Vec<u8> {
    let forward = [2, 2, 3, 3, 12, 12, 12, 17, 18, 18, 19, 20, 23, 23];
    (0..24).chain(forward).chain(forward).chain(forward).collect()
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::sample::select(kinds()),
        0u64..=60,
        prop_oneof![4 => Just(0u64), 1 => 1u64..=45],
        prop::sample::select(Phase::ALL.to_vec()),
        0usize..3,
        0u128..3,
        prop::sample::select(ReviewDecision::ALL.to_vec()),
        0i64..=100,
        any::<bool>(),
    )
        .prop_map(|(kind, days_later, backdated, phase, academie, person, decision, number, flag)| Step {
            kind,
            days_later,
            backdated,
            phase,
            academie,
            person,
            decision,
            number,
            flag,
        })
}

fn command(step: &Step, on: NaiveDate) -> ProjectCommand {
    let optional = |flag: bool| flag.then(reason);
    match step.kind {
        0 => submit(on, &ACADEMIES[..=step.academie % 2]),
        1 => C::UpdateProjectDetails {
            title: text(if step.flag { "Rivières au collège" } else { "Des cours d'eau au collège" }),
            problem_statement: text("Relier les sciences au terrain."),
            summary: optional(step.flag),
            themes: vec![text("Sciences")],
            target_users: vec![],
        },
        2 => C::StartQualification { on },
        3 => C::AcceptProject { on, support_mode: SupportMode::ALL[step.academie] },
        4 => C::DeclineProject { on, reason: reason() },
        5 => C::WithdrawProject { on, reason: reason() },
        6 => C::AddHolder { person: person(step.person), role: text("Porteur"), affiliation: None },
        7 => C::RemoveHolder { person: person(step.person) },
        8 => C::AssignReferent { person: person(step.person) },
        9 => C::LinkAcademie { code: aca(ACADEMIES[step.academie]) },
        10 => C::UnlinkAcademie { code: aca(ACADEMIES[step.academie]) },
        11 => C::LinkEstablishment { uai: uai(UAIS[step.academie]) },
        12 => C::StartPhase { phase: step.phase, on },
        13 => C::RecordReview { decision: step.decision, held_on: on, notes: optional(step.flag) },
        14 => C::RecordMilestone { title: text("Jalon"), on },
        15 => C::UpdateProgress { progress: Progress::new(step.number).unwrap() },
        // Halves are exact in binary, so the value reads back from JSON unchanged.
        16 => C::RecordImpactIndicator {
            name: text("Élèves"),
            value: step.number as f64 / 2.0,
            unit: text("élèves"),
            measured_on: on,
        },
        17 => C::PauseProject { on, reason: reason() },
        18 => C::ResumeProject { on },
        19 => C::TransferProject { on, to: text("DNE"), notes: optional(step.flag) },
        20 => C::AbandonProject { on, reason_code: AbandonReason::ALL[step.academie], explanation: reason() },
        21 => C::PublishProject,
        22 => C::UnpublishProject,
        _ => C::ReopenProject { on, reason: reason() },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_of_commands_keeps_the_invariants(
        start_empty in prop::bool::weighted(0.1),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let mut on = day("2026-01-05");
        let mut state = Project::initial_state();
        if !start_empty {
            let events = Project::decide(&state, &submit(on, &["01"])).unwrap();
            state = Project::fold(state, &events);
        }
        for step in &steps {
            on = on + chrono::Days::new(step.days_later);
            let command = command(step, on - chrono::Days::new(step.backdated));
            let was_terminal = state.status.is_some_and(|s| s.is_terminal());
            match Project::decide(&state, &command) {
                Ok(events) => {
                    prop_assert!(!events.is_empty(), "{:?} emitted nothing", command);
                    prop_assert!(
                        !was_terminal || matches!(command, C::ReopenProject { .. }),
                        "{:?} accepted on a {:?} project", command, state.status
                    );
                    if was_terminal {
                        prop_assert!(
                            matches!(events.as_slice(), [E::ProjectReopened { .. }]),
                            "a terminal project left by {:?}", events
                        );
                    }
                    for event in &events {
                        let json = serde_json::to_value(event).unwrap();
                        prop_assert_eq!(&serde_json::from_value::<ProjectEvent>(json).unwrap(), event);
                        let before = state.status;
                        if let (Some(date), Some(bar)) = (event.lifecycle_date(), state.last_lifecycle_on) {
                            prop_assert!(date >= bar, "{:?} dated before {}", event, bar);
                        }
                        state = Project::evolve(state, event);
                        let left_terminal = before.is_some_and(|s| s.is_terminal()) && before != state.status;
                        prop_assert!(
                            !left_terminal || matches!(event, E::ProjectReopened { .. }),
                            "{:?} took the project out of {:?}", event, before
                        );
                    }
                    if let Err(broken) = state.check_invariants() {
                        prop_assert!(false, "after {:?}: {}\n{:#?}", command, broken, state);
                    }
                }
                Err(rejection) => {
                    prop_assert!(!rejection.message.is_empty());
                    if state.status.is_none() {
                        prop_assert_eq!(rejection.rule, "project.not_found");
                    } else if was_terminal && !matches!(command, C::SubmitProject { .. } | C::ReopenProject { .. }) {
                        prop_assert_eq!(rejection.rule, "project.terminal");
                    }
                }
            }
        }
        let snapshot = serde_json::to_string(&state).unwrap();
        prop_assert_eq!(serde_json::from_str::<ProjectState>(&snapshot).unwrap(), state);
    }
}

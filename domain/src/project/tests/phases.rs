//! Phases and the date bar: forward only, never dated before the latest lifecycle event.

use super::*;

#[test]
fn a_new_phase_ends_the_open_one() {
    let state =
        given::<Project>(active()).when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-03-02") }).then([
            E::ProjectPhaseEnded { phase: Phase::Exploration, on: day("2026-03-02") },
            E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-03-02") },
        ]);
    assert_eq!(state.phases.len(), 2);
    assert_eq!(state.phases[0].ended_on, Some(day("2026-03-02")));
    assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
    state.check_invariants().unwrap();
}

#[test]
fn phases_move_forward_only() {
    for phase in [Phase::Exploration, Phase::Prototyping] {
        let r = given::<Project>(prototyping())
            .when(C::StartPhase { phase, on: day("2026-04-01") })
            .then_rejects("project.phase_forward_only");
        assert_eq!(r.kind, RejectionKind::InvalidTransition);
    }
}

#[test]
fn a_phase_cannot_start_before_the_open_one_started() {
    let r = given::<Project>(active())
        .when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-01-31") })
        .then_rejects("project.phase_dates_increase");
    assert_eq!(r.kind, RejectionKind::InvalidInput);
    assert!(r.message.contains("01/02/2026"), "{r}");
}

/// A new phase may skip ahead, and may start the day the open one started.
#[test]
fn a_phase_may_skip_ahead_and_start_the_day_the_open_one_started() {
    let (skip, same_day) = (day("2026-03-02"), day("2026-02-01"));
    records::<Project>([
        (
            active(),
            C::StartPhase { phase: Phase::Experimentation, on: skip },
            vec![
                E::ProjectPhaseEnded { phase: Phase::Exploration, on: skip },
                E::ProjectPhaseStarted { phase: Phase::Experimentation, on: skip },
            ],
        ),
        (
            active(),
            C::StartPhase { phase: Phase::Prototyping, on: same_day },
            vec![
                E::ProjectPhaseEnded { phase: Phase::Exploration, on: same_day },
                E::ProjectPhaseStarted { phase: Phase::Prototyping, on: same_day },
            ],
        ),
    ]);
}

#[test]
fn dated_commands_cannot_go_back_before_the_latest_lifecycle_event() {
    // Prototyping started on 2 March 2026: the latest lifecycle event.
    let r = given::<Project>(prototyping())
        .when(C::PauseProject { on: day("2026-03-01"), reason: reason() })
        .then_rejects("project.date_before_previous");
    assert_eq!(r.kind, RejectionKind::InvalidInput);
    assert!(r.message.contains("01/03/2026") && r.message.contains("02/03/2026"), "{r}");
    refused_by::<Project>(
        "project.date_before_previous",
        [
            (
                prototyping(),
                C::RecordReview { decision: ReviewDecision::Pivot, held_on: day("2026-03-01"), notes: None },
            ),
            (prototyping(), C::RecordMilestone { title: text("Prototype"), on: day("2026-02-28") }),
            (
                prototyping(),
                C::RecordImpactIndicator {
                    name: text("Classes"),
                    value: 3.0,
                    unit: text("classes"),
                    measured_on: day("2026-02-28"),
                },
            ),
        ],
    );
    given::<Project>(prototyping())
        .when(C::PauseProject { on: day("2026-03-02"), reason: reason() })
        .then([E::ProjectPaused { on: day("2026-03-02"), reason: reason() }]);
    refused_by::<Project>(
        "project.date_before_previous",
        [
            (submitted(), C::StartQualification { on: day("2026-01-04") }),
            (qualifying(), C::AcceptProject { on: day("2026-01-04"), support_mode: SupportMode::Incubation }),
            (qualifying(), C::DeclineProject { on: day("2026-01-09"), reason: reason() }),
        ],
    );
}

#[test]
fn follow_up_facts_do_not_raise_the_date_bar() {
    // A milestone of 20 March does not forbid recording a pause, or a measure, of 19 March.
    let history =
        then(prototyping(), [E::ProjectMilestoneRecorded { title: text("Prototype"), on: day("2026-03-20") }]);
    given::<Project>(history.clone())
        .when(C::RecordImpactIndicator {
            name: text("Classes"),
            value: 3.0,
            unit: text("classes"),
            measured_on: day("2026-03-15"),
        })
        .accepted();
    let state = given::<Project>(history)
        .when(C::PauseProject { on: day("2026-03-19"), reason: reason() })
        .then([E::ProjectPaused { on: day("2026-03-19"), reason: reason() }]);
    assert_eq!(state.last_lifecycle_on, Some(day("2026-03-19")));
    // …but once the pause is recorded, nothing goes back before it.
    given::<Project>(paused())
        .when(C::RecordMilestone { title: text("Jalon"), on: day("2026-03-31") })
        .then_rejects("project.date_before_previous");
}

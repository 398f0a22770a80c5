//! The end of a project and its way back: pause, resume, transfer, abandon, reopening.

use super::*;

#[test]
fn a_pause_keeps_the_phase_open_and_resuming_continues_it() {
    let state = becomes(prototyping(), C::PauseProject { on: day("2026-04-01"), reason: reason() }, paused());
    assert_eq!(state.status, Some(S::Paused));
    assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
    state.check_invariants().unwrap();

    let state = given::<Project>(paused())
        .when(C::ResumeProject { on: day("2026-05-01") })
        .then([E::ProjectResumed { on: day("2026-05-01") }]);
    assert_eq!(state.status, Some(S::Active));
    assert_eq!(state.phases.len(), 2);
    assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
    state.check_invariants().unwrap();
}

#[test]
fn a_transfer_ends_the_open_phase() {
    let to: Label = text("Académie de Paris");
    let state = given::<Project>(prototyping())
        .when(C::TransferProject { on: day("2026-09-01"), to: to.clone(), notes: None })
        .then([
            E::ProjectPhaseEnded { phase: Phase::Prototyping, on: day("2026-09-01") },
            E::ProjectTransferred { on: day("2026-09-01"), to, notes: None },
        ]);
    assert_eq!(state.status, Some(S::Transferred));
    assert_eq!(state.open_phase(), None);
    state.check_invariants().unwrap();
}

#[test]
fn an_active_or_paused_project_can_be_abandoned() {
    for history in [prototyping(), paused()] {
        let state = given::<Project>(history)
            .when(C::AbandonProject {
                on: day("2026-05-01"),
                reason_code: AbandonReason::HolderUnavailable,
                explanation: reason(),
            })
            .then([
                E::ProjectPhaseEnded { phase: Phase::Prototyping, on: day("2026-05-01") },
                E::ProjectAbandoned {
                    on: day("2026-05-01"),
                    reason_code: AbandonReason::HolderUnavailable,
                    explanation: reason(),
                },
            ]);
        assert_eq!(state.status, Some(S::Abandoned));
        state.check_invariants().unwrap();
    }
}

#[test]
fn a_terminal_project_refuses_everything_but_a_reopening() {
    for (history, status) in [
        (transferred(), S::Transferred),
        (abandoned(), S::Abandoned),
        (declined(), S::Declined),
        (withdrawn(), S::Withdrawn),
    ] {
        for command in one_command_of_each(day("2026-12-01")).into_iter().skip(1) {
            if matches!(command, C::ReopenProject { .. }) {
                continue;
            }
            let r = given::<Project>(history.clone()).when(command).then_rejects("project.terminal");
            assert_eq!(r.kind, RejectionKind::InvalidTransition);
            assert!(r.message.contains(status.label()), "{r}");
        }
    }
    let r = given::<Project>(transferred()).when(C::PublishProject).then_rejects("project.terminal");
    assert_eq!(
        r.message,
        "Le projet est Pérennisé : plus rien ne peut y être enregistré, sauf une réouverture explicite."
    );
}

#[test]
fn a_project_never_accepted_reopens_in_qualification() {
    for history in [declined(), withdrawn()] {
        let state = given::<Project>(history)
            .when(C::ReopenProject { on: day("2026-02-01"), reason: reason() })
            .then([E::ProjectReopened { on: day("2026-02-01"), reason: reason(), reopened_to: S::Qualifying }]);
        assert_eq!(state.status, Some(S::Qualifying));
        assert_eq!(state.status_before_terminal, None);
        state.check_invariants().unwrap();
    }
    let reopened =
        then(declined(), [E::ProjectReopened { on: day("2026-02-01"), reason: reason(), reopened_to: S::Qualifying }]);
    given::<Project>(reopened)
        .when(C::AcceptProject { on: day("2026-02-02"), support_mode: SupportMode::Incubation })
        .then([
            E::ProjectAccepted { on: day("2026-02-02"), support_mode: SupportMode::Incubation },
            E::ProjectPhaseStarted { phase: Phase::Exploration, on: day("2026-02-02") },
        ]);
}

#[test]
fn an_ended_project_reopens_paused_and_resumes_its_last_phase() {
    for history in [transferred(), abandoned()] {
        let state = given::<Project>(history.clone())
            .when(C::ReopenProject { on: day("2026-10-01"), reason: reason() })
            .then([E::ProjectReopened { on: day("2026-10-01"), reason: reason(), reopened_to: S::Paused }]);
        assert_eq!(state.status, Some(S::Paused));
        assert_eq!(state.open_phase(), None);
        state.check_invariants().unwrap();

        let reopened =
            then(history, [E::ProjectReopened { on: day("2026-10-01"), reason: reason(), reopened_to: S::Paused }]);
        let state = given::<Project>(reopened.clone()).when(C::ResumeProject { on: day("2026-10-15") }).then([
            E::ProjectResumed { on: day("2026-10-15") },
            E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-10-15") },
        ]);
        assert_eq!(state.status, Some(S::Active));
        assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
        state.check_invariants().unwrap();

        // The phase started again is the current one: going on means going forward.
        let resumed = then(
            reopened,
            [
                E::ProjectResumed { on: day("2026-10-15") },
                E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-10-15") },
            ],
        );
        given::<Project>(resumed.clone())
            .when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-10-20") })
            .then_rejects("project.phase_forward_only");
        given::<Project>(resumed)
            .when(C::StartPhase { phase: Phase::Experimentation, on: day("2026-10-20") })
            .accepted();
    }
}

#[test]
fn a_reopened_project_can_still_be_abandoned_without_a_phase() {
    let reopened =
        then(abandoned(), [E::ProjectReopened { on: day("2026-10-01"), reason: reason(), reopened_to: S::Paused }]);
    let state = given::<Project>(reopened)
        .when(C::AbandonProject {
            on: day("2026-11-01"),
            reason_code: AbandonReason::NoLongerNeeded,
            explanation: reason(),
        })
        .then([E::ProjectAbandoned {
            on: day("2026-11-01"),
            reason_code: AbandonReason::NoLongerNeeded,
            explanation: reason(),
        }]);
    state.check_invariants().unwrap();
}

#[test]
fn only_a_terminal_project_is_reopened() {
    for history in [submitted(), qualifying(), active(), paused()] {
        given::<Project>(history)
            .when(C::ReopenProject { on: day("2026-12-01"), reason: reason() })
            .then_rejects("project.not_terminal");
    }
}

#[test]
fn a_reopening_is_dated_after_the_end() {
    given::<Project>(transferred())
        .when(C::ReopenProject { on: day("2026-08-31"), reason: reason() })
        .then_rejects("project.date_before_previous");
}

//! Submission and qualification: an empty stream, the first steps, acceptance or not.

use super::*;

#[test]
fn nothing_but_a_submission_before_the_project_exists() {
    for command in one_command_of_each(day("2026-01-05")).into_iter().skip(1) {
        let r = given::<Project>([]).when(command).then_rejects("project.not_found");
        assert_eq!(r.kind, RejectionKind::NotFound);
    }
}

#[test]
fn submitting_records_the_project() {
    let state = given::<Project>([]).when(submit(day("2026-01-05"), &["01"])).then(submitted());
    assert_eq!(state.status, Some(S::Submitted));
    assert_eq!(state.last_lifecycle_on, Some(day("2026-01-05")));
    assert_eq!(state.visibility, Visibility::Internal);
    state.check_invariants().unwrap();
}

#[test]
fn submitting_twice_is_refused() {
    refused_by::<Project>(
        "project.already_exists",
        [(submitted(), submit(day("2026-01-06"), &["01"])), (declined(), submit(day("2026-02-06"), &["01"]))],
    );
}

#[test]
fn a_submission_names_at_least_one_academie() {
    given::<Project>([]).when(submit(day("2026-01-05"), &[])).then_rejects("project.academie_required");
}

#[test]
fn historical_academies_are_refused_for_new_links() {
    // Caen (05) merged into Normandie: readable from old records, refused for new ones.
    let caen = AcademieCode::from_stored("05").unwrap();
    let mut command = submit(day("2026-01-05"), &["01"]);
    if let C::SubmitProject { academies, .. } = &mut command {
        academies.insert(caen);
    }
    let r = given::<Project>([]).when(command).then_rejects("academie.historical");
    assert_eq!(r.kind, RejectionKind::InvalidInput);
    given::<Project>(submitted()).when(C::LinkAcademie { code: caen }).then_rejects("academie.historical");
    // An old record linked to Caen can still be tidied up.
    given::<Project>(then(submitted(), [E::ProjectAcademieLinked { code: caen }]))
        .when(C::UnlinkAcademie { code: caen })
        .then([E::ProjectAcademieUnlinked { code: caen }]);
}

#[test]
fn repeated_themes_are_recorded_once() {
    let mut command = submit(day("2026-01-05"), &["01"]);
    if let C::SubmitProject { themes, .. } = &mut command {
        themes.push(text("Sciences"));
    }
    given::<Project>([]).when(command).then(submitted());
}

#[test]
fn qualification_starts_from_a_submission() {
    given::<Project>(submitted())
        .when(C::StartQualification { on: day("2026-01-10") })
        .then([E::ProjectQualificationStarted { on: day("2026-01-10") }]);
}

#[test]
fn qualification_starts_only_once() {
    let r = given::<Project>(qualifying())
        .when(C::StartQualification { on: day("2026-01-12") })
        .then_rejects("project.invalid_transition");
    assert_eq!(r.kind, RejectionKind::InvalidTransition);
    assert!(r.message.contains("En qualification") && r.message.contains("démarrer la qualification"), "{r}");
}

#[test]
fn acceptance_opens_the_exploration_phase() {
    let state = given::<Project>(qualifying())
        .when(C::AcceptProject { on: day("2026-02-01"), support_mode: SupportMode::Punctual })
        .then([
            E::ProjectAccepted { on: day("2026-02-01"), support_mode: SupportMode::Punctual },
            E::ProjectPhaseStarted { phase: Phase::Exploration, on: day("2026-02-01") },
        ]);
    assert_eq!(state.status, Some(S::Active));
    assert_eq!(state.support_mode, Some(SupportMode::Punctual));
    assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Exploration));
    state.check_invariants().unwrap();
}

#[test]
fn acceptance_needs_a_qualification() {
    let r = given::<Project>(submitted())
        .when(C::AcceptProject { on: day("2026-02-01"), support_mode: SupportMode::Incubation })
        .then_rejects("project.invalid_transition");
    assert_eq!(r.message, "Impossible d'accepter le projet : le projet est au statut « Candidature reçue ».");
    given::<Project>(active())
        .when(C::AcceptProject { on: day("2026-02-02"), support_mode: SupportMode::Incubation })
        .then_rejects("project.invalid_transition");
}

#[test]
fn a_qualified_project_can_be_declined() {
    let state = becomes(qualifying(), C::DeclineProject { on: day("2026-01-20"), reason: reason() }, declined());
    assert_eq!(state.status, Some(S::Declined));
    assert_eq!(state.status_before_terminal, Some(S::Qualifying));
}

#[test]
fn the_holder_can_withdraw_before_acceptance() {
    records::<Project>([
        (
            submitted(),
            C::WithdrawProject { on: day("2026-01-08"), reason: reason() },
            vec![E::ProjectWithdrawn { on: day("2026-01-08"), reason: reason() }],
        ),
        (
            qualifying(),
            C::WithdrawProject { on: day("2026-01-11"), reason: reason() },
            vec![E::ProjectWithdrawn { on: day("2026-01-11"), reason: reason() }],
        ),
    ]);
}

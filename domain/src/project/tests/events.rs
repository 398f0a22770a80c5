//! The stored form: event types, payloads, snapshots, codes and labels, fixtures' invariants.

use super::*;

fn one_event_of_each() -> Vec<(ProjectEvent, &'static str)> {
    let on = day("2026-03-01");
    vec![
        (submitted().remove(0), "ProjectSubmitted"),
        (
            E::ProjectDetailsUpdated {
                title: text("Titre"),
                problem_statement: text("Problème"),
                summary: None,
                themes: vec![],
                target_users: vec![],
            },
            "ProjectDetailsUpdated",
        ),
        (E::ProjectQualificationStarted { on }, "ProjectQualificationStarted"),
        (E::ProjectAccepted { on, support_mode: SupportMode::NetworkLab }, "ProjectAccepted"),
        (E::ProjectDeclined { on, reason: reason() }, "ProjectDeclined"),
        (E::ProjectWithdrawn { on, reason: reason() }, "ProjectWithdrawn"),
        (E::ProjectHolderAdded { person: person(1), role: text("Porteur"), affiliation: None }, "ProjectHolderAdded"),
        (E::ProjectHolderRemoved { person: person(1) }, "ProjectHolderRemoved"),
        (E::ProjectReferentAssigned { person: person(2) }, "ProjectReferentAssigned"),
        (E::ProjectAcademieLinked { code: aca("25") }, "ProjectAcademieLinked"),
        (E::ProjectAcademieUnlinked { code: aca("25") }, "ProjectAcademieUnlinked"),
        (E::ProjectEstablishmentLinked { uai: uai("0690026D") }, "ProjectEstablishmentLinked"),
        (E::ProjectPhaseStarted { phase: Phase::Transfer, on }, "ProjectPhaseStarted"),
        (E::ProjectPhaseEnded { phase: Phase::Experimentation, on }, "ProjectPhaseEnded"),
        (E::ProjectReviewHeld { decision: ReviewDecision::Stop, held_on: on, notes: None }, "ProjectReviewHeld"),
        (E::ProjectMilestoneRecorded { title: text("Jalon"), on }, "ProjectMilestoneRecorded"),
        (E::ProjectProgressUpdated { progress: Progress::new(100).unwrap() }, "ProjectProgressUpdated"),
        (
            E::ProjectImpactIndicatorRecorded {
                name: text("Écoles"),
                value: 3.5,
                unit: text("écoles"),
                measured_on: on,
            },
            "ProjectImpactIndicatorRecorded",
        ),
        (E::ProjectPaused { on, reason: reason() }, "ProjectPaused"),
        (E::ProjectResumed { on }, "ProjectResumed"),
        (E::ProjectTransferred { on, to: text("DNE"), notes: Some(reason()) }, "ProjectTransferred"),
        (E::ProjectAbandoned { on, reason_code: AbandonReason::ReviewStop, explanation: reason() }, "ProjectAbandoned"),
        (E::ProjectPublished {}, "ProjectPublished"),
        (E::ProjectUnpublished {}, "ProjectUnpublished"),
        (E::ProjectReopened { on, reason: reason(), reopened_to: S::Paused }, "ProjectReopened"),
    ]
}

#[test]
fn the_event_type_is_the_variant_name_and_events_read_back() {
    check_event_types(&one_event_of_each(), ProjectEvent::TYPES, ProjectEvent::event_type);
}

#[test]
fn territory_changes_are_the_events_that_change_the_academies() {
    // Two submitted projects, one with the académie the events name (25) and one without it:
    // an event changes the territory if it changes the académies of either.
    let with = state_of(&then(submitted(), [E::ProjectAcademieLinked { code: aca("25") }]));
    let without = state_of(&submitted());
    let mut changes = vec![];
    for (event, name) in one_event_of_each() {
        // The submission gives a new project its académies: it is read when the project is
        // first seen, not a change of territory.
        if name == ProjectEvent::PROJECT_SUBMITTED {
            continue;
        }
        let moved = |state: &ProjectState| Project::evolve(state.clone(), &event).academies != state.academies;
        if moved(&with) || moved(&without) {
            changes.push(event.event_type());
        }
    }
    assert_eq!(changes, ProjectEvent::TERRITORY_CHANGES);
}

#[test]
fn payloads_use_stored_codes_and_iso_dates() {
    let json = serde_json::to_value(E::ProjectAbandoned {
        on: day("2026-05-01"),
        reason_code: AbandonReason::HolderUnavailable,
        explanation: reason(),
    })
    .unwrap();
    assert_eq!(json["payload"]["reason_code"], "HOLDER_UNAVAILABLE");
    assert_eq!(json["payload"]["on"], "2026-05-01");
    let json = serde_json::to_value(&submitted()[0]).unwrap();
    assert_eq!(json["payload"]["support_mode"], "INCUBATION");
    assert_eq!(json["payload"]["academies"], serde_json::json!(["01"]));
    let json =
        serde_json::to_value(E::ProjectPhaseStarted { phase: Phase::Experimentation, on: day("2026-05-01") }).unwrap();
    assert_eq!(json["payload"]["phase"], "EXPERIMENTATION");
}

#[test]
fn the_state_reads_back_from_a_snapshot() {
    let state = state_of(&then(
        paused(),
        [E::ProjectHolderAdded { person: person(1), role: text("Porteur"), affiliation: None }],
    ));
    check_snapshot::<Project>(&state);
}

#[test]
fn codes_and_labels_follow_the_glossary() {
    let codes = |v: serde_json::Value| v.as_str().unwrap().to_owned();
    assert_eq!(codes(serde_json::to_value(S::Transferred).unwrap()), "TRANSFERRED");
    assert_eq!(codes(serde_json::to_value(SupportMode::NetworkLab).unwrap()), "NETWORK_LAB");
    assert_eq!(codes(serde_json::to_value(Visibility::default()).unwrap()), "INTERNAL");
    assert_eq!(S::Transferred.label(), "Pérennisé");
    assert_eq!(S::Withdrawn.label(), "Retiré par le porteur");
    assert_eq!(SupportMode::Punctual.label(), "Accompagnement ponctuel");
    assert_eq!(ReviewDecision::Stop.label(), "Arrêt");
    assert_eq!(Phase::Experimentation.label(), "Expérimentation");
    assert!(Phase::ALL.windows(2).all(|w| w[0] < w[1]), "phases are ordered");
    let terminal: Vec<_> = S::ALL.into_iter().filter(S::is_terminal).collect();
    assert_eq!(terminal, [S::Transferred, S::Abandoned, S::Declined, S::Withdrawn]);
    let labels = S::ALL.iter().map(S::label).chain(Phase::ALL.iter().map(Phase::label));
    let labels = labels.chain(SupportMode::ALL.iter().map(SupportMode::label));
    let labels = labels.chain(ReviewDecision::ALL.iter().map(ReviewDecision::label));
    let labels = labels.chain(Visibility::ALL.iter().map(Visibility::label));
    assert!(labels.chain(AbandonReason::ALL.iter().map(AbandonReason::label)).all(|l| !l.is_empty()));
}

#[test]
fn fixtures_keep_the_invariants() {
    for history in [
        submitted(),
        qualifying(),
        active(),
        prototyping(),
        paused(),
        declined(),
        withdrawn(),
        transferred(),
        abandoned(),
    ] {
        state_of(&history).check_invariants().unwrap();
    }
    let mut broken = state_of(&active());
    broken.phases.push(PhaseSpan { phase: Phase::Prototyping, started_on: day("2026-03-01"), ended_on: None });
    assert!(broken.check_invariants().is_err(), "two open phases");
    let mut broken = state_of(&transferred());
    broken.phases[0].phase = Phase::Experimentation;
    assert!(broken.check_invariants().is_err(), "phase order goes backward");
    let mut broken = state_of(&paused());
    broken.status = Some(S::Abandoned);
    assert!(broken.check_invariants().is_err(), "terminal with an open phase");
    let mut broken = state_of(&qualifying());
    broken.academies.clear();
    assert!(broken.check_invariants().is_err(), "no académie");
}

//! Registrations within capacity, facilitators, the agenda and linked projects.

use super::*;

#[test]
fn registrations_respect_capacity() {
    let reg = |n| E::ParticipantRegistered { participant: person(n), profile: text("enseignant") };
    let state = given::<Session>(scheduled(2))
        .when(C::RegisterParticipant { participant: person(1), profile: text("enseignant") })
        .then([reg(1)]);
    assert_eq!(state.registrations.len(), 1);
    let mut full = scheduled(2);
    full.extend([reg(1), reg(2)]);
    given::<Session>(full.clone())
        .when(C::RegisterParticipant { participant: person(3), profile: text("IEN") })
        .then_rejects("session.capacity_exceeded");
    let smaller = C::RescheduleSession {
        schedule: range(34, 42),
        location: text("110 bis"),
        mode: SessionMode::InPerson,
        capacity: 1,
    };
    given::<Session>(full.clone()).when(smaller).then_rejects("session.capacity_exceeded");
    // A cancellation frees a place.
    full.push(E::RegistrationCancelled { participant: person(1) });
    given::<Session>(full)
        .when(C::RegisterParticipant { participant: person(3), profile: text("IEN") })
        .then([E::ParticipantRegistered { participant: person(3), profile: text("IEN") }]);
}

#[test]
fn registrations_only_when_scheduled_and_once() {
    refused_by::<Session>(
        "session.invalid_transition",
        [
            (scoping(), C::RegisterParticipant { participant: person(1), profile: text("enseignant") }),
            (held(), C::RegisterParticipant { participant: person(1), profile: text("enseignant") }),
        ],
    );
    let mut history = scheduled(5);
    history.push(E::ParticipantRegistered { participant: person(1), profile: text("enseignant") });
    given::<Session>(history.clone())
        .when(C::RegisterParticipant { participant: person(1), profile: text("CPE") })
        .then_rejects("session.already_registered");
    given::<Session>(history.clone())
        .when(C::CancelRegistration { participant: person(1) })
        .then([E::RegistrationCancelled { participant: person(1) }]);
    given::<Session>(history)
        .when(C::CancelRegistration { participant: person(2) })
        .then_rejects("session.not_registered");
}

// -- facilitators, agenda, projects ------------------------------------------------------

#[test]
fn facilitators_are_assigned_once_and_unassigned_when_present() {
    let assigned = E::FacilitatorAssigned { facilitator: person(9) };
    given::<Session>([requested()]).when(C::AssignFacilitator { facilitator: person(9) }).then([assigned.clone()]);
    given::<Session>([requested(), assigned.clone()])
        .when(C::AssignFacilitator { facilitator: person(9) })
        .then_rejects("session.facilitator_already_assigned");
    let state = given::<Session>([requested(), assigned])
        .when(C::UnassignFacilitator { facilitator: person(9) })
        .then([E::FacilitatorUnassigned { facilitator: person(9) }]);
    assert!(state.facilitators.is_empty());
    given::<Session>([requested()])
        .when(C::UnassignFacilitator { facilitator: person(9) })
        .then_rejects("session.facilitator_not_assigned");
    given::<Session>(closed())
        .when(C::AssignFacilitator { facilitator: person(9) })
        .then_rejects("session.invalid_transition");
}

#[test]
fn agenda_only_while_scoping_or_scheduled() {
    let added = E::AgendaItemAdded { item_id: 1, label: text("Accueil"), at: Some(t(10)) };
    let state = given::<Session>(scoping())
        .when(C::AddAgendaItem { label: text("Accueil"), at: Some(t(10)) })
        .then([added.clone()]);
    assert_eq!(state.agenda.len(), 1);
    let mut history = scheduled(3);
    history.push(added);
    history.push(E::AgendaItemRemoved { item_id: 1 });
    // A removed item's id is not given again.
    given::<Session>(history.clone())
        .when(C::AddAgendaItem { label: text("Idéation"), at: None })
        .then([E::AgendaItemAdded { item_id: 2, label: text("Idéation"), at: None }]);
    given::<Session>(history).when(C::RemoveAgendaItem { item_id: 1 }).then_rejects("session.agenda_item_unknown");
    refused_by::<Session>(
        "session.invalid_transition",
        [
            (vec![requested()], C::AddAgendaItem { label: text("Accueil"), at: None }),
            (held(), C::AddAgendaItem { label: text("Accueil"), at: None }),
        ],
    );
}

#[test]
fn linked_to_a_project_once() {
    let project = ProjectId(uuid::Uuid::from_u128(42));
    given::<Session>([requested()]).when(C::LinkToProject { project }).then([E::SessionLinkedToProject { project }]);
    given::<Session>([requested(), E::SessionLinkedToProject { project }])
        .when(C::LinkToProject { project })
        .then_rejects("session.project_already_linked");
}

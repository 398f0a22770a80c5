//! The stored form: event types and payloads, snapshots, labels.

use super::*;

/// The 21 stored event types of DESIGN §4.2, pinned: renaming a variant breaks this test, as
/// it would break every log already written.
#[test]
fn event_type_tag_is_the_variant_name() {
    let project = ProjectId(uuid::Uuid::from_u128(42));
    let cases = [
        (requested(), "SessionRequested"),
        (E::SessionScopingStarted { on: day(2) }, "SessionScopingStarted"),
        (E::SessionDeclined { reason: text("hors périmètre"), on: day(2) }, "SessionDeclined"),
        (E::SessionWithdrawn { reason: text("plus de besoin"), on: day(2) }, "SessionWithdrawn"),
        (E::FacilitatorAssigned { facilitator: person(9) }, "FacilitatorAssigned"),
        (E::FacilitatorUnassigned { facilitator: person(9) }, "FacilitatorUnassigned"),
        (scheduled_event(3), "SessionScheduled"),
        (
            E::SessionRescheduled {
                schedule: range(34, 42),
                location: text("110 bis"),
                mode: SessionMode::Online,
                capacity: 4,
            },
            "SessionRescheduled",
        ),
        (E::SessionCancelled { reason: text("grève"), on: day(3) }, "SessionCancelled"),
        (E::AgendaItemAdded { item_id: 1, label: text("Accueil"), at: Some(t(10)) }, "AgendaItemAdded"),
        (E::AgendaItemRemoved { item_id: 1 }, "AgendaItemRemoved"),
        (E::ParticipantRegistered { participant: person(1), profile: text("IEN") }, "ParticipantRegistered"),
        (E::RegistrationCancelled { participant: person(1) }, "RegistrationCancelled"),
        (E::SessionHeld { at: t(11) }, "SessionHeld"),
        (E::AttendanceRecorded { attendance: attendance(12) }, "AttendanceRecorded"),
        (E::SessionReportPublished { report: text("CR"), on: day(4) }, "SessionReportPublished"),
        (
            E::FollowUpActionRecorded { action_id: 1, description: text("Relancer"), due: Some(day(20)) },
            "FollowUpActionRecorded",
        ),
        (E::FollowUpActionCompleted { action_id: 1, on: day(18) }, "FollowUpActionCompleted"),
        (E::SatisfactionSurveyRecorded { respondents: 3, mean: 4.5 }, "SatisfactionSurveyRecorded"),
        (E::SessionLinkedToProject { project }, "SessionLinkedToProject"),
        (E::SessionClosed { on: day(5) }, "SessionClosed"),
    ];
    assert_eq!(cases.len(), 21);
    check_event_types(&cases, SessionEvent::TYPES, SessionEvent::event_type);
    let json = serde_json::to_value(requested()).unwrap();
    assert_eq!(json["payload"]["details"]["format"], "DESIGN_SPRINT");
    assert_eq!(json["payload"]["details"]["requester"]["kind"], "DIRECTION");
    // Only known format codes are read back from the log.
    let mut tampered = serde_json::to_value(requested()).unwrap();
    tampered["payload"]["details"]["format"] = "TEAM_BUILDING".into();
    assert!(serde_json::from_value::<SessionEvent>(tampered).is_err());
}

#[test]
fn state_round_trips_through_serde() {
    check_snapshot::<Session>(&Session::fold(Session::initial_state(), &closed()));
}

#[test]
fn labels_are_french() {
    assert_eq!(SessionStatus::ALL.map(|s| s.label())[1], "En cadrage");
    assert_eq!(SessionFormat::Seminar.label(), "Séminaire");
    assert_eq!(SessionMode::ALL.map(|m| m.label()), ["Présentiel", "Distanciel", "Hybride"]);
    assert!(RequesterKind::ALL.iter().all(|k| !k.label().is_empty()));
    assert_eq!(serde_json::to_value(SessionMode::InPerson).unwrap(), "IN_PERSON");
}

//! A session from its request to its schedule, hold and close: the lifecycle.

use super::*;

#[test]
fn a_session_is_requested_once() {
    let state = given::<Session>([])
        .when(request_with(SessionFormat::DesignSprint, RequesterKind::Direction, 0))
        .then([requested()]);
    assert_eq!(state.status, Some(SessionStatus::Requested));
    assert!(state.check_invariants().is_ok());
    given::<Session>([requested()])
        .when(request_with(SessionFormat::DesignSprint, RequesterKind::Direction, 0))
        .then_rejects("session.already_exists");
}

#[test]
fn an_unknown_session_accepts_only_its_request() {
    let r = given::<Session>([]).when(C::StartScoping { on: day(1) }).then_rejects("session.not_found");
    assert_eq!(r.kind, crate::RejectionKind::NotFound);
    given::<Session>([]).when(C::HoldSession { now: t(0) }).then_rejects("session.not_found");
}

#[test]
fn a_direction_holds_one_seminar_a_year() {
    given::<Session>([])
        .when(request_with(SessionFormat::Seminar, RequesterKind::Direction, 1))
        .then_rejects("session.one_seminar_per_year");
    let (events, _) =
        given::<Session>([]).when(request_with(SessionFormat::Seminar, RequesterKind::Direction, 0)).accepted();
    assert_eq!(events.len(), 1);
    // Other requesters and other formats are not limited.
    given::<Session>([]).when(request_with(SessionFormat::Seminar, RequesterKind::Academie, 3)).accepted();
    given::<Session>([]).when(request_with(SessionFormat::Hackathon, RequesterKind::Direction, 3)).accepted();
}

#[test]
fn team_building_is_not_a_format() {
    for raw in ["TEAM_BUILDING", "team building", "Team-Building", " team_building ", "team  building", "Teambuilding"]
    {
        let err = SessionFormat::parse(raw).unwrap_err();
        assert_eq!(err.rule, "session.team_building_refused", "{raw}");
        assert!(err.message.contains("team-building"));
    }
    assert_eq!(SessionFormat::parse("karaoke").unwrap_err().rule, "session.format_unknown");
    assert_eq!(SessionFormat::parse("design sprint").unwrap(), SessionFormat::DesignSprint);
    assert_eq!(SessionFormat::parse(" User - Testing ").unwrap(), SessionFormat::UserTesting);
    assert_eq!(SessionFormat::parse("").unwrap_err().rule, "session.format_unknown");
    for format in SessionFormat::ALL {
        assert_eq!(SessionFormat::parse(format.code()), Ok(format));
        assert_eq!(serde_json::to_value(format).unwrap(), format.code());
    }
    let rejection: Rejection = SessionFormat::parse("team-building").unwrap_err().into();
    assert_eq!(rejection.kind, crate::RejectionKind::InvalidInput);
}

// -- lifecycle --------------------------------------------------------------------------

#[test]
fn scoping_then_scheduling() {
    given::<Session>([requested()])
        .when(C::StartScoping { on: day(2) })
        .then([E::SessionScopingStarted { on: day(2) }]);
    let state = given::<Session>(scoping()).when(schedule_cmd(5)).then([scheduled_event(5)]);
    assert_eq!(state.status, Some(SessionStatus::Scheduled));
    assert_eq!(state.capacity, Some(5));
    refused_by::<Session>(
        "session.invalid_transition",
        [(vec![requested()], schedule_cmd(5)), (scoping(), C::StartScoping { on: day(3) })],
    );
}

#[test]
fn scheduling_requires_a_capacity() {
    given::<Session>(scoping()).when(schedule_cmd(0)).then_rejects("session.capacity_required");
    let mut reschedule = schedule_cmd(0);
    if let C::ScheduleSession { schedule, location, mode, capacity } = reschedule {
        reschedule = C::RescheduleSession { schedule, location, mode, capacity };
    }
    given::<Session>(scheduled(2)).when(reschedule).then_rejects("session.capacity_required");
}

#[test]
fn invalid_transition_names_the_current_status() {
    let r = given::<Session>(closed())
        .when(C::CancelSession { reason: text("x"), on: day(6) })
        .then_rejects("session.invalid_transition");
    assert!(r.message.contains("Clôturée"), "{}", r.message);
    assert_eq!(r.kind, crate::RejectionKind::InvalidTransition);
}

#[test]
fn declined_or_withdrawn_from_requested_or_scoping() {
    for history in [vec![requested()], scoping()] {
        let state = given::<Session>(history.clone())
            .when(C::DeclineSession { reason: text("hors périmètre"), on: day(3) })
            .then([E::SessionDeclined { reason: text("hors périmètre"), on: day(3) }]);
        assert_eq!(state.status, Some(SessionStatus::Declined));
        let state = given::<Session>(history)
            .when(C::WithdrawSession { reason: text("plus de besoin"), on: day(3) })
            .then([E::SessionWithdrawn { reason: text("plus de besoin"), on: day(3) }]);
        assert_eq!(state.status, Some(SessionStatus::Withdrawn));
    }
    refused_by::<Session>(
        "session.invalid_transition",
        [
            (scheduled(2), C::DeclineSession { reason: text("x"), on: day(3) }),
            (scheduled(2), C::WithdrawSession { reason: text("x"), on: day(3) }),
        ],
    );
}

#[test]
fn rescheduled_and_cancelled_only_when_scheduled() {
    let new = C::RescheduleSession {
        schedule: range(34, 42),
        location: text("110 bis, salle 2"),
        mode: SessionMode::Hybrid,
        capacity: 8,
    };
    let state = given::<Session>(scheduled(2)).when(new.clone()).then([E::SessionRescheduled {
        schedule: range(34, 42),
        location: text("110 bis, salle 2"),
        mode: SessionMode::Hybrid,
        capacity: 8,
    }]);
    assert_eq!(state.schedule, Some(range(34, 42)));
    given::<Session>(scoping()).when(new).then_rejects("session.invalid_transition");
    let same = C::RescheduleSession {
        schedule: range(10, 18),
        location: text("110 bis"),
        mode: SessionMode::InPerson,
        capacity: 2,
    };
    given::<Session>(scheduled(2)).when(same).then_rejects("session.schedule_unchanged");

    let state = given::<Session>(scheduled(2))
        .when(C::CancelSession { reason: text("grève"), on: day(3) })
        .then([E::SessionCancelled { reason: text("grève"), on: day(3) }]);
    assert_eq!(state.status, Some(SessionStatus::Cancelled));
    given::<Session>(scoping())
        .when(C::CancelSession { reason: text("x"), on: day(3) })
        .then_rejects("session.invalid_transition");
}

#[test]
fn held_only_once_started() {
    given::<Session>(scheduled(2)).when(C::HoldSession { now: t(9) }).then_rejects("session.not_started_yet");
    let state = given::<Session>(scheduled(2)).when(C::HoldSession { now: t(10) }).then([E::SessionHeld { at: t(10) }]);
    assert_eq!(state.status, Some(SessionStatus::Held));
    refused_by::<Session>(
        "session.invalid_transition",
        [(scoping(), C::HoldSession { now: t(20) }), (held(), C::HoldSession { now: t(20) })],
    );
}

#[test]
fn closing_requires_report_and_attendance() {
    given::<Session>(held_with([E::AttendanceRecorded { attendance: attendance(12) }]))
        .when(C::CloseSession { on: day(5) })
        .then_rejects("session.report_required");
    given::<Session>(held_with([E::SessionReportPublished { report: text("CR"), on: day(4) }]))
        .when(C::CloseSession { on: day(5) })
        .then_rejects("session.attendance_required");
    let history = held_with([
        E::AttendanceRecorded { attendance: attendance(12) },
        E::SessionReportPublished { report: text("CR"), on: day(4) },
    ]);
    let state = given::<Session>(history).when(C::CloseSession { on: day(5) }).then([E::SessionClosed { on: day(5) }]);
    assert_eq!(state.status, Some(SessionStatus::Closed));
    assert!(state.check_invariants().is_ok());
    given::<Session>(scheduled(2)).when(C::CloseSession { on: day(5) }).then_rejects("session.invalid_transition");
}

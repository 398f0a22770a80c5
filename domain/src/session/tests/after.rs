//! After the session: attendance, report, satisfaction survey, follow-up actions.

use super::*;

#[test]
fn attendance_after_held_with_count_and_organisations() {
    given::<Session>(scheduled(3))
        .when(C::RecordAttendance { attendance: attendance(12) })
        .then_rejects("session.invalid_transition");
    given::<Session>(held())
        .when(C::RecordAttendance { attendance: attendance(12) })
        .then([E::AttendanceRecorded { attendance: attendance(12) }]);
    let no_orgs = Attendance { organisations: vec![], ..attendance(12) };
    refused_by::<Session>(
        "session.attendance_required",
        [
            (held(), C::RecordAttendance { attendance: no_orgs }),
            (held(), C::RecordAttendance { attendance: attendance(0) }),
        ],
    );
    given::<Session>(held())
        .when(C::RecordAttendance { attendance: attendance(1) })
        .then_rejects("session.attendance_breakdown_exceeds_count");
    given::<Session>(held_with([E::AttendanceRecorded { attendance: attendance(12) }]))
        .when(C::RecordAttendance { attendance: attendance(12) })
        .then_rejects("session.attendance_unchanged");
    // A correction is accepted, unless it leaves fewer present than survey respondents.
    let surveyed = held_with([
        E::AttendanceRecorded { attendance: attendance(12) },
        E::SatisfactionSurveyRecorded { respondents: 10, mean: 4.2 },
    ]);
    given::<Session>(surveyed.clone()).when(C::RecordAttendance { attendance: attendance(11) }).accepted();
    given::<Session>(surveyed)
        .when(C::RecordAttendance { attendance: attendance(9) })
        .then_rejects("session.satisfaction_range");
}

#[test]
fn report_after_held() {
    given::<Session>(scheduled(3))
        .when(C::PublishReport { report: text("CR"), on: day(4) })
        .then_rejects("session.invalid_transition");
    let state = given::<Session>(held())
        .when(C::PublishReport { report: text("CR"), on: day(4) })
        .then([E::SessionReportPublished { report: text("CR"), on: day(4) }]);
    assert_eq!(state.report.map(|r| r.published_on), Some(day(4)));
    given::<Session>(held_with([E::SessionReportPublished { report: text("CR"), on: day(4) }]))
        .when(C::PublishReport { report: text("CR"), on: day(5) })
        .then_rejects("session.report_unchanged");
}

#[test]
fn satisfaction_after_attendance_within_range() {
    given::<Session>(held())
        .when(C::RecordSatisfactionSurvey { respondents: 5, mean: 4.0 })
        .then_rejects("session.attendance_required");
    let history = held_with([E::AttendanceRecorded { attendance: attendance(12) }]);
    given::<Session>(history.clone())
        .when(C::RecordSatisfactionSurvey { respondents: 12, mean: 4.5 })
        .then([E::SatisfactionSurveyRecorded { respondents: 12, mean: 4.5 }]);
    for (respondents, mean) in [(13, 4.0), (0, 4.0), (5, 0.5), (5, 5.1), (5, f64::NAN)] {
        given::<Session>(history.clone())
            .when(C::RecordSatisfactionSurvey { respondents, mean })
            .then_rejects("session.satisfaction_range");
    }
    given::<Session>(history.clone())
        .when(C::RecordSatisfactionSurvey { respondents: 1, mean: 1.0 })
        .then([E::SatisfactionSurveyRecorded { respondents: 1, mean: 1.0 }]);
    let mut surveyed = history;
    surveyed.push(E::SatisfactionSurveyRecorded { respondents: 12, mean: 4.5 });
    given::<Session>(surveyed)
        .when(C::RecordSatisfactionSurvey { respondents: 12, mean: 4.5 })
        .then_rejects("session.satisfaction_unchanged");
}

#[test]
fn follow_up_actions_continue_after_close() {
    given::<Session>(scheduled(3))
        .when(C::RecordFollowUpAction { description: text("x"), due: None })
        .then_rejects("session.invalid_transition");
    let recorded = E::FollowUpActionRecorded { action_id: 1, description: text("Envoyer le kit"), due: Some(day(20)) };
    given::<Session>(closed())
        .when(C::RecordFollowUpAction { description: text("Envoyer le kit"), due: Some(day(20)) })
        .then([recorded.clone()]);
    let mut history = closed();
    history.push(recorded);
    let state = given::<Session>(history.clone())
        .when(C::CompleteFollowUpAction { action_id: 1, on: day(18) })
        .then([E::FollowUpActionCompleted { action_id: 1, on: day(18) }]);
    assert_eq!(state.follow_up_actions[0].completed_on, Some(day(18)));
    given::<Session>(history.clone())
        .when(C::CompleteFollowUpAction { action_id: 2, on: day(18) })
        .then_rejects("session.follow_up_unknown");
    history.push(E::FollowUpActionCompleted { action_id: 1, on: day(18) });
    given::<Session>(history.clone())
        .when(C::CompleteFollowUpAction { action_id: 1, on: day(19) })
        .then_rejects("session.follow_up_already_completed");
    given::<Session>(history)
        .when(C::RecordFollowUpAction { description: text("Bilan à 3 mois"), due: None })
        .then([E::FollowUpActionRecorded { action_id: 2, description: text("Bilan à 3 mois"), due: None }]);
}

#[test]
fn follow_up_actions_are_refused_after_other_endings() {
    let mut cancelled = scheduled(3);
    cancelled.push(E::SessionCancelled { reason: text("grève"), on: day(3) });
    given::<Session>(cancelled)
        .when(C::RecordFollowUpAction { description: text("x"), due: None })
        .then_rejects("session.invalid_transition");
}

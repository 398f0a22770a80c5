//! Follow-up of a supported project (reviews, milestones, progress, impact) and the six-month rule.

use super::*;

#[test]
fn follow_up_is_recorded_while_the_project_is_supported() {
    for history in [prototyping(), paused()] {
        let on = day("2026-06-01");
        records::<Project>([
            (
                history.clone(),
                C::RecordReview { decision: ReviewDecision::Pivot, held_on: on, notes: Some(reason()) },
                vec![E::ProjectReviewHeld { decision: ReviewDecision::Pivot, held_on: on, notes: Some(reason()) }],
            ),
            (
                history.clone(),
                C::RecordMilestone { title: text("Premier prototype testé en classe"), on },
                vec![E::ProjectMilestoneRecorded { title: text("Premier prototype testé en classe"), on }],
            ),
        ]);
        let state = given::<Project>(history.clone())
            .when(C::UpdateProgress { progress: Progress::new(60).unwrap() })
            .then([E::ProjectProgressUpdated { progress: Progress::new(60).unwrap() }]);
        assert_eq!(state.progress.map(|p| p.value()), Some(60));
        given::<Project>(history)
            .when(C::RecordImpactIndicator {
                name: text("Élèves"),
                value: 240.0,
                unit: text("élèves"),
                measured_on: on,
            })
            .then([E::ProjectImpactIndicatorRecorded {
                name: text("Élèves"),
                value: 240.0,
                unit: text("élèves"),
                measured_on: on,
            }]);
    }
}

#[test]
fn follow_up_needs_an_accepted_project() {
    for history in [submitted(), qualifying()] {
        let on = day("2026-06-01");
        let r = given::<Project>(history.clone())
            .when(C::RecordReview { decision: ReviewDecision::Continue, held_on: on, notes: None })
            .then_rejects("project.not_active");
        assert!(r.message.contains("enregistrer une revue"), "{r}");
        refused_by::<Project>(
            "project.not_active",
            [
                (history.clone(), C::RecordMilestone { title: text("Jalon"), on }),
                (history.clone(), C::UpdateProgress { progress: Progress::new(10).unwrap() }),
                (
                    history,
                    C::RecordImpactIndicator {
                        name: text("Élèves"),
                        value: 1.0,
                        unit: text("élèves"),
                        measured_on: on,
                    },
                ),
            ],
        );
    }
}

#[test]
fn an_impact_indicator_is_a_finite_number() {
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        given::<Project>(active())
            .when(C::RecordImpactIndicator {
                name: text("Élèves"),
                value,
                unit: text("élèves"),
                measured_on: day("2026-06-01"),
            })
            .then_rejects("project.indicator_value_not_finite");
    }
}

#[test]
fn an_incubated_project_without_review_for_six_months_needs_one() {
    let state = state_of(&active()); // accepted on 1 February 2026
    assert!(!state.needs_review(day("2026-07-15")));
    assert!(!state.needs_review(day("2026-08-01")), "six months to the day is not yet late");
    assert!(state.needs_review(day("2026-08-02")));
    assert!(state_of(&paused()).needs_review(day("2026-12-01")), "a pause does not stop the clock");
}

#[test]
fn a_review_resets_the_six_month_clock() {
    let reviewed = then(
        active(),
        [E::ProjectReviewHeld { decision: ReviewDecision::Continue, held_on: day("2026-07-20"), notes: None }],
    );
    let state = state_of(&reviewed);
    assert!(!state.needs_review(day("2026-08-15")));
    assert!(!state.needs_review(day("2027-01-20")));
    assert!(state.needs_review(day("2027-01-21")));
}

#[test]
fn only_incubated_supported_projects_owe_reviews() {
    let far = day("2030-01-01");
    assert!(!state_of(&accepted(SupportMode::Punctual)).needs_review(far));
    assert!(!state_of(&accepted(SupportMode::NetworkLab)).needs_review(far));
    assert!(!state_of(&qualifying()).needs_review(far));
    assert!(!state_of(&transferred()).needs_review(far));
    assert!(!ProjectState::default().needs_review(far));
}

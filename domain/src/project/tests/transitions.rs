//! Which command applies in which status: the refusals `project.invalid_transition` answers,
//! in one table (its message is checked in `submission.rs`).

use super::*;

#[test]
fn lifecycle_commands_are_refused_outside_their_statuses() {
    refused_by::<Project>(
        "project.invalid_transition",
        [
            // Only a qualifying project is declined.
            (submitted(), C::DeclineProject { on: day("2026-01-20"), reason: reason() }),
            (active(), C::DeclineProject { on: day("2026-02-20"), reason: reason() }),
            // An accepted project is not withdrawn but abandoned.
            (active(), C::WithdrawProject { on: day("2026-02-08"), reason: reason() }),
            (paused(), C::WithdrawProject { on: day("2026-04-08"), reason: reason() }),
            // Phases start only on an active project.
            (paused(), C::StartPhase { phase: Phase::Experimentation, on: day("2026-04-02") }),
            (qualifying(), C::StartPhase { phase: Phase::Prototyping, on: day("2026-01-12") }),
            // Pause and resume each need the other state.
            (paused(), C::PauseProject { on: day("2026-04-02"), reason: reason() }),
            (active(), C::ResumeProject { on: day("2026-04-02") }),
            (submitted(), C::PauseProject { on: day("2026-01-06"), reason: reason() }),
            // A paused project resumes before it is transferred.
            (paused(), C::TransferProject { on: day("2026-09-01"), to: text("DNE"), notes: None }),
            (qualifying(), C::TransferProject { on: day("2026-09-01"), to: text("DNE"), notes: None }),
            // A project not yet accepted is not abandoned.
            (
                qualifying(),
                C::AbandonProject { on: day("2026-05-01"), reason_code: AbandonReason::Other, explanation: reason() },
            ),
        ],
    );
}

//! Session mutations: one per `SessionCommand` (DESIGN §4.2).

use super::{count, day, entity_inputs, field, list, mutations, payloads, person_id, reason};
use crate::graphql::error::ApiError;
use crate::graphql::ids::{self, Kind};
use crate::graphql::session::{RequesterKind, Session, SessionFormat, SessionMode};
use async_graphql::{ID, InputObject};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::session::{Attendance, Requester, Session as SessionDecider, SessionCommand, SessionDetails};
use carnet_domain::values::{AcademieCode, DateRange, Label, LongText, ProjectId, SessionId, Title};
use carnet_projections::ProjectionStore;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

pub(super) const NOT_FOUND: &str = "cette session n'existe pas";

/// Who asks for the session: an organisation, never a person.
#[derive(InputObject)]
pub struct RequesterInput {
    organisation: String,
    kind: RequesterKind,
}

/// A new request for a collaborative session; the lab gives its reference
/// (`110B-S-<year of the request>-NNN`).
#[derive(InputObject)]
pub struct RequestSessionInput {
    client_mutation_id: Option<String>,
    title: String,
    /// Team-building is not a format the lab accepts.
    format: SessionFormat,
    /// The central question the session works on.
    objective: String,
    #[graphql(default)]
    methods: Vec<String>,
    requester: RequesterInput,
    /// Defaults to today.
    requested_on: Option<NaiveDate>,
}

/// A count of participants with one profile.
#[derive(InputObject)]
pub struct ProfileCountInput {
    profile: String,
    count: i64,
}

entity_inputs! {
    session_id,
    "The version you saw: `CONFLICT` if the session changed since. Omit it to\napply the change to the latest version.";

    /// Defaults to today for every `on`.
    StartSessionScopingInput { on: Option<NaiveDate> }
    DeclineSessionInput { reason: String, on: Option<NaiveDate> }
    WithdrawSessionInput { reason: String, on: Option<NaiveDate> }
    AssignFacilitatorInput { person_id: ID }
    UnassignFacilitatorInput { person_id: ID }
    ScheduleSessionInput {
        starts_at: DateTime<Utc>,
        /// After `startsAt`.
        ends_at: DateTime<Utc>,
        location: String,
        mode: SessionMode,
        /// At least one place, and no fewer than the participants already registered.
        capacity: i64,
    }
    RescheduleSessionInput { starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, location: String, mode: SessionMode, capacity: i64 }
    CancelSessionInput { reason: String, on: Option<NaiveDate> }
    AddSessionAgendaItemInput { label: String, at: Option<DateTime<Utc>> }
    RemoveSessionAgendaItemInput { item_id: i64 }
    RegisterParticipantInput {
        person_id: ID,
        /// e.g. « enseignant », « chef d'établissement ».
        profile: String,
    }
    CancelRegistrationInput { person_id: ID }
    /// The session is declared held now: only once its start has passed.
    HoldSessionInput {}
    RecordAttendanceInput {
        /// How many came (anonymous counts only).
        count: i64,
        #[graphql(default)]
        by_profile: Vec<ProfileCountInput>,
        /// The attending organisations, at least one.
        organisations: Vec<String>,
        #[graphql(default)]
        academie_codes: Vec<String>,
    }
    PublishSessionReportInput { report: String, on: Option<NaiveDate> }
    RecordFollowUpActionInput { description: String, due: Option<NaiveDate> }
    CompleteFollowUpActionInput { action_id: i64, on: Option<NaiveDate> }
    RecordSatisfactionInput {
        respondents: i64,
        /// The mean score, 1 to 5.
        mean: f64,
    }
    LinkSessionToProjectInput { project_id: ID }
    /// Requires a published report and the attendance.
    CloseSessionInput { on: Option<NaiveDate> }
}

payloads! { session: Session =>
    RequestSessionPayload, StartSessionScopingPayload, DeclineSessionPayload, WithdrawSessionPayload,
    AssignFacilitatorPayload, UnassignFacilitatorPayload, ScheduleSessionPayload, RescheduleSessionPayload,
    CancelSessionPayload, AddSessionAgendaItemPayload, RemoveSessionAgendaItemPayload, RegisterParticipantPayload,
    CancelRegistrationPayload, HoldSessionPayload, RecordAttendancePayload, PublishSessionReportPayload,
    RecordFollowUpActionPayload, CompleteFollowUpActionPayload, RecordSatisfactionPayload,
    LinkSessionToProjectPayload, CloseSessionPayload,
}

/// Where and when a session takes place, as scheduling and rescheduling give it: its times,
/// its location and its capacity.
fn slot(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    location: &str,
    capacity: i64,
) -> Result<(DateRange, Label, u32), ApiError> {
    Ok((
        field("endsAt", DateRange::new(starts_at, ends_at))?,
        field("location", Label::parse(location))?,
        count("capacity", capacity, "session.capacity_required")?,
    ))
}

mutations! {
    pub struct SessionMutation for Session, id session_id;

    /// Records a request for a collaborative session; it starts `REQUESTED` with the next
    /// reference of its year.
    request_session(input: RequestSessionInput) -> RequestSessionPayload with change {
        let requested_on = day(input.requested_on);
        let id = change.new_id(b"session");
        let details = change.input(|| {
            Ok(SessionDetails {
                reference: field("reference", Label::parse("110B-S-0000-000"))?,
                title: field("title", Title::parse(&input.title))?,
                format: input.format.into(),
                objective: field("objective", LongText::parse(&input.objective))?,
                methods: list("methods", &input.methods, Label::parse)?,
                requester: Requester {
                    organisation: field("requester.organisation", Label::parse(&input.requester.organisation))?,
                    kind: input.requester.kind.into(),
                },
                requested_on,
            })
        })?;
        // one seminar a year per direction: the count crosses sessions, so it comes from the
        // read model and travels with the command
        let db = change.caller.state.store.db();
        let held = carnet_projections::seminars_of(db, details.requester.organisation.as_str(), requested_on.year())
            .await
            .map_err(|e| change.fail(e))?;
        let build = |reference: &str| {
            let mut details = details.clone();
            details.reference = Label::parse(reference)?;
            Ok(SessionCommand::RequestSession { id: SessionId(id), details, seminars_already_held_this_year: held })
        };
        let lab = &change.caller.state.lab;
        let executed = lab.create_numbered::<SessionDecider>(ReferenceKind::Session, requested_on.year(), id, build, &change.metadata)
            .await
            .map_err(|e| change.fail(e))?;
        change.record(&executed.events);
        id
    }

    /// `REQUESTED` → `SCOPING`.
    start_session_scoping(input: StartSessionScopingInput) -> StartSessionScopingPayload {
        Ok(SessionCommand::StartScoping { on: day(input.on) })
    }

    decline_session(input: DeclineSessionInput) -> DeclineSessionPayload {
        Ok(SessionCommand::DeclineSession {
            reason: reason(&input.reason)?,
            on: day(input.on),
        })
    }

    withdraw_session(input: WithdrawSessionInput) -> WithdrawSessionPayload {
        Ok(SessionCommand::WithdrawSession {
            reason: reason(&input.reason)?,
            on: day(input.on),
        })
    }

    assign_facilitator(input: AssignFacilitatorInput) -> AssignFacilitatorPayload {
        Ok(SessionCommand::AssignFacilitator { facilitator: person_id(&input.person_id)? })
    }

    unassign_facilitator(input: UnassignFacilitatorInput) -> UnassignFacilitatorPayload {
        Ok(SessionCommand::UnassignFacilitator { facilitator: person_id(&input.person_id)? })
    }

    /// `SCOPING` → `SCHEDULED`.
    schedule_session(input: ScheduleSessionInput) -> ScheduleSessionPayload {
        let (schedule, location, capacity) = slot(input.starts_at, input.ends_at, &input.location, input.capacity)?;
        Ok(SessionCommand::ScheduleSession { schedule, location, mode: input.mode.into(), capacity })
    }

    reschedule_session(input: RescheduleSessionInput) -> RescheduleSessionPayload {
        let (schedule, location, capacity) = slot(input.starts_at, input.ends_at, &input.location, input.capacity)?;
        Ok(SessionCommand::RescheduleSession { schedule, location, mode: input.mode.into(), capacity })
    }

    cancel_session(input: CancelSessionInput) -> CancelSessionPayload {
        Ok(SessionCommand::CancelSession {
            reason: reason(&input.reason)?,
            on: day(input.on),
        })
    }

    add_session_agenda_item(input: AddSessionAgendaItemInput) -> AddSessionAgendaItemPayload {
        Ok(SessionCommand::AddAgendaItem { label: field("label", Label::parse(&input.label))?, at: input.at })
    }

    remove_session_agenda_item(input: RemoveSessionAgendaItemInput) -> RemoveSessionAgendaItemPayload {
        Ok(SessionCommand::RemoveAgendaItem {
            item_id: count("itemId", input.item_id, "session.agenda_item_unknown")?,
        })
    }

    /// Registers a participant, within the capacity.
    register_participant(input: RegisterParticipantInput) -> RegisterParticipantPayload {
        Ok(SessionCommand::RegisterParticipant {
            participant: person_id(&input.person_id)?,
            profile: field("profile", Label::parse(&input.profile))?,
        })
    }

    cancel_registration(input: CancelRegistrationInput) -> CancelRegistrationPayload {
        Ok(SessionCommand::CancelRegistration { participant: person_id(&input.person_id)? })
    }

    /// `SCHEDULED` → `HELD`, now (refused before the session starts).
    hold_session(input: HoldSessionInput) -> HoldSessionPayload {
        Ok(SessionCommand::HoldSession { now: Utc::now() })
    }

    record_attendance(input: RecordAttendanceInput) -> RecordAttendancePayload {
        let by_profile = input
            .by_profile
            .iter()
            .map(|p| {
                let n = count("byProfile.count", p.count, "session.attendance_required")?;
                Ok((field("byProfile.profile", Label::parse(&p.profile))?, n))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(SessionCommand::RecordAttendance {
            attendance: Attendance {
                count: count("count", input.count, "session.attendance_required")?,
                by_profile,
                organisations: list("organisations", &input.organisations, Label::parse)?,
                academies: list("academieCodes", &input.academie_codes, AcademieCode::parse)?.into_iter().collect(),
            },
        })
    }

    publish_session_report(input: PublishSessionReportInput) -> PublishSessionReportPayload {
        Ok(SessionCommand::PublishReport {
            report: field("report", LongText::parse(&input.report))?,
            on: day(input.on),
        })
    }

    record_follow_up_action(input: RecordFollowUpActionInput) -> RecordFollowUpActionPayload {
        Ok(SessionCommand::RecordFollowUpAction {
            description: field("description", LongText::parse(&input.description))?,
            due: input.due,
        })
    }

    complete_follow_up_action(input: CompleteFollowUpActionInput) -> CompleteFollowUpActionPayload {
        Ok(SessionCommand::CompleteFollowUpAction {
            action_id: count("actionId", input.action_id, "session.follow_up_unknown")?,
            on: day(input.on),
        })
    }

    /// The satisfaction survey: respondents (at most the attendance) and their mean score.
    record_satisfaction(input: RecordSatisfactionInput) -> RecordSatisfactionPayload {
        Ok(SessionCommand::RecordSatisfactionSurvey {
            respondents: count("respondents", input.respondents, "session.satisfaction_range")?,
            mean: input.mean,
        })
    }

    link_session_to_project(input: LinkSessionToProjectInput) -> LinkSessionToProjectPayload {
        let project = ids::decode(Kind::Project, &input.project_id)
            .ok_or_else(|| ApiError::NotFound("ce projet n'existe pas".into()))?;
        Ok(SessionCommand::LinkToProject { project: ProjectId(project) })
    }

    /// `HELD` → `CLOSED`.
    close_session(input: CloseSessionInput) -> CloseSessionPayload {
        Ok(SessionCommand::CloseSession { on: day(input.on) })
    }
}

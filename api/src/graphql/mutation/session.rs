//! Session mutations: one per `SessionCommand` (DESIGN §4.2).

use super::{Change, count, day, field, list, payloads, person_id};
use crate::graphql::error::ApiError;
use crate::graphql::ids::{self, Kind};
use crate::graphql::session::{RequesterKind, Session, SessionFormat, SessionMode, visible_session};
use async_graphql::{Context, ID, InputObject, Object};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::session::{Attendance, Requester, Session as SessionDecider, SessionCommand, SessionDetails};
use carnet_domain::values::{AcademieCode, DateRange, Label, LongText, ProjectId, SessionId, Title};
use carnet_projections::ProjectionStore;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

const NOT_FOUND: &str = "cette session n'existe pas";

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

macro_rules! session_input {
    ($($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? })*) => {
        $(
            $(#[$m])*
            #[derive(InputObject)]
            pub struct $name {
                client_mutation_id: Option<String>,
                session_id: ID,
                /// The version you saw: `CONFLICT` if the session changed since. Omit it to
                /// apply the change to the latest version.
                expected_version: Option<i64>,
                $($(#[$fm])* $f: $t,)*
            }
        )*
    };
}

session_input! {
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

/// Runs `build`'s command on session `session_id` for a writer and returns the session after
/// it, with the client's mutation id.
async fn change(
    ctx: &Context<'_>,
    client_mutation_id: Option<String>,
    session_id: &ID,
    expected_version: Option<i64>,
    build: impl FnOnce() -> Result<SessionCommand, ApiError>,
) -> async_graphql::Result<(Option<String>, Session)> {
    let change = Change::begin(ctx, client_mutation_id)?;
    let id = change.target(Kind::Session, session_id, NOT_FOUND)?;
    change.execute::<SessionDecider>(id, expected_version, build).await?;
    finish(change, id).await
}

async fn finish(change: Change<'_>, id: uuid::Uuid) -> async_graphql::Result<(Option<String>, Session)> {
    let session = visible_session(&change.caller, id).await?.ok_or_else(|| change.caller.not_found(NOT_FOUND))?;
    Ok((change.client_mutation_id, session))
}

fn schedule(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<DateRange, ApiError> {
    field("endsAt", DateRange::new(starts_at, ends_at))
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Records a request for a collaborative session; it starts `REQUESTED` with the next
    /// reference of its year.
    async fn request_session(
        &self,
        ctx: &Context<'_>,
        input: RequestSessionInput,
    ) -> async_graphql::Result<RequestSessionPayload> {
        let change = Change::begin(ctx, input.client_mutation_id.clone())?;
        let requested_on = day(input.requested_on);
        let id = match input.client_mutation_id {
            Some(_) => uuid::Uuid::new_v5(&change.metadata.command_id, b"session"),
            None => uuid::Uuid::now_v7(),
        };
        let details = (|| -> Result<_, ApiError> {
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
        })()
        .map_err(|e| change.fail(e))?;
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
        lab.create_numbered::<SessionDecider>(ReferenceKind::Session, requested_on.year(), id, build, &change.metadata)
            .await
            .map_err(|e| change.fail(e))?;
        let (m, s) = finish(change, id).await?;
        Ok(RequestSessionPayload::new(m, s))
    }

    /// `REQUESTED` → `SCOPING`.
    async fn start_session_scoping(
        &self,
        ctx: &Context<'_>,
        input: StartSessionScopingInput,
    ) -> async_graphql::Result<StartSessionScopingPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::StartScoping { on: day(input.on) })
        })
        .await?;
        Ok(StartSessionScopingPayload::new(m, s))
    }

    async fn decline_session(
        &self,
        ctx: &Context<'_>,
        input: DeclineSessionInput,
    ) -> async_graphql::Result<DeclineSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::DeclineSession {
                reason: field("reason", LongText::parse(&input.reason))?,
                on: day(input.on),
            })
        })
        .await?;
        Ok(DeclineSessionPayload::new(m, s))
    }

    async fn withdraw_session(
        &self,
        ctx: &Context<'_>,
        input: WithdrawSessionInput,
    ) -> async_graphql::Result<WithdrawSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::WithdrawSession {
                reason: field("reason", LongText::parse(&input.reason))?,
                on: day(input.on),
            })
        })
        .await?;
        Ok(WithdrawSessionPayload::new(m, s))
    }

    async fn assign_facilitator(
        &self,
        ctx: &Context<'_>,
        input: AssignFacilitatorInput,
    ) -> async_graphql::Result<AssignFacilitatorPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::AssignFacilitator { facilitator: person_id(&input.person_id)? })
        })
        .await?;
        Ok(AssignFacilitatorPayload::new(m, s))
    }

    async fn unassign_facilitator(
        &self,
        ctx: &Context<'_>,
        input: UnassignFacilitatorInput,
    ) -> async_graphql::Result<UnassignFacilitatorPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::UnassignFacilitator { facilitator: person_id(&input.person_id)? })
        })
        .await?;
        Ok(UnassignFacilitatorPayload::new(m, s))
    }

    /// `SCOPING` → `SCHEDULED`.
    async fn schedule_session(
        &self,
        ctx: &Context<'_>,
        input: ScheduleSessionInput,
    ) -> async_graphql::Result<ScheduleSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::ScheduleSession {
                schedule: schedule(input.starts_at, input.ends_at)?,
                location: field("location", Label::parse(&input.location))?,
                mode: input.mode.into(),
                capacity: count("capacity", input.capacity, "session.capacity_required")?,
            })
        })
        .await?;
        Ok(ScheduleSessionPayload::new(m, s))
    }

    async fn reschedule_session(
        &self,
        ctx: &Context<'_>,
        input: RescheduleSessionInput,
    ) -> async_graphql::Result<RescheduleSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::RescheduleSession {
                schedule: schedule(input.starts_at, input.ends_at)?,
                location: field("location", Label::parse(&input.location))?,
                mode: input.mode.into(),
                capacity: count("capacity", input.capacity, "session.capacity_required")?,
            })
        })
        .await?;
        Ok(RescheduleSessionPayload::new(m, s))
    }

    async fn cancel_session(
        &self,
        ctx: &Context<'_>,
        input: CancelSessionInput,
    ) -> async_graphql::Result<CancelSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::CancelSession {
                reason: field("reason", LongText::parse(&input.reason))?,
                on: day(input.on),
            })
        })
        .await?;
        Ok(CancelSessionPayload::new(m, s))
    }

    async fn add_session_agenda_item(
        &self,
        ctx: &Context<'_>,
        input: AddSessionAgendaItemInput,
    ) -> async_graphql::Result<AddSessionAgendaItemPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::AddAgendaItem { label: field("label", Label::parse(&input.label))?, at: input.at })
        })
        .await?;
        Ok(AddSessionAgendaItemPayload::new(m, s))
    }

    async fn remove_session_agenda_item(
        &self,
        ctx: &Context<'_>,
        input: RemoveSessionAgendaItemInput,
    ) -> async_graphql::Result<RemoveSessionAgendaItemPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::RemoveAgendaItem {
                item_id: count("itemId", input.item_id, "session.agenda_item_unknown")?,
            })
        })
        .await?;
        Ok(RemoveSessionAgendaItemPayload::new(m, s))
    }

    /// Registers a participant, within the capacity.
    async fn register_participant(
        &self,
        ctx: &Context<'_>,
        input: RegisterParticipantInput,
    ) -> async_graphql::Result<RegisterParticipantPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::RegisterParticipant {
                participant: person_id(&input.person_id)?,
                profile: field("profile", Label::parse(&input.profile))?,
            })
        })
        .await?;
        Ok(RegisterParticipantPayload::new(m, s))
    }

    async fn cancel_registration(
        &self,
        ctx: &Context<'_>,
        input: CancelRegistrationInput,
    ) -> async_graphql::Result<CancelRegistrationPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::CancelRegistration { participant: person_id(&input.person_id)? })
        })
        .await?;
        Ok(CancelRegistrationPayload::new(m, s))
    }

    /// `SCHEDULED` → `HELD`, now (refused before the session starts).
    async fn hold_session(
        &self,
        ctx: &Context<'_>,
        input: HoldSessionInput,
    ) -> async_graphql::Result<HoldSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::HoldSession { now: Utc::now() })
        })
        .await?;
        Ok(HoldSessionPayload::new(m, s))
    }

    async fn record_attendance(
        &self,
        ctx: &Context<'_>,
        input: RecordAttendanceInput,
    ) -> async_graphql::Result<RecordAttendancePayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
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
        })
        .await?;
        Ok(RecordAttendancePayload::new(m, s))
    }

    async fn publish_session_report(
        &self,
        ctx: &Context<'_>,
        input: PublishSessionReportInput,
    ) -> async_graphql::Result<PublishSessionReportPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::PublishReport {
                report: field("report", LongText::parse(&input.report))?,
                on: day(input.on),
            })
        })
        .await?;
        Ok(PublishSessionReportPayload::new(m, s))
    }

    async fn record_follow_up_action(
        &self,
        ctx: &Context<'_>,
        input: RecordFollowUpActionInput,
    ) -> async_graphql::Result<RecordFollowUpActionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::RecordFollowUpAction {
                description: field("description", LongText::parse(&input.description))?,
                due: input.due,
            })
        })
        .await?;
        Ok(RecordFollowUpActionPayload::new(m, s))
    }

    async fn complete_follow_up_action(
        &self,
        ctx: &Context<'_>,
        input: CompleteFollowUpActionInput,
    ) -> async_graphql::Result<CompleteFollowUpActionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::CompleteFollowUpAction {
                action_id: count("actionId", input.action_id, "session.follow_up_unknown")?,
                on: day(input.on),
            })
        })
        .await?;
        Ok(CompleteFollowUpActionPayload::new(m, s))
    }

    /// The satisfaction survey: respondents (at most the attendance) and their mean score.
    async fn record_satisfaction(
        &self,
        ctx: &Context<'_>,
        input: RecordSatisfactionInput,
    ) -> async_graphql::Result<RecordSatisfactionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::RecordSatisfactionSurvey {
                respondents: count("respondents", input.respondents, "session.satisfaction_range")?,
                mean: input.mean,
            })
        })
        .await?;
        Ok(RecordSatisfactionPayload::new(m, s))
    }

    async fn link_session_to_project(
        &self,
        ctx: &Context<'_>,
        input: LinkSessionToProjectInput,
    ) -> async_graphql::Result<LinkSessionToProjectPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            let project = ids::decode(Kind::Project, &input.project_id)
                .ok_or_else(|| ApiError::NotFound("ce projet n'existe pas".into()))?;
            Ok(SessionCommand::LinkToProject { project: ProjectId(project) })
        })
        .await?;
        Ok(LinkSessionToProjectPayload::new(m, s))
    }

    /// `HELD` → `CLOSED`.
    async fn close_session(
        &self,
        ctx: &Context<'_>,
        input: CloseSessionInput,
    ) -> async_graphql::Result<CloseSessionPayload> {
        let (m, s) = change(ctx, input.client_mutation_id, &input.session_id, input.expected_version, || {
            Ok(SessionCommand::CloseSession { on: day(input.on) })
        })
        .await?;
        Ok(CloseSessionPayload::new(m, s))
    }
}

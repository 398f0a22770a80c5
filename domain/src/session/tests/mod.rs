//! Tests of the session aggregate, one file per part of its life; this file holds the fixtures:
//! one session requested on 1 March 2026, scheduled on 2 March from 18:00 to 02:00.

use super::*;
use crate::decider::{Decider, Rejection};
use crate::testing::{aca, check_event_types, check_snapshot, given, person, refused_by, text};
use SessionCommand as C;
use SessionEvent as E;

mod after;
mod events;
mod participants;
mod properties;
mod requests;

fn t(hour: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z").unwrap().to_utc() + chrono::Duration::hours(hour)
}
fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}
fn range(start: i64, end: i64) -> DateRange {
    DateRange::new(t(start), t(end)).unwrap()
}

fn details(format: SessionFormat, kind: RequesterKind) -> SessionDetails {
    SessionDetails {
        reference: text("110B-S-2026-012"),
        title: text("Repenser l'accueil des familles"),
        format,
        objective: text("Comment mieux accueillir les familles allophones au collège ?"),
        methods: vec![text("carte d'empathie"), text("persona")],
        requester: Requester { organisation: text("DGESCO"), kind },
        requested_on: day(1),
    }
}
fn session_id() -> SessionId {
    SessionId(uuid::Uuid::from_u128(1))
}
fn request_with(format: SessionFormat, kind: RequesterKind, seminars: u32) -> C {
    C::RequestSession { id: session_id(), details: details(format, kind), seminars_already_held_this_year: seminars }
}
fn requested() -> E {
    E::SessionRequested { id: session_id(), details: details(SessionFormat::DesignSprint, RequesterKind::Direction) }
}
fn scoping() -> Vec<E> {
    vec![requested(), E::SessionScopingStarted { on: day(2) }]
}
fn scheduled_event(capacity: u32) -> E {
    E::SessionScheduled { schedule: range(10, 18), location: text("110 bis"), mode: SessionMode::InPerson, capacity }
}
fn scheduled(capacity: u32) -> Vec<E> {
    let mut h = scoping();
    h.push(scheduled_event(capacity));
    h
}
fn attendance(count: u32) -> Attendance {
    Attendance {
        count,
        by_profile: BTreeMap::from([(text("enseignant"), 2)]),
        organisations: vec![text("Collège Jean Moulin"), text("DSDEN 93")],
        academies: BTreeSet::from([aca("24")]),
    }
}
fn held() -> Vec<E> {
    let mut h = scheduled(3);
    h.push(E::SessionHeld { at: t(11) });
    h
}
fn held_with(extra: impl IntoIterator<Item = E>) -> Vec<E> {
    let mut h = held();
    h.extend(extra);
    h
}
fn closed() -> Vec<E> {
    held_with([
        E::AttendanceRecorded { attendance: attendance(12) },
        E::SessionReportPublished { report: text("Compte-rendu"), on: day(4) },
        E::SessionClosed { on: day(5) },
    ])
}
fn schedule_cmd(capacity: u32) -> C {
    C::ScheduleSession { schedule: range(10, 18), location: text("110 bis"), mode: SessionMode::InPerson, capacity }
}

//! Given/when/then tests of every rule of the person aggregate, and of its stored form.

use super::*;
use crate::decider::Decider;
use crate::testing::{check_event_types, check_snapshot, given};
use crate::values::LongText;
use PersonCommand as C;
use PersonEvent as E;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn id() -> PersonId {
    PersonId(uuid::Uuid::from_u128(7))
}

fn profile() -> PersonalData {
    PersonalData {
        given_name: Label::parse("Camille").unwrap(),
        usual_name: Label::parse("Martin").unwrap(),
        email: Some(Email::parse("camille.martin@education.gouv.fr").unwrap()),
        organisation: Some(Label::parse("DNE").unwrap()),
        affiliation: None,
        academie: Some(AcademieCode::parse("01").unwrap()),
        uai: Some(Uai::parse("0750654D").unwrap()),
    }
}

fn registered() -> E {
    E::PersonRegistered { id: id(), profile: Some(profile()), registered_on: day(1) }
}

fn identity() -> ExternalIdentity {
    ExternalIdentity {
        issuer: Label::parse("https://auth.agentconnect.gouv.fr").unwrap(),
        sub: Label::parse("abc-123").unwrap(),
    }
}

fn codes(raw: &[&str]) -> BTreeSet<AcademieCode> {
    raw.iter().map(|c| AcademieCode::parse(c).unwrap()).collect()
}

fn erased() -> E {
    E::PersonErased { reason: LongText::parse("demande RGPD").unwrap(), on: day(9) }
}

#[test]
fn registers_once() {
    let state = given::<Person>([])
        .when(C::RegisterPerson { id: id(), profile: profile(), registered_on: day(1) })
        .then([registered()]);
    assert_eq!(state.display_name(), "Camille Martin");
    given::<Person>([registered()])
        .when(C::RegisterPerson { id: id(), profile: profile(), registered_on: day(2) })
        .then_rejects("person.already_exists");
}

#[test]
fn an_unknown_person_accepts_only_registration() {
    let r = given::<Person>([]).when(C::RevokeRole { role: Role::Admin }).then_rejects("person.not_found");
    assert_eq!(r.kind, crate::RejectionKind::NotFound);
    given::<Person>([])
        .when(C::ErasePerson { reason: LongText::parse("x").unwrap(), on: day(1) })
        .then_rejects("person.not_found");
}

#[test]
fn links_an_identity_once() {
    let state = given::<Person>([registered()])
        .when(C::LinkIdentity { identity: identity() })
        .then([E::PersonIdentityLinked { identity: Some(identity()) }]);
    assert!(state.identities.contains(&identity()));
    given::<Person>([registered(), E::PersonIdentityLinked { identity: Some(identity()) }])
        .when(C::LinkIdentity { identity: identity() })
        .then_rejects("person.identity_already_linked");
    let other = ExternalIdentity { sub: Label::parse("xyz").unwrap(), ..identity() };
    given::<Person>([registered(), E::PersonIdentityLinked { identity: Some(identity()) }])
        .when(C::LinkIdentity { identity: other.clone() })
        .then([E::PersonIdentityLinked { identity: Some(other) }]);
}

#[test]
fn updates_the_profile() {
    let new = PersonalData { usual_name: Label::parse("Durand").unwrap(), ..profile() };
    let state = given::<Person>([registered()])
        .when(C::UpdateProfile { profile: new.clone() })
        .then([E::PersonProfileUpdated { profile: Some(new) }]);
    assert_eq!(state.display_name(), "Camille Durand");
    given::<Person>([registered()])
        .when(C::UpdateProfile { profile: profile() })
        .then_rejects("person.profile_unchanged");
}

#[test]
fn consents_are_given_then_withdrawn() {
    let given_event = E::PersonConsentGiven { purpose: ConsentPurpose::Photo, on: day(2) };
    let state = given::<Person>([registered()])
        .when(C::GiveConsent { purpose: ConsentPurpose::Photo, on: day(2) })
        .then([given_event.clone()]);
    assert!(state.has_consent(ConsentPurpose::Photo));
    given::<Person>([registered(), given_event.clone()])
        .when(C::GiveConsent { purpose: ConsentPurpose::Photo, on: day(3) })
        .then_rejects("person.consent_already_given");
    let state = given::<Person>([registered(), given_event.clone()])
        .when(C::WithdrawConsent { purpose: ConsentPurpose::Photo, on: day(4) })
        .then([E::PersonConsentWithdrawn { purpose: ConsentPurpose::Photo, on: day(4) }]);
    assert!(!state.has_consent(ConsentPurpose::Photo));
    given::<Person>([registered(), given_event])
        .when(C::WithdrawConsent { purpose: ConsentPurpose::Newsletter, on: day(4) })
        .then_rejects("person.consent_not_given");
}

#[test]
fn the_academie_role_needs_codes_and_only_it_takes_them() {
    given::<Person>([registered()])
        .when(C::GrantRole { role: Role::Academie, academies: BTreeSet::new() })
        .then_rejects("person.academie_role_needs_codes");
    given::<Person>([registered()])
        .when(C::GrantRole { role: Role::Reader, academies: codes(&["01"]) })
        .then_rejects("person.codes_only_for_academie_role");
    let state = given::<Person>([registered()])
        .when(C::GrantRole { role: Role::Academie, academies: codes(&["01", "24"]) })
        .then([E::PersonRoleGranted { role: Role::Academie, academies: codes(&["01", "24"]) }]);
    assert_eq!(state.roles().get(&Role::Academie), Some(&codes(&["01", "24"])));
}

#[test]
fn roles_are_granted_once_and_revoked_when_held() {
    let granted = E::PersonRoleGranted { role: Role::LabTeam, academies: BTreeSet::new() };
    given::<Person>([registered()])
        .when(C::GrantRole { role: Role::LabTeam, academies: BTreeSet::new() })
        .then([granted.clone()]);
    given::<Person>([registered(), granted.clone()])
        .when(C::GrantRole { role: Role::LabTeam, academies: BTreeSet::new() })
        .then_rejects("person.role_already_granted");
    let state = given::<Person>([registered(), granted])
        .when(C::RevokeRole { role: Role::LabTeam })
        .then([E::PersonRoleRevoked { role: Role::LabTeam }]);
    assert!(state.roles().is_empty());
    given::<Person>([registered()]).when(C::RevokeRole { role: Role::Admin }).then_rejects("person.role_not_granted");
}

#[test]
fn erasure_drops_personal_data_and_freezes_the_person() {
    let history = [
        registered(),
        E::PersonIdentityLinked { identity: Some(identity()) },
        E::PersonRoleGranted { role: Role::Reader, academies: BTreeSet::new() },
    ];
    let state = given::<Person>(history.clone())
        .when(C::ErasePerson { reason: LongText::parse("demande RGPD").unwrap(), on: day(9) })
        .then([erased()]);
    assert!(state.erased);
    assert_eq!(state.id, Some(id()));
    assert_eq!(state.profile, None);
    assert!(state.identities.is_empty() && state.roles().is_empty());
    assert_eq!(state.display_name(), "Personne effacée");

    let after = || history.iter().cloned().chain([erased()]);
    given::<Person>(after()).when(C::ErasePerson { reason: LongText::parse("encore").unwrap(), on: day(10) }).then([]);
    let refused = [
        C::RegisterPerson { id: id(), profile: profile(), registered_on: day(10) },
        C::LinkIdentity { identity: identity() },
        C::UpdateProfile { profile: profile() },
        C::GiveConsent { purpose: ConsentPurpose::Contact, on: day(10) },
        C::WithdrawConsent { purpose: ConsentPurpose::Contact, on: day(10) },
        C::GrantRole { role: Role::Admin, academies: BTreeSet::new() },
        C::RevokeRole { role: Role::Reader },
    ];
    for command in refused {
        given::<Person>(after()).when(command).then_rejects("person.erased");
    }
}

#[test]
fn a_profile_read_back_after_crypto_shredding_folds_to_no_profile() {
    let shredded = E::PersonRegistered { id: id(), profile: None, registered_on: day(1) };
    let state = Person::fold(Person::initial_state(), std::slice::from_ref(&shredded));
    assert_eq!((state.id, state.profile.as_ref()), (Some(id()), None));
    let json = serde_json::json!({ "type": "PersonRegistered",
        "payload": { "id": id(), "profile": null, "registered_on": "2026-03-01" } });
    assert_eq!(serde_json::from_value::<PersonEvent>(json).unwrap(), shredded, "a null profile reads as None");
    let state = Person::fold(state, &[erased()]);
    assert_eq!(state.display_name(), "Personne effacée");
}

fn one_event_of_each() -> [(E, &'static str); 8] {
    [
        (registered(), "PersonRegistered"),
        (E::PersonIdentityLinked { identity: Some(identity()) }, "PersonIdentityLinked"),
        (E::PersonProfileUpdated { profile: Some(profile()) }, "PersonProfileUpdated"),
        (E::PersonConsentGiven { purpose: ConsentPurpose::Contact, on: day(1) }, "PersonConsentGiven"),
        (E::PersonConsentWithdrawn { purpose: ConsentPurpose::Contact, on: day(1) }, "PersonConsentWithdrawn"),
        (E::PersonRoleGranted { role: Role::Academie, academies: codes(&["01"]) }, "PersonRoleGranted"),
        (E::PersonRoleRevoked { role: Role::Academie }, "PersonRoleRevoked"),
        (erased(), "PersonErased"),
    ]
}

#[test]
fn event_type_tag_is_the_variant_name() {
    check_event_types(&one_event_of_each(), PersonEvent::TYPES, PersonEvent::event_type);
    let json = serde_json::to_value(registered()).unwrap();
    assert_eq!(json["payload"]["profile"]["given_name"], "Camille");
    assert_eq!(serde_json::to_value(Role::LabTeam).unwrap(), "LAB_TEAM");
}

/// The personal-data policy names real fields: each named field is a key of its event's
/// payload and holds the profile or the identity, and no other event says anything personal.
#[test]
fn the_personal_fields_are_where_the_personal_data_is() {
    let personal = [serde_json::to_value(profile()).unwrap(), serde_json::to_value(identity()).unwrap()];
    for (event, name) in one_event_of_each() {
        let json = serde_json::to_value(&event).unwrap();
        match PersonEvent::PERSONAL_FIELDS.iter().find(|(t, _)| *t == name) {
            Some((_, field)) => {
                let value = json["payload"].get(field).unwrap_or_else(|| panic!("{name} has no `{field}`: {json}"));
                assert!(personal.contains(value), "{name}.{field} holds personal data: {value}");
            }
            None => {
                let text = json.to_string();
                for word in ["Camille", "Martin", "camille.martin", "abc-123"] {
                    assert!(!text.contains(word), "{name} carries personal data outside the named fields: {text}");
                }
            }
        }
    }
    assert_eq!(PersonEvent::PERSONAL_FIELDS.len(), 3);
    assert_eq!(erased().event_type(), PersonEvent::ERASED);
}

#[test]
fn state_round_trips_through_serde() {
    let state = Person::fold(
        Person::initial_state(),
        &[
            registered(),
            E::PersonConsentGiven { purpose: ConsentPurpose::Photo, on: day(2) },
            E::PersonRoleGranted { role: Role::Academie, academies: codes(&["01"]) },
        ],
    );
    check_snapshot::<Person>(&state);
}

#[test]
fn labels_are_french() {
    assert_eq!(Role::ALL.map(|r| r.label()), ["Équipe du lab", "Académie", "Auditeur", "Lecteur", "Administrateur"]);
    assert!(ConsentPurpose::ALL.iter().all(|p| !p.label().is_empty()));
}

//! # Person — the only holder of personal data (DESIGN §4.3)
//!
//! Other aggregates refer to people by their opaque [`PersonId`] only. Every personal field
//! (names, email, organisation, affiliation, académie, UAI) lives in [`PersonalData`], which only
//! [`PersonEvent::PersonRegistered`] and [`PersonEvent::PersonProfileUpdated`] carry, and in the
//! [`ExternalIdentity`] of [`PersonEvent::PersonIdentityLinked`] (a provider's `sub` names a
//! person as surely as an email): encrypting personal data at rest (or crypto-shredding it on
//! erasure) therefore touches these two types. The store seals them (DESIGN §3.2,
//! `carnet_store::sealing`); once the person's key is destroyed, those events read back with no
//! profile and no identity (`None`), and folding them gives none either.
//!
//! Erasure (`ErasePerson`) keeps the id so that other streams still resolve, marks the person
//! erased and drops the profile, identities, consents and roles from the state; from then on the
//! person accepts nothing, except being erased again, which is harmless.

use crate::decider::{Decider, Rejection};
use crate::values::{AcademieCode, Email, Label, LongText, PersonId, Uai};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The person aggregate.
pub struct Person;

/// Everything Carnet knows that identifies a person. Nothing outside this type is personal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    pub given_name: Label,
    pub usual_name: Label,
    pub email: Option<Email>,
    pub organisation: Option<Label>,
    pub affiliation: Option<Label>,
    pub academie: Option<AcademieCode>,
    pub uai: Option<Uai>,
}

/// An identity at an OpenID Connect provider (ProConnect, formerly AgentConnect): the issuer
/// (e.g. `https://auth.agentconnect.gouv.fr`) and the subject it gives this person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExternalIdentity {
    pub issuer: Label,
    pub sub: Label,
}

/// What a person may consent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentPurpose {
    /// Being contacted by the lab.
    Contact,
    /// Appearing in photos the lab publishes.
    Photo,
    /// Receiving the lab's newsletter.
    Newsletter,
}

impl ConsentPurpose {
    pub const ALL: [Self; 3] = [Self::Contact, Self::Photo, Self::Newsletter];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Contact => "Être contacté par le lab",
            Self::Photo => "Droit à l'image",
            Self::Newsletter => "Lettre d'information",
        }
    }
}

/// What a person may do in Carnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    LabTeam,
    /// Scoped to one or more académies.
    Academie,
    Auditor,
    Reader,
    Admin,
}

impl Role {
    pub const ALL: [Self; 5] = [Self::LabTeam, Self::Academie, Self::Auditor, Self::Reader, Self::Admin];

    pub fn label(&self) -> &'static str {
        match self {
            Self::LabTeam => "Équipe du lab",
            Self::Academie => "Académie",
            Self::Auditor => "Auditeur",
            Self::Reader => "Lecteur",
            Self::Admin => "Administrateur",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonState {
    /// `None` until registered; kept after erasure.
    pub id: Option<PersonId>,
    /// `None` before registration and after erasure.
    pub profile: Option<PersonalData>,
    pub registered_on: Option<NaiveDate>,
    pub identities: BTreeSet<ExternalIdentity>,
    /// Consents currently given, with the date each was given.
    pub consents: BTreeMap<ConsentPurpose, NaiveDate>,
    /// Roles held; only [`Role::Academie`] carries académie codes.
    pub roles: BTreeMap<Role, BTreeSet<AcademieCode>>,
    pub erased: bool,
    pub erased_on: Option<NaiveDate>,
}

impl PersonState {
    /// "Prénom Nom", or "Personne effacée" once erased.
    pub fn display_name(&self) -> String {
        match (&self.profile, self.erased) {
            (_, true) => "Personne effacée".to_owned(),
            (Some(p), false) => format!("{} {}", p.given_name, p.usual_name),
            (None, false) => "Personne inconnue".to_owned(),
        }
    }

    /// The roles held, with the académies an [`Role::Academie`] role covers.
    pub fn roles(&self) -> &BTreeMap<Role, BTreeSet<AcademieCode>> {
        &self.roles
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains_key(&role)
    }

    pub fn has_consent(&self, purpose: ConsentPurpose) -> bool {
        self.consents.contains_key(&purpose)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PersonCommand {
    RegisterPerson {
        id: PersonId,
        profile: PersonalData,
        registered_on: NaiveDate,
    },
    LinkIdentity {
        identity: ExternalIdentity,
    },
    UpdateProfile {
        profile: PersonalData,
    },
    GiveConsent {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    WithdrawConsent {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    GrantRole {
        role: Role,
        academies: BTreeSet<AcademieCode>,
    },
    RevokeRole {
        role: Role,
    },
    /// `reason` says why (« demande d'effacement RGPD »), never who: unlike [`PersonalData`], it
    /// stays readable in the log after erasure.
    ErasePerson {
        reason: LongText,
        on: NaiveDate,
    },
}

// Every variant starts with "Person": they are the stored event types of DESIGN §4.3.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum PersonEvent {
    /// `profile` is `None` only when read back after erasure: the log keeps the event, not what
    /// it said (crypto-shredding). The decider always records one.
    PersonRegistered {
        id: PersonId,
        profile: Option<PersonalData>,
        registered_on: NaiveDate,
    },
    /// `identity` is personal data, sealed like the profile: `None` only when read back after
    /// erasure. The decider always records one.
    PersonIdentityLinked {
        identity: Option<ExternalIdentity>,
    },
    /// `profile`: as in `PersonRegistered`.
    PersonProfileUpdated {
        profile: Option<PersonalData>,
    },
    PersonConsentGiven {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    PersonConsentWithdrawn {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    PersonRoleGranted {
        role: Role,
        academies: BTreeSet<AcademieCode>,
    },
    PersonRoleRevoked {
        role: Role,
    },
    PersonErased {
        reason: LongText,
        on: NaiveDate,
    },
}

impl Decider for Person {
    type State = PersonState;
    type Command = PersonCommand;
    type Event = PersonEvent;

    const CATEGORY: &'static str = "person";
    const VERSION: u32 = 1;

    fn reason(command: &PersonCommand) -> Option<&str> {
        match command {
            PersonCommand::ErasePerson { reason, .. } => Some(reason.as_str()),
            _ => None,
        }
    }

    fn initial_state() -> PersonState {
        PersonState::default()
    }

    fn decide(state: &PersonState, command: &PersonCommand) -> Result<Vec<PersonEvent>, Rejection> {
        use PersonCommand as C;
        use PersonEvent as E;

        if state.id.is_none() {
            return match command {
                C::RegisterPerson { id, profile, registered_on } => Ok(vec![E::PersonRegistered {
                    id: *id,
                    profile: Some(profile.clone()),
                    registered_on: *registered_on,
                }]),
                _ => Err(Rejection::not_found("person.not_found", "cette personne n'existe pas")),
            };
        }
        if state.erased {
            return match command {
                // Erasing twice is harmless: nothing left to erase.
                C::ErasePerson { .. } => Ok(vec![]),
                _ => Err(Rejection::not_found(
                    "person.erased",
                    "les données de cette personne ont été effacées : plus aucune modification n'est possible",
                )),
            };
        }

        match command {
            C::RegisterPerson { .. } => {
                Err(Rejection::transition("person.already_exists", "cette personne est déjà enregistrée"))
            }
            C::LinkIdentity { identity } => {
                if state.identities.contains(identity) {
                    return Err(Rejection::transition(
                        "person.identity_already_linked",
                        format!("cette identité ({}) est déjà rattachée à la personne", identity.issuer),
                    ));
                }
                Ok(vec![E::PersonIdentityLinked { identity: Some(identity.clone()) }])
            }
            C::UpdateProfile { profile } => {
                if state.profile.as_ref() == Some(profile) {
                    return Err(Rejection::transition(
                        "person.profile_unchanged",
                        "le profil est identique à celui déjà enregistré : rien à modifier",
                    ));
                }
                Ok(vec![E::PersonProfileUpdated { profile: Some(profile.clone()) }])
            }
            C::GiveConsent { purpose, on } => {
                if state.has_consent(*purpose) {
                    return Err(Rejection::transition(
                        "person.consent_already_given",
                        format!("le consentement « {} » est déjà donné", purpose.label()),
                    ));
                }
                Ok(vec![E::PersonConsentGiven { purpose: *purpose, on: *on }])
            }
            C::WithdrawConsent { purpose, on } => {
                if !state.has_consent(*purpose) {
                    return Err(Rejection::transition(
                        "person.consent_not_given",
                        format!(
                            "le consentement « {} » n'a pas été donné : il ne peut pas être retiré",
                            purpose.label()
                        ),
                    ));
                }
                Ok(vec![E::PersonConsentWithdrawn { purpose: *purpose, on: *on }])
            }
            C::GrantRole { role, academies } => {
                if *role == Role::Academie && academies.is_empty() {
                    return Err(Rejection::input(
                        "person.academie_role_needs_codes",
                        "le rôle « Académie » doit préciser au moins une académie",
                    ));
                }
                if *role != Role::Academie && !academies.is_empty() {
                    return Err(Rejection::input(
                        "person.codes_only_for_academie_role",
                        format!("seul le rôle « Académie » porte des codes académie, pas le rôle « {} »", role.label()),
                    ));
                }
                if state.has_role(*role) {
                    return Err(Rejection::transition(
                        "person.role_already_granted",
                        format!("cette personne a déjà le rôle « {} »", role.label()),
                    ));
                }
                Ok(vec![E::PersonRoleGranted { role: *role, academies: academies.clone() }])
            }
            C::RevokeRole { role } => {
                if !state.has_role(*role) {
                    return Err(Rejection::transition(
                        "person.role_not_granted",
                        format!("cette personne n'a pas le rôle « {} »", role.label()),
                    ));
                }
                Ok(vec![E::PersonRoleRevoked { role: *role }])
            }
            C::ErasePerson { reason, on } => Ok(vec![E::PersonErased { reason: reason.clone(), on: *on }]),
        }
    }

    fn evolve(mut state: PersonState, event: &PersonEvent) -> PersonState {
        use PersonEvent as E;
        match event {
            E::PersonRegistered { id, profile, registered_on } => {
                state.id = Some(*id);
                state.profile = profile.clone();
                state.registered_on = Some(*registered_on);
            }
            E::PersonIdentityLinked { identity } => {
                // `None`: read back after the key was destroyed; the erasure follows
                if let Some(identity) = identity {
                    state.identities.insert(identity.clone());
                }
            }
            E::PersonProfileUpdated { profile } => state.profile = profile.clone(),
            E::PersonConsentGiven { purpose, on } => {
                state.consents.insert(*purpose, *on);
            }
            E::PersonConsentWithdrawn { purpose, .. } => {
                state.consents.remove(purpose);
            }
            E::PersonRoleGranted { role, academies } => {
                state.roles.insert(*role, academies.clone());
            }
            E::PersonRoleRevoked { role } => {
                state.roles.remove(role);
            }
            E::PersonErased { on, .. } => {
                state.erased = true;
                state.erased_on = Some(*on);
                state.profile = None;
                state.identities.clear();
                state.consents.clear();
                state.roles.clear();
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
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
        given::<Person>([registered()])
            .when(C::RevokeRole { role: Role::Admin })
            .then_rejects("person.role_not_granted");
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
        given::<Person>(after())
            .when(C::ErasePerson { reason: LongText::parse("encore").unwrap(), on: day(10) })
            .then([]);
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

    #[test]
    fn event_type_tag_is_the_variant_name() {
        let cases = [
            (registered(), "PersonRegistered"),
            (E::PersonIdentityLinked { identity: Some(identity()) }, "PersonIdentityLinked"),
            (E::PersonProfileUpdated { profile: Some(profile()) }, "PersonProfileUpdated"),
            (E::PersonConsentGiven { purpose: ConsentPurpose::Contact, on: day(1) }, "PersonConsentGiven"),
            (E::PersonConsentWithdrawn { purpose: ConsentPurpose::Contact, on: day(1) }, "PersonConsentWithdrawn"),
            (E::PersonRoleGranted { role: Role::Academie, academies: codes(&["01"]) }, "PersonRoleGranted"),
            (E::PersonRoleRevoked { role: Role::Academie }, "PersonRoleRevoked"),
            (erased(), "PersonErased"),
        ];
        for (event, name) in cases {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], name);
            assert_eq!(serde_json::from_value::<PersonEvent>(json).unwrap(), event);
        }
        let json = serde_json::to_value(registered()).unwrap();
        assert_eq!(json["payload"]["profile"]["given_name"], "Camille");
        assert_eq!(serde_json::to_value(Role::LabTeam).unwrap(), "LAB_TEAM");
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
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<PersonState>(&json).unwrap(), state);
    }

    #[test]
    fn labels_are_french() {
        assert_eq!(
            Role::ALL.map(|r| r.label()),
            ["Équipe du lab", "Académie", "Auditeur", "Lecteur", "Administrateur"]
        );
        assert!(ConsentPurpose::ALL.iter().all(|p| !p.label().is_empty()));
    }
}

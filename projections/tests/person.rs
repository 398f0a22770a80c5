//! The person read model on both backends: registration, profile, roles, consents and
//! identities follow every command inline; an identity belongs to one person; erasure leaves no
//! personal data in any read-model table.

mod common;

use carnet_testkit::{Backend, for_each_backend};

use carnet_domain::person::*;
use carnet_domain::values::*;
use carnet_projections::*;
use carnet_store::*;
use chrono::NaiveDate;
use common::{assert_same, check_person, dump, expected_person, label};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

for_each_backend!(
    a_person_s_life_is_reflected_row_by_row,
    erasure_leaves_no_personal_data_in_the_read_models,
    an_identity_belongs_to_one_person_at_most,
    applying_the_log_again_changes_nothing,
);

// ---------------------------------------------------------------------------------------------
// Helpers

use PersonCommand as C;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn codes(raw: &[&str]) -> BTreeSet<AcademieCode> {
    raw.iter().map(|c| AcademieCode::parse(c).unwrap()).collect()
}

fn profile(given: &str, usual: &str) -> PersonalData {
    PersonalData {
        given_name: label(given),
        usual_name: label(usual),
        email: Some(
            Email::parse(&format!("{}.{}@education.gouv.fr", given.to_lowercase(), usual.to_lowercase())).unwrap(),
        ),
        organisation: Some(label("DNE")),
        affiliation: Some(label("Bureau de l'innovation")),
        academie: Some(AcademieCode::parse("01").unwrap()),
        uai: Some(Uai::parse("0750654D").unwrap()),
    }
}

fn identity(issuer: &str, sub: &str) -> ExternalIdentity {
    ExternalIdentity { issuer: label(issuer), sub: label(sub) }
}

const PROCONNECT: &str = "https://auth.agentconnect.gouv.fr";

async fn execute<S: ProjectionStore>(store: &S, id: PersonId, command: &C) -> Result<Executed<Person>, CommandError> {
    common::execute(store, id.0, command).await
}

async fn run<S: ProjectionStore>(store: &S, id: PersonId, command: &C) -> Executed<Person> {
    common::run(store, id.0, command).await
}

fn register(id: PersonId, given: &str, usual: &str) -> PersonCommand {
    C::RegisterPerson { id, profile: profile(given, usual), registered_on: day(1) }
}

// ---------------------------------------------------------------------------------------------

async fn a_person_s_life_is_reflected_row_by_row<S: ProjectionStore>(store: S, _: Backend) {
    let id = PersonId::new();
    let mut updated = profile("Camille", "Martin-Durand");
    updated.email = None;
    updated.affiliation = None;
    updated.uai = Some(Uai::parse("0690026D").unwrap());
    let commands = vec![
        register(id, "Camille", "Martin"),
        C::LinkIdentity { identity: identity(PROCONNECT, "abc-123") },
        C::LinkIdentity { identity: identity("https://idp.ac-lyon.fr", "cmartin") },
        C::UpdateProfile { profile: updated },
        C::GiveConsent { purpose: ConsentPurpose::Photo, on: day(2) },
        C::GiveConsent { purpose: ConsentPurpose::Contact, on: day(3) },
        C::WithdrawConsent { purpose: ConsentPurpose::Photo, on: day(4) },
        C::GrantRole { role: Role::Academie, academies: codes(&["10", "01"]) },
        C::GrantRole { role: Role::LabTeam, academies: BTreeSet::new() },
        C::GrantRole { role: Role::Auditor, academies: BTreeSet::new() },
        C::RevokeRole { role: Role::Auditor },
    ];
    for command in &commands {
        let done = run(&store, id, command).await;
        let row = person_by_id(store.db(), id.0).await.unwrap().expect("the person is in the read model");
        assert_eq!(row, expected_person(&done.state, done.events.last().unwrap()), "after {command:?}");
        assert_eq!(row.display_name(), done.state.display_name());
    }

    // the same, in the read model's own words
    let row = person_by_id(store.db(), id.0).await.unwrap().unwrap();
    assert_eq!(row.display_name(), "Camille Martin-Durand");
    assert_eq!((row.email.as_deref(), row.uai.as_deref()), (None, Some("0690026D")));
    let roles: Vec<(Role, Vec<String>)> = row.roles.iter().map(|r| (r.role, r.academies.clone())).collect();
    assert_eq!(roles, [(Role::Academie, vec!["01".to_owned(), "10".to_owned()]), (Role::LabTeam, vec![])]);
    assert_eq!(row.consents, [ConsentRow { purpose: ConsentPurpose::Contact, given_on: day(3) }]);
    assert_eq!(row.identities.len(), 2);
    assert!(!row.is_erased());

    // a token's (iss, sub) finds the person
    let found = person_by_identity(store.db(), PROCONNECT, "abc-123").await.unwrap();
    assert_eq!(found.map(|p| p.id), Some(id.0));
    assert_eq!(person_by_identity(store.db(), PROCONNECT, "abc-1234").await.unwrap(), None);
    assert_eq!(person_by_identity(store.db(), "https://idp.ac-lyon.fr", "abc-123").await.unwrap(), None);

    let other = PersonId::new();
    run(&store, other, &register(other, "Dominique", "Petit")).await;
    let both = people_by_ids(store.db(), &[id.0, other.0, Uuid::new_v4()]).await.unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[&other.0].display_name(), "Dominique Petit");
    assert!(people_by_ids(store.db(), &[]).await.unwrap().is_empty());
    assert_eq!(person_by_id(store.db(), Uuid::new_v4()).await.unwrap(), None);
}

async fn erasure_leaves_no_personal_data_in_the_read_models<S: ProjectionStore>(store: S, _: Backend) {
    let (id, other) = (PersonId::new(), PersonId::new());
    run(&store, id, &register(id, "Zéphyrine", "Quibbleworth")).await;
    run(&store, id, &C::LinkIdentity { identity: identity(PROCONNECT, "sub-zephyrine-42") }).await;
    run(&store, id, &C::GiveConsent { purpose: ConsentPurpose::Newsletter, on: day(2) }).await;
    run(&store, id, &C::GrantRole { role: Role::Academie, academies: codes(&["24"]) }).await;
    run(&store, other, &register(other, "Dominique", "Petit")).await;
    let secrets = ["Zéphyrine", "Quibbleworth", "zéphyrine.quibbleworth@education.gouv.fr", "sub-zephyrine-42"];
    let before = dump(&store).await.join("\n");
    for secret in secrets {
        assert!(before.contains(secret), "the fixture puts {secret} in the read model");
    }

    let done = run(&store, id, &C::ErasePerson { reason: LongText::parse("demande RGPD").unwrap(), on: day(9) }).await;
    let row = person_by_id(store.db(), id.0).await.unwrap().expect("an erased person keeps their row");
    assert_eq!(row, expected_person(&done.state, done.events.last().unwrap()));
    assert!(row.is_erased());
    assert_eq!(row.display_name(), ERASED_DISPLAY_NAME);
    assert_eq!(row.erased_on, Some(day(9)));
    let personal = [
        &row.given_name,
        &row.usual_name,
        &row.email,
        &row.organisation,
        &row.affiliation,
        &row.academie_code,
        &row.uai,
    ];
    assert!(personal.iter().all(|f| f.is_none()), "{row:?}");
    assert!(row.identities.is_empty() && row.roles.is_empty() && row.consents.is_empty());
    assert_eq!(person_by_identity(store.db(), PROCONNECT, "sub-zephyrine-42").await.unwrap(), None);

    // no read-model table keeps a trace; the other person is untouched
    let after = dump(&store).await.join("\n");
    for secret in secrets {
        assert!(!after.contains(secret), "{secret} is still in the read models");
    }
    assert!(after.contains("Dominique"));
    // erasing again is harmless, and a rebuild from the log keeps the erasure
    let again =
        execute(&store, id, &C::ErasePerson { reason: LongText::parse("bis").unwrap(), on: day(10) }).await.unwrap();
    assert!(again.events.is_empty());
    let live = dump(&store).await;
    rebuild_with(&store, Arc::new(carnet_testkit::carnet_codec()), Some(ReadModel::People), 2, &mut |_| {})
        .await
        .unwrap();
    assert_same(&dump(&store).await, &live, "people rebuilt vs live");
    check_person(&store, id.0).await;
}

async fn an_identity_belongs_to_one_person_at_most<S: ProjectionStore>(store: S, _: Backend) {
    let (first, second) = (PersonId::new(), PersonId::new());
    run(&store, first, &register(first, "Camille", "Martin")).await;
    run(&store, second, &register(second, "Dominique", "Petit")).await;
    let shared = C::LinkIdentity { identity: identity(PROCONNECT, "abc-123") };
    run(&store, first, &shared).await;

    // refused in words, and nothing of it remains
    match execute(&store, second, &shared).await {
        Err(CommandError::Store(StoreError::Refused { rule: "person.identity_taken", reason })) => {
            assert!(reason.contains("déjà rattachée à une autre personne"), "{reason}")
        }
        other => panic!("{:?}", other.map(|d| d.events)),
    }
    assert_eq!(store.stream_version(&StreamId::new("person", second.0)).await.unwrap(), 1, "rolled back");
    check_person(&store, second.0).await;
    let found = person_by_identity(store.db(), PROCONNECT, "abc-123").await.unwrap();
    assert_eq!(found.map(|p| p.id), Some(first.0));

    // the same subject at another issuer is another identity
    run(&store, second, &C::LinkIdentity { identity: identity("https://idp.ac-lyon.fr", "abc-123") }).await;
    // once the first person is erased, the identity is free again
    run(&store, first, &C::ErasePerson { reason: LongText::parse("demande RGPD").unwrap(), on: day(9) }).await;
    run(&store, second, &shared).await;
    let found = person_by_identity(store.db(), PROCONNECT, "abc-123").await.unwrap();
    assert_eq!(found.map(|p| p.id), Some(second.0));
    check_person(&store, first.0).await;
    check_person(&store, second.0).await;
}

async fn applying_the_log_again_changes_nothing<S: ProjectionStore>(store: S, _: Backend) {
    let mut ids = vec![];
    for i in 0..6u32 {
        let id = PersonId::new();
        ids.push(id);
        run(&store, id, &register(id, "Camille", &format!("Martin{i}"))).await;
        run(&store, id, &C::LinkIdentity { identity: identity(PROCONNECT, &format!("sub-{i}")) }).await;
        run(&store, id, &C::GrantRole { role: Role::Academie, academies: codes(&["01", "24"][..=(i as usize % 2)]) })
            .await;
        run(&store, id, &C::GiveConsent { purpose: ConsentPurpose::ALL[i as usize % 3], on: day(2) }).await;
        if i % 3 == 0 {
            run(&store, id, &C::ErasePerson { reason: LongText::parse("demande RGPD").unwrap(), on: day(9) }).await;
        }
    }
    let live = dump(&store).await;
    let again = PersonProjector::new(Arc::new(carnet_testkit::carnet_codec()));
    for (name, batch) in [("people-again-2", 2), ("people-again-5", 5), ("people-again-2", 2)] {
        common::readable(&store).await;
        catch_up(&store, name, &again, batch, &mut |_| {}).await.unwrap();
        assert_same(&dump(&store).await, &live, "live after applying the log again");
    }
    for id in &ids {
        check_person(&store, id.0).await;
    }
}

//! The person read model over sealed profiles (DESIGN §3.2), on both backends: the inline
//! projector opens a profile with the key its own append just stored, a rebuild opens them all,
//! and once a key is gone the person reads as erased ("Personne effacée"), nothing failing.

mod common;

use carnet_testkit::{Backend, for_each_backend};

use carnet_domain::person::*;
use carnet_domain::values::*;
use carnet_projections::*;
use carnet_store::*;
use chrono::NaiveDate;
use common::{assert_same, dump, meta, readable};
use std::sync::Arc;

for_each_backend!(
    sealed_profiles_reach_the_read_model_inline_and_through_rebuilds,
    a_key_destroyed_without_an_erasure_reads_as_erased,
);

use PersonCommand as C;

const GIVEN: &str = "Philomène";
const USUAL: &str = "Kerbrat-Vasseur";
const EMAIL: &str = "philomene.kerbrat@ac-rennes.fr";

fn profile(usual: &str) -> PersonalData {
    PersonalData {
        given_name: Label::parse(GIVEN).unwrap(),
        usual_name: Label::parse(usual).unwrap(),
        email: Some(Email::parse(EMAIL).unwrap()),
        organisation: None,
        affiliation: None,
        academie: Some(AcademieCode::parse("14").unwrap()),
        uai: None,
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, d).unwrap()
}

fn sealing() -> Arc<Codec> {
    Arc::new(carnet_testkit::carnet_codec().with_master_keys(Arc::new(MasterKeys::generate("k1"))))
}

async fn run<S: ProjectionStore>(store: &S, codec: &Arc<Codec>, id: PersonId, command: C) -> Executed<Person> {
    let inline = InlineProjections::new(codec.clone());
    Repository::<S, Person>::new(store.clone(), codec.clone())
        .execute(id.0, &command, &meta(), None, Some(&inline))
        .await
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

async fn row<S: ProjectionStore>(store: &S, id: PersonId) -> PersonRow {
    person_by_id(store.db(), id.0).await.unwrap().expect("in the read model")
}

async fn rebuild_people<S: ProjectionStore>(store: &S, codec: &Arc<Codec>) -> Result<(), ProjectionError> {
    readable(store).await;
    rebuild_with(store, codec.clone(), Some(ReadModel::People), 2, &mut |_| {}).await.map(|_| ())
}

async fn sealed_profiles_reach_the_read_model_inline_and_through_rebuilds<S: ProjectionStore>(store: S, _: Backend) {
    let codec = sealing();
    let id = PersonId::new();
    // the key is inserted and read within the one append transaction
    run(&store, &codec, id, C::RegisterPerson { id, profile: profile(USUAL), registered_on: day(1) }).await;
    assert_eq!(row(&store, id).await.display_name(), format!("{GIVEN} {USUAL}"));
    run(&store, &codec, id, C::UpdateProfile { profile: profile("Kerbrat") }).await;
    let live = row(&store, id).await;
    assert_eq!((live.usual_name.as_deref(), live.email.as_deref()), (Some("Kerbrat"), Some(EMAIL)));

    // a rebuild opens every profile again; without the master keys it fails, naming the key
    let before = dump(&store).await;
    rebuild_people(&store, &codec).await.unwrap();
    assert_same(&dump(&store).await, &before, "people rebuilt from sealed profiles");
    let refused = rebuild_people(&store, &Arc::new(carnet_testkit::carnet_codec())).await.unwrap_err().to_string();
    assert!(refused.contains("master key `k1` is not configured"), "{refused}");
    assert_same(&dump(&store).await, &before, "a failed rebuild changes nothing");

    run(&store, &codec, id, C::ErasePerson { reason: LongText::parse("demande RGPD").unwrap(), on: day(9) }).await;
    let erased = row(&store, id).await;
    assert_eq!((erased.display_name().as_str(), erased.erased_on), (ERASED_DISPLAY_NAME, Some(day(9))));
    // rebuilt after the key is gone: every profile event decodes as erased, nothing fails, and
    // the rows are those the live projection left
    let live = dump(&store).await;
    rebuild_people(&store, &codec).await.unwrap();
    assert_same(&dump(&store).await, &live, "people rebuilt after erasure");
    let rebuilt = dump(&store).await.join("\n");
    for clear in [GIVEN, USUAL, "Kerbrat", EMAIL] {
        assert!(!rebuilt.contains(clear), "{clear} in the read model");
    }
    // and now a codec without master keys rebuilds too: nothing is left to open
    rebuild_people(&store, &Arc::new(carnet_testkit::carnet_codec())).await.unwrap();
    assert_eq!(row(&store, id).await.display_name(), ERASED_DISPLAY_NAME);
}

async fn a_key_destroyed_without_an_erasure_reads_as_erased<S: ProjectionStore>(store: S, _: Backend) {
    let codec = sealing();
    let (id, other) = (PersonId::new(), PersonId::new());
    run(&store, &codec, id, C::RegisterPerson { id, profile: profile(USUAL), registered_on: day(1) }).await;
    run(&store, &codec, other, C::RegisterPerson { id: other, profile: profile("Autre"), registered_on: day(2) }).await;
    // an operator shreds the key by hand
    let delete = "delete from person_keys where person_id = $1";
    match store.db() {
        Db::Postgres(pool) => sqlx::query(delete).bind(id.0).execute(pool).await.map(|_| ()),
        Db::Sqlite { writer, .. } => sqlx::query(delete).bind(id.0.to_string()).execute(writer).await.map(|_| ()),
    }
    .unwrap();
    rebuild_people(&store, &codec).await.unwrap();
    let shredded = row(&store, id).await;
    assert_eq!(shredded.display_name(), ERASED_DISPLAY_NAME);
    assert!(shredded.given_name.is_none() && shredded.email.is_none(), "{shredded:?}");
    assert_eq!(row(&store, other).await.usual_name.as_deref(), Some("Autre"));
}

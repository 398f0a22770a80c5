//! The log's extent (`carnet_store::extent`): a log written by another PostgreSQL cluster is
//! adopted so that it is read and new events sort after it; a log cut short is noticed on both
//! backends; "has this database ever held events" survives an emptied log.

use carnet_store::extent::{self, ExtentCheck};
use carnet_store::*;
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

use carnet_testkit::{Backend, IntoAnyStore, for_each_backend};

for_each_backend!(a_cut_log_is_noticed_and_the_mark_stays);

fn meta() -> Metadata {
    Metadata::new(Actor { id: "person-test".into(), issuer: "carnet-test".into() })
}

async fn append(store: &AnyStore, stream: &StreamId, n: u64) {
    store.append(stream, ExpectedVersion::Any, &[NewEvent::new("Happened", json!({ "n": n }))], &meta()).await.unwrap();
}

async fn run(store: &AnyStore, sql: &str) {
    match store {
        AnyStore::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(|_| ()),
        AnyStore::Sqlite(s) => sqlx::query(sql).execute(s.writer()).await.map(|_| ()),
    }
    .unwrap();
}

async fn a_cut_log_is_noticed_and_the_mark_stays(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    assert!(!extent::ever_held_events(&store).await.unwrap(), "a new database");
    assert_eq!(extent::check(&store, None).await.unwrap(), ExtentCheck::Whole { last: None });
    let stream = StreamId::new("test", Uuid::now_v7());
    for n in 1..=3 {
        append(&store, &stream, n).await;
    }
    let ExtentCheck::Whole { last: Some(last) } = extent::check(&store, None).await.unwrap() else {
        panic!("three events: whole")
    };
    assert_eq!(extent::recorded(&store).await.unwrap(), Some(last), "the mark follows the log");

    // the newest event deleted: cut, and the mark does not come down with it
    run(&store, &format!("delete from events where global_position = {last}")).await;
    let cut = extent::check(&store, None).await.unwrap();
    assert!(matches!(cut, ExtentCheck::Cut { seen, last: Some(l) } if seen == last && l < last), "{cut:?}");
    assert_eq!(extent::recorded(&store).await.unwrap(), Some(last));
    // the whole log emptied
    run(&store, "delete from events").await;
    assert_eq!(extent::check(&store, None).await.unwrap(), ExtentCheck::Cut { seen: last, last: None });
    assert!(extent::ever_held_events(&store).await.unwrap(), "an emptied log has held events");
    // the mark emptied too: what the caller saw itself still tells
    run(&store, "delete from log_extent").await;
    assert_eq!(extent::check(&store, Some(last)).await.unwrap(), ExtentCheck::Cut { seen: last, last: None });
}

/// As a `pg_dump` from a cluster whose transaction counter is far ahead of this one: the same
/// rows, transaction ids a billion above. Before adoption they are invisible (that was the
/// defect); after it every one is read, in its order, and a new event sorts after them.
#[tokio::test]
async fn a_log_from_another_postgres_cluster_is_adopted() {
    let db = carnet_testkit::postgres().await;
    let store = AnyStore::Postgres(db.store.clone());
    let (a, b) = (StreamId::new("test", Uuid::now_v7()), StreamId::new("test", Uuid::now_v7()));
    for n in 1..=3 {
        append(&store, &a, n).await;
    }
    run(&store, "update events set transaction_id = transaction_id + 1000000000").await;
    assert!(store.read_all(Checkpoint::START, 100).await.unwrap().is_empty(), "the defect: ids from the future");
    assert_eq!(extent::transaction_id_offset(&store).await.unwrap(), 0);

    // a transaction older than the adoption, still running (here on the same cluster, as other
    // databases' transactions are in production): the restored events must be readable at
    // once all the same, not once it ends
    let mut older = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("begin").execute(&mut older).await.unwrap();
    sqlx::query("select pg_current_xact_id()").execute(&mut older).await.unwrap();

    store.migrate().await.unwrap(); // every start adopts
    let offset = extent::transaction_id_offset(&store).await.unwrap();
    assert!(offset > 0, "adopted with an offset");
    let restored = store.read_all(Checkpoint::START, 100).await.unwrap();
    assert_eq!(restored.len(), 3, "every restored event is read");
    // (later events wait for it, as any event waits for older transactions)
    sqlx::query("rollback").execute(&mut older).await.unwrap();
    append(&store, &b, 4).await;
    // a new event is read once every transaction older than its own has ended (other tests'
    // on this cluster included): wait for it, boundedly
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let all = loop {
        let all = store.read_all(Checkpoint::START, 100).await.unwrap();
        if all.len() == 4 || std::time::Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(all.len(), 4, "the new event is read");
    assert_eq!(&all[..3], &restored[..], "the restored events keep their order");
    assert_eq!(all[3].stream_id, b, "the new event comes after them");
    assert!(all[3].transaction_id > restored[2].transaction_id);

    store.migrate().await.unwrap();
    assert_eq!(extent::transaction_id_offset(&store).await.unwrap(), offset, "adopting twice changes nothing");
}

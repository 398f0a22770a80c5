//! The access log on both backends: what is written is read back in order, by period and by
//! page, and the purge deletes exactly what is older than its limit.

use carnet_store::access_log::{AccessRecord, purge_access_log, read_access_log, write_access_log};
use carnet_testkit::{Backend, IntoAnyStore, for_each_backend};
use chrono::{DateTime, Duration, SubsecRound, Utc};

fn record(at: DateTime<Utc>, n: usize) -> AccessRecord {
    AccessRecord {
        at,
        request_id: format!("request-{n}"),
        issuer: n.is_multiple_of(2).then(|| "https://proconnect.example".to_owned()),
        subject: n.is_multiple_of(2).then(|| format!("agent-{n}")),
        client_ip: Some("10.0.0.1".into()),
        method: "POST".into(),
        path: "/graphql".into(),
        operation: Some("Projets d'« Île-de-France »".into()),
        status: 200 + n as u16,
        duration_ms: n as f64 / 4.0,
        error_codes: n.is_multiple_of(3).then(|| "FORBIDDEN,NOT_FOUND".to_owned()),
    }
}

for_each_backend!(written_read_and_purged);

async fn written_read_and_purged(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    let now = Utc::now().trunc_subsecs(6);
    let records: Vec<AccessRecord> = (0..30).map(|n| record(now - Duration::days(30 - n as i64), n)).collect();
    write_access_log(&store, &records).await.unwrap();
    write_access_log(&store, &[]).await.unwrap();

    // all of it, in pages of 7
    let mut read = vec![];
    let mut after = None;
    loop {
        let page = read_access_log(&store, None, None, after, 7).await.unwrap();
        let Some(&(last, _)) = page.last() else { break };
        after = Some(last);
        read.extend(page.into_iter().map(|(_, r)| r));
    }
    assert_eq!(read, records, "every field, in order");

    // a period: [from, to)
    let (from, to) = (records[10].at, records[20].at);
    let period = read_access_log(&store, Some(from), Some(to), None, 100).await.unwrap();
    let got: Vec<AccessRecord> = period.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, records[10..20].to_vec());

    // the purge: strictly older than its limit
    assert_eq!(purge_access_log(&store, records[5].at).await.unwrap(), 5);
    let left: Vec<AccessRecord> =
        read_access_log(&store, None, None, None, 100).await.unwrap().into_iter().map(|(_, r)| r).collect();
    assert_eq!(left, records[5..].to_vec());
    assert_eq!(purge_access_log(&store, records[5].at).await.unwrap(), 0, "twice: nothing more");
}

//! Fresh databases for the read-model tests (one SQLite file or one PostgreSQL database per
//! test, as in store/tests/common), and dumps of the read-model tables and of their catalog.

#![allow(dead_code)] // each test binary uses a different part

use carnet_projections::{Db, ProjectionStore};
use sqlx::Row;

/// Instantiates each generic test `async fn name<S: ProjectionStore>(store: S)` once per
/// backend, each on a fresh database: `sqlite::name` and `postgres::name`.
macro_rules! for_each_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = crate::common::sqlite().await;
                    super::$test(db.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = crate::common::postgres().await;
                    super::$test(db.store.clone()).await;
                }
            )*
        }
    };
}

pub use carnet_testkit::{postgres, sqlite};

pub const TABLES: &[(&str, &str)] = &[
    ("project", "id"),
    ("project_phase", "project_id, seq"),
    ("project_holder", "project_id, person_id"),
    ("project_academie", "project_id, academie_code"),
    ("project_establishment", "project_id, uai"),
    ("project_theme", "project_id, theme"),
];

async fn texts(db: Db<'_>, sql: &str) -> Vec<String> {
    match db {
        Db::Postgres(pool) => sqlx::query(sql).fetch_all(pool).await.unwrap().iter().map(|r| r.get(0)).collect(),
        Db::Sqlite { reader, .. } => {
            sqlx::query(sql).fetch_all(reader).await.unwrap().iter().map(|r| r.get(0)).collect()
        }
    }
}

/// Every row of every read-model table, whole, in primary-key order: `table: row`.
pub async fn dump<S: ProjectionStore>(store: &S) -> Vec<String> {
    let mut out = vec![];
    for (table, key) in TABLES {
        let sql = match store.db() {
            Db::Postgres(_) => format!("select t::text from {table} t order by {key}"),
            Db::Sqlite { .. } => {
                let columns =
                    texts(store.db(), &format!("select name from pragma_table_info('{table}') order by cid")).await;
                let quoted: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
                format!("select {} from {table} order by {key}", quoted.join(" || ',' || "))
            }
        };
        out.extend(texts(store.db(), &sql).await.into_iter().map(|row| format!("{table}: {row}")));
    }
    out
}

/// The catalog of the read-model tables: columns, constraints and indexes with their names.
pub async fn catalog<S: ProjectionStore>(store: &S) -> Vec<String> {
    let names: Vec<String> = TABLES.iter().map(|(t, _)| format!("'{t}'")).collect();
    let names = names.join(", ");
    let queries = match store.db() {
        Db::Postgres(_) => vec![
            format!(
                "select table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' ' \
                 || is_nullable || ' ' || coalesce(column_default, '') from information_schema.columns \
                 where table_schema = current_schema() and table_name in ({names}) order by 1"
            ),
            format!(
                "select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
                 from pg_constraint where conrelid::regclass::text in ({names}) order by 1"
            ),
            format!(
                "select tablename || ' ' || indexname || ' ' || indexdef from pg_indexes \
                 where schemaname = current_schema() and tablename in ({names}) order by 1"
            ),
            "select relname::text from pg_class where relnamespace = current_schema()::regnamespace \
             and relname like '%\\_\\_%' escape '\\' order by 1"
                .to_owned(),
        ],
        Db::Sqlite { .. } => vec![
            format!(
                "select m.name || '.' || p.name || ' #' || p.cid || ' ' || p.type || ' ' || p.\"notnull\" || ' ' \
                 || coalesce(p.dflt_value, '') || ' ' || p.pk \
                 from sqlite_master m, pragma_table_info(m.name) p where m.type = 'table' and m.name in ({names}) \
                 order by 1"
            ),
            format!(
                "select m.name || ' ' || l.name || ' ' || l.\"unique\" || ' ' || l.origin || ' ' \
                 || (select group_concat(i.name, ',') from pragma_index_info(l.name) i) \
                 from sqlite_master m, pragma_index_list(m.name) l where m.type = 'table' and m.name in ({names}) \
                 order by 1"
            ),
            "select name from sqlite_master where name like '%\\_\\_%' escape '\\' order by 1".to_owned(),
        ],
    };
    let mut out = vec![];
    for sql in queries {
        out.extend(texts(store.db(), &sql).await);
    }
    out
}

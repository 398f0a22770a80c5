//! Fresh databases for the contract suite: one SQLite file or one PostgreSQL database per test.

#![allow(dead_code)] // each test binary uses a different part

/// What differs between backends for the tests' own assertions.
#[derive(Clone, Copy)]
pub struct Backend {
    /// PostgreSQL lets a second writer commit while the first is still open; SQLite queues it.
    pub concurrent_writers: bool,
}

/// Instantiates each generic test `async fn name<S: EventStore>(store: S, backend: Backend)`
/// once per backend, each on a fresh database: `sqlite::name` and `postgres::name`.
macro_rules! for_each_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = crate::common::sqlite().await;
                    super::$test(db.store.clone(), crate::common::Backend { concurrent_writers: false }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = crate::common::postgres().await;
                    super::$test(db.store.clone(), crate::common::Backend { concurrent_writers: true }).await;
                }
            )*
        }
    };
}

pub use carnet_testkit::{postgres, sqlite};

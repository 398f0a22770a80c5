//! # carnet-api — the `carnet` binary: HTTP server and command line
//!
//! Layout: [`config`] (defaults < `carnet.toml` < `CARNET_*`, secrets redacted),
//! [`telemetry`] (tracing subscriber, JSON in production), [`startup`] (`Application::build`
//! opens the store, binds a port — 0 in tests — and mounts the routes), [`routes`]
//! (`/healthz`, `/readyz`, `/metrics`, the request observer that gives every request an id),
//! [`graphql`] (the schema, its error codes, `POST`/`GET /graphql`), [`live`] (the one follower of
//! the log that subscriptions filter) and [`ws`] (subscriptions over WebSocket at `/graphql/ws`).
//! [`bench_http`] is `carnet bench http`, the load benchmark of the whole application.
//!
//! Decisions: `main` stays thin, so tests start the very application operators run; HTTP stays
//! in this crate, SQL never enters it. The GraphQL schema joins here with the read models.

pub mod auth;
pub mod bench_http;
pub mod config;
pub mod demo;
pub mod graphql;
pub mod lab;
pub mod live;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod ws;

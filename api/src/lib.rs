//! # carnet-api — the `carnet` binary: HTTP server and command line
//!
//! Layout: [`config`] (defaults < `carnet.toml` < `CARNET_*`, secrets redacted),
//! [`telemetry`] (tracing subscriber, JSON in production), [`startup`] (`Application::build`
//! opens the store, binds a port — 0 in tests — and mounts the routes), [`routes`]
//! (`/healthz`, `/readyz`, `/metrics`, the request observer that gives every request an id),
//! [`graphql`] (the schema, its error codes, `POST`/`GET /graphql`).
//!
//! Decisions: `main` stays thin, so tests start the very application operators run; HTTP stays
//! in this crate, SQL never enters it. The GraphQL schema joins here with the read models.

pub mod auth;
pub mod config;
pub mod graphql;
pub mod lab;
pub mod routes;
pub mod startup;
pub mod telemetry;

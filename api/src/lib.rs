//! # carnet-api — the `carnet` binary: HTTP server and command line
//!
//! Layout: [`config`] (defaults < `carnet.toml` < `CARNET_*`, secrets redacted; an unreadable
//! named file, an unknown key or variable, a wrong value stop every command),
//! [`telemetry`] (tracing subscriber, JSON in production), [`startup`] (`Application::build`
//! binds a port — 0 in tests — before anything is written, opens the store and mounts the
//! routes), [`routes`]
//! (`/healthz`, `/readyz`, `/metrics`, the request observer that gives every request an id),
//! [`auth`] (token verification: local HS256 tokens and, with [`jwks`], OpenID Connect
//! providers' RS256/ES256/EdDSA tokens), [`identity`] (a provider's `(iss, sub)` → the person and
//! their granted roles; first-login policy), [`rate_limit`] (per-caller budgets),
//! [`access_log`] (who called what, batched, purged after the retention), [`master_keys`] (the
//! keys that wrap people's data keys), [`export`] and [`integrity_cli`] (`carnet export`,
//! `carnet verify`/`seal`), [`lab`] (the command side: every
//! change is `Lab::execute`, load → decide → append with the inline projections; references
//! from their allocation streams), [`graphql`] (the schema: queries over the read models,
//! one mutation per domain command, subscriptions; error codes; `POST`/`GET /graphql`),
//! [`live`] (the one follower of the log that subscriptions filter), [`ws`] (subscriptions over
//! WebSocket at `/graphql/ws`), [`demo`] (the demo data a new database gets, through `Lab`),
//! [`dev_tokens`] (development only: the printed token per role, GraphiQL's default header) and
//! [`bench_http`] (`carnet bench http`, the load benchmark of the whole application).
//!
//! Decisions: `main` stays thin, so tests start the very application operators run; HTTP stays
//! in this crate, SQL never enters it (queries live in `carnet-projections`). A mutation is the
//! way of a command of DESIGN §2 and nothing more: the resolver authorizes, parses its input
//! into a domain command (bad input is refused before anything is loaded), hands it to `Lab`,
//! and reads the entity back from the read model the same transaction updated. Demo data and
//! tests go through the same `Lab`, so nothing reaches the log by another way.

pub mod access_log;
pub mod auth;
pub mod bench_http;
pub mod config;
pub mod demo;
pub mod dev_tokens;
pub mod export;
pub mod graphql;
pub mod identity;
pub mod integrity_cli;
pub mod jwks;
pub mod lab;
pub mod live;
pub mod log_check;
pub mod master_keys;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod ws;

//! # carnet-api — Carnet's server: HTTP, GraphQL, WebSocket (and the `carnet` binary's command line)
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
//! [`access_log`] (who called what, batched, purged after the retention), [`graphql`] (the
//! schema: queries over the read models, one mutation per domain command, subscriptions; error
//! codes; `POST`/`GET /graphql`), [`ws`] (subscriptions over WebSocket at `/graphql/ws`), [`timestamps`] (RFC 3161 tokens of checkpoints from a configured TSA), [`transparency`] (`/checkpoint…`:
//! the signed checkpoints, consistency proofs and witnesses' cosignatures, public) and
//! [`dev_tokens`] (development only: the printed token per role, GraphiQL's default header).
//! The command line is the binary's (`src/main.rs` parses and dispatches, one file per command
//! under `src/cli/`).
//!
//! Beside this crate: `carnet-lab`, the command side without HTTP (`Lab`, demo data, export, the
//! live feed, the log check, master keys), which the mutations, the subscriptions, `/readyz` and
//! the command line use; and `carnet-bench`, the benchmarks, which this binary does not link.
//!
//! Decisions: `main` stays thin, so tests start the very application operators run; HTTP stays
//! in this crate, SQL never enters it (queries live in `carnet-projections`). A mutation is the
//! way of a command of DESIGN §2 and nothing more: the resolver authorizes, parses its input
//! into a domain command (bad input is refused before anything is loaded), hands it to
//! `carnet_lab::Lab`, and reads the entity back from the read model the same transaction
//! updated.
//!
//! The global allocator is mimalloc, declared here so that every binary linking this crate —
//! `carnet`, `carnet-bench`'s server process, the tests — runs on the same one. A request
//! allocates a great deal (the document's AST, async-graphql's value tree, JSON rows, the
//! answer): under glibc's malloc, allocation and freeing were about a quarter of the server's
//! CPU time in `carnet-bench http` (perf, issue 13); BENCHMARKS.md has the figures with and
//! without.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod access_log;
pub mod auth;
pub mod config;
pub mod dev_tokens;
pub mod graphql;
pub mod identity;
pub mod jwks;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod timestamps;
pub mod transparency;
pub mod ws;

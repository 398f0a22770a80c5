//! # carnet-lab — the lab's command side, without HTTP
//!
//! Everything Carnet does to and with the log that is not answering a request: the server
//! (`carnet-api`), the command line and the benchmarks all go through it, so that nothing
//! reaches the log by another way.
//!
//! Layout: [`codec`] (Carnet's codec and the personal fields of its events), [`Lab`] (every change is [`Lab::execute`]: load → decide → append with the inline
//! projections in the same transaction, DESIGN §2; references from their allocation streams),
//! [`checkpoints`] (the checkpointer of the log's Merkle tree, its signing key outside the
//! database, and the last checkpoint it issued), [`demo`] (the demo data a new database gets, through `Lab`), [`export`] (`carnet export`:
//! the log with its hashes, for auditors), [`live`] (the one follower of the log that the
//! subscriptions filter), [`log_check`] (is the log whole: one check for `carnet verify`, the
//! `integrity` query and `/readyz`), [`proofs`] (inclusion and consistency proofs against the signed
//! checkpoints, for the API and `carnet prove`), [`master_keys`] (the keys that wrap people's data keys:
//! from the configuration, or generated in development), [`witness`] (a witness's key, record
//! and round: what `carnet witness` runs) and [`Secret`] (a value that never
//! reaches a log).
//!
//! Decisions: no HTTP, no GraphQL, no token here (this crate depends on neither actix-web,
//! async-graphql, jsonwebtoken nor reqwest), and no SQL (queries live in `carnet-store` and
//! `carnet-projections`). A GraphQL mutation is the way of a command of DESIGN §2 and nothing
//! more: the resolver authorizes, parses its input into a domain command (bad input is refused
//! before anything is loaded), hands it to `Lab`, and reads the entity back from the read model
//! the same transaction updated. Demo data and tests go through the same `Lab`, so demo history
//! is real history. Printing, progress bars and exit codes are the command line's
//! (`api/src/cli/`); this crate returns what they print.

pub mod checkpoints;
pub mod codec;
pub mod demo;
pub mod export;
mod lab;
pub mod live;
pub mod log_check;
pub mod master_keys;
pub mod metrics;
pub mod proofs;
mod secret;
pub mod witness;

pub use lab::Lab;
pub use secret::Secret;

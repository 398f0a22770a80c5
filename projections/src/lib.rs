//! # carnet-projections — read models (skeleton)
//!
//! Projectors turn events of the log into the tables the GraphQL API queries. Inline
//! projectors run inside the append transaction through [`carnet_store::InlineHook`], so a
//! mutation's payload already shows its effect; async projectors follow the global log with
//! [`carnet_store::subscribe`] and keep their [`carnet_store::Checkpoint`] in the same
//! transaction as their writes. The read models themselves arrive with the API work.

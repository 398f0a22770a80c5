//! The `carnet` commands, one file each: its arguments (when it has any) and its `run`, given
//! the loaded configuration. The work is elsewhere (`carnet_lab`, `carnet_store`,
//! `carnet_projections`, [`carnet_api::startup`]); these files open the store, draw the progress
//! bars (only when stderr is a terminal) and print the outcome.

pub mod checkpoint;
pub mod export;
pub mod migrate;
pub mod prove;
pub mod rebuild;
pub mod rotate_master_key;
pub mod seal;
pub mod serve;
pub mod token;
pub mod verify;
pub mod witness;

//! `ingest`: replicates PostgreSQL and MySQL/MariaDB tables into SingleStore
//! in periodic, blocking batch runs.
//!
//! The rooms follow the pipeline: `config` (ingest.toml) → `instance`
//! (state.db, spool, logs) → `run` (plan → extract → load → commit), with
//! `source` (PostgreSQL pgoutput, MySQL binlog; pure decoders beside the
//! I/O), `spool` (batch files and MANIFEST), `dest` (SingleStore SQL as text
//! and the loader), `meta` (state.db) and `schema` (column model and value
//! conversion). `main.rs` is the CLI on top.

pub mod change;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dest;
pub mod error;
pub mod events;
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
pub mod instance;
pub mod meta;
pub mod position;
pub mod recovery;
#[cfg(test)]
mod robustness_tests;
pub mod run;
pub mod schedule;
pub mod scheduler;
pub mod schema;
pub mod secret;
pub mod source;
pub mod spool;
pub mod stop;
pub mod table;
pub mod type_change;
pub mod verify;
pub mod web;

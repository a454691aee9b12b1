//! The integration tests: one binary, one module per subject. Every test
//! gets its own databases, slot and instance folder on the private servers
//! that `scripts/test-env.sh` started (see `scripts/test.sh`), runs the
//! `ingest` binary as a user would, and compares both sides through the
//! database clients ([`common`]). Tests that change the servers' global
//! state live in [`server_wide`] and run alone.

mod common;

mod cli;
mod disk;
mod events;
mod history;
mod keyless;
mod long_keys;
mod my_correctness;
mod my_delta;
mod my_types;
mod option_matrix;
mod outages;
mod parallel_extract;
mod pg_correctness;
mod pg_delta;
mod pg_errors;
mod pg_types;
mod recovery;
mod restarts;
mod scenarios;
mod scheduling;
mod server_wide;
mod soak;
mod sqlserver;
mod sync_struct;
mod table_options;
mod tls;
mod verify;
mod web;

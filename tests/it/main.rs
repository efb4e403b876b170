//! The integration tests, as one test binary: a change to ordeal links one
//! binary instead of one per area (ARCHITECTURE.md, "Build (measured)").
//! Each module is one area; a nextest filter selects an area, e.g.
//! `cargo nextest run -E 'binary(it) & test(/^load::/)'` (README, "Quick feedback").
//! `.config/nextest.toml` names the end-to-end areas (the `e2e` group).

mod common;

mod alerts;
mod cli;
mod compose;
mod docker;
mod exposition_corpus;
mod fixtures_valid;
mod gateway;
mod images;
mod load;
mod mutants;
mod mutants_cmd;
mod otlp_garbage;
mod otlp_python;
mod overhead;
mod pyshop;
mod scenarios;
mod schema;
mod signals;
mod teardown;
mod tidy;

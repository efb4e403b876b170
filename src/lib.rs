//! ordeal — a chaos and load test harness that verifies observability.
//!
//! The crate is laid out after its pipeline:
//!
//! ```text
//! scenario + plan  (YAML -> validated Plan, every error with file:line)
//!   -> runtime     (start / stop the stack: child processes or containers on
//!                   a private Docker network; managed Prometheus + Alertmanager)
//!   -> faults      (fault-injecting LLM and HTTP backend mocks, with journals;
//!                   service faults kill / stop / pause / disconnect / restart)
//!   -> load        (goose, open-model rate, per-phase stats)
//!   -> collectors  (metrics scraper, health prober, OTLP trace receiver, log
//!                   capture, alert poller and webhook, CPU / memory sampler)
//!   -> expect      (judge what collectors recorded; no I/O; one module per kind)
//!   -> report      (report.json, junit.xml, terminal summary)
//! ```
//!
//! `run` drives one scenario end to end (a timeline run, or the rounds of an
//! overhead run) and always tears down what it started; `overhead` turns
//! rounds into deltas with intervals, judges budgets and draws the chart.
//! `clock` is the single time base all stages share. `lint` checks alert rules,
//! dashboards and PromQL against the metrics, and labels, a stack really
//! exports. `signals` owns SIGINT / SIGTERM. `secrets` masks the secret
//! values ordeal knows in everything it writes.
//!
//! Compilation has floors, every arrow pointing down: `scenario` (sections and
//! the compile toolkit) <- `expect::kinds` (one module per kind, and the
//! registry table) <- `expect::expectations` <- `plan`.

/// `impl schemars::JsonSchema` for a type whose serde form is written by hand
/// (a string it parses, an untagged choice): its schema name and the schema,
/// `g` being the generator for subschemas.
macro_rules! hand_schema {
    ($ty:ty, $name:literal, $g:ident => $schema:tt) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema($g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

pub mod clock;
pub mod collectors;
pub mod expect;
pub mod faults;
pub mod files;
pub mod lint;
pub mod load;
pub mod mutants;
pub mod overhead;
pub mod plan;
pub mod report;
pub mod run;
pub mod runtime;
pub mod scenario;
pub mod secrets;
pub mod signals;

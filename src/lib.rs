//! ordeal — a chaos and load test harness that verifies observability.
//!
//! The crate is laid out after its pipeline:
//!
//! ```text
//! scenario  (YAML -> validated Plan, every error with file:line)
//!   -> runtime     (start / stop the stack: child processes)
//!   -> faults      (fault-injecting LLM and backend mocks, with journals)
//!   -> load        (goose, open-model rate, per-phase stats)
//!   -> collectors  (metrics scraper, health prober)
//!   -> expect      (judge what collectors recorded; no I/O)
//!   -> report      (report.json, junit.xml, terminal summary)
//! ```
//!
//! `clock` is the single time base all stages share. `lint` checks alert rules
//! and dashboards against the metrics, and labels, a stack really exports.

pub mod clock;
pub mod collectors;
pub mod expect;
pub mod faults;
pub mod lint;
pub mod load;
pub mod overhead;
pub mod report;
pub mod run;
pub mod runtime;
pub mod scenario;
pub mod signals;

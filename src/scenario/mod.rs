//! Scenario files: parse and validate YAML into an immutable [`Plan`].
//!
//! `raw` holds the serde types as written; `compile` turns them into a
//! `Plan` in one pass that reports every problem with file:line, field path
//! and a hint (`diag`, `locate`). `window`, `cmp` and `template` are the small
//! languages used inside field values.

pub mod cmp;
mod compile;
mod compile_alerting;
mod compile_expect;
mod compile_overhead;
mod compile_traces;
pub mod diag;
mod locate;
pub mod plan;
mod plan_alerting;
mod plan_overhead;
pub mod raw;
pub mod raw_alerting;
pub mod raw_overhead;
pub mod template;
pub mod window;

use std::path::Path;

pub use compile::compile;
pub use diag::{Diagnostic, Diagnostics};
pub use plan::*;
pub use window::{PhaseSpan, WindowExpr};

/// Read and compile a scenario file.
pub fn load(path: &Path) -> Result<Plan, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            path: String::new(),
            message: format!("cannot read the scenario: {e}"),
            hint: Some("check the path; `ordeal list` shows the scenarios in a directory".into()),
        }])
    })?;
    compile(&text, path)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_alerting;

#[cfg(test)]
mod tests_overhead;

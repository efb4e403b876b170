//! Runtime: the only stage that knows processes and containers. Starts the
//! stack's services — as child processes on loopback ports (`process`), or
//! as containers on a private Docker network (`docker`) — waits until they
//! are ready, captures their output, applies service faults, and always
//! tears them down — on success, failure, Ctrl-C (see `cleanup`) and panic
//! (`Stack` kills on drop, containers are removed on drop).
//!
//! Invariants: every process ordeal starts is in its own process group,
//! registered in `cleanup` until it is reaped, and dies with ordeal
//! (`PR_SET_PDEATHSIG`) even if ordeal itself is SIGKILLed. Every container
//! and network is labelled with its owner; a SIGKILLed run's are reaped at
//! the next start (`docker::reap`). Every process also carries an owner mark
//! in its environment that its descendants inherit: what daemonized or
//! outlived a wrapper is killed at teardown, or at the next start (`reap`).

pub mod alerting;
pub mod cleanup;
pub mod docker;
pub mod images;
mod logs;
mod process;
pub mod reap;
mod stack;

use std::path::PathBuf;
use std::time::Duration;

pub use logs::{LogGap, LogLine, LogStore, Stream};
pub use process::{Stack, StartedService, prepare, service_vars, short_reqwest_error};
pub use stack::RunningStack;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// One of ordeal's own tasks failed (see `signals::harness_fault`); the stack is not judged.
    #[error("{0}")]
    HarnessFault(String),
    #[error("service `{service}`: command `{command}` not found{hint}")]
    CommandNotFound { service: String, command: String, hint: String },
    #[error("service `{service}`: cannot start `{command}`: {source}")]
    Spawn { service: String, command: String, source: std::io::Error },
    #[error("service `{service}`: port {port} on 127.0.0.1 is already in use")]
    PortInUse { service: String, port: u16 },
    #[error("service `{service}` was not ready after {timeout:?} (GET {url}: {last}){tail}")]
    NotReady { service: String, url: String, timeout: Duration, last: String, tail: String },
    #[error("service `{service}` exited during startup ({status}){tail}")]
    ExitedEarly { service: String, status: String, tail: String },
    #[error("prepare step `{command}` failed ({status}); output in {log}{tail}")]
    Prepare { command: String, status: String, log: PathBuf, tail: String },
    #[error("service `{service}`: {message}")]
    Template { service: String, message: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("`{tool}` not found: {why}; {fix}")]
    ToolMissing { tool: String, why: &'static str, fix: String },
    #[error("docker: {0}")]
    Docker(String),
    #[error("interrupted")]
    Interrupted,
}

impl RuntimeError {
    /// `tool` is not installed; the message names the Debian package that has it.
    pub fn tool_missing(tool: &str, package: &str, why: &'static str) -> Self {
        RuntimeError::ToolMissing {
            tool: tool.to_string(),
            why,
            fix: format!(
                "run `scripts/setup` from ordeal's checkout, which installs Debian's `{package}` package (or: apt-get install -y {package})"
            ),
        }
    }
}

/// Format the last lines of captured output for an error message.
pub(crate) fn tail_note(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    format!("\n  last output:\n    {}", lines.join("\n    "))
}

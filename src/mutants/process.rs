//! The children of `ordeal mutants` (the stack's build, `ordeal run`): each
//! in a process group of its own with its output in a log file, bounded by
//! a timeout, and stopped on Ctrl-C — with SIGINT first when it is an
//! `ordeal run`, so it tears its stack down, then SIGKILL after a grace.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::MutantsError;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Its exit code (128 + N when killed by signal N).
    Code(i32),
    TimedOut,
}

/// How long an interrupted or timed-out `ordeal run` gets to tear down.
const GRACE: Duration = Duration::from_secs(60);

fn signal_group(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process group we created; no memory is shared.
    unsafe {
        libc::kill(-(pid as i32), sig);
    }
}

/// Run `cmd` with stdout and stderr to `log`; `graceful`: stop it with SIGINT
/// (then SIGKILL after a grace) rather than SIGKILL at once.
pub fn run_logged(mut cmd: Command, log: &Path, timeout: Duration, graceful: bool) -> Result<Finished, MutantsError> {
    let io = |e: std::io::Error| MutantsError::Io(format!("{}: {e}", log.display()));
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let out = std::fs::File::create(log).map_err(io)?;
    let err = out.try_clone().map_err(io)?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    let mut child = cmd.spawn().map_err(|e| MutantsError::Io(format!("cannot start {:?}: {e}", cmd.get_program())))?;
    let began = Instant::now();
    let mut stopping: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().map_err(io)? {
            use std::os::unix::process::ExitStatusExt as _;
            return match (crate::signals::interrupted(), began.elapsed() > timeout) {
                (true, _) => Err(MutantsError::Interrupted),
                (false, true) => Ok(Finished::TimedOut),
                _ => Ok(Finished::Code(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))),
            };
        }
        let overdue = crate::signals::interrupted() || began.elapsed() > timeout;
        match stopping {
            None if overdue => {
                signal_group(child.id(), if graceful { libc::SIGINT } else { libc::SIGKILL });
                stopping = Some(Instant::now());
            }
            Some(t) if t.elapsed() > GRACE => signal_group(child.id(), libc::SIGKILL),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! Nothing of a run survives it: processes and temp folders ordeal made carry
//! its owner mark (`ORDEAL_OWNER=<pid>.<start time>/<stack>` in the environment, which
//! every descendant inherits, even one that daemonizes with `setsid` or a
//! double fork; `ordeal-…-<owner>-` in a folder's name).
//!
//! - ordeal is the child subreaper of what it starts (`PR_SET_CHILD_SUBREAPER`),
//!   so orphaned descendants are reparented to it, not to init, while it runs;
//! - at teardown, after a stack's process groups are stopped, every process
//!   still carrying that stack's mark is SIGKILLed ([`kill_marked`]; the
//!   panic and Ctrl-C paths kill every stack's);
//! - at the next start, processes and folders whose owner is dead (pid gone,
//!   or reused: the start time differs) are removed ([`reap_dead_owners`]):
//!   the case of a SIGKILLed ordeal, where no teardown ran.
//!
//! The start time makes the mark unique across pid reuse. Reading another
//! user's `/proc/<pid>/environ` fails; such processes are not ours.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable that marks a process as started by a run.
pub const OWNER_ENV: &str = "ORDEAL_OWNER";

/// Prefix of temp folders that carry an owner mark.
const TEMP_PREFIX: &str = "ordeal-";

/// This process's mark: `<pid>.<start time in clock ticks since boot>`.
pub fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}.{}", start_time(pid).unwrap_or(0))
    })
}

/// Makes ordeal the subreaper of its descendants (once; harmless to repeat).
pub fn become_subreaper() {
    // SAFETY: prctl sets a flag on this process; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
}

/// A fresh mark for one stack (services, or the alerting servers beside them).
pub fn stack_mark() -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{}/{}", owner(), SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `prefix` for a temp folder that the next run may remove once we are dead.
pub fn temp_prefix(what: &str) -> String {
    format!("{TEMP_PREFIX}{what}-{}-", owner())
}

/// Field 22 of /proc/<pid>/stat (after the parenthesised command name).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the owner a mark names is this very process or still running.
fn alive(mark: &str) -> bool {
    let owner = mark.split_once('/').map_or(mark, |(o, _)| o);
    let Some((pid, start)) = owner.split_once('.') else { return false };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    start_time(pid) == Some(start)
}

/// The owner mark in a process's environment, if it has one we may read.
fn mark_of(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let key = format!("{OWNER_ENV}=");
    env.split(|b| *b == 0).find_map(|kv| kv.strip_prefix(key.as_bytes())).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn processes() -> impl Iterator<Item = u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(move |pid| *pid != me)
}

fn kill(pid: u32) {
    // SAFETY: kill(2) on a pid; no memory is touched. A pid gone since the scan is ESRCH, ignored.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

/// SIGKILLs every process whose mark is `mark` or one of its stacks (`mark/…`);
/// returns how many.
pub fn kill_marked(mark: &str) -> usize {
    let within = |m: &str| m == mark || m.strip_prefix(mark).is_some_and(|rest| rest.starts_with('/'));
    let victims: Vec<u32> = processes().filter(|pid| mark_of(*pid).is_some_and(|m| within(&m))).collect();
    for pid in &victims {
        kill(*pid);
    }
    victims.len()
}

/// What [`reap_dead_owners`] removed.
#[derive(Debug, Default, PartialEq)]
pub struct Reaped {
    pub processes: usize,
    pub folders: Vec<PathBuf>,
}

/// Removes processes and temp folders of runs whose ordeal is dead.
pub fn reap_dead_owners() -> Reaped {
    let mut reaped = Reaped::default();
    for pid in processes() {
        if mark_of(pid).is_some_and(|m| !alive(&m)) {
            kill(pid);
            reaped.processes += 1;
        }
    }
    reaped.folders = reap_folders(&std::env::temp_dir());
    if reaped.processes > 0 || !reaped.folders.is_empty() {
        tracing::info!(processes = reaped.processes, folders = reaped.folders.len(), "removed what killed runs left behind");
    }
    reaped
}

/// `ordeal-<what>-<pid>.<start>-…` folders in `dir` whose owner is dead.
fn reap_folders(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else { continue };
        let mark = rest.split('-').nth(1).unwrap_or_default();
        if mark.contains('.') && !alive(mark) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            if std::fs::remove_dir_all(&path).is_ok() {
                out.push(path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_names_this_process_and_a_dead_one_is_not_alive() {
        assert!(alive(owner()));
        assert!(owner().starts_with(&format!("{}.", std::process::id())));
        assert!(!alive("1.1"), "pid 1 did not start at tick 1");
        assert!(!alive("garbage"));
        assert!(alive(&stack_mark()));
        assert_ne!(stack_mark(), stack_mark());
    }

    #[test]
    fn folders_of_dead_owners_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("ordeal-tsdb-4194304.7-abc");
        let live = dir.path().join(format!("{}x", temp_prefix("tsdb")));
        let other = dir.path().join("ordeal-unmarked");
        for d in [&dead, &live, &other] {
            std::fs::create_dir(d).unwrap();
        }
        assert_eq!(reap_folders(dir.path()), vec![dead.clone()]);
        assert!(!dead.exists() && live.exists() && other.exists());
    }
}

//! Nothing of a run survives it, and nothing else is touched: processes and
//! temp folders ordeal made carry its owner mark (`ORDEAL_OWNER=<pid>.<start
//! time>/<stack>` in the environment, which every descendant inherits, even one
//! that daemonizes with `setsid` or a double fork; a marker file inside each
//! temp folder, written when the folder is created).
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
//! Removal needs proof, never a name: a process only if its mark parses and
//! names a dead owner; a folder only if it is a real directory directly in the
//! temp dir holding a marker ([`MARKER`]) that parses, names the folder itself,
//! was written on this boot, and names a dead owner. Everything removed is
//! logged and recorded for the report of the run it happened in ([`take_reaped`]).
//!
//! The start time makes the mark unique across pid reuse; the boot id, across
//! reboots. Reading another user's `/proc/<pid>/environ` fails; such processes
//! are not ours.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The environment variable that marks a process as started by a run.
pub const OWNER_ENV: &str = "ORDEAL_OWNER";

/// Prefix of ordeal's temp folders (a pre-filter only: the marker decides).
const TEMP_PREFIX: &str = "ordeal-";

/// The marker file inside every temp folder ordeal creates.
pub const MARKER: &str = ".ordeal-owner";

/// First line of a marker: its format.
const MARKER_FORMAT: &str = "ordeal temp folder v1";

/// This process's mark: `<pid>.<start time in clock ticks since boot>`.
pub fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}.{}", start_time(pid).unwrap_or(0))
    })
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), empty if unreadable.
fn boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default())
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

/// A temp folder `ordeal-<what>-XXXXXX` holding this run's marker, so that the
/// next run may remove it once this process is dead (and only then).
pub fn temp_dir(what: &str) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix(&format!("{TEMP_PREFIX}{what}-")).tempdir()?;
    write_marker(dir.path(), owner(), boot_id())?;
    Ok(dir)
}

/// Writes the marker of `owner` on boot `boot` into `dir`, naming `dir`.
fn write_marker(dir: &Path, owner: &str, boot: &str) -> std::io::Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    std::fs::write(dir.join(MARKER), format!("{MARKER_FORMAT}\nowner={owner}\nboot={boot}\nname={name}\n"))
}

/// Field 22 of /proc/<pid>/stat (after the parenthesised command name).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `<pid>.<start>`, strictly.
fn parse_owner(owner: &str) -> Option<(u32, u64)> {
    let (pid, start) = owner.split_once('.')?;
    if !digits(pid) || !digits(start) {
        return None;
    }
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// A process mark, `<pid>.<start>` or `<pid>.<start>/<stack>`, strictly.
fn parse_mark(mark: &str) -> Option<(u32, u64)> {
    match mark.split_once('/') {
        Some((owner, stack)) if digits(stack) => parse_owner(owner),
        Some(_) => None,
        None => parse_owner(mark),
    }
}

/// Whether `owner` (parsed) is a process that no longer runs: its pid is gone
/// or now names a process that started at another time.
fn dead(owner: (u32, u64)) -> bool {
    start_time(owner.0) != Some(owner.1)
}

/// Whether `owner` parses as `<pid>.<start>` and names a process that is gone.
pub fn owner_is_dead(owner: &str) -> bool {
    parse_owner(owner).is_some_and(dead)
}

/// Whether `mark` parses and names an owner that is dead. A mark that does
/// not parse is not ours: never dead.
pub fn names_dead_owner(mark: &str) -> bool {
    parse_mark(mark).is_some_and(dead)
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

/// What the reapers removed: the folders and processes of dead owners (at a
/// run's start) and containers and networks (when a docker run opens).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Reaped {
    pub folders: Vec<PathBuf>,
    pub processes: Vec<u32>,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
}

impl Reaped {
    pub fn is_empty(&self) -> bool {
        self.folders.is_empty() && self.processes.is_empty() && self.containers.is_empty() && self.networks.is_empty()
    }
}

fn reaped_log() -> &'static Mutex<Reaped> {
    static LOG: OnceLock<Mutex<Reaped>> = OnceLock::new();
    LOG.get_or_init(Mutex::default)
}

/// Adds to what the next report lists as reaped.
pub fn record(add: impl FnOnce(&mut Reaped)) {
    add(&mut reaped_log().lock().unwrap_or_else(|e| e.into_inner()));
}

/// What was reaped since the last call: the report of the run during whose
/// start it happened lists it.
pub fn take_reaped() -> Reaped {
    std::mem::take(&mut *reaped_log().lock().unwrap_or_else(|e| e.into_inner()))
}

/// Removes processes and temp folders of runs whose ordeal is dead, says so
/// on stderr and records it for the report.
pub fn reap_dead_owners() -> Reaped {
    let mut reaped = Reaped::default();
    for pid in processes() {
        if mark_of(pid).is_some_and(|m| names_dead_owner(&m)) {
            kill(pid);
            reaped.processes.push(pid);
        }
    }
    reaped.folders = reap_folders(&std::env::temp_dir());
    if !reaped.is_empty() {
        tracing::info!(
            "removed what killed ordeal runs left behind: processes {:?}, folders {:?}",
            reaped.processes,
            reaped.folders.iter().map(|f| f.display().to_string()).collect::<Vec<_>>()
        );
        record(|r| {
            r.processes.extend(&reaped.processes);
            r.folders.extend(reaped.folders.iter().cloned());
        });
    }
    reaped
}

/// Whether `path` (an entry of the temp dir) is a folder ordeal created for an
/// owner now dead, as its marker proves.
fn provably_dead_folder(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    // symlink_metadata: a symlink is never followed, neither for the folder nor its marker.
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    let marker = path.join(MARKER);
    if !std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file() && m.len() <= 4096) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(&marker) else { return false };
    let mut lines = text.lines();
    if lines.next() != Some(MARKER_FORMAT) {
        return false;
    }
    let fields: std::collections::HashMap<&str, &str> = lines.filter_map(|l| l.split_once('=')).collect();
    let owner = fields.get("owner").and_then(|o| parse_owner(o));
    let this_boot = fields.get("boot").is_some_and(|b| !b.is_empty() && *b == boot_id());
    fields.get("name") == Some(&name) && this_boot && owner.is_some_and(dead)
}

/// Folders in `dir` that ordeal created for owners now dead ([`provably_dead_folder`]), removed.
fn reap_folders(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX)) {
            continue;
        }
        let path = entry.path();
        if provably_dead_folder(&path) && std::fs::remove_dir_all(&path).is_ok() {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_parse_strictly_and_only_a_dead_owner_is_dead() {
        assert!(!names_dead_owner(owner()), "this process is alive");
        assert!(!names_dead_owner(&stack_mark()));
        assert!(owner().starts_with(&format!("{}.", std::process::id())));
        assert_ne!(stack_mark(), stack_mark());
        assert!(names_dead_owner("4194304.7"), "no pid reaches pid_max");
        assert!(names_dead_owner("4194304.7/3"));
        assert!(names_dead_owner("1.1"), "pid 1 did not start at tick 1");
        for garbage in
            ["garbage", "", "1", "1.", ".1", "1.1/", "1.1/x", "1.1/2/3", "-1.1", "1.1 ", "+1.1", "1.1.1", "99999999999999999999999.1"]
        {
            assert!(!names_dead_owner(garbage), "{garbage:?} does not parse: never ours");
        }
    }

    /// A folder `name` in `dir` with a file inside and, when `owner` is set, a marker.
    fn folder(dir: &Path, name: &str, owner: Option<&str>) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.join("keep")).unwrap();
        std::fs::write(path.join("keep/data.txt"), "precious").unwrap();
        if let Some(o) = owner {
            write_marker(&path, o, boot_id()).unwrap();
        }
        path
    }

    #[test]
    fn only_folders_whose_marker_proves_a_dead_owner_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let dead = folder(d, "ordeal-tsdb-abc", Some("4194304.7"));
        let live = folder(d, "ordeal-tsdb-def", Some(owner()));
        let keep = [
            folder(d, "ordeal-reports-v1.2", None),
            folder(d, "ordeal-x-1.1-abc", None),
            folder(d, "ordeal-load-bench.DRzQjD", None),
            live.clone(),
        ];
        // A marker copied from another folder names that folder, not this one.
        let copied = folder(d, "ordeal-copy-1", None);
        std::fs::write(copied.join(MARKER), std::fs::read(dead.join(MARKER)).unwrap()).unwrap();
        // Another boot: pids and start times there say nothing about this one.
        let other_boot = folder(d, "ordeal-boot-1", None);
        write_marker(&other_boot, "4194304.7", "00000000-0000-0000-0000-000000000000").unwrap();
        // A marker that is a symlink, and a folder that is a symlink to a dead owner's folder.
        let linked_marker = folder(d, "ordeal-lm-1", None);
        std::os::unix::fs::symlink(dead.join(MARKER), linked_marker.join(MARKER)).unwrap();
        let target = folder(&d.join("elsewhere"), "ordeal-tsdb-1.1-abc", Some("4194304.7"));
        std::os::unix::fs::symlink(&target, d.join("ordeal-tsdb-1.1-abc")).unwrap();
        // A garbled marker.
        let garbled = folder(d, "ordeal-garbled-1", None);
        std::fs::write(garbled.join(MARKER), "owner=4194304.7\nname=ordeal-garbled-1\n").unwrap();

        assert_eq!(reap_folders(d), vec![dead.clone()]);
        assert!(!dead.exists());
        for p in keep.iter().chain([&copied, &other_boot, &linked_marker, &target, &garbled]) {
            assert!(p.join("keep/data.txt").is_file(), "{} was removed", p.display());
        }
        assert!(d.join("ordeal-tsdb-1.1-abc").exists(), "the symlink itself stays");
    }

    #[test]
    fn a_temp_dir_carries_a_marker_of_this_live_process() {
        let dir = temp_dir("unit").unwrap();
        let name = dir.path().file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(dir.path().join(MARKER)).unwrap();
        assert!(text.contains(&format!("name={name}\n")) && text.contains(&format!("owner={}\n", owner())), "{text}");
        assert!(!provably_dead_folder(dir.path()), "its owner is alive");
    }

    #[test]
    fn the_reaped_log_is_taken_once() {
        record(|r| r.networks.push("ordeal-net-test".into()));
        let taken = take_reaped();
        assert!(taken.networks.contains(&"ordeal-net-test".to_string()));
        assert!(!take_reaped().networks.contains(&"ordeal-net-test".to_string()));
    }
}

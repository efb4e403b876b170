//! Process-wide registry of the process groups ordeal started, so they can
//! be killed from places that have no handle on the `Stack`: the Ctrl-C
//! handler (a second Ctrl-C exits at once) and the panic hook.
//!
//! A std `Mutex` (not tokio's) because signal and panic paths are synchronous.

use std::collections::BTreeSet;
use std::sync::Mutex;

static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

pub(crate) fn register(pgid: i32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).insert(pgid);
}

pub(crate) fn unregister(pgid: i32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).remove(&pgid);
}

/// Send a signal to a whole process group; errors (already gone) are ignored.
pub(crate) fn signal_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// SIGKILL every registered group now, and remove every container and
/// network this process created. Safe to call more than once.
pub fn kill_all() {
    let groups: Vec<i32> = GROUPS.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
    for g in groups {
        signal_group(g, libc::SIGKILL);
    }
    super::reap::kill_marked(super::reap::owner());
    super::docker::remove_all_blocking();
}

/// Number of live registered groups (for tests).
pub fn live_groups() -> usize {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// On panic: record a harness fault naming the component (the run then stops
/// and reports `error`, see `signals`), kill everything, run the previous hook.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let what =
            info.payload().downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| info.payload().downcast_ref::<String>().cloned());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let component = crate::signals::current_component().unwrap_or("a harness task");
        crate::signals::harness_fault(format!("harness fault: {component} panicked{at}: {}", what.as_deref().unwrap_or("(no message)")));
        kill_all();
        previous(info);
    }));
}

//! SIGINT / SIGTERM handling, and harness faults. ordeal installs its handler
//! before goose runs, so goose's own `ctrlc::set_handler` fails and backs off
//! (CRATE-NOTES). First signal: stop the load (goose killswitch) and let the
//! run tear down and report. Second signal: kill every started process group
//! and exit 130.
//!
//! A harness fault (a panic in one of ordeal's own background tasks; the
//! panic hook records it) stops the run the same way, but the run reports
//! verdict `error` naming the component (exit 3): the stack is never judged
//! on what a broken harness recorded.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

static COUNT: AtomicU32 = AtomicU32::new(0);
static TX: OnceLock<watch::Sender<bool>> = OnceLock::new();
static FAULT: Mutex<Option<String>> = Mutex::new(None);

tokio::task_local! {
    /// The harness component a task belongs to, for the panic hook.
    static COMPONENT: &'static str;
}

/// Install the handler once per process. Later calls are no-ops.
pub fn install() {
    if TX.get().is_some() {
        return;
    }
    let (tx, _) = watch::channel(false);
    if TX.set(tx).is_err() {
        return;
    }
    let r = ctrlc::set_handler(|| {
        if COUNT.fetch_add(1, Ordering::SeqCst) == 0 {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\nordeal: interrupted — stopping load and tearing down (Ctrl-C again to kill at once)");
            goose::trigger_killswitch("ordeal: interrupted");
            if let Some(tx) = TX.get() {
                let _ = tx.send(true);
            }
        } else {
            crate::runtime::cleanup::kill_all();
            std::process::exit(130);
        }
    });
    if let Err(e) = r {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
}

/// True once a SIGINT/SIGTERM arrived.
pub fn interrupted() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// Resolves when the first signal arrives (never, if `install` was not called).
pub async fn wait() {
    let Some(tx) = TX.get() else { return std::future::pending().await };
    let mut rx = tx.subscribe();
    let _ = rx.wait_for(|v| *v).await;
}

/// Run `f` as harness component `name` (`"health prober"`): a panic inside it
/// is reported as a fault of that component.
pub async fn component<F: Future>(name: &'static str, f: F) -> F::Output {
    COMPONENT.scope(name, f).await
}

/// The component of the task running on this thread, if any (for the panic hook).
pub fn current_component() -> Option<&'static str> {
    COMPONENT.try_with(|c| *c).ok()
}

/// Record a harness fault (the first one wins), stop the load and wake the run.
pub fn harness_fault(what: String) {
    let mut fault = FAULT.lock().unwrap_or_else(|e| e.into_inner());
    if fault.is_none() {
        *fault = Some(what);
        drop(fault);
        goose::trigger_killswitch("ordeal: harness fault");
        if let Some(tx) = TX.get() {
            let _ = tx.send(true);
        }
    }
}

/// The harness fault recorded in this process, if any.
pub fn fault() -> Option<String> {
    FAULT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

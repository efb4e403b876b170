//! SIGINT / SIGTERM handling. ordeal installs its handler before goose runs,
//! so goose's own `ctrlc::set_handler` fails and backs off (CRATE-NOTES).
//! First signal: stop the load (goose killswitch) and let the run tear down
//! and report. Second signal: kill every started process group and exit 130.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::watch;

static COUNT: AtomicU32 = AtomicU32::new(0);
static TX: OnceLock<watch::Sender<bool>> = OnceLock::new();

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
            eprintln!("\nordeal: interrupted — stopping load and tearing down (Ctrl-C again to kill at once)");
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

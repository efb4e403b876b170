//! Results go to the real stdout, and nothing else does: fd 1 is pointed at
//! /dev/null for the rest of the process, so whatever a library prints there
//! (goose's "All N users launched.") is dropped, and a `println!` in a library
//! cannot panic on a closed pipe. A closed stdout or stderr
//! (`ordeal run ... 2>&1 | head -1`) loses lines silently: the reports are
//! files and the exit code is unchanged.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static OUT: OnceLock<(Mutex<std::fs::File>, bool)> = OnceLock::new();
static COLOR: OnceLock<bool> = OnceLock::new();

/// Colour the results or not (`--color`, NO_COLOR, whether stdout is a terminal).
pub fn set_color(on: bool) {
    let _ = COLOR.set(on);
}

pub fn capture() {
    use std::os::fd::FromRawFd;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else { return };
    // SAFETY: plain fd calls; `fd` is a new descriptor this process owns
    // from here on (the File takes it), and fd 1 stays open (on /dev/null;
    // `null` is closed after dup2 copied it).
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return;
        }
        if libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1) < 0 {
            libc::close(fd);
            return;
        }
        let _ = OUT.set((Mutex::new(std::fs::File::from_raw_fd(fd)), tty));
    }
}

pub fn write(text: &str) {
    let text = ordeal::secrets::mask(text);
    match OUT.get() {
        Some((f, _)) => {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).write_all(text.as_bytes());
        }
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
}

/// Whether results go to a terminal.
pub fn is_terminal() -> bool {
    OUT.get().map_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stdout()), |(_, tty)| *tty)
}

/// Whether results are coloured.
pub fn color() -> bool {
    COLOR.get().copied().unwrap_or_else(is_terminal)
}

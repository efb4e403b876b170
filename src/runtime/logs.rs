//! Captures each service's stdout and stderr line by line: written to
//! `<run-dir>/logs/<service>.<stream>.log` and kept in memory with the run
//! offset at which each line arrived (log expectations read it). Invalid
//! UTF-8 is replaced, never a reason to stop reading; where capture stops
//! while a service may still write (a read error, a full store), a
//! [`LogGap`] says from when the absence of lines proves nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::clock::RunClock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LogLine {
    pub service: String,
    pub stream: Stream,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub at: Duration,
    pub line: String,
}

/// A stretch from `from` to the end of the run in which ordeal stopped seeing
/// a service's output while the service may still have written some: an
/// absence of lines after it proves nothing (log expectations say so).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LogGap {
    /// The service, or `*` for every service (the store was full).
    pub service: String,
    /// The stream; `None` for both.
    pub stream: Option<Stream>,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub from: Duration,
    pub reason: String,
}

impl LogGap {
    /// Whether this gap hides lines of `service` (every service: `None`) on one of `streams` before `end`.
    pub fn hides(&self, service: Option<&str>, streams: &[Stream], end: Duration) -> bool {
        let who = self.service == "*" || service.is_none_or(|s| s == self.service);
        let which = self.stream.is_none_or(|st| streams.contains(&st));
        who && which && self.from < end
    }
}

/// Every captured line of the run. Bounded: past `MAX_LINES` lines are only counted.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    lines: Vec<LogLine>,
    dropped: u64,
    gaps: Vec<LogGap>,
}

const MAX_LINES: usize = 2_000_000;
/// A longer line (a service writing without newlines) is cut into pieces of this size.
const MAX_LINE_BYTES: u64 = 1 << 20;

impl LogStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, l: LogLine) {
        let mut g = self.lock();
        if g.lines.len() < MAX_LINES {
            g.lines.push(l);
        } else {
            if g.dropped == 0 {
                let reason = format!("the log store was full ({MAX_LINES} lines); later lines were only counted");
                g.gaps.push(LogGap { service: "*".into(), stream: None, from: l.at, reason });
            }
            g.dropped += 1;
        }
    }

    /// Capture of `service`'s `stream` stopped at `at` for `reason` (the service may still write).
    pub(crate) fn lost(&self, service: &str, stream: Stream, at: Duration, reason: String) {
        tracing::warn!("{service} {stream:?}: log capture stopped: {reason}");
        self.lock().gaps.push(LogGap { service: service.into(), stream: Some(stream), from: at, reason });
    }

    pub fn lines(&self) -> Vec<LogLine> {
        self.lock().lines.clone()
    }

    pub fn gaps(&self) -> Vec<LogGap> {
        self.lock().gaps.clone()
    }

    /// Last `n` lines of one service (for error messages).
    pub fn tail(&self, service: &str, n: usize) -> Vec<String> {
        let g = self.lock();
        let mut v: Vec<String> = g.lines.iter().rev().filter(|l| l.service == service).take(n).map(|l| l.line.clone()).collect();
        v.reverse();
        v
    }
}

/// One line of output as text: invalid UTF-8 is replaced (U+FFFD), never a
/// reason to stop reading; the line ending (`\n` or `\r\n`) is removed.
pub(crate) fn line_text(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    String::from_utf8_lossy(raw).into_owned()
}

pub(crate) fn capture(
    reader: impl AsyncRead + Unpin + Send + 'static,
    service: String,
    stream: Stream,
    file: std::path::PathBuf,
    store: LogStore,
    clock: RunClock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(crate::signals::component("log capture", async move {
        let mut out = match tokio::fs::File::create(&file).await {
            Ok(f) => Some(tokio::io::BufWriter::new(f)),
            Err(e) => {
                tracing::warn!("cannot write {}: {e}", file.display());
                None
            }
        };
        let mut reader = BufReader::new(reader);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match (&mut reader).take(MAX_LINE_BYTES).read_until(b'\n', &mut raw).await {
                Ok(0) => break,
                Ok(_) => {
                    let line = line_text(&raw);
                    if let Some(o) = out.as_mut() {
                        let _ = o.write_all(crate::secrets::mask(&line).as_bytes()).await;
                        let _ = o.write_all(b"\n").await;
                    }
                    store.push(LogLine { service: service.clone(), stream, at: clock.now(), line });
                }
                Err(e) => {
                    store.lost(&service, stream, clock.now(), format!("reading its output failed: {e}"));
                    break;
                }
            }
        }
        if let Some(mut o) = out {
            let _ = o.flush().await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_utf8_and_long_lines_do_not_stop_capture() {
        let mut out: Vec<u8> = b"first\nbad \xff byte\r\n".to_vec();
        out.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES as usize + 10));
        out.extend(b"\nlast\n");
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::default();
        let clock = RunClock::start();
        capture(std::io::Cursor::new(out), "s".into(), Stream::Stdout, dir.path().join("s.log"), store.clone(), clock).await.unwrap();
        let lines: Vec<String> = store.lines().into_iter().map(|l| l.line).collect();
        assert_eq!(lines.len(), 5, "a line past the limit is cut in two");
        assert_eq!(lines[1], "bad \u{fffd} byte");
        assert_eq!(lines[2].len(), MAX_LINE_BYTES as usize);
        assert_eq!(lines[3], "x".repeat(10));
        assert_eq!(lines[4], "last");
        assert!(store.gaps().is_empty());
    }

    #[test]
    fn a_full_store_is_a_gap_for_every_service() {
        let g = LogGap { service: "*".into(), stream: None, from: Duration::from_secs(2), reason: "full".into() };
        assert!(g.hides(Some("x"), &[Stream::Stderr], Duration::from_secs(3)));
        assert!(!g.hides(None, &[Stream::Stdout], Duration::from_secs(2)), "the window ended when the gap began");
    }
}

//! Captures each service's stdout and stderr line by line: written to
//! `<run-dir>/logs/<service>.<stream>.log` and kept in memory with the run
//! offset at which each line arrived (log expectations read it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

use crate::clock::RunClock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    pub service: String,
    pub stream: Stream,
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub line: String,
}

/// Every captured line of the run. Bounded: past `MAX_LINES` lines are only counted.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    inner: Arc<Mutex<(Vec<LogLine>, u64)>>,
}

const MAX_LINES: usize = 2_000_000;

impl LogStore {
    pub(crate) fn push(&self, l: LogLine) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.len() < MAX_LINES {
            g.0.push(l);
        } else {
            g.1 += 1;
        }
    }

    pub fn lines(&self) -> Vec<LogLine> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// Last `n` lines of one service (for error messages).
    pub fn tail(&self, service: &str, n: usize) -> Vec<String> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = g.0.iter().rev().filter(|l| l.service == service).take(n).map(|l| l.line.clone()).collect();
        v.reverse();
        v
    }
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
        let mut lines = BufReader::new(reader).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    if let Some(o) = out.as_mut() {
                        let _ = o.write_all(line.as_bytes()).await;
                        let _ = o.write_all(b"\n").await;
                    }
                    store.push(LogLine { service: service.clone(), stream, at: clock.now(), line });
                }
                Ok(None) => break,
                Err(e) => {
                    // Non-UTF-8 output: note it and keep reading raw lines is not possible
                    // with `lines()`, so record the problem and stop this stream.
                    store.push(LogLine {
                        service: service.clone(),
                        stream,
                        at: clock.now(),
                        line: format!("<ordeal: unreadable output: {e}>"),
                    });
                    break;
                }
            }
        }
        if let Some(mut o) = out {
            let _ = o.flush().await;
        }
    }))
}

//! The per-mock request journal: one [`JournalEntry`] per request with run
//! offsets (from the shared `RunClock`), outcome, status, stream flag and the
//! correlation headers. Bounded: past the capacity entries are counted, not kept.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::RunClock;

/// Default capacity of a journal (entries kept before counting drops).
pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000_000;

/// What the mock did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Normal answer (route or completion), possibly delayed.
    Ok,
    /// Injected error status.
    Error,
    /// Injected 429 with Retry-After.
    RateLimited,
    /// No answer for the hang duration (then 504, or dropped at shutdown).
    Hang,
    /// Connection closed without a response.
    Reset,
    /// SSE stream cut before `[DONE]`.
    Truncated,
    /// Body that is not valid JSON.
    Malformed,
    /// No route matched (404).
    NotFound,
    /// The request itself was invalid (400).
    BadRequest,
}

/// One request as the mock saw it. Times are offsets from the run start, in
/// milliseconds when serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JournalEntry {
    /// When the request reached the mock.
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    #[schemars(with = "f64")]
    pub at: Duration,
    /// When the response (or stream) finished, or the connection was closed. For the
    /// HTTP (wiremock) mock this is the scheduled send time: at + injected delay.
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    #[schemars(with = "f64")]
    pub done: Duration,
    pub method: String,
    /// Request path without the query string.
    pub path: String,
    /// Status sent; `None` when no response was sent (reset, hang dropped at shutdown).
    pub status: Option<u16>,
    pub outcome: Outcome,
    /// An SSE streaming response was requested.
    pub stream: bool,
    /// The request's `X-Request-ID` header.
    pub request_id: Option<String>,
    /// The request's W3C `traceparent` header.
    pub traceparent: Option<String>,
    /// Id of the fault that shaped this response (the decisive one, else one that added delay).
    pub fault: Option<String>,
    /// The tokens an LLM mock's answer reported in its `usage` (none for other answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenCount>,
}

/// The `usage` an LLM mock's completion carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenCount {
    pub prompt: u64,
    pub completion: u64,
}

impl JournalEntry {
    /// A fresh entry for a request arriving now; `done` = `at` until finished.
    pub fn arriving(at: Duration, method: &str, path: &str, headers: &axum::http::HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        Self {
            at,
            done: at,
            method: method.to_string(),
            path: path.to_string(),
            status: None,
            outcome: Outcome::Ok,
            stream: false,
            request_id: header("x-request-id"),
            traceparent: header("traceparent"),
            fault: None,
            tokens: None,
        }
    }

    /// Time from arrival to completion.
    pub fn elapsed(&self) -> Duration {
        self.done.saturating_sub(self.at)
    }
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn de_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = f64::deserialize(d)?;
    Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
}

/// A copy of a journal: entries ordered by arrival, plus how many were dropped past capacity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JournalSnapshot {
    pub entries: Vec<JournalEntry>,
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<JournalEntry>,
    dropped: u64,
    /// Requests that arrived and are not recorded yet (their guard is alive).
    pending: u64,
}

/// Thread-safe bounded journal of one mock.
#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self { inner: Mutex::new(Inner::default()), capacity }
    }

    /// Requests that reached the mock so far: recorded (kept or dropped for
    /// capacity) or still in flight. Never decreases.
    pub fn arrived(&self) -> u64 {
        let inner = self.lock();
        inner.entries.len() as u64 + inner.dropped + inner.pending
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, entry: JournalEntry) {
        self.push(entry, false);
    }

    /// Records `entry`; `was_pending`: it is a guard's, counted in flight until now.
    fn push(&self, entry: JournalEntry, was_pending: bool) {
        tracing::trace!(?entry, "journal");
        let mut inner = self.lock();
        if was_pending {
            inner.pending = inner.pending.saturating_sub(1);
        }
        if inner.entries.len() < self.capacity {
            inner.entries.push(entry);
        } else {
            inner.dropped += 1;
        }
    }

    /// Entries so far, ordered by arrival (LLM entries are recorded when they finish).
    pub fn snapshot(&self) -> JournalSnapshot {
        let inner = self.lock();
        let mut entries = inner.entries.clone();
        let dropped = inner.dropped;
        drop(inner);
        entries.sort_by_key(|e| e.at);
        JournalSnapshot { entries, dropped }
    }

    /// At shutdown: entries scheduled to finish later never got their response.
    pub fn close_pending(&self, now: Duration) {
        for e in self.lock().entries.iter_mut().filter(|e| e.done > now) {
            e.done = now;
            e.status = None;
        }
    }
}

/// Records an entry when finished, or when dropped (a request cancelled by the
/// client or by shutdown is still journaled, with the time it ended).
pub struct EntryGuard {
    journal: Arc<Journal>,
    clock: RunClock,
    entry: JournalEntry,
    recorded: bool,
}

impl EntryGuard {
    pub fn new(journal: Arc<Journal>, clock: RunClock, entry: JournalEntry) -> Self {
        journal.lock().pending += 1;
        Self { journal, clock, entry, recorded: false }
    }

    /// The pending entry, to fill in outcome, fault, stream flag.
    pub fn entry(&mut self) -> &mut JournalEntry {
        &mut self.entry
    }

    /// Sets status and outcome and records the entry now (once; later calls do nothing).
    pub fn finish(&mut self, status: Option<u16>, outcome: Outcome) {
        self.entry.status = status;
        self.entry.outcome = outcome;
        self.record();
    }

    fn record(&mut self) {
        if !self.recorded {
            self.recorded = true;
            self.entry.done = self.clock.now().max(self.entry.at);
            self.journal.push(self.entry.clone(), true);
        }
    }
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        self.record();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64) -> JournalEntry {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-request-id", "r-1".parse().unwrap());
        JournalEntry::arriving(Duration::from_millis(at_ms), "GET", "/a", &h)
    }

    #[test]
    fn bounded_and_sorted() {
        let j = Journal::new(2);
        j.record(entry(5));
        j.record(entry(1));
        j.record(entry(3));
        let s = j.snapshot();
        assert_eq!(s.dropped, 1);
        assert_eq!(s.entries.iter().map(|e| e.at.as_millis()).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(s.entries[0].request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn guard_records_on_finish_or_drop() {
        let j = Arc::new(Journal::new(10));
        let clock = RunClock::start();
        let mut g = EntryGuard::new(j.clone(), clock, entry(0));
        g.entry().outcome = Outcome::Hang;
        assert_eq!((j.arrived(), j.snapshot().entries.len()), (1, 0), "in flight counts as arrived");
        drop(g);
        assert_eq!(j.arrived(), 1, "recorded, counted once");
        let mut g = EntryGuard::new(j.clone(), clock, entry(0));
        g.finish(Some(429), Outcome::RateLimited);
        drop(g);
        assert_eq!(j.arrived(), 2);
        let s = j.snapshot();
        assert_eq!(s.entries.len(), 2);
        assert!(s.entries.iter().any(|e| e.outcome == Outcome::Hang && e.status.is_none()));
        assert!(s.entries.iter().any(|e| e.outcome == Outcome::RateLimited && e.status == Some(429)));
    }

    #[test]
    fn pending_entries_are_closed_at_shutdown() {
        let j = Journal::new(10);
        let mut e = entry(0);
        e.done = Duration::from_secs(60);
        e.status = Some(504);
        j.record(e);
        j.close_pending(Duration::from_secs(1));
        let s = j.snapshot();
        assert_eq!((s.entries[0].done, s.entries[0].status), (Duration::from_secs(1), None));
    }

    #[test]
    fn serializes_times_in_ms_and_snake_case_outcomes() {
        let mut e = entry(1500);
        e.outcome = Outcome::RateLimited;
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["at"], 1500.0);
        assert_eq!(v["outcome"], "rate_limited");
        let back: JournalEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}

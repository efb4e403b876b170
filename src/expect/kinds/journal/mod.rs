//! `kind: fail_fast` and `kind: retries`, judged from a mock's request
//! journal — what really reached the dependency, not what the stack says.
//!
//! Retry chains: requests are grouped by X-Request-ID; a chain ends when an
//! attempt got a normal answer that finished before the next attempt began,
//! so two separate calls of one request (say, a planner call and a worker
//! call) are not mistaken for retries. The backoff of a retry is the gap
//! from the end of the failed attempt to the start of the next; for an
//! attempt the client abandoned (it was still running when the next began)
//! the end is `at + client_timeout` when the scenario gives that timeout.

pub mod fail_fast;
pub mod retries;
pub mod traffic;

use crate::clock::Window;
use crate::expect::Recorded;
use crate::faults::{JournalEntry, RouteFilter};

pub fn in_scope<'a>(entries: &'a [JournalEntry], route: Option<&str>, w: Window) -> Vec<&'a JournalEntry> {
    let filter: Option<RouteFilter> = route.and_then(|r| r.parse().ok());
    entries.iter().filter(|e| w.contains(e.at) && filter.as_ref().is_none_or(|f| f.matches(&e.method, &e.path))).collect()
}

/// Which answers count: an exact status, a class (`5xx`) or none sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSel {
    Exact(u16),
    Class(u16),
    NoAnswer,
}

impl StatusSel {
    /// A `status:` field: `Some(None)` when absent, `None` (reported at `path`) when it is no status.
    pub fn compile(cx: &mut crate::scenario::Ctx, path: &str, s: Option<&crate::scenario::Scalar>) -> Option<Option<Self>> {
        let Some(s) = s else { return Some(None) };
        let parsed = Self::parse(&s.0);
        if parsed.is_none() {
            let hint = "write a status (`503`), a class (`5xx`) or `none` (no answer)";
            cx.err_value(path, format!("`{}` is not a status", s.0), Some(hint.into()));
        }
        parsed.map(Some)
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_bytes() {
            _ if s == "none" => Some(StatusSel::NoAnswer),
            [d @ b'1'..=b'5', b'x', b'x'] => Some(StatusSel::Class(u16::from(d - b'0'))),
            _ => s.parse::<u16>().ok().filter(|c| (100..600).contains(c)).map(StatusSel::Exact),
        }
    }

    pub fn holds(self, status: Option<u16>) -> bool {
        match (self, status) {
            (StatusSel::NoAnswer, s) => s.is_none(),
            (StatusSel::Exact(want), Some(s)) => s == want,
            (StatusSel::Class(c), Some(s)) => s / 100 == c,
            _ => false,
        }
    }

    /// A load answer's status key (`"200"`, `"no response"`, `"unfinished"`):
    /// `none` is no response; a request still in flight is no answer yet.
    pub fn holds_key(self, key: &str) -> bool {
        match key {
            "no response" => self == StatusSel::NoAnswer,
            _ => key.parse().is_ok_and(|s| self.holds(Some(s))),
        }
    }

    pub fn text(self) -> String {
        match self {
            StatusSel::Exact(s) => s.to_string(),
            StatusSel::Class(c) => format!("{c}xx"),
            StatusSel::NoAnswer => "none".into(),
        }
    }
}

/// The one-second buckets of `w` (from its start), with the calls in each;
/// `whole` keeps only the seconds wholly inside the window, empty ones included.
pub fn per_second(hits: &[&JournalEntry], w: Window, whole: bool) -> std::collections::BTreeMap<u64, u32> {
    let mut buckets = std::collections::BTreeMap::new();
    if whole {
        buckets.extend((0..w.len().as_secs()).map(|s| (s, 0)));
    }
    for e in hits {
        let s = (e.at - w.start).as_secs();
        if !whole || s < w.len().as_secs() {
            *buckets.entry(s).or_default() += 1;
        }
    }
    buckets
}

/// [`in_scope`] calls whose answer `status` selects (all when None).
pub fn answered<'a>(entries: &'a [JournalEntry], route: Option<&str>, status: Option<StatusSel>, w: Window) -> Vec<&'a JournalEntry> {
    in_scope(entries, route, w).into_iter().filter(|e| status.is_none_or(|s| s.holds(e.status))).collect()
}

/// The journal of mock `name` (empty if it recorded nothing).
pub fn journal<'a>(rec: &'a Recorded, name: &str) -> &'a [JournalEntry] {
    rec.journals.get(name).map_or(&[][..], Vec::as_slice)
}

/// Synthetic records shared by the tests of this family's kinds.
#[cfg(test)]
pub(crate) mod fixtures {

    use super::retries::*;
    use crate::clock::Window;
    use crate::faults::{JournalEntry, Outcome};
    use crate::scenario::cmp::Comparison;
    use std::time::Duration;

    pub(crate) fn e(id: &str, at: u64, done: u64, outcome: Outcome) -> JournalEntry {
        JournalEntry {
            at: Duration::from_millis(at),
            done: Duration::from_millis(done),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            status: Some(if outcome == Outcome::Ok { 200 } else { 503 }),
            outcome,
            stream: false,
            request_id: Some(id.into()),
            traceparent: None,
            fault: None,
            tokens: None,
        }
    }

    pub(crate) fn check() -> RetriesCheck {
        RetriesCheck {
            mock: "llm".into(),
            route: None,
            max_attempts: Some(3),
            retried: Some(Comparison::parse("> 0").unwrap()),
            min_backoff: Some(Duration::from_millis(40)),
            increasing: true,
            jittered: false,
            client_timeout: None,
            allow_empty: false,
        }
    }

    pub(crate) fn all() -> Window {
        Window::new(Duration::ZERO, Duration::from_secs(60))
    }
}

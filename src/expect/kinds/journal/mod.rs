//! `kind: fail_fast` and `kind: retries`, judged from a mock's request
//! journal — what really reached the dependency, not what the stack says.
//!
//! Retry chains: requests are grouped by X-Request-ID; a chain ends when an
//! attempt got a normal answer (not an injected fault, a 2xx or 3xx) that
//! finished before the next attempt began,
//! so two separate calls of one request (say, a planner call and a worker
//! call) are not mistaken for retries. The backoff of a retry is the gap
//! from the end of the failed attempt to the start of the next; for an
//! attempt the client abandoned (it was still running when the next began)
//! the end is `at + client_timeout` when the scenario gives that timeout.

pub mod fail_fast;
pub mod fallback;
pub mod retries;
pub mod traffic;

use crate::clock::Window;
use crate::expect::Recorded;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::faults::{JournalEntry, Outcome, RouteFilter};

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

/// How the attempts of one request are recognised across calls (and mocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainKey {
    /// The `X-Request-ID` header the load driver sends and the stack forwards.
    #[default]
    RequestId,
    /// The trace id of the W3C `traceparent` header.
    TraceId,
}

impl ChainKey {
    /// The key of a call; None when the call carries no such header.
    pub fn of(self, e: &JournalEntry) -> Option<&str> {
        match self {
            ChainKey::RequestId => e.request_id.as_deref(),
            ChainKey::TraceId => e.traceparent.as_deref().and_then(|t| t.split('-').nth(1)).filter(|t| !t.is_empty()),
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            ChainKey::RequestId => "X-Request-ID",
            ChainKey::TraceId => "traceparent",
        }
    }
}

/// The attempts of one request, in arrival order, with the backoff before each retry.
pub struct Chain<'a> {
    pub id: &'a str,
    pub attempts: Vec<&'a JournalEntry>,
    pub gaps: Vec<Duration>,
}

/// A normal answer: the call did not fail (as its client saw it, unless abandoned).
pub fn succeeded(e: &JournalEntry) -> bool {
    e.outcome == Outcome::Ok && e.status.is_some_and(|s| (200..400).contains(&s))
}

/// Attempt `i` of `attempts` succeeded and its client took the answer: no
/// later attempt of the request began before it finished.
pub fn taken(attempts: &[&JournalEntry], i: usize) -> bool {
    succeeded(attempts[i]) && attempts.get(i + 1).is_none_or(|next| attempts[i].done <= next.at)
}

/// The calls in `hits` (of one mock or several) grouped into request chains
/// by `key` (see the module notes); calls without the key are left out.
pub fn chains<'a>(hits: &[&'a JournalEntry], key: ChainKey, client_timeout: Option<Duration>) -> Vec<Chain<'a>> {
    let mut by_id: BTreeMap<&str, Vec<&JournalEntry>> = BTreeMap::new();
    for e in hits {
        if let Some(id) = key.of(e) {
            by_id.entry(id).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for (id, mut es) in by_id {
        es.sort_by_key(|e| e.at);
        let mut cur = Chain { id, attempts: Vec::new(), gaps: Vec::new() };
        for e in es {
            if let Some(prev) = cur.attempts.last() {
                let answered = succeeded(prev) && prev.done <= e.at;
                if answered {
                    out.push(std::mem::replace(&mut cur, Chain { id, attempts: Vec::new(), gaps: Vec::new() }));
                } else if prev.done <= e.at && prev.outcome != Outcome::Hang {
                    cur.gaps.push(e.at - prev.done);
                } else if let Some(t) = client_timeout {
                    cur.gaps.push(e.at.saturating_sub(prev.at + t));
                }
            }
            cur.attempts.push(e);
        }
        out.push(cur);
    }
    out
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
            mocks: vec!["llm".into()],
            route: None,
            max_attempts: Some(3),
            retried: Some(Comparison::parse("> 0").unwrap()),
            min_backoff: Some(Duration::from_millis(40)),
            increasing: true,
            jittered: false,
            client_timeout: None,
            not_retried: Vec::new(),
            allow_empty: false,
        }
    }

    pub(crate) fn all() -> Window {
        Window::new(Duration::ZERO, Duration::from_secs(60))
    }
}

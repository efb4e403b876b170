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

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::Judgement;
use crate::clock::Window;
use crate::faults::{JournalEntry, Outcome, RouteFilter};
use crate::scenario::{FailFastCheck, RetriesCheck};

fn in_scope<'a>(entries: &'a [JournalEntry], route: Option<&str>, w: Window) -> Vec<&'a JournalEntry> {
    let filter: Option<RouteFilter> = route.and_then(|r| r.parse().ok());
    entries.iter().filter(|e| w.contains(e.at) && filter.as_ref().is_none_or(|f| f.matches(&e.method, &e.path))).collect()
}

pub(crate) fn fail_fast(c: &FailFastCheck, entries: &[JournalEntry], w: Window) -> Judgement {
    let hits = in_scope(entries, c.route.as_deref(), w);
    let secs = w.len().as_secs_f64();
    let rate = if secs > 0.0 { hits.len() as f64 / secs } else { 0.0 };
    let mut buckets: BTreeMap<u64, u32> = BTreeMap::new();
    for e in &hits {
        *buckets.entry((e.at - w.start).as_secs()).or_default() += 1;
    }
    let peak = buckets.values().copied().max().unwrap_or(0);
    let pass = rate <= c.max_rate && c.max_per_second.is_none_or(|m| peak <= m);
    let mut expected = format!("at most {} calls/s reach mock `{}`", c.max_rate, c.mock);
    if let Some(m) = c.max_per_second {
        expected.push_str(&format!(" and at most {m} in any second"));
    }
    Judgement {
        pass,
        expected,
        observed: format!("{} calls in {:.1}s = {:.2}/s, peak {} in one second", hits.len(), secs, rate, peak),
        evidence: json!({ "calls": hits.len(), "rate": rate, "per_second": buckets.values().collect::<Vec<_>>() }),
    }
}

struct Chain<'a> {
    id: &'a str,
    attempts: Vec<&'a JournalEntry>,
    gaps: Vec<Duration>,
}

fn chains<'a>(hits: &[&'a JournalEntry], client_timeout: Option<Duration>) -> Vec<Chain<'a>> {
    let mut by_id: BTreeMap<&str, Vec<&JournalEntry>> = BTreeMap::new();
    for e in hits {
        if let Some(id) = e.request_id.as_deref() {
            by_id.entry(id).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for (id, mut es) in by_id {
        es.sort_by_key(|e| e.at);
        let mut cur = Chain { id, attempts: Vec::new(), gaps: Vec::new() };
        for e in es {
            if let Some(prev) = cur.attempts.last() {
                let answered = prev.outcome == Outcome::Ok && prev.done <= e.at;
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

pub(crate) fn retries(c: &RetriesCheck, entries: &[JournalEntry], w: Window) -> Judgement {
    let hits = in_scope(entries, c.route.as_deref(), w);
    let chains = chains(&hits, c.client_timeout);
    let retried: Vec<&Chain> = chains.iter().filter(|ch| ch.attempts.len() > 1).collect();
    let max_seen = chains.iter().map(|ch| ch.attempts.len()).max().unwrap_or(0);
    let min_gap = retried.iter().flat_map(|ch| ch.gaps.iter().copied()).min();
    let shrinking: Vec<&&Chain> =
        retried.iter().filter(|ch| ch.gaps.windows(2).any(|g| g[1].as_secs_f64() < g[0].as_secs_f64() * 0.9)).collect();
    let mut failures = Vec::new();
    let mut expected = Vec::new();
    if let Some(m) = c.max_attempts {
        expected.push(format!("at most {m} attempts per request"));
        if max_seen > m as usize {
            failures.push(format!("a request reached the mock {max_seen} times"));
        }
    }
    if let Some(cmp) = c.retried {
        expected.push(format!("retried requests {cmp}"));
        if !cmp.holds(retried.len() as f64) {
            failures.push(format!("{} requests were retried", retried.len()));
        }
    }
    if let Some(min) = c.min_backoff {
        expected.push(format!("every backoff >= {min:?}"));
        match min_gap {
            Some(g) if g < min => failures.push(format!("a retry came {:.0}ms after the failed attempt", g.as_secs_f64() * 1000.0)),
            None => failures.push("no measurable backoff (no retries seen)".into()),
            _ => {}
        }
    }
    if c.increasing {
        expected.push("backoff grows from retry to retry".into());
        let measurable = retried.iter().filter(|ch| ch.gaps.len() >= 2).count();
        if measurable == 0 {
            failures.push("no request retried twice, so growth cannot be shown".into());
        } else if !shrinking.is_empty() {
            failures.push(format!("{} of {measurable} requests had a shrinking backoff", shrinking.len()));
        }
    }
    let examples: Vec<serde_json::Value> = retried
        .iter()
        .take(5)
        .map(|ch| {
            json!({
                "request_id": ch.id,
                "attempts": ch.attempts.len(),
                "outcomes": ch.attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(),
                "backoff_ms": ch.gaps.iter().map(|g| (g.as_secs_f64() * 1000.0).round()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Judgement {
        pass: failures.is_empty(),
        expected: format!("mock `{}`: {}", c.mock, expected.join("; ")),
        observed: if failures.is_empty() {
            format!(
                "{} requests, {} retried, max {} attempts, min backoff {}",
                chains.len(),
                retried.len(),
                max_seen,
                min_gap.map_or("n/a".into(), |g| format!("{:.0}ms", g.as_secs_f64() * 1000.0))
            )
        } else {
            failures.join("; ")
        },
        evidence: json!({ "requests": chains.len(), "retried": retried.len(), "max_attempts": max_seen, "examples": examples }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::cmp::Comparison;

    fn e(id: &str, at: u64, done: u64, outcome: Outcome) -> JournalEntry {
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
        }
    }

    fn check() -> RetriesCheck {
        RetriesCheck {
            mock: "llm".into(),
            route: None,
            max_attempts: Some(3),
            retried: Some(Comparison::parse("> 0").unwrap()),
            min_backoff: Some(Duration::from_millis(40)),
            increasing: true,
            client_timeout: None,
        }
    }

    fn all() -> Window {
        Window::new(Duration::ZERO, Duration::from_secs(60))
    }

    #[test]
    fn exponential_backoff_passes() {
        let j = vec![e("a", 0, 5, Outcome::Error), e("a", 80, 85, Outcome::Error), e("a", 250, 255, Outcome::Ok)];
        let r = retries(&check(), &j, all());
        assert!(r.pass, "{}", r.observed);
    }

    #[test]
    fn immediate_retries_fail_min_backoff() {
        let j = vec![e("a", 0, 5, Outcome::Error), e("a", 6, 10, Outcome::Error), e("a", 11, 15, Outcome::Error)];
        let r = retries(&check(), &j, all());
        assert!(!r.pass);
        assert!(r.observed.contains("1ms after"), "{}", r.observed);
    }

    #[test]
    fn separate_calls_of_one_request_are_not_retries() {
        // planner call answered, then the worker's call for the same request id
        let j = vec![e("a", 0, 5, Outcome::Ok), e("a", 20, 25, Outcome::Ok)];
        let r = retries(&check(), &j, all());
        assert!(r.observed.contains("no request retried") || !r.pass);
        assert_eq!(r.evidence["retried"], 0);
        assert_eq!(r.evidence["max_attempts"], 1);
    }

    #[test]
    fn too_many_attempts_fail() {
        let j: Vec<_> = (0..4).map(|i| e("a", i * 100, i * 100 + 5, Outcome::Error)).collect();
        assert!(!retries(&check(), &j, all()).pass);
    }

    #[test]
    fn abandoned_attempts_use_the_client_timeout() {
        let mut c = check();
        c.client_timeout = Some(Duration::from_millis(500));
        // mock answers after 800ms, but the client gave up at 500ms and retried after backoff
        let j = [e("a", 0, 800, Outcome::Ok), e("a", 600, 1400, Outcome::Ok), e("a", 1300, 1310, Outcome::Ok)];
        let chains = chains(&j.iter().collect::<Vec<_>>(), c.client_timeout);
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].gaps, vec![Duration::from_millis(100), Duration::from_millis(200)]);
    }

    #[test]
    fn fail_fast_counts_rate_and_peak() {
        let c = FailFastCheck { mock: "llm".into(), route: None, max_rate: 1.0, max_per_second: Some(2) };
        let few = vec![e("a", 100, 101, Outcome::Error), e("b", 2100, 2101, Outcome::Error)];
        assert!(fail_fast(&c, &few, Window::new(Duration::ZERO, Duration::from_secs(4))).pass);
        let many: Vec<_> = (0..20).map(|i| e("x", i * 50, i * 50 + 1, Outcome::Error)).collect();
        let r = fail_fast(&c, &many, Window::new(Duration::ZERO, Duration::from_secs(4)));
        assert!(!r.pass, "{}", r.observed);
    }
}

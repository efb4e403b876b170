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

use crate::clock::Window;
use crate::expect::Recorded;
use crate::faults::{JournalEntry, RouteFilter};

pub fn in_scope<'a>(entries: &'a [JournalEntry], route: Option<&str>, w: Window) -> Vec<&'a JournalEntry> {
    let filter: Option<RouteFilter> = route.and_then(|r| r.parse().ok());
    entries.iter().filter(|e| w.contains(e.at) && filter.as_ref().is_none_or(|f| f.matches(&e.method, &e.path))).collect()
}

/// The journal of mock `name` (empty if it recorded nothing).
pub fn journal<'a>(rec: &'a Recorded, name: &str) -> &'a [JournalEntry] {
    rec.journals.get(name).map_or(&[][..], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::fail_fast::*;
    use super::retries::*;
    use crate::clock::Window;
    use crate::faults::{JournalEntry, Outcome};
    use crate::scenario::cmp::Comparison;
    use std::time::Duration;

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

//! `kind: retries` — attempts per request and the backoff between them,
//! measured at the mock (see the family's notes on retry chains).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{in_scope, journal};
use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::faults::{JournalEntry, Outcome};
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, cmp, route};

/// `kind: retries` — attempts and backoff, measured at the mock.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub mock: String,
    pub route: Option<String>,
    /// No request (grouped by X-Request-ID) reaches the mock more than this many times.
    pub max_attempts: Option<u32>,
    /// Number of requests that were retried, e.g. `"> 0"`.
    pub retried: Option<String>,
    /// Every gap between a failed attempt and the next is at least this.
    #[serde(default, with = "humantime_serde")]
    pub min_backoff: Option<Duration>,
    /// Gaps do not shrink from one retry to the next (exponential backoff).
    #[serde(default)]
    pub increasing: bool,
    /// The stack's client timeout for this dependency: lets the backoff after
    /// an attempt the client abandoned (e.g. a latency fault) be measured.
    #[serde(default, with = "humantime_serde")]
    pub client_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct RetriesCheck {
    pub mock: String,
    pub route: Option<String>,
    pub max_attempts: Option<u32>,
    pub retried: Option<Comparison>,
    pub min_backoff: Option<Duration>,
    pub increasing: bool,
    pub client_timeout: Option<Duration>,
}

impl Kind for RetriesCheck {
    const NAME: &'static str = "retries";
    type Raw = RawRetries;

    fn compile(cx: &mut Ctx, path: &str, r: RawRetries, names: &Names) -> Option<Self> {
        if !cx.durations(path, &[("min_backoff", r.min_backoff), ("client_timeout", r.client_timeout)], true) {
            return None;
        }
        names.mock(cx, &format!("{path}.mock"), &r.mock);
        route(cx, path, r.route.as_deref());
        let retried = r.retried.as_deref().and_then(|t| cmp(cx, &format!("{path}.retried"), t));
        if r.max_attempts.is_none() && r.retried.is_none() && r.min_backoff.is_none() && !r.increasing {
            cx.err(path, "no check given", Some("add max_attempts, retried, min_backoff or increasing".into()));
        }
        Some(RetriesCheck {
            mock: r.mock,
            route: r.route,
            max_attempts: r.max_attempts,
            retried,
            min_backoff: r.min_backoff,
            increasing: r.increasing,
            client_timeout: r.client_timeout,
        })
    }

    fn describe(&self) -> String {
        format!("retries at mock {}", self.mock)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        retries(self, journal(rec, &self.mock), w)
    }

    fn signals(&self) -> Signals {
        Signals::default().mock(&self.mock)
    }
}

pub struct Chain<'a> {
    pub id: &'a str,
    pub attempts: Vec<&'a JournalEntry>,
    pub gaps: Vec<Duration>,
}

pub fn chains<'a>(hits: &[&'a JournalEntry], client_timeout: Option<Duration>) -> Vec<Chain<'a>> {
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
    use super::super::fixtures::*;
    use super::*;

    use crate::faults::Outcome;

    use std::time::Duration;

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
}

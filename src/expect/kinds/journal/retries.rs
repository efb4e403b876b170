//! `kind: retries` — attempts per request and the backoff between them,
//! measured at the mock (see the family's notes on retry chains).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Chain, ChainKey, chains, in_scope, journal};
use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::faults::JournalEntry;
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, cmp, route};

/// `kind: retries` — attempts and backoff, measured at the mock.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub mock: Option<String>,
    /// Instead of `mock`: several mocks whose calls of one request form one
    /// chain (a retry may go to another deployment); `max_attempts` and the
    /// backoff then count across them.
    pub mocks: Option<Vec<String>>,
    pub route: Option<String>,
    /// No request (grouped by X-Request-ID) reaches the mock more than this many times.
    pub max_attempts: Option<u32>,
    /// Number of requests that were retried, e.g. `"> 0"`.
    pub retried: Option<String>,
    /// Every gap between a failed attempt and the next is at least this.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub min_backoff: Option<Duration>,
    /// Gaps do not shrink from one retry to the next (exponential backoff).
    #[serde(default)]
    pub increasing: bool,
    /// The backoff before a given retry varies from request to request
    /// (jitter), so clients that failed together do not retry together.
    #[serde(default)]
    pub jittered: bool,
    /// The stack's client timeout for this dependency: lets the backoff after
    /// an attempt the client abandoned (e.g. a latency fault) be measured.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub client_timeout: Option<Duration>,
    /// Answers that must end a request's calls, e.g. `[400]`: a call
    /// answered with one of these statuses is never followed by another
    /// attempt of the same request (a client error is not retried).
    #[serde(default)]
    pub not_retried: Vec<u16>,
    /// Pass when no call reached the mock in the window (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone)]
pub struct RetriesCheck {
    /// One mock, or several whose calls are chained together.
    pub mocks: Vec<String>,
    pub route: Option<String>,
    pub max_attempts: Option<u32>,
    pub retried: Option<Comparison>,
    pub min_backoff: Option<Duration>,
    pub increasing: bool,
    pub jittered: bool,
    pub client_timeout: Option<Duration>,
    pub not_retried: Vec<u16>,
    pub allow_empty: bool,
}

impl Kind for RetriesCheck {
    const NAME: &'static str = "retries";
    type Raw = RawRetries;

    fn compile(cx: &mut Ctx, path: &str, r: RawRetries, names: &Names) -> Option<Self> {
        if !cx.durations(path, &[("min_backoff", r.min_backoff), ("client_timeout", r.client_timeout)], true) {
            return None;
        }
        let mocks = match (r.mock, r.mocks) {
            (Some(m), None) => {
                names.mock(cx, &format!("{path}.mock"), &m);
                vec![m]
            }
            (None, Some(ms)) if !ms.is_empty() => {
                for (i, m) in ms.iter().enumerate() {
                    names.mock(cx, &format!("{path}.mocks[{i}]"), m);
                }
                ms
            }
            (m, _) => {
                let problem = if m.is_some() { "both `mock` and `mocks` given" } else { "no mock given" };
                cx.err(path, problem, Some("name one mock with `mock: llm`, or a chain of them with `mocks: [primary, secondary]`".into()));
                return None;
            }
        };
        route(cx, path, r.route.as_deref());
        let retried = r.retried.as_deref().and_then(|t| cmp(cx, &format!("{path}.retried"), t));
        if let Some(code) = r.not_retried.iter().find(|c| !(400..600).contains(*c)) {
            let hint = "a request answered 2xx or 3xx is done; list error statuses, e.g. `[400, 401]`";
            cx.err_value(&format!("{path}.not_retried"), format!("{code} is not an error status"), Some(hint.into()));
        }
        let no_check = r.max_attempts.is_none() && r.retried.is_none() && r.min_backoff.is_none() && !r.increasing && !r.jittered;
        if no_check && r.not_retried.is_empty() {
            cx.err(path, "no check given", Some("add max_attempts, retried, min_backoff, increasing, jittered or not_retried".into()));
        }
        Some(RetriesCheck {
            mocks,
            route: r.route,
            max_attempts: r.max_attempts,
            retried,
            min_backoff: r.min_backoff,
            increasing: r.increasing,
            jittered: r.jittered,
            client_timeout: r.client_timeout,
            not_retried: r.not_retried,
            allow_empty: r.allow_empty,
        })
    }

    fn describe(&self) -> String {
        format!("retries at {}", self.target().replace('`', ""))
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        match self.mocks.as_slice() {
            [one] => retries(self, journal(rec, one), w),
            many => {
                let joined: Vec<JournalEntry> = many.iter().flat_map(|m| journal(rec, m).iter().cloned()).collect();
                let mut segments = Vec::new();
                let mut start = 0;
                for m in many {
                    let end = start + journal(rec, m).len();
                    segments.push((joined[start..end].as_ptr_range(), m.as_str()));
                    start = end;
                }
                let mock_of = |e: &JournalEntry| segments.iter().find(|(r, _)| r.contains(&std::ptr::from_ref(e))).map(|(_, m)| *m);
                judge_chains(self, &joined, &mock_of, w)
            }
        }
    }

    fn signals(&self) -> Signals {
        self.mocks.iter().fold(Signals::default(), |s, m| s.mock(m))
    }
}

impl RetriesCheck {
    /// "mock `llm`" or "mocks `primary`, `secondary`", for messages.
    fn target(&self) -> String {
        let names: Vec<String> = self.mocks.iter().map(|m| format!("`{m}`")).collect();
        format!("mock{} {}", if names.len() > 1 { "s" } else { "" }, names.join(", "))
    }
}

/// Adds the `jittered: true` expectation and its failure, if any.
fn judge_jitter(spread: Option<(usize, f64, usize)>, expected: &mut Vec<String>, failures: &mut Vec<String>) {
    expected.push(format!("jittered backoff (the gaps before one retry spread by >= {MIN_SPREAD} of their median)"));
    match spread {
        None => failures.push(format!("fewer than {MIN_JITTER_SAMPLES} retries of any one number, so jitter cannot be shown")),
        Some((n, s, _)) if s < MIN_SPREAD => failures.push(format!(
            "no jitter: the gaps before retry {n} spread by {s:.2} of their median (clients that failed together retry together)"
        )),
        _ => {}
    }
}

/// The first five retried requests, for the report (with the mock of each
/// attempt when the chain spans several).
fn examples(retried: &[&Chain], mock_of: MockOf) -> Vec<serde_json::Value> {
    retried
        .iter()
        .take(5)
        .map(|ch| {
            let mocks: Option<Vec<&str>> = ch.attempts.iter().map(|a| mock_of(a)).collect();
            let mut example = json!({
                "request_id": ch.id,
                "attempts": ch.attempts.len(),
                "outcomes": ch.attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(),
                "backoff_ms": ch.gaps.iter().map(|g| (g.as_secs_f64() * 1000.0).round()).collect::<Vec<_>>(),
            });
            if let Some(m) = mocks {
                example["mocks"] = json!(m);
            }
            example
        })
        .collect()
}

/// `not_retried`: no request answered one of those statuses made another attempt.
fn judge_not_retried(c: &RetriesCheck, chains: &[Chain], expected: &mut Vec<String>, failures: &mut Vec<String>) {
    if c.not_retried.is_empty() {
        return;
    }
    let codes: Vec<String> = c.not_retried.iter().map(u16::to_string).collect();
    expected.push(format!("no retry after a {} answer", codes.join("/")));
    let ends = |a: &&JournalEntry| a.status.is_some_and(|s| c.not_retried.contains(&s));
    let against = chains.iter().filter(|ch| ch.attempts.iter().rev().skip(1).any(ends)).count();
    let answered = chains.iter().filter(|ch| ch.attempts.iter().any(ends)).count();
    if answered == 0 {
        failures.push(format!("no call was answered {} in the window, so this cannot be shown", codes.join("/")));
    } else if against > 0 {
        failures.push(format!("{against} of {answered} requests answered {} were retried", codes.join("/")));
    }
}

/// Which of the chained mocks a call reached (None for one mock).
type MockOf<'m> = &'m dyn Fn(&JournalEntry) -> Option<&'m str>;

pub(crate) fn retries(c: &RetriesCheck, entries: &[JournalEntry], w: Window) -> Judgement {
    judge_chains(c, entries, &|_| None, w)
}

fn judge_chains(c: &RetriesCheck, entries: &[JournalEntry], mock_of: MockOf, w: Window) -> Judgement {
    let hits = in_scope(entries, c.route.as_deref(), w);
    if hits.is_empty() && !c.allow_empty {
        let route = c.route.as_deref().map(|r| format!(" on {r}")).unwrap_or_default();
        return Judgement {
            pass: false,
            expected: format!("retries measured at {}", c.target()),
            observed: format!("no data in the window: no call reached {}{route} in it", c.target()),
            evidence: json!({ "calls_in_journal": entries.len(), "hint": "check that the stack calls this mock in the window, or set `allow_empty: true`" }),
        };
    }
    let chains = chains(&hits, ChainKey::RequestId, c.client_timeout);
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
    judge_not_retried(c, &chains, &mut expected, &mut failures);
    let spread = jitter_spread(&retried);
    if c.jittered {
        judge_jitter(spread, &mut expected, &mut failures);
    }
    let examples = examples(&retried, mock_of);
    Judgement {
        pass: failures.is_empty(),
        expected: format!("{}: {}", c.target(), expected.join("; ")),
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
        evidence: json!({
            "requests": chains.len(),
            "retried": retried.len(),
            "max_attempts": max_seen,
            "jitter": spread.map(|(n, s, k)| json!({ "retry": n, "spread": (s * 1000.0).round() / 1000.0, "gaps": k })),
            "examples": examples,
        }),
    }
}

/// The least spread a jittered backoff shows: equal jitter (x U(0.5, 1)) spreads
/// its p10..p90 by about half the median; a fixed backoff only by timer noise
/// (a few ms on a loaded machine).
const MIN_SPREAD: f64 = 0.2;
/// Gaps needed before the same retry number to judge jitter: with 8, a jittered
/// backoff shows less than `MIN_SPREAD` in 7 % of runs (simulated); with 20, in 0.01 %.
const MIN_JITTER_SAMPLES: usize = 20;

/// (retry number, (p90 - p10) / p50 of the gaps before it, gaps) for the retry
/// number with the most gaps; None when none has enough.
fn jitter_spread(retried: &[&Chain]) -> Option<(usize, f64, usize)> {
    let mut by_retry: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for ch in retried {
        for (i, g) in ch.gaps.iter().enumerate() {
            by_retry.entry(i + 1).or_default().push(g.as_secs_f64());
        }
    }
    let (n, mut gaps) =
        by_retry.into_iter().filter(|(_, g)| g.len() >= MIN_JITTER_SAMPLES).max_by_key(|(n, g)| (g.len(), std::cmp::Reverse(*n)))?;
    gaps.sort_by(f64::total_cmp);
    let q = |p: f64| gaps[((gaps.len() - 1) as f64 * p).round() as usize];
    let median = q(0.5).max(1e-6);
    Some((n, (q(0.9) - q(0.1)) / median, gaps.len()))
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
        let chains = chains(&j.iter().collect::<Vec<_>>(), ChainKey::RequestId, c.client_timeout);
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].gaps, vec![Duration::from_millis(100), Duration::from_millis(200)]);
    }

    #[test]
    fn fixed_backoff_is_not_jitter() {
        let c = RetriesCheck { jittered: true, increasing: false, min_backoff: None, ..check() };
        let chain = |i: u64, gap: u64| {
            [
                e(&format!("r{i}"), i * 1000, i * 1000 + 5, Outcome::Error),
                e(&format!("r{i}"), i * 1000 + 5 + gap, i * 1000 + gap + 10, Outcome::Ok),
            ]
        };
        // 24 requests retried after the same 100 ms (+ up to 2 ms of timer noise), then after jittered gaps (50..96 ms).
        let fixed: Vec<_> = (0..24u64).flat_map(|i| chain(i, 100 + i % 3)).collect();
        let r = retries(&c, &fixed, all());
        assert!(!r.pass && r.observed.starts_with("no jitter: the gaps before retry 1 spread by"), "{}", r.observed);
        let jittered: Vec<_> = (0..24u64).flat_map(|i| chain(i, 50 + i * 2)).collect();
        let r = retries(&c, &jittered, all());
        assert!(r.pass, "{} {}", r.observed, r.evidence);
        assert_eq!(r.evidence["jitter"]["gaps"], 24);
        let few = &jittered[..2 * 19];
        assert!(retries(&c, few, all()).observed.contains("cannot be shown"), "19 retries are too few");
    }

    #[test]
    fn a_retried_client_error_fails_not_retried() {
        let c = RetriesCheck { not_retried: vec![400], retried: None, min_backoff: None, increasing: false, ..check() };
        let bad = |id: &str, at: u64| {
            let mut x = e(id, at, at + 5, Outcome::Error);
            x.status = Some(400);
            x
        };
        let kept = [bad("a", 0), e("b", 0, 5, Outcome::Error), e("b", 100, 105, Outcome::Ok)];
        let j = retries(&c, &kept, all());
        assert!(j.pass, "a 503 may be retried, a 400 was not: {}", j.observed);
        let retried = [bad("a", 0), bad("a", 100), e("a", 300, 305, Outcome::Ok)];
        let j = retries(&c, &retried, all());
        assert!(!j.pass && j.observed.contains("1 of 1 requests answered 400 were retried"), "{}", j.observed);
        let j = retries(&c, &[e("b", 0, 5, Outcome::Ok)], all());
        assert!(!j.pass && j.observed.contains("no call was answered 400"), "{}", j.observed);
    }

    #[test]
    fn no_call_in_the_window_is_no_data() {
        let bounded = RetriesCheck { retried: None, min_backoff: None, increasing: false, ..check() };
        let j = retries(&bounded, &[], all());
        assert!(!j.pass && j.observed == "no data in the window: no call reached mock `llm` in it", "{}", j.observed);
        assert!(retries(&RetriesCheck { allow_empty: true, ..bounded }, &[], all()).pass);
    }
}

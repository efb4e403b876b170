//! `kind: fallback` — a request that failed on one mock is answered by
//! another. The calls of one load request that reached either mock are one
//! chain (grouped by X-Request-ID or trace id, see the family's notes), so
//! "failed on A, then B answered" is judged per request: whether B answered
//! it, how many attempts A got first and how long the switch took.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Chain, ChainKey, chains, in_scope, journal, succeeded, taken};
use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::faults::JournalEntry;
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, cmp, route};

/// `kind: fallback` — requests that failed on `from` are answered by `to`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFallback {
    /// The mock that fails (the primary deployment).
    pub from: String,
    /// The mock that should answer instead (the fallback deployment).
    pub to: String,
    /// Only calls matching `METHOD /path`, on both mocks.
    pub route: Option<String>,
    /// Share of the requests that failed on `from` (and were not answered by
    /// it on a retry) that `to` then answered (default `">= 0.99"`).
    pub ratio: Option<String>,
    /// At most this many attempts on `from` before the first call to `to`.
    pub max_attempts: Option<u32>,
    /// The call to `to` begins within this of the end of the failed attempt
    /// before it (of its start, when the stack gave up on it still running).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub within: Option<Duration>,
    /// How the calls of one request are recognised: `request_id` (the
    /// X-Request-ID header, default) or `trace_id` (W3C traceparent).
    #[serde(default)]
    pub by: ChainKey,
}

#[derive(Debug, Clone)]
pub struct FallbackCheck {
    pub from: String,
    pub to: String,
    pub route: Option<String>,
    pub ratio: Comparison,
    pub max_attempts: Option<u32>,
    pub within: Option<Duration>,
    pub by: ChainKey,
}

impl Kind for FallbackCheck {
    const NAME: &'static str = "fallback";
    type Raw = RawFallback;

    fn compile(cx: &mut Ctx, path: &str, r: RawFallback, names: &Names) -> Option<Self> {
        names.mock(cx, &format!("{path}.from"), &r.from);
        names.mock(cx, &format!("{path}.to"), &r.to);
        if r.from == r.to {
            cx.err_value(&format!("{path}.to"), "`to` is the mock `from` names", Some("name the mock the stack falls back to".into()));
        }
        route(cx, path, r.route.as_deref());
        if !cx.durations(path, &[("within", r.within)], false) || r.max_attempts == Some(0) {
            if r.max_attempts == Some(0) {
                cx.err_value(
                    &format!("{path}.max_attempts"),
                    "0 attempts on `from` means it failed without being called",
                    Some("write 1 or more".into()),
                );
            }
            return None;
        }
        let ratio = cmp(cx, &format!("{path}.ratio"), r.ratio.as_deref().unwrap_or(">= 0.99"))?;
        Some(FallbackCheck { from: r.from, to: r.to, route: r.route, ratio, max_attempts: r.max_attempts, within: r.within, by: r.by })
    }

    fn describe(&self) -> String {
        format!("fallback from mock {} to mock {}", self.from, self.to)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        fallback(self, journal(rec, &self.from), journal(rec, &self.to), w)
    }

    fn signals(&self) -> Signals {
        Signals::default().mock(&self.from).mock(&self.to)
    }
}

/// What became of one request that failed on `from`.
struct Fate<'a> {
    chain: &'a Chain<'a>,
    /// Attempts on `from` before the first call to `to` (all of them when none).
    from_attempts: usize,
    /// From the end of the failed attempt before it to the call to `to` that answered.
    switch: Option<Duration>,
    /// `from` answered it on a retry: no fallback was needed.
    recovered: bool,
}

fn fate<'a>(chain: &'a Chain<'a>, is_from: &dyn Fn(&JournalEntry) -> bool, w: Window) -> Option<Fate<'a>> {
    let a = &chain.attempts;
    let first = a.iter().position(|x| is_from(x) && w.contains(x.at) && !succeeded(x))?;
    let to_call = a[first..].iter().position(|x| !is_from(x)).map(|i| first + i);
    let from_attempts = a[..to_call.unwrap_or(a.len())].iter().filter(|x| is_from(x)).count();
    let answered = (first..a.len()).find(|&i| !is_from(a[i]) && taken(a, i));
    let switch = answered.map(|i| {
        let before = a[..i].iter().rev().find(|x| is_from(x)).expect("the chain begins on `from`");
        // An attempt still running when the switch began was given up on: from its start.
        let since = if before.done <= a[i].at { before.done } else { before.at };
        a[i].at.saturating_sub(since)
    });
    let recovered = switch.is_none() && (first..a.len()).any(|i| is_from(a[i]) && taken(a, i));
    Some(Fate { chain, from_attempts, switch, recovered })
}

fn example(ch: &Chain, is_from: &dyn Fn(&JournalEntry) -> bool, names: (&str, &str)) -> serde_json::Value {
    let steps: Vec<String> = ch
        .attempts
        .iter()
        .map(|a| {
            let status = a.status.map_or("no answer".into(), |s| s.to_string());
            format!("{} {status} at {:.0}ms", if is_from(a) { names.0 } else { names.1 }, a.at.as_secs_f64() * 1000.0)
        })
        .collect();
    json!({ "request": ch.id, "calls": steps })
}

/// No request that failed on `from` can be followed: none failed in the
/// window, or none carried the key.
fn unexercised(c: &FallbackCheck, failed_in_window: usize, expected: String) -> Judgement {
    let observed = if failed_in_window == 0 {
        format!("no data in the window: no call to mock `{}` failed in it, so the fallback was never exercised", c.from)
    } else {
        format!("{failed_in_window} calls to mock `{}` failed in the window, none with a {} header to follow", c.from, c.by.header())
    };
    let hint = if failed_in_window == 0 {
        "put the window on the phase where the fault fails `from`"
    } else {
        "have the stack forward the header to its upstreams, or choose the other key with `by`"
    };
    Judgement { pass: false, expected, observed, evidence: json!({ "failed_calls": failed_in_window, "hint": hint }) }
}

pub(crate) fn fallback(c: &FallbackCheck, from: &[JournalEntry], to: &[JournalEntry], w: Window) -> Judgement {
    // Every call on the route, whenever it came: a fallback call may follow the window's end.
    let ever = Window::new(Duration::ZERO, Duration::MAX);
    let from_range = from.as_ptr_range();
    let is_from = move |e: &JournalEntry| from_range.contains(&std::ptr::from_ref(e));
    let calls: Vec<&JournalEntry> = [from, to].iter().flat_map(|j| in_scope(j, c.route.as_deref(), ever)).collect();
    let failed_in_window = calls.iter().filter(|e| is_from(e) && w.contains(e.at) && !succeeded(e)).count();
    let unkeyed = calls.iter().filter(|e| is_from(e) && w.contains(e.at) && c.by.of(e).is_none()).count();
    let unkeyed_to = calls.iter().filter(|e| !is_from(e) && w.contains(e.at) && c.by.of(e).is_none()).count();
    let all = chains(&calls, c.by, None);
    let fates: Vec<Fate> = all.iter().filter_map(|ch| fate(ch, &is_from, w)).collect();
    let expected = format!("requests that failed on mock `{}` answered by mock `{}`: ratio {}", c.from, c.to, c.ratio);
    if fates.is_empty() {
        return unexercised(c, failed_in_window, expected);
    }
    let recovered = fates.iter().filter(|f| f.recovered).count();
    let needing: Vec<&Fate> = fates.iter().filter(|f| !f.recovered).collect();
    let fell_back = needing.iter().filter(|f| f.switch.is_some()).count();
    let ratio = if needing.is_empty() { 1.0 } else { fell_back as f64 / needing.len() as f64 };
    let most_from = fates.iter().map(|f| f.from_attempts).max().unwrap_or(0);
    let slowest = needing.iter().filter_map(|f| f.switch).max();
    let mut failures = Vec::new();
    let mut expectations = vec![expected];
    if needing.is_empty() {
        failures
            .push(format!("every request that failed on mock `{}` was answered by it on a retry: the fallback was never needed", c.from));
    } else if !c.ratio.holds(ratio) {
        let blind = match unkeyed_to {
            0 => String::new(),
            n => format!("; {n} calls to `{}` carry no {} header and cannot be followed", c.to, c.by.header()),
        };
        failures.push(format!(
            "mock `{}` answered {fell_back} of {} requests that failed on mock `{}` (ratio {ratio:.3}){blind}",
            c.to,
            needing.len(),
            c.from
        ));
    }
    if let Some(m) = c.max_attempts {
        expectations.push(format!("at most {m} attempts on `{}` first", c.from));
        if most_from > m as usize {
            failures.push(format!("a request made {most_from} attempts on mock `{}` before falling back", c.from));
        }
    }
    if let Some(within) = c.within {
        expectations.push(format!("the switch within {within:?}"));
        if let Some(s) = slowest.filter(|s| *s > within) {
            failures.push(format!("a request reached mock `{}` {:.0}ms after its failed attempt", c.to, s.as_secs_f64() * 1000.0));
        }
    }
    let names = (c.from.as_str(), c.to.as_str());
    let stranded: Vec<serde_json::Value> =
        needing.iter().filter(|f| f.switch.is_none()).take(5).map(|f| example(f.chain, &is_from, names)).collect();
    let answered: Vec<serde_json::Value> =
        needing.iter().filter(|f| f.switch.is_some()).take(3).map(|f| example(f.chain, &is_from, names)).collect();
    let summary = format!(
        "{} requests failed on `{}`: {fell_back} answered by `{}`, {recovered} by `{}` on a retry; at most {most_from} attempts on `{}` first",
        fates.len(),
        c.from,
        c.to,
        c.from,
        c.from
    );
    Judgement {
        pass: failures.is_empty(),
        expected: expectations.join("; "),
        observed: if failures.is_empty() { summary } else { failures.join("; ") },
        evidence: json!({
            "failed_on_from": fates.len(),
            "answered_by_to": fell_back,
            "answered_by_from_on_retry": recovered,
            "max_attempts_on_from": most_from,
            "slowest_switch_ms": slowest.map(|s| (s.as_secs_f64() * 1000.0).round()),
            "calls_without_key": unkeyed,
            "calls_to_without_key": unkeyed_to,
            "not_answered": stranded,
            "examples": answered,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::faults::Outcome;

    fn check() -> FallbackCheck {
        FallbackCheck {
            from: "primary".into(),
            to: "secondary".into(),
            route: None,
            ratio: Comparison::parse(">= 0.99").unwrap(),
            max_attempts: Some(2),
            within: Some(Duration::from_millis(500)),
            by: ChainKey::RequestId,
        }
    }

    #[test]
    fn failed_on_a_then_answered_by_b_passes() {
        let a: Vec<_> = (0..5).map(|i| e(&format!("r{i}"), i * 100, i * 100 + 5, Outcome::Error)).collect();
        let b: Vec<_> = (0..5).map(|i| e(&format!("r{i}"), i * 100 + 20, i * 100 + 30, Outcome::Ok)).collect();
        let j = fallback(&check(), &a, &b, all());
        assert!(j.pass, "{} {}", j.observed, j.evidence);
        assert_eq!(j.evidence["answered_by_to"], 5);
        assert_eq!(j.evidence["examples"][0]["calls"][0], "primary 503 at 0ms");
        assert_eq!(j.evidence["slowest_switch_ms"], 15.0);
    }

    #[test]
    fn retrying_a_only_fails_with_the_stranded_chains() {
        let a: Vec<_> = (0..4)
            .flat_map(|i| (0..3).map(move |k| e(&format!("r{i}"), i * 1000 + k * 100, i * 1000 + k * 100 + 5, Outcome::Error)))
            .collect();
        let j = fallback(&check(), &a, &[], all());
        assert!(!j.pass);
        assert!(j.observed.contains("answered 0 of 4 requests that failed on mock `primary`"), "{}", j.observed);
        assert!(j.observed.contains("a request made 3 attempts on mock `primary` before falling back"), "{}", j.observed);
        assert_eq!(j.evidence["not_answered"][0]["calls"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_slow_switch_and_a_failing_fallback_fail() {
        let a = [e("r", 0, 5, Outcome::Error)];
        let late = fallback(&check(), &a, &[e("r", 900, 905, Outcome::Ok)], all());
        assert!(!late.pass && late.observed.contains("895ms after"), "{}", late.observed);
        let failing = fallback(&check(), &a, &[e("r", 20, 25, Outcome::Error)], all());
        assert!(!failing.pass && failing.observed.contains("answered 0 of 1"), "{}", failing.observed);
    }

    #[test]
    fn an_abandoned_answer_is_no_answer_and_a_switch_after_a_hang_counts_from_its_start() {
        // 503 on A, a slow 200 on A the client gave up on (B began before it ended), then B failed: lost.
        let a = [e("r", 0, 5, Outcome::Error), e("r", 50, 2000, Outcome::Ok)];
        let j = fallback(&check(), &a, &[e("r", 1050, 1060, Outcome::Error)], all());
        assert!(!j.pass && j.observed.contains("answered 0 of 1"), "{} {}", j.observed, j.evidence);
        // A hang on A (it ends at 30 s), the client gives up and calls B at 1 s: the switch took 1 s.
        let hang = [e("h", 0, 30_000, Outcome::Hang)];
        let j = fallback(&check(), &hang, &[e("h", 1000, 1010, Outcome::Ok)], all());
        assert!(!j.pass && j.observed.contains("1000ms after its failed attempt"), "{}", j.observed);
        // A route that answers 500 without a fault is a failure too, and B's answer ends the chain.
        let mut plain = e("p", 0, 5, Outcome::Ok);
        plain.status = Some(500);
        assert!(fallback(&check(), &[plain], &[e("p", 20, 25, Outcome::Ok)], all()).pass);
    }

    #[test]
    fn no_failure_on_a_is_no_data_and_unkeyed_calls_are_named() {
        let ok = [e("r", 0, 5, Outcome::Ok)];
        let j = fallback(&check(), &ok, &[], all());
        assert!(!j.pass && j.observed.starts_with("no data in the window"), "{}", j.observed);
        let mut bare = e("r", 0, 5, Outcome::Error);
        bare.request_id = None;
        let j = fallback(&check(), &[bare], &[], all());
        assert!(!j.pass && j.observed.contains("none with a X-Request-ID header"), "{}", j.observed);
    }

    #[test]
    fn a_retry_answered_by_a_needs_no_fallback_and_trace_ids_join_chains() {
        let a = [e("r1", 0, 5, Outcome::Error), e("r1", 50, 55, Outcome::Ok), e("r2", 0, 5, Outcome::Error)];
        let b = [e("r2", 30, 40, Outcome::Ok)];
        let j = fallback(&check(), &a, &b, all());
        assert!(j.pass, "{}", j.observed);
        assert_eq!((j.evidence["answered_by_from_on_retry"].as_u64(), j.evidence["answered_by_to"].as_u64()), (Some(1), Some(1)));
        let traced = |mut x: JournalEntry, t: &str| {
            x.request_id = None;
            x.traceparent = Some(format!("00-{t}-00f067aa0ba902b7-01"));
            x
        };
        let a = [traced(e("", 0, 5, Outcome::Error), "4bf92f3577b34da6a3ce929d0e0e4736")];
        let b = [traced(e("", 10, 15, Outcome::Ok), "4bf92f3577b34da6a3ce929d0e0e4736")];
        let j = fallback(&FallbackCheck { by: ChainKey::TraceId, ..check() }, &a, &b, all());
        assert!(j.pass, "{}", j.observed);
    }

    #[test]
    fn mistakes_are_refused_at_compile() {
        let doc = r#"
name: fb
stack:
  services:
    gw: { command: gw }
mocks:
  a: { kind: openai }
  b: { kind: openai }
timeline:
  phases: [{ name: outage, duration: 2s }]
expect:
  - { kind: fallback, from: a, to: a }
  - { kind: fallback, from: a, to: nope, max_attempts: 0 }
  - { kind: fallback, from: a, to: b, ratio: "most", by: span_id }
  - { kind: retries, mock: a, mocks: [a, b], max_attempts: 2 }
  - { kind: retries, mocks: [a, nope], max_attempts: 2 }
"#;
        let errs = crate::plan::compile(doc, std::path::Path::new("s.yaml")).unwrap_err().0;
        let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            got,
            vec!["expect[0].to", "expect[1].to", "expect[1].max_attempts", "expect[2].by", "expect[3]", "expect[4].mocks[1]"],
            "{errs:#?}"
        );
        let ok = doc.replace("to: a }", "to: b }");
        let ok = &ok[..ok.find("  - { kind: fallback, from: a, to: nope").unwrap()];
        let plan = crate::plan::compile(ok, std::path::Path::new("s.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.expectations[0].kind(), "fallback");
    }
}

//! `kind: breaker` — the circuit breaker's state sequence and its timing,
//! on the timeline the family reconstructs (see `super`).
//! A half-open that lasts one trial call is seen only through a transitions
//! counter or the service's own events; the timing checks allow for the
//! scrape interval a gauge-seen change lies within.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Change, RawTransitions, Source, TransitionsSpec, check_metrics, events, timeline};
use crate::clock::Window;
use crate::collectors::store::LabelMatcher;
use crate::expect::kind::{Kind, Signals};
use crate::expect::series::describe;
use crate::expect::{Judgement, Recorded, secs};
use crate::scenario::{Ctx, Names, Scalar, WindowExpr, matchers, parse_window};

/// `kind: breaker` — circuit-breaker states and their timing.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub service: String,
    /// Gauge holding the state.
    pub gauge: String,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// Gauge value of each state (default closed: 0, open: 1, half_open: 2).
    pub states: Option<BTreeMap<String, f64>>,
    /// Optional transitions counter (labels `from`/`to` hold state names),
    /// which catches states shorter than a scrape interval.
    pub transitions: Option<RawTransitions>,
    /// State changes the service reports in its logs or spans (see `events`),
    /// which see a half-open of one trial call.
    pub events: Option<events::RawEvents>,
    /// Window during which the dependency is failing, e.g. `outage`.
    pub fault: String,
    /// Expected order of states (default closed, open, half_open, closed).
    pub sequence: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub opens_within: Option<Duration>,
    /// The breaker's reset timeout: first half_open this long after opening.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub half_open_after: Option<Duration>,
    /// Closed again within this long of the fault's end.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub closes_within: Option<Duration>,
    /// Timing tolerance (default two scrape intervals).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub tolerance: Option<Duration>,
    /// No flapping: at most this many transitions in the window.
    pub max_transitions: Option<u32>,
    /// A window with no gauge sample passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone)]
pub struct BreakerCheck {
    pub service: String,
    pub gauge: String,
    pub matchers: Vec<LabelMatcher>,
    /// State name -> gauge value.
    pub states: Vec<(String, f64)>,
    pub transitions: Option<TransitionsSpec>,
    pub events: Option<events::Events>,
    pub fault: WindowExpr,
    pub sequence: Vec<String>,
    pub opens_within: Option<Duration>,
    pub half_open_after: Option<Duration>,
    pub closes_within: Option<Duration>,
    pub tolerance: Duration,
    pub max_transitions: Option<u32>,
    pub allow_empty: bool,
}

impl BreakerCheck {
    fn source(&self) -> Source<'_> {
        Source {
            noun: "breaker",
            service: &self.service,
            gauge: Some(&self.gauge),
            matchers: &self.matchers,
            states: &self.states,
            transitions: self.transitions.as_ref(),
            events: self.events.as_ref(),
            initial: None,
            allow_empty: self.allow_empty,
        }
    }
}

impl Kind for BreakerCheck {
    const NAME: &'static str = "breaker";
    type Raw = RawBreaker;

    fn compile(cx: &mut Ctx, path: &str, r: RawBreaker, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("breaker {} on {}", self.gauge, self.service)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        judge(self, rec, w)
    }

    fn signals(&self) -> Signals {
        let s = Signals::default().service(Some(&self.service)).metric(describe(None, &self.gauge, &self.matchers));
        match &self.transitions {
            Some(t) => s.metric(t.metric.clone()),
            None => s,
        }
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawBreaker, names: &Names) -> Option<BreakerCheck> {
    names.service(cx, &format!("{path}.service"), &r.service);
    check_metrics(cx, path, &r.gauge, &r.labels, r.transitions.as_ref());
    let times = [
        ("opens_within", r.opens_within),
        ("half_open_after", r.half_open_after),
        ("closes_within", r.closes_within),
        ("tolerance", r.tolerance),
    ];
    if !cx.durations(path, &times, true) {
        return None;
    }
    let fault = parse_window(cx, &format!("{path}.fault"), &r.fault, names.phases, false);
    let states: Vec<(String, f64)> = match r.states {
        Some(s) => s.into_iter().collect(),
        None => vec![("closed".into(), 0.0), ("open".into(), 1.0), ("half_open".into(), 2.0)],
    };
    let sequence = r.sequence.unwrap_or_else(|| ["closed", "open", "half_open", "closed"].map(String::from).to_vec());
    for (i, s) in sequence.iter().enumerate() {
        if !states.iter().any(|(n, _)| n == s) {
            let known: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
            cx.err_value(
                &format!("{path}.sequence[{i}]"),
                format!("state `{s}` is not in `states`"),
                Some(format!("states are: {}", known.join(", "))),
            );
        }
    }
    for needed in ["closed", "open"] {
        if !states.iter().any(|(n, _)| n == needed) {
            cx.err(
                &format!("{path}.states"),
                format!("`states` must map `{needed}`"),
                Some("e.g. `states: { closed: 0, open: 1, half_open: 2 }`".into()),
            );
        }
    }
    let interval = names.stack.map_or(Duration::from_millis(250), |s| s.scrape_interval);
    Some(BreakerCheck {
        service: r.service,
        gauge: r.gauge,
        matchers: matchers(&r.labels),
        states,
        transitions: r.transitions.map(|t| TransitionsSpec { metric: t.metric, from_label: t.from_label, to_label: t.to_label }),
        events: match r.events {
            Some(e) => Some(events::compile(cx, &format!("{path}.events"), e)?),
            None => None,
        },
        fault: fault?,
        sequence,
        opens_within: r.opens_within,
        half_open_after: r.half_open_after,
        closes_within: r.closes_within,
        tolerance: r.tolerance.unwrap_or(interval.saturating_mul(2)),
        max_transitions: r.max_transitions,
        allow_empty: r.allow_empty,
    })
}

fn is_subsequence(want: &[String], have: &[String]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

/// The timing and sequence checks, on an already reconstructed timeline.
pub(crate) fn check(
    c: &BreakerCheck,
    initial: &str,
    changes: &[Change],
    w: Window,
    fault: Window,
    origin: Duration,
) -> (Vec<String>, Vec<String>) {
    let tol = c.tolerance;
    let mut state = initial.to_string();
    for ch in changes.iter().filter(|ch| ch.hi <= w.start) {
        state = ch.to.clone();
    }
    let inw: Vec<&Change> = changes.iter().filter(|ch| ch.hi > w.start && ch.hi <= w.end).collect();
    let mut seq = vec![state];
    seq.extend(inw.iter().map(|ch| ch.to.clone()));
    let mut expected = vec![format!("sequence {}", c.sequence.join(" -> "))];
    let mut failures = Vec::new();
    if !is_subsequence(&c.sequence, &seq) || seq.last() != c.sequence.last() {
        failures.push(format!("observed sequence {}", seq.join(" -> ")));
    }
    let first_open = inw.iter().find(|ch| ch.to == "open" && ch.hi + tol > fault.start);
    if let Some(x) = c.opens_within {
        expected.push(format!("opens within {x:?} of the fault start"));
        match first_open {
            None => failures.push("never opened".into()),
            Some(o) if o.hi.saturating_sub(fault.start) > x + tol => failures.push(format!(
                "opened {:.2}s after the fault started (by {})",
                (o.hi - fault.start).as_secs_f64(),
                secs(o.hi, origin)
            )),
            _ => {}
        }
    }
    if let Some(r) = c.half_open_after {
        expected.push(format!("half-opens {r:?} (±{tol:?}) after opening"));
        let ho = first_open.and_then(|o| inw.iter().find(|ch| ch.to == "half_open" && ch.hi > o.hi).map(|h| (o, h)));
        match ho {
            None => failures.push("never half-opened after opening".into()),
            Some((o, h)) => {
                let (min, max) = (h.lo.saturating_sub(o.hi), h.hi.saturating_sub(o.lo));
                if max + tol < r || min > r + tol {
                    failures.push(format!("half-opened {:.2}s..{:.2}s after opening", min.as_secs_f64(), max.as_secs_f64()));
                }
            }
        }
    }
    if let Some(y) = c.closes_within {
        expected.push(format!("closes within {y:?} of the fault end"));
        let mut at_end = seq[0].clone();
        for ch in inw.iter().filter(|ch| ch.hi <= fault.end) {
            at_end = ch.to.clone();
        }
        let closed = inw.iter().find(|ch| ch.to == "closed" && ch.hi > fault.end);
        match (at_end == "closed", closed) {
            (true, _) => {}
            (false, None) => {
                failures.push(format!("still not closed {:.1}s after the fault ended", w.end.saturating_sub(fault.end).as_secs_f64()))
            }
            (false, Some(cl)) if cl.hi - fault.end > y + tol => {
                failures.push(format!("closed {:.2}s after the fault ended", (cl.hi - fault.end).as_secs_f64()))
            }
            _ => {}
        }
    }
    if let Some(m) = c.max_transitions {
        expected.push(format!("at most {m} transitions"));
        if inw.len() > m as usize {
            failures.push(format!("{} transitions (flapping)", inw.len()));
        }
    }
    (expected, failures)
}

pub(crate) fn judge(c: &BreakerCheck, rec: &Recorded, w: Window) -> Judgement {
    let what = describe(Some(&c.service), &c.gauge, &c.matchers);
    let t = match timeline(&c.source(), rec, w) {
        Ok(t) => t,
        Err(j) => return j,
    };
    let fault = rec.window(&c.fault);
    let (expected, failures) = check(c, &t.initial, &t.changes, w, fault, rec.origin);
    let lines = t.lines(w, rec.origin);
    Judgement {
        pass: failures.is_empty(),
        expected: format!("{what}: {}", expected.join("; ")),
        observed: if failures.is_empty() { format!("{} transitions as expected", lines.len()) } else { failures.join("; ") },
        evidence: json!({ "source": t.source, "fault": { "start": secs(fault.start, rec.origin), "end": secs(fault.end, rec.origin) }, "transitions": lines }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{from_gauge, from_transitions};
    use super::*;
    use crate::scenario::WindowExpr;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn states() -> Vec<(String, f64)> {
        vec![("closed".into(), 0.0), ("open".into(), 1.0), ("half_open".into(), 2.0)]
    }

    fn spec() -> BreakerCheck {
        BreakerCheck {
            service: "c".into(),
            gauge: "g".into(),
            matchers: vec![],
            states: states(),
            transitions: None,
            events: None,
            fault: WindowExpr::whole(),
            sequence: ["closed", "open", "half_open", "closed"].map(String::from).to_vec(),
            opens_within: Some(ms(2000)),
            half_open_after: Some(ms(2000)),
            closes_within: Some(ms(3000)),
            tolerance: ms(500),
            max_transitions: Some(10),
            allow_empty: false,
        }
    }

    /// Gauge every 250 ms: closed until 5.2 s, open, half-open 7.2..7.3 s (missed
    /// by the gauge), open again, half-open at 9.3 s, closed at 11.1 s.
    fn gauge(half_open_visible: bool) -> Vec<(Duration, f64)> {
        (0..80u64)
            .map(|i| {
                let t = i * 250;
                let v = match t {
                    t if t < 5250 => 0.0,
                    t if t < 9250 => 1.0,
                    t if t < 11250 && half_open_visible => 2.0,
                    t if t < 11250 => 1.0,
                    _ => 0.0,
                };
                (ms(t), v)
            })
            .collect()
    }

    #[test]
    fn healthy_breaker_from_transitions_counter() {
        let scrapes: Vec<Duration> = (0..80u64).map(|i| ms(i * 250)).collect();
        let counter = |pts: &[(u64, f64)]| pts.iter().map(|&(t, v)| (ms(t), v)).collect::<Vec<_>>();
        let ts = vec![
            ("closed".to_string(), "open".to_string(), counter(&[(5250, 1.0), (19750, 1.0)])),
            ("open".into(), "half_open".into(), counter(&[(7250, 1.0), (9500, 2.0), (19750, 2.0)])),
            ("half_open".into(), "open".into(), counter(&[(7500, 1.0), (19750, 1.0)])),
            ("half_open".into(), "closed".into(), counter(&[(11250, 1.0), (19750, 1.0)])),
        ];
        let changes = from_transitions(&ts, &scrapes, "closed");
        let seq: Vec<&str> = changes.iter().map(|c| c.to.as_str()).collect();
        assert_eq!(seq, ["open", "half_open", "open", "half_open", "closed"]);
        let fault = Window::new(ms(5000), ms(10000));
        let (_, failures) = check(&spec(), "closed", &changes, Window::new(ms(0), ms(20000)), fault, Duration::ZERO);
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn gauge_only_sees_long_states() {
        let changes = from_gauge(&gauge(true), &states());
        let seq: Vec<&str> = changes.iter().map(|c| c.to.as_str()).collect();
        assert_eq!(seq, ["open", "half_open", "closed"]);
        assert_eq!((changes[0].lo, changes[0].hi), (ms(5000), ms(5250)));
    }

    #[test]
    fn never_opening_breaker_fails() {
        let flat: Vec<(Duration, f64)> = (0..80u64).map(|i| (ms(i * 250), 0.0)).collect();
        let changes = from_gauge(&flat, &states());
        let (_, failures) =
            check(&spec(), "closed", &changes, Window::new(ms(0), ms(20000)), Window::new(ms(5000), ms(10000)), Duration::ZERO);
        assert!(failures.iter().any(|f| f == "never opened"), "{failures:?}");
        assert!(failures.iter().any(|f| f.starts_with("observed sequence closed")), "{failures:?}");
    }

    #[test]
    fn breaker_that_never_closes_fails() {
        let stuck: Vec<(Duration, f64)> = gauge(true).into_iter().map(|(t, v)| (t, if t >= ms(5250) { 1.0 } else { v })).collect();
        let changes = from_gauge(&stuck, &states());
        let (_, failures) =
            check(&spec(), "closed", &changes, Window::new(ms(0), ms(20000)), Window::new(ms(5000), ms(10000)), Duration::ZERO);
        assert!(failures.iter().any(|f| f.contains("still not closed")), "{failures:?}");
    }

    #[test]
    fn late_half_open_fails_timing() {
        let c = spec();
        let changes = from_gauge(&gauge(true), &states());
        let (_, failures) = check(&c, "closed", &changes, Window::new(ms(0), ms(20000)), Window::new(ms(5000), ms(10000)), Duration::ZERO);
        assert!(failures.iter().any(|f| f.starts_with("half-opened")), "{failures:?}");
    }

    #[test]
    fn a_window_without_gauge_samples_is_no_data() {
        use crate::collectors::exposition::{Format, parse};
        let mut rec = crate::expect::vacuous::nothing(Vec::new());
        rec.origin = Duration::ZERO;
        for i in 0..8u64 {
            rec.metrics.record("c", ms(i * 250), parse("g 0\n", Format::PrometheusText));
        }
        let c = BreakerCheck { sequence: vec!["closed".into()], opens_within: None, half_open_after: None, closes_within: None, ..spec() };
        let j = judge(&c, &rec, Window::new(ms(5000), ms(10000)));
        assert!(!j.pass && j.observed.starts_with("no data in the window: g on c has no sample in it; its samples span"), "{}", j.observed);
        assert!(judge(&c, &rec, Window::new(ms(0), ms(1000))).pass, "closed throughout, and seen");
        assert!(judge(&BreakerCheck { allow_empty: true, ..c }, &rec, Window::new(ms(5000), ms(10000))).pass, "allow_empty");
    }

    #[test]
    fn a_one_call_half_open_is_seen_in_log_events() {
        use crate::collectors::exposition::{Format, parse};
        use crate::runtime::{LogGap, LogLine, Stream};
        // The breaker was half-open for 15 ms (one trial call): the gauge, scraped every 250 ms, never shows it.
        let mut rec = crate::expect::vacuous::nothing(Vec::new());
        rec.origin = Duration::ZERO;
        for (t, v) in gauge(false) {
            rec.metrics.record("c", t, parse(&format!("g {v}\n"), Format::PrometheusText));
        }
        let line = |at: u64, msg: &str, from: &str, to: &str| LogLine {
            service: "c".into(),
            stream: Stream::Stdout,
            at: ms(at),
            line: format!(r#"{{"msg":"{msg}","old":"{from}","new":"{to}"}}"#),
        };
        rec.logs = vec![
            line(5100, "breaker state change", "CLOSED", "OPEN"),
            line(7000, "something else", "OPEN", "CLOSED"),
            line(11100, "breaker state change", "OPEN", "half-open"),
            line(11115, "breaker state change", "HalfOpen", "closed"),
        ];
        let base = BreakerCheck { opens_within: None, half_open_after: None, closes_within: None, ..spec() };
        let w = Window::new(ms(0), ms(20000));
        let j = judge(&base, &rec, w);
        assert!(!j.pass && j.observed.contains("closed -> open -> closed"), "the gauge alone misses it: {}", j.observed);
        let ev = events::Events::Logs { filter: vec![("msg".into(), "breaker state change".into())], from: "old".into(), to: "new".into() };
        let c = BreakerCheck { events: Some(ev), ..base };
        let j = judge(&c, &rec, w);
        assert!(j.pass, "{} / {}", j.observed, j.evidence);
        assert_eq!(j.evidence["source"], "log events");
        assert_eq!(j.evidence["transitions"].as_array().map(Vec::len), Some(3), "{}", j.evidence);
        // Log capture stopped: missing events prove nothing.
        rec.log_gaps.push(LogGap { service: "c".into(), stream: None, from: ms(8000), reason: "the pipe broke".into() });
        let j = judge(&c, &rec, w);
        assert!(!j.pass && j.observed.starts_with("not judgeable: log capture of c stopped at"), "{}", j.observed);
    }
}

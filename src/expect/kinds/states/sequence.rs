//! `kind: states` — a state machine that is not a breaker: a gateway's
//! deployment going healthy -> partial -> outage -> healthy, a queue
//! consumer's running -> draining -> stopped. The scenario names the states,
//! gives their order as a pattern (a state may be optional, `*` stands for
//! any run of states) and may bound when a state is entered after a fault
//! starts and when the machine settles after it ends. The timeline comes from
//! a gauge, a transitions counter or the service's own events (see `super`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Change, RawTransitions, Source, Timeline, TransitionsSpec, check_metrics, events, timeline};
use crate::clock::Window;
use crate::collectors::store::LabelMatcher;
use crate::expect::kind::{Kind, Signals};
use crate::expect::series::describe;
use crate::expect::{Judgement, Recorded, secs};
use crate::scenario::{Ctx, Names, Scalar, WindowExpr, matchers, parse_window};

/// `kind: states` — user-named states in a pattern, with optional timing.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStates {
    pub service: String,
    /// Gauge holding the state (optional when `events` is given).
    pub gauge: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// Each state's name and gauge value. Events may name a state by its
    /// value or by its name in any case and punctuation (`HALF_OPEN` is `half_open`).
    pub states: BTreeMap<String, f64>,
    /// Optional transitions counter (labels `from`/`to` hold state names).
    pub transitions: Option<RawTransitions>,
    /// State changes the service reports in its logs or spans.
    pub events: Option<events::RawEvents>,
    /// With no gauge: the state before the first event (default: that event's `from`).
    pub initial: Option<String>,
    /// The states in the order they are entered: `healthy`, `partial?`
    /// (optional), `"*"` (any states, or none). The whole sequence seen in
    /// the window must match, from the state it begins in.
    pub sequence: Vec<String>,
    /// Window during which the dependency fails, for `enters_within` and `settles_within`.
    pub fault: Option<String>,
    /// A state is first entered within this long of the fault's start, e.g. `{ outage: 2s }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, crate::faults::Hd>")]
    pub enters_within: BTreeMap<String, humantime_serde::Serde<Duration>>,
    /// The sequence's last state is reached within this long of the fault's
    /// end and held to the end of the window.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub settles_within: Option<Duration>,
    /// Timing tolerance (default two scrape intervals for changes seen by
    /// the gauge; none for events, which are stamped when they happen).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub tolerance: Option<Duration>,
    /// At most this many state changes in the window.
    pub max_transitions: Option<u32>,
    /// A window with no sample and no event passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

/// One element of a sequence pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    State(String),
    Optional(String),
    Any,
}

#[derive(Debug, Clone)]
pub struct StatesCheck {
    pub service: String,
    pub gauge: Option<String>,
    pub matchers: Vec<LabelMatcher>,
    pub states: Vec<(String, f64)>,
    pub transitions: Option<TransitionsSpec>,
    pub events: Option<events::Events>,
    pub initial: Option<String>,
    pub sequence: Vec<Step>,
    pub fault: Option<WindowExpr>,
    pub enters_within: Vec<(String, Duration)>,
    pub settles_within: Option<Duration>,
    /// As written; None: see `timing`.
    pub tolerance: Option<Duration>,
    pub scrape_interval: Duration,
    pub max_transitions: Option<u32>,
    pub allow_empty: bool,
}

impl StatesCheck {
    fn source(&self) -> Source<'_> {
        Source {
            noun: "state",
            service: &self.service,
            gauge: self.gauge.as_deref(),
            matchers: &self.matchers,
            states: &self.states,
            transitions: self.transitions.as_ref(),
            events: self.events.as_ref(),
            initial: self.initial.as_deref(),
            allow_empty: self.allow_empty,
        }
    }
}

impl Kind for StatesCheck {
    const NAME: &'static str = "states";
    type Raw = RawStates;

    fn compile(cx: &mut Ctx, path: &str, r: RawStates, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("states of {}", self.service)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        judge(self, rec, w)
    }

    fn signals(&self) -> Signals {
        let s = Signals::default().service(Some(&self.service));
        let s = match &self.gauge {
            Some(g) => s.metric(describe(None, g, &self.matchers)),
            None => s,
        };
        match &self.transitions {
            Some(t) => s.metric(t.metric.clone()),
            None => s,
        }
    }
}

/// `healthy` / `partial?` / `*`, each state checked against `states`.
fn steps(cx: &mut Ctx, path: &str, raw: &[String], states: &[(String, f64)]) -> Vec<Step> {
    let known = |s: &str| states.iter().any(|(n, _)| n == s);
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let step = match t.trim() {
            "*" => Step::Any,
            t => match t.strip_suffix('?') {
                Some(name) => Step::Optional(name.trim().to_string()),
                None => Step::State(t.to_string()),
            },
        };
        if let Step::State(n) | Step::Optional(n) = &step
            && !known(n)
        {
            let names: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
            cx.err_value(
                &format!("{path}.sequence[{i}]"),
                format!("state `{n}` is not in `states`"),
                Some(format!("states are: {}", names.join(", "))),
            );
        }
        out.push(step);
    }
    let named = |s: &Step| match s {
        Step::State(n) | Step::Optional(n) => Some(n.clone()),
        Step::Any => None,
    };
    if let Some(i) = out.windows(2).position(|p| named(&p[0]).is_some() && named(&p[0]) == named(&p[1])) {
        let hint = "repeats of one state collapse into one; write it once, or `*` between";
        cx.err_value(&format!("{path}.sequence[{}]", i + 1), "the same state twice in a row can never match", Some(hint.into()));
    }
    if !matches!(out.last(), Some(Step::State(_))) {
        cx.err_value(
            &format!("{path}.sequence"),
            "the sequence must end in a state that is not optional",
            Some("e.g. `[healthy, partial?, outage, healthy]`".into()),
        );
    }
    out
}

fn compile(cx: &mut Ctx, path: &str, r: RawStates, names: &Names) -> Option<StatesCheck> {
    names.service(cx, &format!("{path}.service"), &r.service);
    match &r.gauge {
        Some(g) => check_metrics(cx, path, g, &r.labels, r.transitions.as_ref()),
        None if r.events.is_none() => {
            cx.err(path, "no source of states", Some("name a `gauge`, or the `events` the service reports (logs or spans)".into()));
        }
        None if r.transitions.is_some() => {
            let hint = "add `gauge:` (the state's gauge), or drop `transitions`";
            cx.err_value(&format!("{path}.transitions"), "a transitions counter needs the `gauge` beside it", Some(hint.into()))
        }
        None => {}
    }
    let mut times: Vec<(String, Option<Duration>)> =
        r.enters_within.iter().map(|(k, v)| (format!("enters_within.{k}"), Some(**v))).collect();
    times.extend([("settles_within".to_string(), r.settles_within), ("tolerance".to_string(), r.tolerance)]);
    let times: Vec<(&str, Option<Duration>)> = times.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    if !cx.durations(path, &times, true) {
        return None;
    }
    if r.gauge.is_some() && r.initial.is_some() {
        cx.err_value(
            &format!("{path}.initial"),
            "`initial` is for events alone: the gauge's first sample gives the starting state",
            Some("drop `initial`".into()),
        );
    }
    let states: Vec<(String, f64)> = r.states.into_iter().collect();
    let sequence = steps(cx, path, &r.sequence, &states);
    for (name, field) in r.enters_within.keys().map(|k| (k, "enters_within")).chain(r.initial.iter().map(|i| (i, "initial"))) {
        if !states.iter().any(|(n, _)| n == name) {
            cx.err_value(&format!("{path}.{field}"), format!("state `{name}` is not in `states`"), None);
        }
    }
    let timed = !r.enters_within.is_empty() || r.settles_within.is_some();
    let fault = match &r.fault {
        Some(f) => Some(parse_window(cx, &format!("{path}.fault"), f, names.phases, false)?),
        None if timed => {
            cx.err(
                path,
                "`enters_within` and `settles_within` are timed from a fault",
                Some("add `fault: PHASE` (the window the dependency fails in)".into()),
            );
            return None;
        }
        None => None,
    };
    let interval = names.stack.map_or(Duration::from_millis(250), |s| s.scrape_interval);
    Some(StatesCheck {
        service: r.service,
        gauge: r.gauge,
        matchers: matchers(&r.labels),
        states,
        transitions: r.transitions.map(|t| TransitionsSpec { metric: t.metric, from_label: t.from_label, to_label: t.to_label }),
        events: match r.events {
            Some(e) => Some(events::compile(cx, &format!("{path}.events"), e)?),
            None => None,
        },
        initial: r.initial,
        sequence,
        fault,
        enters_within: r.enters_within.into_iter().map(|(k, v)| (k, *v)).collect(),
        settles_within: r.settles_within,
        tolerance: r.tolerance,
        scrape_interval: interval,
        max_transitions: r.max_transitions,
        allow_empty: r.allow_empty,
    })
}

/// The whole of `seq` matches `pattern` (dynamic programming over both).
pub fn matches(pattern: &[Step], seq: &[String]) -> bool {
    // ok[i][j]: pattern[i..] matches seq[j..]
    let (p, s) = (pattern.len(), seq.len());
    let mut ok = vec![vec![false; s + 1]; p + 1];
    ok[p][s] = true;
    for i in (0..p).rev() {
        for j in (0..=s).rev() {
            ok[i][j] = match &pattern[i] {
                Step::State(n) => j < s && seq[j] == *n && ok[i + 1][j + 1],
                Step::Optional(n) => ok[i + 1][j] || (j < s && seq[j] == *n && ok[i + 1][j + 1]),
                Step::Any => ok[i + 1][j] || (j < s && ok[i][j + 1]),
            };
        }
    }
    ok[0][0]
}

fn pattern_text(pattern: &[Step]) -> String {
    let text: Vec<String> = pattern
        .iter()
        .map(|s| match s {
            Step::State(n) => n.clone(),
            Step::Optional(n) => format!("{n}?"),
            Step::Any => "*".into(),
        })
        .collect();
    text.join(" -> ")
}

/// The timing checks: (what was expected, what failed).
fn timing(c: &StatesCheck, t: &Timeline, w: Window, fault: Window) -> (Vec<String>, Vec<String>) {
    let events = t.source.ends_with("events");
    let tol = c.tolerance.unwrap_or(if events { Duration::ZERO } else { c.scrape_interval.saturating_mul(2) });
    let inw: Vec<&Change> = t.in_window(w).collect();
    let (mut expected, mut failures) = (Vec::new(), Vec::new());
    for (state, within) in &c.enters_within {
        expected.push(format!("enters {state} within {within:?} of the fault start"));
        match inw.iter().find(|ch| ch.to == *state && ch.hi + tol > fault.start) {
            None => failures.push(format!("never entered {state} after the fault started")),
            Some(ch) if ch.hi.saturating_sub(fault.start) > *within + tol => {
                failures.push(format!("entered {state} {:.2}s after the fault started", (ch.hi - fault.start).as_secs_f64()));
            }
            _ => {}
        }
    }
    let Some(settle) = c.settles_within else { return (expected, failures) };
    let Some(Step::State(last)) = c.sequence.last() else { return (expected, failures) };
    expected.push(format!("settles in {last} within {settle:?} of the fault end"));
    let until_end = t.sequence(Window::new(w.start, fault.end.max(w.start)));
    let after: Vec<&&Change> = inw.iter().filter(|ch| ch.hi > fault.end).collect();
    let settled_at = match after.last() {
        None if until_end.last() == Some(last) => Some(fault.end),
        Some(ch) if ch.to == *last => Some(ch.hi),
        _ => None,
    };
    match settled_at {
        None => failures.push(format!(
            "not in {last} at the end of the window ({:.1}s after the fault ended)",
            w.end.saturating_sub(fault.end).as_secs_f64()
        )),
        Some(at) if at - fault.end > settle + tol => {
            failures.push(format!("settled in {last} {:.2}s after the fault ended", (at - fault.end).as_secs_f64()))
        }
        _ => {}
    }
    (expected, failures)
}

pub(crate) fn judge(c: &StatesCheck, rec: &Recorded, w: Window) -> Judgement {
    let t = match timeline(&c.source(), rec, w) {
        Ok(t) => t,
        Err(j) => return j,
    };
    if c.gauge.is_none() && t.in_window(w).next().is_none() {
        let what =
            format!("{} reported no state change in it: with events alone a state held through the window is not observed", c.service);
        let hint = "name the `gauge` that holds the state, or widen the window to the changes";
        return crate::expect::kind::no_data(
            c.allow_empty,
            format!("states of {}", c.service),
            what,
            json!({ "source": t.source, "hint": hint }),
        );
    }
    let seq = t.sequence(w);
    let mut expected = vec![format!("sequence {}", pattern_text(&c.sequence))];
    let mut failures = Vec::new();
    if !matches(&c.sequence, &seq) {
        failures.push(format!("observed sequence {}", seq.join(" -> ")));
    }
    let fault = c.fault.as_ref().map(|f| rec.window(f));
    if let Some(f) = fault {
        let (e, fails) = timing(c, &t, w, f);
        expected.extend(e);
        failures.extend(fails);
    }
    let changes = t.in_window(w).count();
    if let Some(m) = c.max_transitions {
        expected.push(format!("at most {m} changes"));
        if changes > m as usize {
            failures.push(format!("{changes} changes (flapping)"));
        }
    }
    let what = c.gauge.as_deref().map_or_else(|| format!("states of {}", c.service), |g| describe(Some(&c.service), g, &c.matchers));
    Judgement {
        pass: failures.is_empty(),
        expected: format!("{what}: {}", expected.join("; ")),
        observed: if failures.is_empty() { format!("{} as expected ({changes} changes)", seq.join(" -> ")) } else { failures.join("; ") },
        evidence: json!({
            "source": t.source,
            "sequence": seq,
            "fault": fault.map(|f| json!({ "start": secs(f.start, rec.origin), "end": secs(f.end, rec.origin) })),
            "transitions": t.lines(w, rec.origin),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{LogLine, Stream};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn pattern(p: &[&str]) -> Vec<Step> {
        let states = ["healthy", "partial", "outage"].map(|s| (s.to_string(), 0.0));
        let mut cx = Ctx::new(std::path::Path::new("s.yaml"), "");
        let steps = steps(&mut cx, "p", &p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &states);
        assert!(cx.diags.is_empty(), "{:?}", cx.diags);
        steps
    }

    fn seq(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn optional_states_and_wildcards_match_whole_sequences() {
        let p = pattern(&["healthy", "partial?", "outage", "healthy"]);
        assert!(matches(&p, &seq(&["healthy", "partial", "outage", "healthy"])));
        assert!(matches(&p, &seq(&["healthy", "outage", "healthy"])), "partial is optional");
        assert!(!matches(&p, &seq(&["healthy", "partial", "healthy"])), "outage is not");
        assert!(!matches(&p, &seq(&["healthy", "outage", "partial", "outage", "healthy"])), "no flapping unless `*` allows it");
        assert!(!matches(&p, &seq(&["healthy", "outage"])), "it must end healthy");
        let flappy = pattern(&["healthy", "*", "outage", "*", "healthy"]);
        assert!(matches(&flappy, &seq(&["healthy", "outage", "partial", "outage", "healthy"])));
        assert!(matches(&flappy, &seq(&["healthy", "outage", "healthy"])));
        assert!(!matches(&flappy, &seq(&["healthy", "partial", "healthy"])));
    }

    fn check(sequence: &[&str]) -> StatesCheck {
        StatesCheck {
            service: "gw".into(),
            gauge: None,
            matchers: vec![],
            states: ["healthy", "partial", "outage"].iter().enumerate().map(|(i, s)| (s.to_string(), i as f64)).collect(),
            transitions: None,
            events: Some(events::Events::Logs { filter: vec![("msg".into(), "state".into())], from: "old".into(), to: "new".into() }),
            initial: None,
            sequence: pattern(sequence),
            fault: Some(WindowExpr::whole()),
            enters_within: vec![("outage".into(), ms(1000))],
            settles_within: Some(ms(2000)),
            tolerance: Some(ms(100)),
            scrape_interval: ms(250),
            max_transitions: Some(5),
            allow_empty: false,
        }
    }

    fn rec(changes: &[(u64, &str, &str)]) -> Recorded {
        let mut rec = crate::expect::vacuous::nothing(Vec::new());
        rec.origin = Duration::ZERO;
        rec.logs = changes
            .iter()
            .map(|(at, from, to)| LogLine {
                service: "gw".into(),
                stream: Stream::Stdout,
                at: ms(*at),
                line: format!(r#"{{"msg":"state","old":"{from}","new":"{to}"}}"#),
            })
            .collect();
        rec
    }

    #[test]
    fn events_alone_give_the_sequence_and_its_timing() {
        let c = check(&["healthy", "partial?", "outage", "healthy"]);
        let fault = Window::new(ms(1000), ms(5000));
        let judge_in = |c: &StatesCheck, r: &Recorded| {
            let c = StatesCheck { fault: None, ..c.clone() };
            let seq_only = judge(&c, r, Window::new(ms(0), ms(10000)));
            let t = timeline(&c.source(), r, Window::new(ms(0), ms(10000))).ok().unwrap();
            (seq_only, timing(&c_with_fault(&c), &t, Window::new(ms(0), ms(10000)), fault))
        };
        let good = rec(&[(1200, "healthy", "partial"), (1500, "PARTIAL", "Outage"), (6000, "outage", "healthy")]);
        let (j, (_, fails)) = judge_in(&c, &good);
        assert!(j.pass && fails.is_empty(), "{} {fails:?}", j.observed);
        assert_eq!(j.evidence["sequence"], json!(["healthy", "partial", "outage", "healthy"]));
        let late = rec(&[(2600, "healthy", "outage"), (8000, "outage", "healthy")]);
        let (j, (_, fails)) = judge_in(&c, &late);
        assert!(j.pass, "the sequence holds without partial: {}", j.observed);
        assert_eq!(fails, ["entered outage 1.60s after the fault started", "settled in healthy 3.00s after the fault ended"]);
        let stuck = rec(&[(1200, "healthy", "outage")]);
        let (j, (_, fails)) = judge_in(&c, &stuck);
        assert!(!j.pass && j.observed == "observed sequence healthy -> outage", "{}", j.observed);
        assert!(fails[0].starts_with("not in healthy at the end of the window"), "{fails:?}");
    }

    fn c_with_fault(c: &StatesCheck) -> StatesCheck {
        StatesCheck { fault: Some(WindowExpr::whole()), ..c.clone() }
    }

    #[test]
    fn no_event_and_no_gauge_is_no_data() {
        let c = check(&["healthy"]);
        let j = judge(&c, &rec(&[]), Window::new(ms(0), ms(10000)));
        assert!(!j.pass && j.observed.starts_with("no data in the window: gw reported no state change"), "{}", j.observed);
        // Events before the window only: the state in it is inferred, not seen.
        let j = judge(&c, &rec(&[(500, "outage", "healthy")]), Window::new(ms(1000), ms(10000)));
        assert!(!j.pass && j.observed.contains("with events alone a state held through the window is not observed"), "{}", j.observed);
        assert!(judge(&StatesCheck { allow_empty: true, ..c }, &rec(&[]), Window::new(ms(0), ms(10000))).pass);
    }

    #[test]
    fn mistakes_are_refused_at_compile() {
        let doc = r#"
name: st
stack:
  services:
    gw: { command: gw, metrics: /metrics }
timeline:
  phases: [{ name: outage, duration: 2s }]
expect:
  - { kind: states, service: gw, states: { up: 0, down: 1 }, sequence: [up] }
  - { kind: states, service: gw, gauge: g, states: { up: 0, down: 1 }, sequence: [up, sideways, "down?"] }
  - { kind: states, service: gw, gauge: g, states: { up: 0 }, sequence: [up], settles_within: 1s }
  - { kind: states, service: gw, gauge: g, states: { up: 0 }, sequence: [up], enters_within: { down: 1s }, fault: outage }
  - { kind: states, service: gw, gauge: g, states: { up: 0, down: 1 }, sequence: [up, "up?", down], initial: up }
"#;
        let errs = crate::plan::compile(doc, std::path::Path::new("s.yaml")).unwrap_err().0;
        let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            got,
            vec![
                "expect[0]",
                "expect[1].sequence",
                "expect[1].sequence[1]",
                "expect[2]",
                "expect[3].enters_within",
                "expect[4].sequence[1]",
                "expect[4].initial"
            ],
            "{errs:#?}"
        );
    }
}

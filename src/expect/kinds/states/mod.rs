//! State machines a service reports: `breaker` (a circuit breaker's
//! sequence and timing) and `states` (any states the scenario names, some
//! optional, in a pattern). Both judge a timeline of state changes
//! reconstructed here from what the service exposes.
//!
//! States come from a gauge (value -> state name, mapped by the scenario).
//! A gauge scraped every 250 ms misses a state that lasts 50 ms, so when the
//! scenario names a transitions counter (`from`/`to` labels) the counter's
//! increments are authoritative: each scrape interval's increments are
//! chained from the current state. Every change is known only to lie within
//! a scrape interval `(lo, hi]`, and timing checks use those bounds plus the
//! scenario's tolerance. State changes the service reports in JSON log lines
//! or span events (`events:`, see `events`) are stamped when they happen and
//! win over both when any is found; with no gauge they are the only source.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::store::LabelMatcher;
use crate::expect::{Judgement, Recorded, secs};
use crate::scenario::{Ctx, Scalar};

pub mod breaker;
mod events;
pub mod sequence;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTransitions {
    pub metric: String,
    #[serde(default = "from_label")]
    pub from_label: String,
    #[serde(default = "to_label")]
    pub to_label: String,
}

fn from_label() -> String {
    "from".into()
}

fn to_label() -> String {
    "to".into()
}

#[derive(Debug, Clone)]
pub struct TransitionsSpec {
    pub metric: String,
    pub from_label: String,
    pub to_label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub lo: Duration,
    pub hi: Duration,
    pub from: String,
    pub to: String,
}

/// One transitions-counter series: (from state, to state, points).
pub type TransitionSeries = (String, String, Vec<(Duration, f64)>);

fn state_name(states: &[(String, f64)], v: f64) -> String {
    states.iter().find(|(_, x)| (x - v).abs() < 1e-9).map_or_else(|| format!("unknown({v})"), |(n, _)| n.clone())
}

/// Changes seen in the gauge samples.
pub fn from_gauge(points: &[(Duration, f64)], states: &[(String, f64)]) -> Vec<Change> {
    points
        .windows(2)
        .filter_map(|p| {
            let (a, b) = (state_name(states, p[0].1), state_name(states, p[1].1));
            (a != b).then(|| Change { lo: p[0].0, hi: p[1].0, from: a, to: b })
        })
        .collect()
}

/// Changes from transition-counter series `(from, to, points)`, chained per
/// scrape interval starting at `initial`. `scrapes` are the service's scrape
/// instants (a series first seen after the first scrape counts from zero).
pub fn from_transitions(series: &[TransitionSeries], scrapes: &[Duration], initial: &str) -> Vec<Change> {
    // (lo, hi) -> multiset of (from, to)
    let mut per_interval: BTreeMap<(Duration, Duration), Vec<(String, String)>> = BTreeMap::new();
    for (from, to, points) in series {
        let Some(&(first_t, _)) = points.first() else { continue };
        // Born during the run: its first value counts from zero. Present from
        // the first scrape: that value predates the run and is only a baseline.
        let mut prev: Option<(Duration, f64)> = scrapes.iter().rev().find(|t| **t < first_t).map(|&before| (before, 0.0));
        for &(t, v) in points {
            if let Some((pt, pv)) = prev {
                let n = if v >= pv { (v - pv).round() as usize } else { v.round() as usize };
                for _ in 0..n {
                    per_interval.entry((pt, t)).or_default().push((from.clone(), to.clone()));
                }
            }
            prev = Some((t, v));
        }
    }
    let mut state = initial.to_string();
    let mut out = Vec::new();
    for ((lo, hi), mut edges) in per_interval {
        while !edges.is_empty() {
            let i = edges.iter().position(|(f, _)| *f == state).unwrap_or(0);
            let (from, to) = edges.remove(i);
            out.push(Change { lo, hi, from, to: to.clone() });
            state = to;
        }
    }
    out
}

/// The one gauge series the check names, with at least one sample in the
/// window, or the judgement that says why there is none.
fn gauge_points(c: &Source, gauge: &str, rec: &Recorded, w: Window) -> Result<Vec<(Duration, f64)>, Judgement> {
    let store = &rec.metrics;
    let sel = crate::expect::series::selector(Some(c.service), gauge, c.matchers);
    let what = crate::expect::series::describe(Some(c.service), gauge, c.matchers);
    let series: Vec<_> = store.select(&sel).collect();
    let gauge = match series.as_slice() {
        [(_, s)] => s.points.clone(),
        [] => {
            return Err(Judgement {
                pass: false,
                expected: format!("{} state in {what}", c.noun),
                observed: format!("no series {what}"),
                evidence: crate::expect::series::missing(store, Some(c.service), gauge),
            });
        }
        many => {
            let labels: Vec<_> = many.iter().map(|(k, _)| json!(k.labels)).collect();
            return Err(Judgement {
                pass: false,
                expected: format!("one {} series {what}", c.noun),
                observed: format!("{} series match; add labels to pick one", many.len()),
                evidence: json!({ "series": labels }),
            });
        }
    };
    if !gauge.iter().any(|p| w.contains(p.0)) {
        let span = match (gauge.first(), gauge.last()) {
            (Some(a), Some(b)) => format!("; its samples span {}..{}", secs(a.0, rec.origin), secs(b.0, rec.origin)),
            _ => String::new(),
        };
        let expected = format!("{} state in {what}", c.noun);
        return Err(crate::expect::kind::no_data(
            c.allow_empty,
            expected,
            format!("{what} has no sample in it{span}"),
            json!({ "samples": gauge.len() }),
        ));
    }
    Ok(gauge)
}

/// Compile-time checks of the gauge, its labels and the transitions counter.
pub fn check_metrics(cx: &mut Ctx, path: &str, gauge: &str, labels: &BTreeMap<String, Scalar>, transitions: Option<&RawTransitions>) {
    crate::scenario::ctx::metric_names(cx, path, "gauge", gauge, labels);
    if let Some(t) = transitions {
        let tp = format!("{path}.transitions");
        crate::scenario::ctx::metric_names(cx, &tp, "metric", &t.metric, &BTreeMap::new());
        crate::scenario::ctx::label_name(cx, &format!("{tp}.from_label"), &t.from_label);
        crate::scenario::ctx::label_name(cx, &format!("{tp}.to_label"), &t.to_label);
    }
}

/// Where a check reads a state machine: a gauge (and a transitions counter)
/// and/or the events the service reports.
pub struct Source<'a> {
    /// "breaker" or "state", for messages.
    pub noun: &'static str,
    pub service: &'a str,
    pub gauge: Option<&'a str>,
    pub matchers: &'a [LabelMatcher],
    /// State name -> gauge value.
    pub states: &'a [(String, f64)],
    pub transitions: Option<&'a TransitionsSpec>,
    pub events: Option<&'a events::Events>,
    /// With no gauge: the state before the first event (default: that event's `from`).
    pub initial: Option<&'a str>,
    pub allow_empty: bool,
}

/// The state at the start of the recording and every change after it.
pub struct Timeline {
    pub initial: String,
    pub changes: Vec<Change>,
    /// What the changes were read from, for the evidence.
    pub source: &'static str,
}

impl Timeline {
    /// The changes that happened in `w`, as `lo..hi from -> to` lines.
    pub fn lines(&self, w: Window, origin: Duration) -> Vec<String> {
        self.in_window(w).map(|ch| format!("{}..{} {} -> {}", secs(ch.lo, origin), secs(ch.hi, origin), ch.from, ch.to)).collect()
    }

    pub fn in_window(&self, w: Window) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |ch| ch.hi > w.start && ch.hi <= w.end)
    }

    /// The state when `w` begins, then each state entered in it (repeats of one state collapsed).
    pub fn sequence(&self, w: Window) -> Vec<String> {
        let mut state = self.initial.clone();
        for ch in self.changes.iter().filter(|ch| ch.hi <= w.start) {
            state = ch.to.clone();
        }
        let mut seq = vec![state];
        for ch in self.in_window(w) {
            if seq.last() != Some(&ch.to) {
                seq.push(ch.to.clone());
            }
        }
        seq
    }
}

/// The timeline `c` describes, or the judgement that says why there is none.
pub fn timeline(c: &Source, rec: &Recorded, w: Window) -> Result<Timeline, Judgement> {
    let mut t = match c.gauge {
        Some(g) => {
            let gauge = gauge_points(c, g, rec, w)?;
            let initial = state_name(c.states, gauge[0].1);
            let changes = from_gauge(&gauge, c.states);
            let mut t = Timeline { initial, changes, source: "gauge" };
            if let Some(spec) = c.transitions {
                counted(c, spec, rec, &mut t);
            }
            t
        }
        None => Timeline { initial: c.initial.unwrap_or_default().to_string(), changes: Vec::new(), source: "events" },
    };
    let Some(ev) = c.events else { return Ok(t) };
    let not_judgeable = |observed: String| Judgement {
        pass: false,
        expected: format!("{} state changes of {} from its {}", c.noun, c.service, ev.kind()),
        observed,
        evidence: json!({ "source": ev.kind() }),
    };
    match events::changes(ev, c.service, rec, c.states, w) {
        Err(why) => return Err(not_judgeable(format!("not judgeable: {why}"))),
        Ok(found) if !found.changes.is_empty() => {
            if c.gauge.is_none() && c.initial.is_none() {
                t.initial = found.changes[0].from.clone();
            }
            t.source = found.source;
            t.changes = found.changes;
        }
        Ok(_) if c.gauge.is_some() => {
            t.source = if c.noun == "breaker" { "gauge (no breaker event found)" } else { "gauge (no state event found)" }
        }
        Ok(_) => {
            let observed = format!("{} reported no state change in its {} and no gauge is named", c.service, ev.kind());
            return Err(crate::expect::kind::no_data(
                c.allow_empty,
                format!("{} state changes of {}", c.noun, c.service),
                observed,
                json!({ "source": ev.kind() }),
            ));
        }
    }
    Ok(t)
}

/// Replace the gauge's changes with a transitions counter's, when it has series.
fn counted(c: &Source, spec: &TransitionsSpec, rec: &Recorded, t: &mut Timeline) {
    let tsel = crate::expect::series::selector(Some(c.service), &spec.metric, c.matchers);
    let ts: Vec<TransitionSeries> = rec
        .metrics
        .select(&tsel)
        .filter_map(|(k, s)| Some((k.labels.get(&spec.from_label)?.clone(), k.labels.get(&spec.to_label)?.clone(), s.points.clone())))
        .collect();
    if ts.is_empty() {
        t.source = "gauge (transitions counter not found)";
    } else {
        t.source = "transitions counter";
        t.changes = from_transitions(&ts, rec.metrics.scrape_times(c.service), &t.initial);
    }
}

//! `kind: trace_complete` — the load's requests produced complete traces
//! (see the family's notes on what "complete" means).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::otlp::{SpanRecord, Trace, TraceStore};
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::load::LoadRecord;
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, cmp};

/// An expected span tree: `{ ExecuteTask: { PlanTask: { LLMCall: } } }`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct RawTree(pub Option<BTreeMap<String, RawTree>>);

/// `kind: trace_complete` — the load's requests produced complete traces.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraceComplete {
    /// The span tree each request's trace must contain (direct parent/child links).
    pub tree: RawTree,
    /// Fraction of requests whose trace is complete (default `">= 0.99"`).
    pub ratio: Option<String>,
    /// Which requests of the window: `ok` (default: those that succeeded) or `all`.
    pub requests: Option<String>,
    /// Services every complete trace must cross (one trace id end to end).
    #[serde(default)]
    pub services: Vec<String>,
    /// No span of those traces may point at a parent that never arrived (default true).
    pub no_orphans: Option<bool>,
    /// A trace is final once no span arrived for this long before collection ended (default 2s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub quiet: Option<Duration>,
    /// A window with no request to judge passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

/// Expected span tree node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SpanTree {
    pub name: String,
    pub children: Vec<SpanTree>,
}

#[derive(Debug, Clone)]
pub struct TraceCompleteCheck {
    pub roots: Vec<SpanTree>,
    pub ratio: Comparison,
    pub only_ok: bool,
    pub services: Vec<String>,
    pub no_orphans: bool,
    pub quiet: Duration,
    pub allow_empty: bool,
}

impl Kind for TraceCompleteCheck {
    const NAME: &'static str = "trace_complete";
    type Raw = RawTraceComplete;

    fn compile(cx: &mut Ctx, path: &str, r: RawTraceComplete, names: &Names) -> Option<Self> {
        compile(cx, path, r, names.load.is_some())
    }

    fn describe(&self) -> String {
        format!("complete traces ({})", self.roots.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "))
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        complete(self, &rec.traces, rec.load.as_ref(), w, rec.traces_end)
    }

    fn signals(&self) -> Signals {
        fn names(t: &SpanTree, s: &mut Signals) {
            s.spans.insert(t.name.clone());
            t.children.iter().for_each(|c| names(c, s));
        }
        let mut s = Signals::default().load();
        self.roots.iter().for_each(|t| names(t, &mut s));
        s.services.extend(self.services.iter().cloned());
        s
    }
}

fn tree(t: &RawTree) -> Vec<SpanTree> {
    t.0.iter().flatten().map(|(name, sub)| SpanTree { name: name.clone(), children: tree(sub) }).collect()
}

fn compile(cx: &mut Ctx, path: &str, r: RawTraceComplete, has_load: bool) -> Option<TraceCompleteCheck> {
    if !cx.durations(path, &[("quiet", r.quiet)], true) {
        return None;
    }
    if !has_load {
        cx.err(path, "`trace_complete` judges the load's requests, but there is no `load:` section", None);
    }
    let roots = tree(&r.tree);
    if roots.is_empty() {
        cx.err(
            &format!("{path}.tree"),
            "the expected span tree is empty",
            Some("e.g. `tree: { ExecuteTask: { PlanTask: { LLMCall: } } }`".into()),
        );
    }
    let only_ok = match r.requests.as_deref() {
        None | Some("ok") => true,
        Some("all") => false,
        Some(other) => {
            cx.err_value(&format!("{path}.requests"), format!("unknown request set `{other}`"), Some("use `ok` or `all`".into()));
            true
        }
    };
    let ratio = match &r.ratio {
        Some(t) => cmp(cx, &format!("{path}.ratio"), t)?,
        None => Comparison::parse(">= 0.99").expect("static comparison"),
    };
    Some(TraceCompleteCheck {
        roots,
        ratio,
        only_ok,
        services: r.services,
        no_orphans: r.no_orphans.unwrap_or(true),
        quiet: r.quiet.unwrap_or(Duration::from_secs(2)),
        allow_empty: r.allow_empty,
    })
}

/// Does some span of `trace` named like `node` have the node's subtree below it?
fn has_tree(trace: &Trace, node: &SpanTree, candidates: &[&SpanRecord]) -> bool {
    candidates.iter().any(|s| s.name == node.name && node.children.iter().all(|c| has_tree(trace, c, &trace.children(&s.span_id))))
}

pub(crate) fn complete(
    c: &TraceCompleteCheck,
    store: &TraceStore,
    load: Option<&LoadRecord>,
    w: Window,
    collection_end: std::time::Duration,
) -> Judgement {
    let expected = format!(
        "{} of {} requests have a trace with {}{}{}",
        c.ratio,
        if c.only_ok { "successful" } else { "all" },
        c.roots.iter().map(tree_text).collect::<Vec<_>>().join(" + "),
        if c.services.is_empty() { String::new() } else { format!(" across {}", c.services.join(" -> ")) },
        if c.no_orphans { ", no orphan spans" } else { "" },
    );
    let Some(load) = load else {
        return Judgement { pass: false, expected, observed: "no load ran".into(), evidence: json!(null) };
    };
    let traces = store.traces();
    let by_id: HashMap<&str, &Trace> = traces.iter().map(|t| (t.trace_id, t)).collect();
    let samples: Vec<_> = load.samples().into_iter().filter(|s| s.within(w) && (!c.only_ok || s.ok())).collect();
    let mut problems: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut complete = 0usize;
    let mut open = 0usize;
    for s in &samples {
        let Some(t) = by_id.get(s.trace_id.as_str()) else {
            problems.entry("no trace").or_default().push(s.trace_id.clone());
            continue;
        };
        let mut why = Vec::new();
        for root in &c.roots {
            if !has_tree(t, root, &t.spans) {
                why.push("span tree incomplete");
            }
        }
        if !c.services.is_empty() {
            let svcs = t.services();
            if c.services.iter().any(|x| !svcs.contains(&x.as_str())) {
                why.push("does not cross every service");
            }
        }
        if c.no_orphans && t.orphans().iter().any(|o| o.parent_span_id.as_deref() != Some(s.span_id.as_str())) {
            why.push("orphan spans");
        }
        let last = t.spans.iter().map(|x| x.received_at).max().unwrap_or_default();
        if why.is_empty() {
            complete += 1;
        } else {
            if last + c.quiet > collection_end {
                open += 1;
            }
            for y in why {
                problems.entry(y).or_default().push(s.trace_id.clone());
            }
        }
    }
    if samples.is_empty() {
        let which = if c.only_ok { "successful request" } else { "request" };
        return crate::expect::kind::no_data(
            c.allow_empty,
            expected,
            format!("no {which} was sent in it"),
            json!({ "spans_received": store.spans.len() }),
        );
    }
    let ratio = complete as f64 / samples.len() as f64;
    let problem_summary: BTreeMap<&str, serde_json::Value> =
        problems.iter().map(|(k, ids)| (*k, json!({ "traces": ids.len(), "examples": ids.iter().take(3).collect::<Vec<_>>() }))).collect();
    Judgement {
        pass: c.ratio.holds(ratio),
        expected,
        observed: format!(
            "{complete}/{} complete ({ratio:.3}){}",
            samples.len(),
            if open > 0 { format!(", {open} still open at the end") } else { String::new() }
        ),
        evidence: json!({ "requests": samples.len(), "complete": complete, "open_at_end": open, "problems": problem_summary, "spans_received": store.spans.len() }),
    }
}

fn tree_text(t: &SpanTree) -> String {
    if t.children.is_empty() {
        t.name.clone()
    } else {
        format!("{} > ({})", t.name, t.children.iter().map(tree_text).collect::<Vec<_>>().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn complete_traces_pass_and_the_loads_own_parent_is_not_an_orphan() {
        let mut spans = full("t1");
        spans.extend(full("t2"));
        let j = complete(&complete_check(), &store(spans), Some(&load(&["t1", "t2"])), all(), ms(5000));
        assert!(j.pass, "{} {}", j.observed, j.evidence);
    }

    #[test]
    fn a_window_without_requests_is_no_data_unless_allowed() {
        let j = complete(&complete_check(), &store(full("t1")), Some(&load(&[])), all(), ms(5000));
        assert!(!j.pass && j.observed == "no data in the window: no successful request was sent in it", "{}", j.observed);
        let allowed = TraceCompleteCheck { allow_empty: true, ..complete_check() };
        assert!(complete(&allowed, &store(full("t1")), Some(&load(&[])), all(), ms(5000)).pass);
    }

    #[test]
    fn a_missing_span_or_a_broken_link_is_incomplete() {
        let mut spans = full("t1");
        spans.retain(|s| s.name != "LLMCall"); // drop_span
        let mut t2 = full("t2");
        t2[4].trace_id = "other".into(); // no_propagation: the worker started its own trace
        spans.extend(t2);
        let j = complete(&complete_check(), &store(spans), Some(&load(&["t1", "t2", "t3"])), all(), ms(5000));
        assert!(!j.pass);
        assert_eq!(j.observed, "0/3 complete (0.000)");
        let p = &j.evidence["problems"];
        assert_eq!(p["span tree incomplete"]["traces"], 2);
        assert_eq!(p["does not cross every service"]["traces"], 1);
        assert_eq!(p["no trace"]["examples"][0], "t3");
    }

    #[test]
    fn orphans_fail_and_late_traces_are_reported_open() {
        let mut spans = full("t1");
        spans.push(span("t1", "z", Some("never-sent"), "SendResult", "worker"));
        let j = complete(&complete_check(), &store(spans), Some(&load(&["t1"])), all(), ms(250));
        assert!(!j.pass);
        assert_eq!(j.evidence["problems"]["orphan spans"]["traces"], 1);
        assert_eq!(j.evidence["open_at_end"], 1, "last span arrived 50ms before the end, quiet is 100ms");
    }
}

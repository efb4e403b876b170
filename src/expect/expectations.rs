//! The `expect:` list: each item compiled by its kind (dispatched through the
//! registry in `kinds`), then judged over its resolved window.
//!
//! Floors (every arrow points down): `scenario` (sections and the compile
//! toolkit) <- `expect::kinds::*` <- the registry (`kinds/mod.rs`) <- this
//! file <- `plan` (a whole file).

use serde_norway::Value;

use super::kind::{Signals, promql_sources};
use super::kinds::{Check, KINDS, compile_check};
use super::{Checked, Recorded, Verdict, WindowInfo};
use crate::scenario::diag::did_you_mean;
use crate::scenario::{Ctx, Names, WindowExpr, parse_window};

/// One compiled expectation.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Where it is in the file (`expect[3]`): keys what was gathered for it
    /// while the stack ran (PromQL answers, contract sources).
    pub id: String,
    pub name: String,
    /// `tags:`, for `--only TAG`.
    pub tags: Vec<String>,
    pub window: WindowExpr,
    pub check: Check,
}

impl Expectation {
    pub fn kind(&self) -> &'static str {
        self.check.kind()
    }
}

/// Compile the `expect:` list. Each item is dispatched on `kind` by hand (not
/// a serde tagged enum) so that field paths and `deny_unknown_fields` errors
/// stay precise for every kind.
pub fn compile_expectations(cx: &mut Ctx, v: Option<Value>, names: &Names) -> Vec<Expectation> {
    let Some(v) = v else { return Vec::new() };
    let Some(items) = cx.de::<Vec<Value>>("expect", v) else { return Vec::new() };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("expect[{i}]");
        let Value::Mapping(mut m) = item else {
            cx.err(&path, "an expectation must be a mapping with a `kind:`", None);
            continue;
        };
        let mut take_str =
            |cx: &mut Ctx, key: &str| -> Option<String> { m.remove(key).and_then(|v| cx.de::<String>(&format!("{path}.{key}"), v)) };
        let kind = take_str(cx, "kind");
        let (name, during, after) = (take_str(cx, "name"), take_str(cx, "during"), take_str(cx, "after"));
        let tags = m.remove("tags").and_then(|v| cx.de::<Vec<String>>(&format!("{path}.tags"), v)).unwrap_or_default();
        let rest = Value::Mapping(m);
        let Some(kind) = kind else {
            cx.err(&path, "missing field `kind`", Some(format!("add `kind:` with one of: {}", KINDS.join(", "))));
            continue;
        };
        let window = match (&during, &after) {
            (Some(_), Some(_)) => {
                cx.err(&path, "both `during` and `after` are set", Some("keep one of them".into()));
                None
            }
            (Some(d), None) => parse_window(cx, &format!("{path}.during"), d, names.phases, false),
            (None, Some(a)) => parse_window(cx, &format!("{path}.after"), a, names.phases, true),
            (None, None) => Some(WindowExpr::whole()),
        };
        let check = match compile_check(&kind, cx, &path, rest, names) {
            Ok(check) => check,
            Err(()) => {
                let hint = did_you_mean(&kind, KINDS.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("kinds: {}", KINDS.join(", ")));
                cx.err_value(&format!("{path}.kind"), format!("unknown expectation kind `{kind}`"), Some(hint));
                None
            }
        };
        if names.overhead.is_some() && check.as_ref().is_some_and(|c| !c.overhead()) {
            cx.err(
                &format!("{path}.kind"),
                format!("`kind: {kind}` needs a timeline; an overhead scenario only takes `kind: overhead` budgets"),
                Some("move this expectation to a scenario with a `timeline:`".into()),
            );
            continue;
        }
        if names.overhead.is_some() && (during.is_some() || after.is_some()) {
            cx.err(&path, "an overhead budget has no `during` / `after`: it covers every measured round", None);
            continue;
        }
        let (Some(check), Some(window)) = (check, window) else { continue };
        let window = if during.is_none() && after.is_none() { check.default_window() } else { window };
        let name = name.unwrap_or_else(|| check.default_name(&window));
        out.push(Expectation { id: path, name, tags, window, check });
    }
    let all = named_signals(&out);
    for e in &mut out {
        e.check.link(&all);
    }
    out
}

/// Each expectation's name and the signals it reads.
fn named_signals(expectations: &[Expectation]) -> Vec<(String, Signals)> {
    expectations.iter().map(|e| (e.name.clone(), e.check.signals())).collect()
}

/// `(source, expr)` of every PromQL expression the expectations have Prometheus evaluate.
pub fn promql_queries(expectations: &[Expectation]) -> Vec<(String, String)> {
    promql_sources(&named_signals(expectations))
}

/// Judge every expectation.
pub fn evaluate(expectations: &[Expectation], rec: &Recorded) -> Vec<Checked> {
    expectations.iter().map(|e| evaluate_one(e, rec)).collect()
}

/// Judge one expectation over its resolved window.
pub fn evaluate_one(e: &Expectation, rec: &Recorded) -> Checked {
    let w = rec.window(&e.window);
    let j = e.check.judge(rec, w, &e.id);
    Checked {
        kind: e.kind(),
        name: e.name.clone(),
        verdict: if j.pass { Verdict::Pass } else { Verdict::Fail },
        expected: j.expected,
        observed: j.observed,
        window: WindowInfo {
            expr: e.window.text().to_string(),
            start_ms: (w.start.saturating_sub(rec.origin)).as_secs_f64() * 1000.0,
            end_ms: (w.end.saturating_sub(rec.origin)).as_secs_f64() * 1000.0,
        },
        evidence: j.evidence,
    }
}

//! Compiles the trace expectation kinds: span selectors, expected span
//! trees, and the checks on them.

use std::time::Duration;

use super::cmp::Comparison;
use super::compile::Ctx;
use super::compile_expect::{cmp, one_of};
use super::plan::*;
use super::raw::*;

const SPAN_KINDS: [&str; 5] = ["server", "client", "internal", "producer", "consumer"];

fn selector(cx: &mut Ctx, path: &str, r: RawSpanSelector) -> SpanSelector {
    if let Some(k) = &r.kind
        && !SPAN_KINDS.contains(&k.as_str())
    {
        cx.err_value(&format!("{path}.kind"), format!("unknown span kind `{k}`"), Some(format!("use one of {}", SPAN_KINDS.join(", "))));
    }
    let status = match r.status.as_deref() {
        None => None,
        Some("ok") => Some(SpanStatusSel::Ok),
        Some("error") => Some(SpanStatusSel::Error),
        Some("unset") => Some(SpanStatusSel::Unset),
        Some(other) => {
            cx.err_value(&format!("{path}.status"), format!("unknown span status `{other}`"), Some("use `ok`, `error` or `unset`".into()));
            None
        }
    };
    SpanSelector {
        name: r.name,
        service: r.service,
        kind: r.kind,
        status,
        attributes: r.attributes.into_iter().map(|(k, v)| (k, (v.0 != "*").then_some(v.0))).collect(),
        parent: r.parent,
        ancestor: r.ancestor,
        events: r.events,
    }
}

pub(super) fn spans(cx: &mut Ctx, path: &str, r: RawTraceSpans) -> Option<Check> {
    let span = selector(cx, &format!("{path}.span"), r.span);
    let present = r.attributes_present.as_ref().map(|a| a.join(","));
    let (name, text) = one_of(
        cx,
        path,
        vec![
            ("count", r.count.as_ref()),
            ("ratio", r.ratio.as_ref()),
            ("p50", r.p50.as_ref()),
            ("p95", r.p95.as_ref()),
            ("p99", r.p99.as_ref()),
            ("attributes_present", present.as_ref()),
        ],
    )?;
    let stat = match name {
        "count" => SpanStat::Count(cmp(cx, &format!("{path}.count"), text)?),
        "ratio" => {
            let Some(of) = r.of else {
                cx.err(path, "`ratio` needs `of:` (the spans it is a fraction of)", Some("e.g. `of: { name: LLMCall }`".into()));
                return None;
            };
            let of = selector(cx, &format!("{path}.of"), of);
            SpanStat::Ratio(cmp(cx, &format!("{path}.ratio"), text)?, of)
        }
        "p50" => SpanStat::Quantile(0.5, cmp(cx, &format!("{path}.p50"), text)?),
        "p95" => SpanStat::Quantile(0.95, cmp(cx, &format!("{path}.p95"), text)?),
        "p99" => SpanStat::Quantile(0.99, cmp(cx, &format!("{path}.p99"), text)?),
        _ => SpanStat::AttributesPresent(r.attributes_present.unwrap_or_default()),
    };
    Some(Check::TraceSpans(Box::new(TraceSpansCheck { span, stat })))
}

fn tree(t: &RawTree) -> Vec<SpanTree> {
    t.0.iter().flatten().map(|(name, sub)| SpanTree { name: name.clone(), children: tree(sub) }).collect()
}

pub(super) fn complete(cx: &mut Ctx, path: &str, r: RawTraceComplete, has_load: bool) -> Option<Check> {
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
    Some(Check::TraceComplete(TraceCompleteCheck {
        roots,
        ratio,
        only_ok,
        services: r.services,
        no_orphans: r.no_orphans.unwrap_or(true),
        quiet: r.quiet.unwrap_or(Duration::from_secs(2)),
    }))
}

pub(super) fn sampling(cx: &mut Ctx, path: &str, r: RawTraceSampling, has_load: bool) -> Option<Check> {
    if !has_load {
        cx.err(path, "`trace_sampling` compares traces with the load's requests, but there is no `load:` section", None);
    }
    if !(0.0..=1.0).contains(&r.ratio) {
        cx.err_value(&format!("{path}.ratio"), "a sampling ratio is between 0 and 1", None);
    }
    Some(Check::TraceSampling(TraceSamplingCheck { ratio: r.ratio, tolerance: r.tolerance.unwrap_or(0.05) }))
}

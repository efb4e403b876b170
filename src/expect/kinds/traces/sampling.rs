//! `kind: trace_sampling` — the fraction of the load's requests that produced
//! a trace matches the configured sampling ratio.

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::otlp::TraceStore;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::load::LoadRecord;
use crate::scenario::{Ctx, Names};

/// `kind: trace_sampling` — the fraction of requests that produced a trace.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraceSampling {
    /// The configured sampling ratio.
    pub ratio: f64,
    /// Allowed absolute difference (default 0.05).
    pub tolerance: Option<f64>,
    /// A window with no request to judge passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone)]
pub struct TraceSamplingCheck {
    pub ratio: f64,
    pub tolerance: f64,
    pub allow_empty: bool,
}

impl Kind for TraceSamplingCheck {
    const NAME: &'static str = "trace_sampling";
    type Raw = RawTraceSampling;

    fn compile(cx: &mut Ctx, path: &str, r: RawTraceSampling, names: &Names) -> Option<Self> {
        if names.load.is_none() {
            cx.err(path, "`trace_sampling` compares traces with the load's requests, but there is no `load:` section", None);
        }
        if !(0.0..=1.0).contains(&r.ratio) {
            cx.err_value(&format!("{path}.ratio"), "a sampling ratio is between 0 and 1", None);
        }
        Some(TraceSamplingCheck { ratio: r.ratio, tolerance: r.tolerance.unwrap_or(0.05), allow_empty: r.allow_empty })
    }

    fn describe(&self) -> String {
        format!("trace sampling {}", self.ratio)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        sampling(self, &rec.traces, rec.load.as_ref(), w)
    }

    fn signals(&self) -> Signals {
        Signals::default().load()
    }
}

pub(crate) fn sampling(c: &TraceSamplingCheck, store: &TraceStore, load: Option<&LoadRecord>, w: Window) -> Judgement {
    let expected = format!("sampled fraction {} ± {}", c.ratio, c.tolerance);
    let Some(load) = load else {
        return Judgement { pass: false, expected, observed: "no load ran".into(), evidence: json!(null) };
    };
    let ids: std::collections::HashSet<&str> = store.spans.iter().map(|s| s.trace_id.as_str()).collect();
    let samples: Vec<_> = load.samples().into_iter().filter(|s| w.contains(s.at)).collect();
    let traced = samples.iter().filter(|s| ids.contains(s.trace_id.as_str())).count();
    if samples.is_empty() {
        return crate::expect::kind::no_data(
            c.allow_empty,
            expected,
            "no request was sent in it",
            json!({ "spans_received": store.spans.len() }),
        );
    }
    let frac = traced as f64 / samples.len() as f64;
    Judgement {
        pass: (frac - c.ratio).abs() <= c.tolerance,
        expected,
        observed: format!("{traced}/{} requests traced = {frac:.3}", samples.len()),
        evidence: json!({ "requests": samples.len(), "traced": traced }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn sampling_compares_traced_requests_with_the_ratio() {
        let st = store(full("t1"));
        let c = TraceSamplingCheck { ratio: 0.5, tolerance: 0.1, allow_empty: false };
        assert!(sampling(&c, &st, Some(&load(&["t1", "t2"])), all()).pass);
        assert!(!sampling(&c, &st, Some(&load(&["t1"])), all()).pass);
        let j = sampling(&c, &st, Some(&load(&[])), all());
        assert!(!j.pass && j.observed == "no data in the window: no request was sent in it", "{}", j.observed);
        assert!(sampling(&TraceSamplingCheck { allow_empty: true, ..c }, &st, Some(&load(&[])), all()).pass);
    }
}

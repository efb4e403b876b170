//! `kind: fail_fast` — while a breaker is open, few calls reach the mock:
//! the average rate over the window and the busiest one-second bucket.

use serde::Deserialize;
use serde_json::json;

use super::{in_scope, journal};
use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::faults::JournalEntry;
use crate::scenario::{Ctx, Names, route};

/// `kind: fail_fast` — few calls reach the mock while the breaker is open.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFailFast {
    pub mock: String,
    pub route: Option<String>,
    /// At most this many calls per second (averaged over the window).
    pub max_rate: f64,
    /// And at most this many calls in any one-second bucket.
    pub max_per_second: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct FailFastCheck {
    pub mock: String,
    pub route: Option<String>,
    pub max_rate: f64,
    pub max_per_second: Option<u32>,
    /// The scenario drives load: few calls then prove something only if requests were sent in the window.
    pub loaded: bool,
}

impl Kind for FailFastCheck {
    const NAME: &'static str = "fail_fast";
    type Raw = RawFailFast;

    fn compile(cx: &mut Ctx, path: &str, r: RawFailFast, names: &Names) -> Option<Self> {
        names.mock(cx, &format!("{path}.mock"), &r.mock);
        route(cx, path, r.route.as_deref());
        let loaded = names.load.is_some();
        Some(FailFastCheck { mock: r.mock, route: r.route, max_rate: r.max_rate, max_per_second: r.max_per_second, loaded })
    }

    fn describe(&self) -> String {
        format!("fail-fast at mock {}", self.mock)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        let sent = rec.load.as_ref().map(|l| l.stats(w, None).requests);
        fail_fast(self, journal(rec, &self.mock), sent, w)
    }

    fn signals(&self) -> Signals {
        Signals::default().mock(&self.mock)
    }
}

/// `sent`: load requests sent in the window (None: no load record). The mock
/// runs inside ordeal for the whole timeline, so its journal misses nothing;
/// but with no request sent, few calls would prove nothing.
pub(crate) fn fail_fast(c: &FailFastCheck, entries: &[JournalEntry], sent: Option<u64>, w: Window) -> Judgement {
    let hits = in_scope(entries, c.route.as_deref(), w);
    if c.loaded && sent.unwrap_or(0) == 0 {
        return Judgement {
            pass: false,
            expected: format!("at most {} calls/s reach mock `{}`", c.max_rate, c.mock),
            observed: format!("not judgeable: no load request was sent in the window, so {} calls prove nothing", hits.len()),
            evidence: json!({ "calls": hits.len(), "load_recorded": sent.is_some() }),
        };
    }
    let secs = w.len().as_secs_f64();
    let rate = if secs > 0.0 { hits.len() as f64 / secs } else { 0.0 };
    let buckets = super::per_second(&hits, w, false);
    let peak = buckets.values().copied().max().unwrap_or(0);
    let pass = rate <= c.max_rate && c.max_per_second.is_none_or(|m| peak <= m);
    let mut expected = format!("at most {} calls/s reach mock `{}`", c.max_rate, c.mock);
    if let Some(m) = c.max_per_second {
        expected.push_str(&format!(" and at most {m} in any second"));
    }
    Judgement {
        pass,
        expected,
        observed: format!("{} calls in {:.1}s = {:.2}/s, peak {} in one second", hits.len(), secs, rate, peak),
        evidence: json!({ "calls": hits.len(), "rate": rate, "per_second": buckets.values().collect::<Vec<_>>() }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::clock::Window;
    use crate::faults::Outcome;

    use std::time::Duration;

    #[test]
    fn fail_fast_counts_rate_and_peak() {
        let c = FailFastCheck { mock: "llm".into(), route: None, max_rate: 1.0, max_per_second: Some(2), loaded: true };
        let w = Window::new(Duration::ZERO, Duration::from_secs(4));
        let few = vec![e("a", 100, 101, Outcome::Error), e("b", 2100, 2101, Outcome::Error)];
        assert!(fail_fast(&c, &few, Some(40), w).pass);
        let many: Vec<_> = (0..20).map(|i| e("x", i * 50, i * 50 + 1, Outcome::Error)).collect();
        let r = fail_fast(&c, &many, Some(40), w);
        assert!(!r.pass, "{}", r.observed);
        // No request sent: silence at the mock is no evidence of failing fast.
        for sent in [None, Some(0)] {
            let r = fail_fast(&c, &[], sent, w);
            assert!(!r.pass && r.observed.starts_with("not judgeable: no load request was sent"), "{}", r.observed);
        }
        assert!(fail_fast(&FailFastCheck { loaded: false, ..c }, &[], None, w).pass, "a scenario without load judges the calls alone");
    }
}

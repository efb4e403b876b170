//! `kind: alert` — the alert's life around a fault: pending, then firing
//! within a deadline of the fault's start, resolved within a deadline of its
//! end, with labels and non-empty annotations; active before the fault is a
//! false alarm.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{alert_name, has_labels, labels, ms, needs_alerting, no_data};
use crate::clock::Window;
use crate::collectors::alerts::{AlertRecord, AlertTimeline};
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded, secs};
use crate::scenario::{Ctx, Names, Scalar, WindowExpr, parse_window};

/// `kind: alert` — pending then firing within a deadline of the fault's
/// start, resolved within a deadline of its end, with labels/annotations.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub alert: String,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub annotations: Vec<String>,
    /// Phase in which the fault happens.
    pub fault: String,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub pending_within: Option<Duration>,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub fires_within: Duration,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub resolves_within: Option<Duration>,
}

/// `kind: alert` — the alert's life around a fault.
#[derive(Debug, Clone)]
pub struct AlertCheck {
    pub alert: String,
    /// Labels the alert must carry (and by which instances are selected).
    pub labels: Vec<(String, String)>,
    /// Annotations that must be present and non-empty.
    pub annotations: Vec<String>,
    /// The phase whose start (firing) and end (resolution) timings refer to.
    pub fault: WindowExpr,
    pub pending_within: Option<Duration>,
    pub fires_within: Duration,
    pub resolves_within: Option<Duration>,
}

impl Kind for AlertCheck {
    const NAME: &'static str = "alert";
    type Raw = RawAlert;

    fn compile(cx: &mut Ctx, path: &str, r: RawAlert, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("alert {} fires within {:?}", self.alert, self.fires_within)
    }

    /// An alert is followed from its fault's start to the end of the run.
    fn default_window(&self) -> WindowExpr {
        WindowExpr::parse(&format!("{}..end", self.fault.text())).unwrap_or_else(|_| self.fault.clone())
    }

    fn judge(&self, rec: &Recorded, _w: Window, _id: &str) -> Judgement {
        alert(self, rec.alerts.as_ref(), rec.window(&self.fault), rec.origin)
    }

    fn signals(&self) -> Signals {
        Signals::default().alert(&self.alert)
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawAlert, names: &Names) -> Option<AlertCheck> {
    let phases = names.phases;
    let times = [("pending_within", r.pending_within), ("fires_within", Some(r.fires_within)), ("resolves_within", r.resolves_within)];
    if !cx.durations(path, &times, true) {
        return None;
    }
    let alerting = needs_alerting(cx, path, names.alerting)?;
    alert_name(cx, &format!("{path}.alert"), &r.alert, alerting);
    let fault = parse_window(cx, &format!("{path}.fault"), &r.fault, phases, false)?;
    if let (Some(d), Some(w)) = (r.resolves_within, fault.resolve(phases)) {
        let end = phases.last().map(|p| p.end).unwrap_or_default();
        if w.end + d > end {
            let left = end.saturating_sub(w.end);
            cx.err_value(
                &format!("{path}.resolves_within"),
                format!("the run ends {left:?} after `{}` ends, so resolution within {d:?} cannot be observed", r.fault),
                Some("lengthen the phase after the fault, or lower `resolves_within`".into()),
            );
        }
    }
    Some(AlertCheck {
        alert: r.alert,
        labels: labels(r.labels),
        annotations: r.annotations,
        fault,
        pending_within: r.pending_within,
        fires_within: r.fires_within,
        resolves_within: r.resolves_within,
    })
}

fn expected(c: &AlertCheck) -> String {
    let mut expected = format!("{} firing within {:?} of the fault's start", c.alert, c.fires_within);
    if let Some(p) = c.pending_within {
        expected = format!("{} pending within {p:?} and {expected}", c.alert);
    }
    if let Some(r) = c.resolves_within {
        expected.push_str(&format!(", resolved within {r:?} of its end"));
    }
    expected
}

/// The annotations Prometheus rendered on the latest poll that had the
/// alert, and a problem for each expected one that is missing or empty.
fn annotations(c: &AlertCheck, rec: &AlertRecord, problems: &mut Vec<String>) -> BTreeMap<String, String> {
    let annotations = rec
        .prometheus
        .iter()
        .rev()
        .flat_map(|p| &p.alerts)
        .find(|a| a.name == c.alert && has_labels(&a.labels, &c.labels))
        .map(|a| a.annotations.clone())
        .unwrap_or_default();
    for a in &c.annotations {
        if annotations.get(a).is_none_or(|v| v.trim().is_empty()) {
            problems.push(format!("annotation `{a}` missing or empty"));
        }
    }
    annotations
}

pub(crate) fn alert(c: &AlertCheck, rec: Option<&AlertRecord>, fault: Window, origin: Duration) -> Judgement {
    let expected = expected(c);
    if let Some(j) = no_data(rec, expected.clone()) {
        return j;
    }
    let rec = rec.expect("checked by no_data");
    let named: Vec<AlertTimeline> = rec.timeline().into_iter().filter(|t| t.name == c.alert).collect();
    let inst: Vec<&AlertTimeline> = named.iter().filter(|t| has_labels(&t.labels, &c.labels)).collect();
    let fail = |observed: String, evidence: serde_json::Value| Judgement { pass: false, expected: expected.clone(), observed, evidence };
    if inst.is_empty() {
        return match named.first() {
            Some(t) => fail(format!("{} fired, but without the labels {:?}", c.alert, c.labels), json!({ "labels_seen": t.labels })),
            None => fail(
                format!("{} never became pending or firing", c.alert),
                json!({ "polls": rec.prometheus.len(), "alerts_seen": rec.timeline().iter().map(|t| t.name.clone()).collect::<std::collections::BTreeSet<_>>() }),
            ),
        };
    }
    let mut problems = Vec::new();
    // Earliest activity; anything before the fault is a false alarm.
    let active_at = inst.iter().filter_map(|t| t.active_at).min();
    let firing_at = inst.iter().filter_map(|t| t.firing_at).min();
    if let Some(a) = active_at.filter(|a| *a < fault.start) {
        problems.push(format!("already active at {}, before the fault started at {}", secs(a, origin), secs(fault.start, origin)));
    }
    let after = |t: Option<Duration>| t.map(|t| t.saturating_sub(fault.start));
    let pending_after = after(active_at);
    let firing_after = after(firing_at);
    if let Some(p) = c.pending_within {
        match pending_after {
            Some(d) if d <= p => {}
            Some(d) => problems.push(format!("pending {:.2}s after the fault started (limit {p:?})", d.as_secs_f64())),
            None => problems.push("never pending".into()),
        }
    }
    match firing_after {
        Some(d) if d <= c.fires_within => {}
        Some(d) => problems.push(format!("firing {:.2}s after the fault started (limit {:?})", d.as_secs_f64(), c.fires_within)),
        None => problems.push("pending but never firing".into()),
    }
    let still_active = inst.iter().any(|t| t.resolved_at.is_none());
    let resolved_at = inst.iter().filter_map(|t| t.resolved_at).max();
    let resolved_after = resolved_at.map(|r| r.saturating_sub(fault.end));
    if let Some(limit) = c.resolves_within {
        if still_active {
            let until = rec.observed_until.map(|u| secs(u, origin)).unwrap_or_default();
            problems.push(format!("still active at the last poll ({until}); should resolve within {limit:?} of the fault's end"));
        } else if let Some(d) = resolved_after.filter(|d| *d > limit) {
            problems.push(format!("resolved {:.2}s after the fault ended (limit {limit:?})", d.as_secs_f64()));
        }
    }
    let annotations = annotations(c, rec, &mut problems);
    let t = |d: Option<Duration>| d.map(|d| secs(d, origin));
    let observed = match (firing_after, resolved_after) {
        (Some(f), Some(r)) if !still_active => {
            format!("firing {:.2}s after the fault started, resolved {:.2}s after it ended", f.as_secs_f64(), r.as_secs_f64())
        }
        (Some(f), _) => format!("firing {:.2}s after the fault started", f.as_secs_f64()),
        (None, _) => "never firing".into(),
    };
    Judgement {
        pass: problems.is_empty(),
        expected,
        observed: if problems.is_empty() { observed } else { format!("{observed}; {}", problems.join("; ")) },
        evidence: json!({
            "pending_at": t(active_at), "firing_at": t(firing_at), "resolved_at": t(resolved_at),
            "pending_after_fault_ms": pending_after.map(ms), "firing_after_fault_ms": firing_after.map(ms),
            "resolved_after_fault_end_ms": resolved_after.map(ms), "still_active_at_end": still_active,
            "instances": inst.iter().map(|t| &t.labels).collect::<Vec<_>>(), "annotations": annotations,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::clock::Window;
    use crate::collectors::alerts::AlertRecord;

    use std::time::Duration;

    #[test]
    fn alert_fires_and_resolves_in_time() {
        let j = alert(&check(4.0, Some(6.0)), Some(&record()), FAULT, Duration::ZERO);
        assert!(j.pass, "{}", j.observed);
        assert_eq!(j.evidence["firing_after_fault_ms"], 3000);
        assert_eq!(j.evidence["resolved_after_fault_end_ms"], 5000);
    }

    #[test]
    fn late_firing_slow_resolution_and_missing_annotation_fail() {
        let j = alert(&check(2.0, None), Some(&record()), FAULT, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("firing 3.00s after the fault started (limit 2s)"), "{}", j.observed);
        let j = alert(&check(4.0, Some(4.0)), Some(&record()), FAULT, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("resolved 5.00s after the fault ended"), "{}", j.observed);
        let mut c = check(4.0, None);
        c.annotations.push("runbook_url".into());
        let j = alert(&c, Some(&record()), FAULT, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("annotation `runbook_url` missing"), "{}", j.observed);
        c.labels = vec![("severity".into(), "warning".into())];
        let j = alert(&c, Some(&record()), FAULT, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("without the labels"), "{}", j.observed);
    }

    #[test]
    fn an_alert_that_never_fires_or_was_never_polled_fails() {
        let mut c = check(4.0, None);
        c.alert = "B".into();
        let j = alert(&c, Some(&record()), FAULT, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("never became pending or firing"), "{}", j.observed);
        let j = alert(
            &check(4.0, None),
            Some(&AlertRecord { poll_errors: 3, first_poll_error: Some("refused".into()), ..Default::default() }),
            FAULT,
            Duration::ZERO,
        );
        assert!(!j.pass && j.observed.contains("never polled successfully"), "{}", j.observed);
        assert!(!alert(&check(4.0, None), None, FAULT, Duration::ZERO).pass);
    }

    #[test]
    fn an_alert_active_before_the_fault_is_a_false_alarm() {
        let late_fault = Window { start: s(11.0), end: s(15.0) };
        let j = alert(&check(4.0, None), Some(&record()), late_fault, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("before the fault started"), "{}", j.observed);
    }
}

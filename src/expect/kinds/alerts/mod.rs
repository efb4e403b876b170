//! `kind: alert`, `no_alert`, `alert_delivered`: judged from what the real
//! Prometheus reported (polled `/api/v1/alerts`) and what its Alertmanager
//! delivered to ordeal's webhook (or, in external mode, where it routed).

pub mod alert;
pub mod delivered;
pub mod no_alert;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::collectors::alerts::{AlertRecord, Labels};
use crate::expect::Judgement;
use crate::scenario::diag::did_you_mean;
use crate::scenario::{AlertingPlan, Ctx, Scalar};

pub fn has_labels(have: &Labels, want: &[(String, String)]) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

pub fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

pub fn no_data(rec: Option<&AlertRecord>, expected: String) -> Option<Judgement> {
    let why = match rec {
        None => "no alert data was recorded (the run has no `alerting:` or it did not start)".to_string(),
        Some(r) if r.prometheus.is_empty() => format!(
            "Prometheus was never polled successfully ({} errors; first: {})",
            r.poll_errors,
            r.first_poll_error.as_deref().unwrap_or("none")
        ),
        Some(_) => return None,
    };
    Some(Judgement { pass: false, expected, observed: why, evidence: json!(null) })
}

pub fn needs_alerting<'a>(cx: &mut Ctx, path: &str, alerting: Option<&'a AlertingPlan>) -> Option<&'a AlertingPlan> {
    if alerting.is_none() {
        cx.err(
            &format!("{path}.kind"),
            "this expectation needs an `alerting:` section",
            Some("add `alerting: { rules: [rules.yaml] }` (ordeal then runs Prometheus and Alertmanager)".into()),
        );
    }
    alerting
}

pub fn alert_name(cx: &mut Ctx, path: &str, name: &str, alerting: &AlertingPlan) {
    if !alerting.alert_names.is_empty() && !alerting.alert_names.iter().any(|a| a == name) {
        let hint = did_you_mean(name, alerting.alert_names.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("the rule files define: {}", alerting.alert_names.join(", ")));
        cx.err_value(path, format!("no alert named `{name}` in the rule files"), Some(hint));
    }
}

pub fn labels(l: BTreeMap<String, Scalar>) -> Vec<(String, String)> {
    l.into_iter().map(|(k, v)| (k, v.0)).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::alert::*;
    use super::delivered::*;
    use super::no_alert::*;
    use crate::clock::Window;
    use crate::collectors::alerts::AlertRecord;
    use crate::collectors::alerts::{DeliveredAlert, Delivery, PromAlert, PromPoll};
    use crate::scenario::WindowExpr;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn firing(name: &str, state: &str, active: f64) -> PromAlert {
        PromAlert {
            name: name.into(),
            labels: [("alertname".to_string(), name.to_string()), ("severity".to_string(), "critical".to_string())].into(),
            annotations: [("summary".to_string(), "s".to_string())].into(),
            state: state.into(),
            active_at: Some(s(active)),
            value: "1".into(),
        }
    }

    /// A at 10s pending, 12s firing, gone at 20s; polled every second from 0 to 27s.
    fn record() -> AlertRecord {
        let prometheus = (0..28)
            .map(|t| {
                let t = t as f64;
                let alerts = match t {
                    t if (10.0..12.0).contains(&t) => vec![firing("A", "pending", 10.0)],
                    t if (12.0..20.0).contains(&t) => vec![firing("A", "firing", 10.0)],
                    _ => vec![],
                };
                PromPoll { at: s(t), alerts }
            })
            .collect();
        let delivered = |at: f64, receiver: &str, status: &str| Delivery {
            at: s(at),
            receiver: receiver.into(),
            status: status.into(),
            alerts: vec![DeliveredAlert {
                name: "A".into(),
                status: status.into(),
                labels: firing("A", "firing", 0.0).labels,
                annotations: Default::default(),
            }],
        };
        AlertRecord {
            mode: "managed".into(),
            prometheus,
            deliveries: vec![delivered(13.0, "pager", "firing"), delivered(21.0, "pager", "resolved")],
            observed_until: Some(s(27.0)),
            ..Default::default()
        }
    }

    fn check(fires: f64, resolves: Option<f64>) -> AlertCheck {
        AlertCheck {
            alert: "A".into(),
            labels: vec![("severity".into(), "critical".into())],
            annotations: vec!["summary".into()],
            fault: WindowExpr::whole(),
            pending_within: Some(s(1.0)),
            fires_within: s(fires),
            resolves_within: resolves.map(s),
        }
    }

    const FAULT: Window = Window { start: Duration::from_secs(9), end: Duration::from_secs(15) };

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

    #[test]
    fn no_alert_passes_when_quiet_and_names_the_false_alarm() {
        let quiet = NoAlertCheck { alerts: vec![], include_pending: false };
        assert!(no_alert(&quiet, Some(&record()), Window { start: s(0.0), end: s(10.0) }, Duration::ZERO).pass);
        // Pending alone is not firing, unless asked.
        assert!(no_alert(&quiet, Some(&record()), Window { start: s(10.0), end: s(12.0) }, Duration::ZERO).pass);
        let strict = NoAlertCheck { alerts: vec!["A".into()], include_pending: true };
        let j = no_alert(&strict, Some(&record()), Window { start: s(10.0), end: s(12.0) }, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("false alarm: A pending at 10.00s"), "{}", j.observed);
        let j = no_alert(&quiet, Some(&record()), Window { start: s(5.0), end: s(25.0) }, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("A firing at 12.00s"), "{}", j.observed);
        let j = no_alert(&quiet, Some(&record()), Window { start: s(40.0), end: s(50.0) }, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("not polled in the window"), "{}", j.observed);
    }

    #[test]
    fn delivery_is_timed_and_a_wrong_receiver_is_named() {
        let whole = Window { start: Duration::ZERO, end: s(30.0) };
        let c = |receiver: &str, status: &str, within: f64| AlertDeliveredCheck {
            alert: "A".into(),
            receiver: receiver.into(),
            status: status.into(),
            within: Some(s(within)),
            labels: vec![],
        };
        let j = delivered(&c("pager", "firing", 2.0), Some(&record()), whole, Duration::ZERO);
        assert!(j.pass, "{}", j.observed);
        assert_eq!(j.evidence["latency_ms"], 1000);
        assert!(delivered(&c("pager", "resolved", 2.0), Some(&record()), whole, Duration::ZERO).pass);
        let j = delivered(&c("pager", "firing", 0.5), Some(&record()), whole, Duration::ZERO);
        assert!(!j.pass, "{}", j.observed);
        let j = delivered(&c("chat", "firing", 2.0), Some(&record()), whole, Duration::ZERO);
        assert!(!j.pass && j.observed.contains("delivered to `pager` instead"), "{}", j.observed);
    }
}

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

/// Synthetic records shared by the tests of this family's kinds.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::alert::*;

    use crate::clock::Window;
    use crate::collectors::alerts::AlertRecord;
    use crate::collectors::alerts::{DeliveredAlert, Delivery, PromAlert, PromPoll, RuleSeen};
    use crate::scenario::WindowExpr;
    use std::time::Duration;

    pub(crate) fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    pub(crate) fn firing(name: &str, state: &str, active: f64) -> PromAlert {
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
    pub(crate) fn record() -> AlertRecord {
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
        let rule = RuleSeen {
            group: "g".into(),
            interval: s(1.0),
            evaluated: (0..28).map(|t| s(t as f64 + 0.5)).collect(),
            evaluations_seen: 28,
            ..Default::default()
        };
        AlertRecord {
            mode: "managed".into(),
            prometheus,
            deliveries: vec![delivered(13.0, "pager", "firing"), delivered(21.0, "pager", "resolved")],
            observed_until: Some(s(27.0)),
            rules: [("A".to_string(), rule)].into(),
            poll_interval: s(1.0),
            ..Default::default()
        }
    }

    pub(crate) fn check(fires: f64, resolves: Option<f64>) -> AlertCheck {
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

    pub(crate) const FAULT: Window = Window { start: Duration::from_secs(9), end: Duration::from_secs(15) };
}

//! `kind: alert_delivered` — Alertmanager notified a receiver: a webhook
//! ordeal hosts got the alert (firing or resolved) within a deadline of
//! Prometheus reporting it; in external mode, where Alertmanager routed it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{alert_name, has_labels, labels, ms, needs_alerting, no_data};
use crate::clock::Window;
use crate::collectors::alerts::{AlertRecord, AlertTimeline};
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded, secs};
use crate::scenario::diag::did_you_mean;
use crate::scenario::{Ctx, Names, Scalar};

/// `kind: alert_delivered` — Alertmanager notified receiver R.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlertDelivered {
    pub alert: String,
    pub receiver: String,
    /// `firing` (default) or `resolved`.
    pub status: Option<String>,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub within: Option<Duration>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
}

/// `kind: alert_delivered` — a notification reached an ordeal webhook receiver.
#[derive(Debug, Clone)]
pub struct AlertDeliveredCheck {
    pub alert: String,
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Deadline after Prometheus reported it firing (for `resolved`: after
    /// it disappeared from Prometheus).
    pub within: Option<Duration>,
    pub labels: Vec<(String, String)>,
}

impl Kind for AlertDeliveredCheck {
    const NAME: &'static str = "alert_delivered";
    type Raw = RawAlertDelivered;

    fn compile(cx: &mut Ctx, path: &str, r: RawAlertDelivered, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("alert {} delivered to {}", self.alert, self.receiver)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        delivered(self, rec.alerts.as_ref(), w, rec.origin)
    }

    fn signals(&self) -> Signals {
        Signals::default().alert(&self.alert)
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawAlertDelivered, names: &Names) -> Option<AlertDeliveredCheck> {
    if !cx.durations(path, &[("within", r.within)], true) {
        return None;
    }
    let alerting = needs_alerting(cx, path, names.alerting)?;
    alert_name(cx, &format!("{path}.alert"), &r.alert, alerting);
    if let Some(m) = alerting.managed()
        && !m.receivers.contains(&r.receiver)
    {
        let hint = did_you_mean(&r.receiver, m.receivers.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("the route's receivers are: {}", m.receivers.join(", ")));
        cx.err_value(&format!("{path}.receiver"), format!("no receiver named `{}` in the Alertmanager route", r.receiver), Some(hint));
    }
    let status = r.status.unwrap_or_else(|| "firing".into());
    if status != "firing" && status != "resolved" {
        cx.err_value(&format!("{path}.status"), format!("unknown status `{status}`"), Some("use `firing` or `resolved`".into()));
        return None;
    }
    Some(AlertDeliveredCheck { alert: r.alert, receiver: r.receiver, status, within: r.within, labels: labels(r.labels) })
}

pub(crate) fn delivered(c: &AlertDeliveredCheck, rec: Option<&AlertRecord>, w: Window, origin: Duration) -> Judgement {
    let expected = format!(
        "{} ({}) delivered to receiver `{}`{}",
        c.alert,
        c.status,
        c.receiver,
        c.within.map(|d| format!(" within {d:?}")).unwrap_or_default()
    );
    if let Some(j) = no_data(rec, expected.clone()) {
        return j;
    }
    let rec = rec.expect("checked by no_data");
    let timeline: Vec<AlertTimeline> =
        rec.timeline().into_iter().filter(|t| t.name == c.alert && has_labels(&t.labels, &c.labels)).collect();
    let reference = if c.status == "firing" {
        timeline.iter().filter_map(|t| t.firing_at).filter(|t| w.contains(*t)).min()
    } else {
        timeline.iter().filter_map(|t| t.resolved_at).filter(|t| w.contains(*t)).min()
    };
    if !rec.managed() {
        return routed_externally(c, rec, expected, w, origin);
    }
    let matching = |d: &&crate::collectors::alerts::Delivery| {
        w.contains(d.at) && d.alerts.iter().any(|a| a.name == c.alert && a.status == c.status && has_labels(&a.labels, &c.labels))
    };
    let all: Vec<serde_json::Value> = rec
        .deliveries
        .iter()
        .filter(|d| d.alerts.iter().any(|a| a.name == c.alert))
        .map(|d| json!({ "at": secs(d.at, origin), "receiver": d.receiver, "status": d.status }))
        .collect();
    let Some(hit) = rec.deliveries.iter().filter(|d| d.receiver == c.receiver).find(matching) else {
        let elsewhere: Vec<&str> = rec.deliveries.iter().filter(matching).map(|d| d.receiver.as_str()).collect();
        let observed = match elsewhere.first() {
            Some(r) => format!("delivered to `{r}` instead"),
            None if reference.is_none() => format!("{} was never {} in Prometheus, and nothing was delivered", c.alert, c.status),
            None => format!(
                "{} was {} in Prometheus at {}, but no notification reached any receiver",
                c.alert,
                c.status,
                secs(reference.unwrap_or_default(), origin)
            ),
        };
        return Judgement { pass: false, expected, observed, evidence: json!({ "deliveries": all }) };
    };
    let latency = reference.map(|r| hit.at.saturating_sub(r));
    let late = matches!((c.within, latency), (Some(limit), Some(l)) if l > limit) || (c.within.is_some() && latency.is_none());
    let observed = match latency {
        // The notification beat ordeal's next poll of Prometheus.
        Some(_) if reference.is_some_and(|r| hit.at < r) => format!(
            "delivered to `{}` at {}, within one poll interval of Prometheus reporting it {}",
            hit.receiver,
            secs(hit.at, origin),
            c.status
        ),
        Some(l) => format!(
            "delivered to `{}` at {}, {:.2}s after Prometheus reported it {}",
            hit.receiver,
            secs(hit.at, origin),
            l.as_secs_f64(),
            c.status
        ),
        None => {
            format!("delivered to `{}` at {} (Prometheus never reported it {} in the window)", hit.receiver, secs(hit.at, origin), c.status)
        }
    };
    let alert = hit.alerts.iter().find(|a| a.name == c.alert);
    Judgement {
        pass: !late,
        expected,
        observed,
        evidence: json!({ "delivered_at": secs(hit.at, origin), "latency_ms": latency.map(ms), "labels": alert.map(|a| &a.labels), "annotations": alert.map(|a| &a.annotations), "deliveries": all }),
    }
}

/// External mode: ordeal cannot see the notification, only where Alertmanager routed the alert.
fn routed_externally(c: &AlertDeliveredCheck, rec: &AlertRecord, expected: String, w: Window, origin: Duration) -> Judgement {
    if c.status != "firing" {
        return Judgement {
            pass: false,
            expected,
            observed: "a resolved notification cannot be observed against an external Alertmanager".into(),
            evidence: json!(null),
        };
    }
    let seen = rec.alertmanager.iter().filter(|p| w.contains(p.at)).find_map(|p| {
        p.alerts
            .iter()
            .find(|a| a.name == c.alert && has_labels(&a.labels, &c.labels) && a.receivers.contains(&c.receiver))
            .map(|a| (p.at, a))
    });
    match seen {
        Some((at, a)) => Judgement {
            pass: true,
            expected,
            observed: format!(
                "Alertmanager routed it to `{}` at {} (external mode: the notification itself is not observable)",
                c.receiver,
                secs(at, origin)
            ),
            evidence: json!({ "at": secs(at, origin), "state": a.state, "receivers": a.receivers }),
        },
        None => Judgement {
            pass: false,
            expected,
            observed: format!("Alertmanager never routed {} to `{}` ({} polls)", c.alert, c.receiver, rec.alertmanager.len()),
            evidence: json!(null),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::clock::Window;

    use std::time::Duration;

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

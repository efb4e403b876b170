//! `kind: alert`, `no_alert`, `alert_delivered`: judged from what the real
//! Prometheus reported (polled `/api/v1/alerts`) and what its Alertmanager
//! delivered to ordeal's webhook (or, in external mode, where it routed).

use std::time::Duration;

use serde_json::json;

use super::{Judgement, secs};
use crate::clock::Window;
use crate::collectors::alerts::{AlertRecord, AlertTimeline, Labels};
use crate::scenario::{AlertCheck, AlertDeliveredCheck, NoAlertCheck};

fn has_labels(have: &Labels, want: &[(String, String)]) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn no_data(rec: Option<&AlertRecord>, expected: String) -> Option<Judgement> {
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

pub(crate) fn alert(c: &AlertCheck, rec: Option<&AlertRecord>, fault: Window, origin: Duration) -> Judgement {
    let mut expected = format!("{} firing within {:?} of the fault's start", c.alert, c.fires_within);
    if let Some(p) = c.pending_within {
        expected = format!("{} pending within {p:?} and {expected}", c.alert);
    }
    if let Some(r) = c.resolves_within {
        expected.push_str(&format!(", resolved within {r:?} of its end"));
    }
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
    // Annotations as Prometheus rendered them on the latest poll that had the alert.
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

pub(crate) fn no_alert(c: &NoAlertCheck, rec: Option<&AlertRecord>, w: Window, origin: Duration) -> Judgement {
    let which = if c.alerts.is_empty() { "no alert".to_string() } else { format!("none of {}", c.alerts.join(", ")) };
    let expected = format!("{which} {} in the window", if c.include_pending { "pending or firing" } else { "firing" });
    if let Some(j) = no_data(rec, expected.clone()) {
        return j;
    }
    let rec = rec.expect("checked by no_data");
    let polls: Vec<_> = rec.prometheus.iter().filter(|p| w.contains(p.at)).collect();
    if polls.is_empty() {
        return Judgement { pass: false, expected, observed: "Prometheus was not polled in the window".into(), evidence: json!(null) };
    }
    let mut offenders: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for p in &polls {
        for a in &p.alerts {
            let counted = (c.alerts.is_empty() || c.alerts.contains(&a.name)) && (a.firing() || c.include_pending);
            if counted && !offenders.contains_key(&a.name) {
                offenders.insert(
                    a.name.clone(),
                    json!({ "first_seen": secs(p.at, origin), "state": a.state, "value": a.value, "labels": a.labels }),
                );
            }
        }
    }
    Judgement {
        pass: offenders.is_empty(),
        expected,
        observed: if offenders.is_empty() {
            format!("nothing fired in {} polls", polls.len())
        } else {
            let list: Vec<String> = offenders
                .iter()
                .map(|(n, v)| format!("{n} {} at {}", v["state"].as_str().unwrap_or(""), v["first_seen"].as_str().unwrap_or("")))
                .collect();
            format!("false alarm: {}", list.join(", "))
        },
        evidence: json!({ "polls": polls.len(), "alerts": offenders }),
    }
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
    use super::*;
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

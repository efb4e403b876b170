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
            None => fail(format!("{} never became pending or firing", c.alert), json!({ "polls": rec.prometheus.len(), "alerts_seen": rec.timeline().iter().map(|t| t.name.clone()).collect::<std::collections::BTreeSet<_>>() })),
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
        (Some(f), Some(r)) if !still_active => format!("firing {:.2}s after the fault started, resolved {:.2}s after it ended", f.as_secs_f64(), r.as_secs_f64()),
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
                offenders.insert(a.name.clone(), json!({ "first_seen": secs(p.at, origin), "state": a.state, "value": a.value, "labels": a.labels }));
            }
        }
    }
    Judgement {
        pass: offenders.is_empty(),
        expected,
        observed: if offenders.is_empty() {
            format!("nothing fired in {} polls", polls.len())
        } else {
            let list: Vec<String> = offenders.iter().map(|(n, v)| format!("{n} {} at {}", v["state"].as_str().unwrap_or(""), v["first_seen"].as_str().unwrap_or(""))).collect();
            format!("false alarm: {}", list.join(", "))
        },
        evidence: json!({ "polls": polls.len(), "alerts": offenders }),
    }
}

pub(crate) fn delivered(c: &AlertDeliveredCheck, rec: Option<&AlertRecord>, w: Window, origin: Duration) -> Judgement {
    let expected = format!("{} ({}) delivered to receiver `{}`{}", c.alert, c.status, c.receiver, c.within.map(|d| format!(" within {d:?}")).unwrap_or_default());
    if let Some(j) = no_data(rec, expected.clone()) {
        return j;
    }
    let rec = rec.expect("checked by no_data");
    let timeline: Vec<AlertTimeline> = rec.timeline().into_iter().filter(|t| t.name == c.alert && has_labels(&t.labels, &c.labels)).collect();
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
            None => format!("{} was {} in Prometheus at {}, but no notification reached any receiver", c.alert, c.status, secs(reference.unwrap_or_default(), origin)),
        };
        return Judgement { pass: false, expected, observed, evidence: json!({ "deliveries": all }) };
    };
    let latency = reference.map(|r| hit.at.saturating_sub(r));
    let late = matches!((c.within, latency), (Some(limit), Some(l)) if l > limit) || (c.within.is_some() && latency.is_none());
    let observed = match latency {
        Some(l) => format!("delivered to `{}` at {}, {:.2}s after Prometheus reported it {}", hit.receiver, secs(hit.at, origin), l.as_secs_f64(), c.status),
        None => format!("delivered to `{}` at {} (Prometheus never reported it {} in the window)", hit.receiver, secs(hit.at, origin), c.status),
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
        return Judgement { pass: false, expected, observed: "a resolved notification cannot be observed against an external Alertmanager".into(), evidence: json!(null) };
    }
    let seen = rec.alertmanager.iter().filter(|p| w.contains(p.at)).find_map(|p| {
        p.alerts.iter().find(|a| a.name == c.alert && has_labels(&a.labels, &c.labels) && a.receivers.contains(&c.receiver)).map(|a| (p.at, a))
    });
    match seen {
        Some((at, a)) => Judgement {
            pass: true,
            expected,
            observed: format!("Alertmanager routed it to `{}` at {} (external mode: the notification itself is not observable)", c.receiver, secs(at, origin)),
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

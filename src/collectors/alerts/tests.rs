use std::time::Duration;

use super::webhook::WebhookSink;
use super::*;
use crate::clock::RunClock;

fn alert(name: &str, state: &str, active_ms: u64) -> PromAlert {
    PromAlert {
        name: name.into(),
        labels: [("alertname".to_string(), name.to_string())].into(),
        annotations: Labels::new(),
        state: state.into(),
        active_at: Some(Duration::from_millis(active_ms)),
        value: "1".into(),
    }
}

fn poll(ms: u64, alerts: Vec<PromAlert>) -> PromPoll {
    PromPoll { at: Duration::from_millis(ms), alerts }
}

#[test]
fn timeline_follows_pending_firing_and_resolution() {
    let rec = AlertRecord {
        mode: "managed".into(),
        prometheus: vec![
            poll(1000, vec![]),
            poll(2000, vec![alert("A", "pending", 1900)]),
            poll(3000, vec![alert("A", "firing", 1900)]),
            poll(4000, vec![alert("A", "firing", 1900)]),
            poll(5000, vec![]),
        ],
        ..Default::default()
    };
    let t = rec.timeline();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].active_at, Some(Duration::from_millis(1900)));
    assert_eq!(t[0].firing_at, Some(Duration::from_millis(3000)));
    assert_eq!(t[0].last_active, Some(Duration::from_millis(4000)));
    assert_eq!(t[0].resolved_at, Some(Duration::from_millis(5000)));
}

#[test]
fn an_alert_active_again_is_not_resolved() {
    let rec = AlertRecord {
        prometheus: vec![poll(1000, vec![alert("A", "firing", 500)]), poll(2000, vec![]), poll(3000, vec![alert("A", "pending", 2900)])],
        ..Default::default()
    };
    let t = rec.timeline();
    assert_eq!(t[0].resolved_at, None);
    assert_eq!(t[0].last_active, Some(Duration::from_millis(3000)));
}

#[test]
fn prometheus_values_parse_including_infinities() {
    assert_eq!(promapi::parse_value("1.5"), 1.5);
    assert_eq!(promapi::parse_value("+Inf"), f64::INFINITY);
    assert!(promapi::parse_value("NaN").is_nan());
}

#[tokio::test]
async fn webhook_records_alertmanager_payloads_and_rejects_garbage() {
    let clock = RunClock::start();
    let sink = WebhookSink::start(clock).unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let payload = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "pager", "groupKey": "{}:{alertname=\"A\"}",
        "alerts": [{ "status": "firing", "labels": { "alertname": "A", "severity": "critical" }, "annotations": { "summary": "s" },
                     "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z" }]
    });
    let r = client.post(sink.url("pager")).json(&payload).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.post(sink.url("pager")).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let got = sink.stop().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receiver, "pager");
    assert_eq!(got[0].status, "firing");
    assert_eq!(got[0].alerts[0].name, "A");
    assert_eq!(got[0].alerts[0].annotations["summary"], "s");
}

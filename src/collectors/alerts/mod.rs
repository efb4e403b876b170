//! Alert collectors: what a real Prometheus and Alertmanager did during a run.
//!
//! - [`poller`]: polls Prometheus `/api/v1/alerts` (pending / firing, with
//!   `activeAt`) and Alertmanager `/api/v2/alerts` (routed receivers) on an
//!   interval, into [`AlertRecord`].
//! - [`webhook`]: the webhook receiver ordeal hosts for Alertmanager; every
//!   notification is kept with its arrival time.
//! - [`promapi`]: a client for the Prometheus HTTP API (`query`,
//!   `query_range`) and the shapes it answers with.
//!
//! Every timestamp is a run-clock offset; Prometheus' wall-clock times are
//! converted with [`crate::clock::RunClock`]. Nothing here judges: the
//! expectations in `expect::alerts` read [`AlertRecord`].

pub mod poller;
pub mod promapi;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub type Labels = BTreeMap<String, String>;

/// One alert as Prometheus' `/api/v1/alerts` listed it at one poll.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PromAlert {
    pub name: String,
    pub labels: Labels,
    pub annotations: Labels,
    /// `pending` or `firing`.
    pub state: String,
    /// When the alert became active (pending), on the run clock; `None` if
    /// Prometheus reported a time before the run started.
    #[serde(with = "crate::clock::opt_ms")]
    #[schemars(with = "Option<f64>")]
    pub active_at: Option<Duration>,
    pub value: String,
}

impl PromAlert {
    pub fn firing(&self) -> bool {
        self.state == "firing"
    }
}

/// One poll of Prometheus: every active alert at `at`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PromPoll {
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub at: Duration,
    pub alerts: Vec<PromAlert>,
}

/// One alert as Alertmanager's `/api/v2/alerts` listed it at one poll.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AmAlert {
    pub name: String,
    pub labels: Labels,
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
    /// Receivers its route selected.
    pub receivers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AmPoll {
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub at: Duration,
    pub alerts: Vec<AmAlert>,
}

/// One webhook notification Alertmanager sent to ordeal's receiver.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Delivery {
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub at: Duration,
    /// Receiver name (from the URL path ordeal configured for it).
    pub receiver: String,
    /// `firing` or `resolved` (the group's status).
    pub status: String,
    pub alerts: Vec<DeliveredAlert>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DeliveredAlert {
    pub name: String,
    pub status: String,
    pub labels: Labels,
    pub annotations: Labels,
}

/// Everything the alert collectors recorded.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct AlertRecord {
    /// `managed` (ordeal ran Prometheus and Alertmanager) or `external`.
    pub mode: String,
    pub prometheus: Vec<PromPoll>,
    pub alertmanager: Vec<AmPoll>,
    /// Webhook notifications (managed mode only).
    pub deliveries: Vec<Delivery>,
    pub poll_errors: usize,
    pub first_poll_error: Option<String>,
    /// Offset of the last successful Prometheus poll: observations end here.
    #[serde(with = "crate::clock::opt_ms")]
    #[schemars(with = "Option<f64>")]
    pub observed_until: Option<Duration>,
    /// Every alerting rule Prometheus reported, by name: when it was seen
    /// evaluated, and its errors — whether it was looking at all.
    pub rules: BTreeMap<String, RuleSeen>,
    /// How often ordeal polled.
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub poll_interval: Duration,
}

/// What the polls of `/api/v1/rules` saw of one alerting rule (of all rules of that name).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct RuleSeen {
    pub group: String,
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub interval: Duration,
    /// Distinct last-evaluation times seen, in order (run clock).
    #[serde(skip)]
    pub evaluated: Vec<Duration>,
    pub evaluations_seen: usize,
    /// Polls that found the rule unhealthy (`health: err`), the first few kept.
    pub errors: Vec<RuleError>,
    pub error_polls: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RuleError {
    #[serde(with = "crate::clock::ms")]
    #[schemars(with = "f64")]
    pub at: Duration,
    pub error: String,
}

impl RuleSeen {
    /// Records one poll's view of a rule of this name.
    pub fn saw(&mut self, at: Duration, r: &promapi::RuleState) {
        self.group.clone_from(&r.group);
        self.interval = self.interval.max(r.interval);
        if let Some(t) = r.last_evaluation {
            // Rules of one name in several groups interleave: keep the times ordered.
            if let Err(i) = self.evaluated.binary_search(&t) {
                self.evaluated.insert(i, t);
                self.evaluations_seen += 1;
            }
        }
        if r.health == "err" {
            self.error_polls += 1;
            if self.errors.len() < 5 {
                self.errors.push(RuleError { at, error: r.last_error.clone() });
            }
        }
    }
}

impl AlertRecord {
    /// Whether deliveries are observed (ordeal hosted the webhook).
    pub fn managed(&self) -> bool {
        self.mode == "managed"
    }

    /// Why an absence of alerts in `w` proves nothing: Prometheus reported no
    /// rule (of these `names`; every rule when empty), a rule failed to
    /// evaluate, or its evaluations seen leave a hole (more than two
    /// evaluation or poll intervals, plus a second) somewhere in the window.
    pub fn not_evaluated(&self, names: &[String], w: crate::clock::Window) -> Option<String> {
        if self.rules.is_empty() {
            return Some("Prometheus reported no alerting rule (did the rule files load?)".into());
        }
        let picked: Vec<(&String, Option<&RuleSeen>)> = if names.is_empty() {
            self.rules.iter().map(|(n, r)| (n, Some(r))).collect()
        } else {
            names.iter().map(|n| (n, self.rules.get(n))).collect()
        };
        for (name, rule) in picked {
            let Some(rule) = rule else {
                return Some(format!("Prometheus has no alerting rule named `{name}`"));
            };
            let gap = 2 * rule.interval.max(self.poll_interval) + Duration::from_secs(1);
            if let Some(e) = rule.errors.iter().find(|e| e.at + gap >= w.start && e.at <= w.end + gap) {
                return Some(format!("rule `{name}` failed to evaluate at {:.2}s: {}", e.at.as_secs_f64(), e.error));
            }
            let seen: Vec<Duration> = rule.evaluated.iter().copied().filter(|t| *t + gap >= w.start && *t <= w.end + gap).collect();
            let hole = match (seen.first(), seen.last()) {
                (None, _) | (_, None) => Some((w.start, w.end)),
                (Some(&first), _) if first > w.start + gap => Some((w.start, first)),
                (_, Some(&last)) if last + gap < w.end => Some((last, w.end)),
                _ => seen.windows(2).find(|p| p[1] - p[0] > gap).map(|p| (p[0], p[1])),
            };
            if let Some((a, b)) = hole {
                return Some(format!(
                    "Prometheus was not seen evaluating rule `{name}` between {:.2}s and {:.2}s (run clock)",
                    a.as_secs_f64(),
                    b.as_secs_f64()
                ));
            }
        }
        None
    }

    /// Per alert instance (name + labels), when it was first seen pending,
    /// first firing, and when it was last seen active — the timings report.json shows.
    pub fn timeline(&self) -> Vec<AlertTimeline> {
        let mut by_key: BTreeMap<(String, Vec<(String, String)>), AlertTimeline> = BTreeMap::new();
        let mut previous: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for poll in &self.prometheus {
            let mut now = Vec::new();
            for a in &poll.alerts {
                let key = (a.name.clone(), a.labels.clone().into_iter().collect::<Vec<_>>());
                let t = by_key.entry(key.clone()).or_insert_with(|| AlertTimeline {
                    name: a.name.clone(),
                    labels: a.labels.clone(),
                    ..Default::default()
                });
                if t.active_at.is_none() {
                    t.active_at = a.active_at.or(Some(poll.at));
                }
                if a.firing() && t.firing_at.is_none() {
                    t.firing_at = Some(poll.at);
                }
                t.last_active = Some(poll.at);
                t.resolved_at = None;
                now.push(key);
            }
            for key in previous.drain(..) {
                if !now.contains(&key)
                    && let Some(t) = by_key.get_mut(&key)
                {
                    t.resolved_at = Some(poll.at);
                }
            }
            previous = now;
        }
        by_key.into_values().collect()
    }
}

/// The life of one alert instance as polled from Prometheus.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct AlertTimeline {
    pub name: String,
    pub labels: Labels,
    #[serde(with = "crate::clock::opt_ms")]
    #[schemars(with = "Option<f64>")]
    pub active_at: Option<Duration>,
    #[serde(with = "crate::clock::opt_ms")]
    #[schemars(with = "Option<f64>")]
    pub firing_at: Option<Duration>,
    #[serde(with = "crate::clock::opt_ms")]
    #[schemars(with = "Option<f64>")]
    pub last_active: Option<Duration>,
    /// First poll where it was gone again (after its last activity).
    #[serde(with = "crate::clock::opt_ms")]
    #[schemars(with = "Option<f64>")]
    pub resolved_at: Option<Duration>,
}

#[cfg(test)]
mod tests {
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
            prometheus: vec![
                poll(1000, vec![alert("A", "firing", 500)]),
                poll(2000, vec![]),
                poll(3000, vec![alert("A", "pending", 2900)]),
            ],
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
}

//! The alert poller: asks Prometheus which alerts are pending or firing,
//! whether and when it evaluated each alerting rule (and Alertmanager where
//! it routed them) every interval, and records each answer on the run
//! clock. A failed poll is counted, never fatal.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::promapi::PromApi;
use super::{AlertRecord, AmPoll, PromPoll};
use crate::clock::RunClock;

pub struct AlertPoller {
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    prometheus: PromApi,
    alertmanager: Option<PromApi>,
    clock: RunClock,
    record: Mutex<AlertRecord>,
}

impl Shared {
    async fn poll(&self) {
        let at = self.clock.now();
        let am = async {
            match &self.alertmanager {
                Some(api) => Some(api.am_alerts().await),
                None => None,
            }
        };
        let (prom, rules, am) = tokio::join!(self.prometheus.alerts(), self.prometheus.rules(), am);
        let mut rec = self.record.lock().unwrap_or_else(|e| e.into_inner());
        fn failed(rec: &mut AlertRecord, e: String) {
            rec.poll_errors += 1;
            if rec.first_poll_error.is_none() {
                tracing::warn!("alert poll failed: {e}");
                rec.first_poll_error = Some(e);
            }
        }
        match prom {
            Ok(alerts) => {
                rec.prometheus.push(PromPoll { at, alerts });
                rec.observed_until = Some(at);
            }
            Err(e) => failed(&mut rec, e.to_string()),
        }
        match rules {
            Ok(rules) => {
                for r in &rules {
                    rec.rules.entry(r.name.clone()).or_default().saw(at, r);
                }
            }
            Err(e) => failed(&mut rec, e.to_string()),
        }
        match am {
            Some(Ok(alerts)) => rec.alertmanager.push(AmPoll { at, alerts }),
            Some(Err(e)) => failed(&mut rec, e.to_string()),
            None => {}
        }
    }
}

impl AlertPoller {
    /// Polls now and then every `interval` until stopped.
    pub fn spawn(prometheus: PromApi, alertmanager: Option<PromApi>, mode: &str, interval: Duration, clock: RunClock) -> Self {
        let record = AlertRecord { mode: mode.to_string(), poll_interval: interval, ..Default::default() };
        let shared = Arc::new(Shared { prometheus, alertmanager, clock, record: Mutex::new(record) });
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let s = shared.clone();
        let task = tokio::spawn(crate::signals::component("alert poller", async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(50)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => s.poll().await,
                    _ = stopped.changed() => break,
                }
            }
        }));
        Self { shared, stop, task }
    }

    /// Polls one last time and returns everything recorded.
    pub async fn stop(self) -> AlertRecord {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.shared.poll().await;
        std::mem::take(&mut *self.shared.record.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

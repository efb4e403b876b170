//! Health prober: GETs every declared health endpoint of every service on an
//! interval and records status codes on the run clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::RunClock;
use crate::runtime::StartedService;

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct HealthSample {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub at: Duration,
    pub service: String,
    pub endpoint: String,
    /// None when no answer came (refused, timed out).
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl HealthSample {
    pub fn up(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }
}

pub struct HealthProber {
    samples: Arc<Mutex<Vec<HealthSample>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HealthProber {
    pub fn spawn(services: &[StartedService], interval: Duration, timeout: Duration, clock: RunClock) -> Self {
        let targets: Vec<(String, String, String)> = services
            .iter()
            .flat_map(|s| s.health.iter().map(move |(name, path)| (s.name.clone(), name.clone(), format!("{}{}", s.url, path))))
            .collect();
        let samples: Arc<Mutex<Vec<HealthSample>>> = Arc::default();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let client = reqwest::Client::builder().timeout(timeout).no_proxy().build().expect("static client config");
        let store = samples.clone();
        let task = tokio::spawn(crate::signals::component("health prober", async move {
            // Test hook: prove that a panic in a collector is a harness fault, not the stack's.
            if std::env::var("ORDEAL_FAILPOINT").as_deref() == Ok("panic-in-prober") {
                panic!("ORDEAL_FAILPOINT=panic-in-prober");
            }
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let probes = targets.iter().map(|(service, endpoint, url)| {
                    let client = client.clone();
                    async move {
                        let at = clock.now();
                        let (status, error) = match client.get(url).send().await {
                            Ok(r) => (Some(r.status().as_u16()), None),
                            Err(e) => (None, Some(crate::runtime::short_reqwest_error(&e))),
                        };
                        HealthSample { at, service: service.clone(), endpoint: endpoint.clone(), status, error }
                    }
                });
                let got = futures::future::join_all(probes).await;
                store.lock().unwrap_or_else(|e| e.into_inner()).extend(got);
            }
        }));
        Self { samples, stop, task }
    }

    pub async fn stop(self) -> Vec<HealthSample> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let mut v = self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        v.sort_by_key(|s| s.at);
        v
    }
}

//! The webhook receiver ordeal hosts for Alertmanager: `POST /hook/<receiver>`
//! on 127.0.0.1. Each notification (Alertmanager's webhook payload, version 4)
//! is recorded with its arrival time, so expectations can check that an alert
//! reached receiver R and how long it took.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{DeliveredAlert, Delivery, Labels};
use crate::clock::RunClock;

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    status: String,
    #[serde(default)]
    alerts: Vec<PayloadAlert>,
}

#[derive(Deserialize)]
struct PayloadAlert {
    #[serde(default)]
    status: String,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
}

struct Shared {
    clock: RunClock,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Shared {
    fn snapshot(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct WebhookSink {
    shared: Arc<Shared>,
    ip: std::net::IpAddr,
    port: u16,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookSink {
    /// Listens on a free loopback port. Must be called inside a tokio runtime.
    pub fn start(clock: RunClock) -> std::io::Result<Self> {
        Self::start_on(clock, std::net::Ipv4Addr::LOCALHOST.into())
    }

    /// Listens on a free port of `ip` (the Docker network's gateway when
    /// Alertmanager runs in a container).
    pub fn start_on(clock: RunClock, ip: std::net::IpAddr) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind((ip, 0))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let shared = Arc::new(Shared { clock, deliveries: Mutex::default() });
        let app = axum::Router::new().route("/hook/{receiver}", axum::routing::post(receive)).with_state(shared.clone());
        let (shutdown, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(crate::signals::component("alert webhook receiver", async move {
            let signal = async move {
                let _ = stopped.changed().await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
                tracing::error!(error = %e, "alert webhook server failed");
            }
        }));
        Ok(Self { shared, ip, port, shutdown, task })
    }

    /// The URL Alertmanager must post to for `receiver`.
    pub fn url(&self, receiver: &str) -> String {
        format!("http://{}/hook/{receiver}", std::net::SocketAddr::new(self.ip, self.port))
    }

    /// Every notification so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.snapshot()
    }

    pub async fn stop(self) -> Vec<Delivery> {
        let _ = self.shutdown.send(true);
        let Self { shared, task, .. } = self;
        if tokio::time::timeout(std::time::Duration::from_secs(2), task).await.is_err() {
            tracing::warn!("alert webhook server still busy after 2s; cutting it off");
        }
        shared.snapshot()
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(receiver): Path<String>,
    body: axum::body::Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let at = shared.clock.now();
    let payload: Payload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("alert webhook `{receiver}`: payload is not an Alertmanager notification: {e}");
            return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": e.to_string() })));
        }
    };
    let alerts = payload
        .alerts
        .into_iter()
        .map(|a| DeliveredAlert {
            name: a.labels.get("alertname").cloned().unwrap_or_default(),
            status: a.status,
            labels: a.labels,
            annotations: a.annotations,
        })
        .collect::<Vec<_>>();
    tracing::info!(
        "alert webhook `{receiver}`: {} ({})",
        payload.status,
        alerts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    shared.deliveries.lock().unwrap_or_else(|e| e.into_inner()).push(Delivery { at, receiver, status: payload.status, alerts });
    (StatusCode::OK, Json(serde_json::json!({})))
}

/// Receivers' names → webhook URLs, for the Alertmanager config.
pub fn receiver_urls<'a>(sink: &WebhookSink, names: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    names.into_iter().map(|n| (n.clone(), sink.url(n))).collect()
}

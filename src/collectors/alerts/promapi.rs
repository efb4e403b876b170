//! The Prometheus and Alertmanager HTTP APIs as ordeal uses them: PromQL
//! `query` / `query_range`, Prometheus `/api/v1/alerts`, Alertmanager
//! `/api/v2/alerts`. Answers are turned into run-clock types here, so the
//! rest of the crate never sees wall-clock strings.

use std::time::Duration;

use serde::Deserialize;

use super::{AmAlert, Labels, PromAlert};
use crate::clock::RunClock;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{url}: {detail}")]
    Request { url: String, detail: String },
    #[error("{url}: HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{url}: unexpected answer: {detail}")]
    Decode { url: String, detail: String },
}

/// One series of a query result: its labels and `(run offset in seconds, value)` points.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct QuerySeries {
    pub labels: Labels,
    pub points: Vec<(f64, f64)>,
}

impl QuerySeries {
    /// `{a="b"}` for evidence.
    pub fn label_text(&self) -> String {
        let inner: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{{{}}}", inner.join(","))
    }
}

/// A client for one Prometheus (and optionally one Alertmanager).
#[derive(Clone)]
pub struct PromApi {
    http: reqwest::Client,
    base: String,
    clock: RunClock,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: Labels,
    #[serde(default)]
    values: Vec<(f64, String)>,
    value: Option<(f64, String)>,
}

#[derive(Deserialize)]
struct AlertsData {
    alerts: Vec<RawPromAlert>,
}

#[derive(Deserialize)]
struct RawPromAlert {
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    state: String,
    #[serde(rename = "activeAt")]
    active_at: Option<String>,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct RulesData {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
struct RawGroup {
    name: String,
    #[serde(default)]
    interval: f64,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
struct RawRule {
    name: String,
    #[serde(default)]
    health: String,
    #[serde(rename = "lastError", default)]
    last_error: String,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: Option<String>,
}

/// One alerting rule as `/api/v1/rules` reported it at one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleState {
    pub name: String,
    pub group: String,
    /// The group's evaluation interval.
    pub interval: Duration,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    pub health: String,
    pub last_error: String,
    /// The last evaluation on the run clock; `None` before the first one (or before the run).
    pub last_evaluation: Option<Duration>,
}

#[derive(Deserialize)]
struct RawAmAlert {
    #[serde(default)]
    labels: Labels,
    status: RawAmStatus,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
}

#[derive(Deserialize)]
struct RawAmStatus {
    state: String,
}

#[derive(Deserialize)]
struct RawReceiver {
    name: String,
}

impl PromApi {
    pub fn new(base: &str, clock: RunClock) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).no_proxy().build().unwrap_or_default();
        Self { http, base: base.trim_end_matches('/').to_string(), clock }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let fail = |detail: String| ApiError::Request { url: url.clone(), detail };
        let resp = self.http.get(&url).query(query).send().await.map_err(|e| fail(crate::runtime::short_reqwest_error(&e)))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| fail(e.to_string()))?;
        // Prometheus answers 400/422 with a JSON error envelope; show its message.
        if !status.is_success() && !body.trim_start().starts_with('{') {
            return Err(ApiError::Status { url, status: status.as_u16(), body: body.chars().take(300).collect() });
        }
        serde_json::from_str(&body)
            .map_err(|e| ApiError::Decode { url, detail: format!("{e}: {}", body.chars().take(200).collect::<String>()) })
    }

    async fn prom<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        let env: Envelope<T> = self.get_json(path, query).await?;
        match (env.status.as_str(), env.data) {
            ("success", Some(d)) => Ok(d),
            _ => Err(ApiError::Decode {
                url: format!("{}{path}", self.base),
                detail: env.error.unwrap_or_else(|| format!("status {}", env.status)),
            }),
        }
    }

    /// `GET /api/v1/query_range` from `start` to `end` (run offsets).
    pub async fn query_range(&self, expr: &str, start: Duration, end: Duration, step: Duration) -> Result<Vec<QuerySeries>, ApiError> {
        let q = [
            ("query", expr.to_string()),
            ("start", format!("{:.3}", self.clock.unix_secs_at(start))),
            ("end", format!("{:.3}", self.clock.unix_secs_at(end))),
            ("step", format!("{:.3}", step.as_secs_f64().max(0.001))),
        ];
        let d: QueryData = self.prom("/api/v1/query_range", &q).await?;
        self.series(d)
    }

    /// `GET /api/v1/query` at `at` (a run offset).
    pub async fn query(&self, expr: &str, at: Duration) -> Result<Vec<QuerySeries>, ApiError> {
        let q = [("query", expr.to_string()), ("time", format!("{:.3}", self.clock.unix_secs_at(at)))];
        let d: QueryData = self.prom("/api/v1/query", &q).await?;
        self.series(d)
    }

    fn series(&self, d: QueryData) -> Result<Vec<QuerySeries>, ApiError> {
        let decode = |detail: String| ApiError::Decode { url: format!("{}/api/v1/query", self.base), detail };
        let point = |(t, v): (f64, String)| {
            let at = self.clock.offset_of_unix_secs(t).map_or(0.0, |d| d.as_secs_f64());
            (at, parse_value(&v))
        };
        match d.result_type.as_str() {
            "matrix" | "vector" => {
                let raw: Vec<RawSeries> = serde_json::from_value(d.result).map_err(|e| decode(e.to_string()))?;
                Ok(raw
                    .into_iter()
                    .map(|s| QuerySeries { labels: s.metric, points: s.value.into_iter().chain(s.values).map(point).collect() })
                    .collect())
            }
            "scalar" => {
                let p: (f64, String) = serde_json::from_value(d.result).map_err(|e| decode(e.to_string()))?;
                Ok(vec![QuerySeries { labels: Labels::new(), points: vec![point(p)] }])
            }
            other => Err(decode(format!("result type `{other}` is not a number (use a numeric expression)"))),
        }
    }

    /// `GET /api/v1/targets`: `(job, health, last error)` of every active target.
    pub async fn targets(&self) -> Result<Vec<(String, String, String)>, ApiError> {
        #[derive(Deserialize)]
        struct Targets {
            #[serde(rename = "activeTargets")]
            active: Vec<Target>,
        }
        #[derive(Deserialize)]
        struct Target {
            #[serde(default)]
            labels: Labels,
            health: String,
            #[serde(rename = "lastError", default)]
            last_error: String,
        }
        let t: Targets = self.prom("/api/v1/targets", &[("state", "active".into())]).await?;
        Ok(t.active.into_iter().map(|t| (t.labels.get("job").cloned().unwrap_or_default(), t.health, t.last_error)).collect())
    }

    /// `GET /api/v1/alerts`: every pending and firing alert now.
    pub async fn alerts(&self) -> Result<Vec<PromAlert>, ApiError> {
        let d: AlertsData = self.prom("/api/v1/alerts", &[]).await?;
        Ok(d.alerts
            .into_iter()
            .map(|a| PromAlert {
                name: a.labels.get("alertname").cloned().unwrap_or_default(),
                active_at: a.active_at.as_deref().and_then(|t| self.clock.offset_of_rfc3339(t)),
                labels: a.labels,
                annotations: a.annotations,
                state: a.state,
                value: a.value,
            })
            .collect())
    }

    /// `GET /api/v1/rules?type=alert`: every alerting rule, its health and last evaluation.
    pub async fn rules(&self) -> Result<Vec<RuleState>, ApiError> {
        let d: RulesData = self.prom("/api/v1/rules", &[("type", "alert".into())]).await?;
        Ok(d.groups
            .into_iter()
            .flat_map(|g| {
                let interval = Duration::try_from_secs_f64(g.interval).unwrap_or_default();
                g.rules.into_iter().map(move |r| RuleState {
                    name: r.name,
                    group: g.name.clone(),
                    interval,
                    health: r.health,
                    last_error: r.last_error,
                    last_evaluation: r.last_evaluation.as_deref().and_then(|t| self.clock.offset_of_rfc3339(t)),
                })
            })
            .collect())
    }

    /// Alertmanager `GET /api/v2/alerts` (this client's base is the Alertmanager).
    pub async fn am_alerts(&self) -> Result<Vec<AmAlert>, ApiError> {
        let raw: Vec<RawAmAlert> = self.get_json("/api/v2/alerts", &[]).await?;
        Ok(raw
            .into_iter()
            .map(|a| AmAlert {
                name: a.labels.get("alertname").cloned().unwrap_or_default(),
                labels: a.labels,
                state: a.status.state,
                receivers: a.receivers.into_iter().map(|r| r.name).collect(),
            })
            .collect())
    }
}

/// Prometheus writes sample values as strings, including `NaN` and `+Inf`.
pub fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => v.parse().unwrap_or(f64::NAN),
    }
}

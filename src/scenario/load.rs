//! `load:` — the traffic driven at one service: the request mix, rate,
//! users, timeout and canary; raw form, plan, compile step.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::ctx::{Ctx, Scalar};
use super::diag::did_you_mean;
use super::stack::StackPlan;

/// `load:` — the traffic driven at one service through the whole timeline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// Service that receives the load.
    pub target: String,
    /// Target request rate (requests/second), held through faults.
    pub rate: f64,
    /// Concurrent users; default is enough to hold `rate` while requests take up to `timeout`.
    pub users: Option<usize>,
    /// Client timeout per request (default 10s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    /// The request mix.
    pub requests: Vec<RawRequest>,
    /// Send a canary secret with every request (an `Authorization: Bearer`
    /// header, and `password` / `api_key` fields in JSON object bodies), so
    /// `kind: no_leaks` can prove it is redacted everywhere.
    #[serde(default)]
    pub canary: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: String,
    /// Relative weight in the mix (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// HTTP method (default GET).
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    /// Inline JSON body.
    pub body: Option<serde_json::Value>,
    /// JSON body from a file, relative to the scenario file.
    pub body_file: Option<String>,
}

fn one() -> u32 {
    1
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub target: String,
    pub rate: f64,
    pub users: usize,
    pub timeout: Duration,
    pub requests: Vec<RequestPlan>,
    pub canary: bool,
}

#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub name: String,
    pub weight: u32,
    pub method: String,
    pub path: String,
    /// Scenario-wide headers merged with the request's own.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

pub fn compile_load(cx: &mut Ctx, v: Value, dir: &Path, stack: Option<&StackPlan>) -> Option<LoadPlan> {
    let raw: RawLoad = cx.de("load", v)?;
    if let Some(stack) = stack
        && !stack.services.iter().any(|s| s.name == raw.target)
    {
        let hint = did_you_mean(&raw.target, stack.services.iter().map(|s| s.name.as_str())).map(|s| format!("did you mean `{s}`?"));
        cx.err_value("load.target", format!("no service named `{}`", raw.target), hint);
    }
    if !(raw.rate > 0.0 && raw.rate.is_finite()) {
        cx.err_value("load.rate", "the rate must be a positive number of requests per second", Some("e.g. `rate: 20`".into()));
    }
    if raw.requests.is_empty() {
        cx.err("load.requests", "the request mix is empty", Some("add at least one `- { name: ..., method: POST, path: /... }`".into()));
    }
    let timeout = raw.timeout.unwrap_or(Duration::from_secs(10));
    cx.duration("load.timeout", timeout, false);
    check_headers(cx, "load.headers", &raw.headers);
    let common: Vec<(String, String)> = raw.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    let mut requests = Vec::new();
    for (i, r) in raw.requests.into_iter().enumerate() {
        let path = format!("load.requests[{i}]");
        if r.weight == 0 {
            cx.err_value(&format!("{path}.weight"), "weight must be at least 1", None);
        }
        if reqwest::Method::from_bytes(r.method.as_bytes()).is_err() {
            cx.err_value(&format!("{path}.method"), format!("`{}` is not an HTTP method", r.method), None);
        }
        if !r.path.starts_with('/') {
            cx.err_value(&format!("{path}.path"), format!("`{}` is not an HTTP path", r.path), Some("start it with `/`".into()));
        }
        let body = match (r.body, r.body_file) {
            (Some(_), Some(_)) => {
                cx.err(&path, "both `body` and `body_file` are set", Some("keep one of them".into()));
                None
            }
            (Some(b), None) => Some(serde_json::to_vec(&b).unwrap_or_default()),
            (None, Some(f)) => {
                let p = dir.join(&f);
                match std::fs::read(&p) {
                    Ok(bytes) => {
                        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                            cx.err_value(&format!("{path}.body_file"), format!("{} is not valid JSON: {e}", p.display()), None);
                        }
                        Some(bytes)
                    }
                    Err(e) => {
                        cx.err_value(
                            &format!("{path}.body_file"),
                            format!("cannot read {}: {e}", p.display()),
                            Some("paths are relative to the scenario file".into()),
                        );
                        None
                    }
                }
            }
            (None, None) => None,
        };
        check_headers(cx, &format!("{path}.headers"), &r.headers);
        let mut headers = common.clone();
        headers.extend(r.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())));
        requests.push(RequestPlan { name: r.name, weight: r.weight, method: r.method.to_ascii_uppercase(), path: r.path, headers, body });
    }
    // Enough users to hold the rate even if every request takes the full timeout.
    let users = raw.users.unwrap_or_else(|| ((raw.rate * timeout.as_secs_f64()).ceil() as usize).clamp(4, 2000));
    Some(LoadPlan { target: raw.target, rate: raw.rate, users, timeout, requests, canary: raw.canary })
}

/// Header names and values that could not be sent (every request would fail to build).
fn check_headers(cx: &mut Ctx, path: &str, headers: &BTreeMap<String, Scalar>) {
    for (k, v) in headers {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(
                &format!("{path}.{k}"),
                format!("`{k}` is not a valid HTTP header name"),
                Some("letters, digits and `-`, e.g. `X-Tenant`".into()),
            );
        } else if reqwest::header::HeaderValue::from_str(&v.0).is_err() {
            cx.err_value(
                &format!("{path}.{k}"),
                format!("the value of header `{k}` cannot be sent (control characters such as CR or LF)"),
                Some("remove line breaks and control characters".into()),
            );
        }
    }
}

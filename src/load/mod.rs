//! Load: drives the scenario's request mix at the target service with goose,
//! holding a target rate through faults (open-model approximation: enough
//! users, goose's throttle as the rate), and records every request on the run
//! clock with its own X-Request-ID and W3C traceparent so the other signals
//! can be joined to it.
//!
//! goose is configured entirely in code (never from argv); ordeal owns
//! SIGINT (see `crate::signals`), so goose's own Ctrl-C handler backs off and
//! the load is stopped through goose's killswitch.

mod record;

use std::sync::Arc;
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::clock::RunClock;
use crate::scenario::{LoadPlan, RequestPlan};
pub use record::{LoadRecord, LoadSample, LoadStats, quantile};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// goose refused the configuration or failed while running.
    #[error("load driver: {0}")]
    Goose(#[source] GooseError),
    /// The task driving goose panicked or was cancelled.
    #[error("load driver: load task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The users did not stop after the killswitch.
    #[error("load driver: load did not stop within {0:?}")]
    StopTimeout(Duration),
}

struct Ctx {
    req: RequestPlan,
    index: usize,
    method: GooseMethod,
    clock: RunClock,
    record: LoadRecord,
    run_id: String,
}

/// A running load; `stop` ends it and returns what was recorded.
pub struct LoadHandle {
    task: tokio::task::JoinHandle<Result<(), LoadError>>,
    pub record: LoadRecord,
}

fn goose_method(m: &str) -> GooseMethod {
    match m {
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "DELETE" => GooseMethod::Delete,
        "PATCH" => GooseMethod::Patch,
        "HEAD" => GooseMethod::Head,
        _ => GooseMethod::Get,
    }
}

fn transaction(ctx: Arc<Ctx>) -> TransactionFunction {
    Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        Box::pin(async move { send(user, &ctx).await })
    })
}

async fn send(user: &mut GooseUser, ctx: &Ctx) -> TransactionResult {
    let seq = ctx.record.next_seq();
    let request_id = format!("ordeal-{}-{seq}", ctx.run_id);
    let trace_id = format!("{:032x}", rand::random::<u128>() | 1);
    let span_id = format!("{:016x}", rand::random::<u64>() | 1);
    let mut rb = user.get_request_builder(&ctx.method, &ctx.req.path)?;
    rb = rb.header("x-request-id", &request_id).header("traceparent", format!("00-{trace_id}-{span_id}-01"));
    for (k, v) in &ctx.req.headers {
        rb = rb.header(k, v);
    }
    if let Some(body) = &ctx.req.body {
        rb = rb.header("content-type", "application/json").body(body.clone());
    }
    let goose_req =
        GooseRequest::builder().method(ctx.method).path(ctx.req.path.as_str()).name(ctx.req.name.as_str()).set_request_builder(rb).build();
    let res = user.request(goose_req).await?;
    let end = ctx.clock.now();
    let latency = Duration::from_micros(res.request.response_time * 1000 + u64::from(res.request.response_time_fraction_us));
    let (status, error) = match &res.response {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(crate::runtime::short_reqwest_error(e))),
    };
    ctx.record.push(LoadSample {
        at: end.saturating_sub(latency),
        latency,
        request: ctx.index,
        status,
        error,
        request_id,
        trace_id,
        span_id,
    });
    Ok(())
}

/// The request with the canary secret where secrets usually travel: an
/// Authorization header, and `password` / `api_key` fields of a JSON object body.
pub fn with_canary(req: &RequestPlan, canary: &str) -> RequestPlan {
    let mut r = req.clone();
    r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
    r.headers.push(("Authorization".into(), format!("Bearer {canary}")));
    if let Some(body) = &r.body
        && let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice::<serde_json::Value>(body)
    {
        m.insert("password".into(), canary.into());
        m.insert("api_key".into(), canary.into());
        r.body = serde_json::to_vec(&m).ok();
    }
    r
}

/// Start driving load at `base_url` for at most `max_duration` (the caller
/// normally stops it earlier, at the timeline's end).
pub fn start(
    plan: &LoadPlan,
    base_url: &str,
    clock: RunClock,
    run_id: &str,
    canary: Option<&str>,
    max_duration: Duration,
) -> Result<LoadHandle, LoadError> {
    let record = LoadRecord::new(plan.requests.iter().map(|r| r.name.clone()).collect());
    let mut scenario = scenario!("ordeal");
    for (index, req) in plan.requests.iter().enumerate() {
        let ctx = Arc::new(Ctx {
            req: canary.map_or_else(|| req.clone(), |c| with_canary(req, c)),
            index,
            method: goose_method(&req.method),
            clock,
            record: record.clone(),
            run_id: run_id.to_string(),
        });
        scenario = scenario.register_transaction(
            Transaction::new(transaction(ctx)).set_name(&req.name).set_weight(req.weight as usize).map_err(LoadError::Goose)?,
        );
    }
    let g = LoadError::Goose;
    let users = plan.users;
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(g)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, base_url)
        .map_err(g)?
        .set_default(GooseDefault::Users, users)
        .map_err(g)?
        .set_default(GooseDefault::IncreaseRate, users.to_string().as_str())
        .map_err(g)?
        .set_default(GooseDefault::RunTime, max_duration.as_secs() as usize + 1)
        .map_err(g)?
        .set_default(GooseDefault::ThrottleRequests, (plan.rate.round() as usize).max(1))
        .map_err(g)?
        .set_default(GooseDefault::Timeout, plan.timeout.as_secs_f64().to_string().as_str())
        .map_err(g)?
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(g)?
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(g)?
        .set_default(GooseDefault::NoErrorSummary, true)
        .map_err(g)?
        .set_default(GooseDefault::NoResetMetrics, true)
        .map_err(g)?
        .set_default(GooseDefault::Quiet, 1)
        .map_err(g)?;
    let task =
        tokio::spawn(crate::signals::component("load driver", async move { attack.execute().await.map(|_| ()).map_err(LoadError::Goose) }));
    Ok(LoadHandle { task, record })
}

impl LoadHandle {
    /// Stop the users (goose's killswitch) and wait for them to finish.
    /// The killswitch is pulled again every half second: one pulled while goose
    /// is still starting its attack is reset by it and would be lost.
    pub async fn stop(mut self) -> Result<LoadRecord, LoadError> {
        const STOP_TIMEOUT: Duration = Duration::from_secs(30);
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        loop {
            goose::trigger_killswitch("ordeal: timeline finished");
            match tokio::time::timeout(Duration::from_millis(500), &mut self.task).await {
                Ok(Ok(r)) => break r?,
                Ok(Err(e)) => return Err(LoadError::Task(e)),
                Err(_) if tokio::time::Instant::now() >= deadline => return Err(LoadError::StopTimeout(STOP_TIMEOUT)),
                Err(_) => {}
            }
        }
        Ok(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_goes_in_the_header_and_json_body() {
        let req = RequestPlan {
            name: "a".into(),
            weight: 1,
            method: "POST".into(),
            path: "/".into(),
            headers: vec![("authorization".into(), "Bearer real".into())],
            body: Some(br#"{"type":"x"}"#.to_vec()),
        };
        let r = with_canary(&req, "ordeal-canary-1");
        assert_eq!(r.headers, vec![("Authorization".to_string(), "Bearer ordeal-canary-1".to_string())]);
        let body: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["password"], "ordeal-canary-1");
        assert_eq!(body["api_key"], "ordeal-canary-1");
        assert_eq!(body["type"], "x");
    }
}

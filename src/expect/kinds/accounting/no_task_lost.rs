//! `kind: no_task_lost` — task accounting across a crash. Over the whole
//! run (the baseline scrape before the timeline to the final scrape after
//! the load stopped), the stack's outcome counter must balance:
//! `accepted == completed + failed`, and the load driver must have received
//! exactly as many 2xx answers as the stack counted completions. A task the
//! stack accepted and then dropped (a killed worker, a swallowed error)
//! breaks one of the two.
//!
//! One instance of the accounting family: the second comparison is
//! `kind: accounting` with `claim: { metric, labels: { LABEL: completed } }`
//! and `truth: { load: true, status: 2xx }`, counted by the same code; the
//! first balances the stack's own counters.

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use super::{Claim, StatusSel, Truth, claim_value, truth_value};
use crate::collectors::store::{LabelMatcher, MatchOp, Selector};
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::scenario::{Ctx, Names};

/// `kind: no_task_lost` — every task the stack accepted completed or failed,
/// and the load driver saw every completion (counted over the whole run).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNoTaskLost {
    /// The service whose counter accounts for tasks (e.g. `coordinator`).
    pub service: String,
    /// Counter with one series per outcome, e.g. `tasks_total` (required).
    pub metric: String,
    /// The label holding the outcome (default `status`).
    pub label: Option<String>,
    /// Label values (defaults `started`, `completed`, `failed`).
    pub accepted: Option<String>,
    pub completed: Option<String>,
    pub failed: Option<String>,
    /// Mismatch allowed in each comparison (default 0).
    #[serde(default)]
    pub tolerance: u64,
}

/// Task accounting: `accepted == completed + failed` on the stack's counter,
/// and the driver's 2xx answers `== completed`.
#[derive(Debug, Clone)]
pub struct NoTaskLostCheck {
    pub service: String,
    pub metric: String,
    pub label: String,
    pub accepted: String,
    pub completed: String,
    pub failed: String,
    pub tolerance: u64,
}

impl Kind for NoTaskLostCheck {
    const NAME: &'static str = "no_task_lost";
    type Raw = RawNoTaskLost;

    fn compile(cx: &mut Ctx, path: &str, r: RawNoTaskLost, names: &Names) -> Option<Self> {
        names.service(cx, &format!("{path}.service"), &r.service);
        crate::scenario::ctx::metric_names(cx, path, "metric", &r.metric, &Default::default());
        if let Some(l) = &r.label {
            crate::scenario::ctx::label_name(cx, &format!("{path}.label"), l);
        }
        if names.load.is_none() {
            cx.err(
                path,
                "`no_task_lost` compares the stack's counters with the load driver's answers",
                Some("add a `load:` section".into()),
            );
        }
        let or = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_string());
        Some(NoTaskLostCheck {
            service: r.service,
            metric: r.metric,
            label: or(r.label, "status"),
            accepted: or(r.accepted, "started"),
            completed: or(r.completed, "completed"),
            failed: or(r.failed, "failed"),
            tolerance: r.tolerance,
        })
    }

    fn describe(&self) -> String {
        format!("no task lost on {}", self.service)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        no_task_lost(self, rec, w)
    }

    fn signals(&self) -> Signals {
        Signals::default().service(Some(&self.service)).metric(format!("{}{{{}}}", self.metric, self.label)).load()
    }
}

pub(crate) fn no_task_lost(c: &NoTaskLostCheck, rec: &Recorded, w: Window) -> Judgement {
    let store = &rec.metrics;
    // Until the end of everything: tasks in flight at the timeline's end finish before the final scrape.
    let all = Window::new(w.start, std::time::Duration::from_secs(u32::MAX as u64));
    let count = |value: &str| store.increase(&Selector::new(&c.metric).service(&c.service).eq(&c.label, value), all);
    let name = |value: &str| format!("{}{{{}=\"{value}\"}}", c.metric, c.label);
    let expected = format!(
        "{} == {} + {} on {}, and the load driver's 2xx answers == {} (tolerance {})",
        name(&c.accepted),
        name(&c.completed),
        name(&c.failed),
        c.service,
        name(&c.completed),
        c.tolerance
    );
    let (accepted, completed, failed) = (count(&c.accepted), count(&c.completed), count(&c.failed));
    let missing: Vec<String> = [(&c.accepted, &accepted), (&c.completed, &completed), (&c.failed, &failed)]
        .iter()
        .filter(|(_, v)| v.as_ref().is_none_or(|i| i.series == 0))
        .map(|(l, _)| name(l))
        .collect();
    let driver = rec.load.as_ref().map(|l| l.stats(all, None));
    let driver_json = driver
        .as_ref()
        .map(|d| json!({ "requests": d.requests, "answered_2xx": d.ok, "failed_or_unanswered": d.failed, "statuses": d.statuses }));
    if !missing.is_empty() {
        return Judgement {
            pass: false,
            expected,
            observed: format!("no series for {} on {}", missing.join(", "), c.service),
            evidence: json!({ "missing": missing, "load": driver_json, "closest": crate::expect::series::missing(store, Some(&c.service), &c.metric) }),
        };
    }
    let v = |i: Option<crate::collectors::store::Increase>| i.map_or(0.0, |i| i.value).round() as i64;
    let (accepted, completed, failed) = (v(accepted), v(completed), v(failed));
    // The accounting family's two sides: completions claimed, 2xx answers seen.
    let claimed = Claim::Counter { service: Some(c.service.clone()), metric: c.metric.clone(), matchers: vec![LabelMatcher { label: c.label.clone(), op: MatchOp::Eq, value: c.completed.clone() }] };
    let (answered_2xx, _) = truth_value(&Truth::Load { status: Some(StatusSel::Class(2)) }, rec, all);
    let completed = claim_value(&claimed, rec, all, w).map_or(completed, |(v, _)| v.round() as i64);
    let answered_2xx = answered_2xx.round() as i64;
    if accepted == 0 && answered_2xx == 0 {
        return Judgement {
            pass: false,
            expected,
            observed: format!("no data in the window: no task was accepted and the load driver got no 2xx answer (completed {completed}, failed {failed})"),
            evidence: json!({ "load": driver_json }),
        };
    }
    let tol = c.tolerance as i64;
    let unaccounted = accepted - completed - failed;
    let unseen = completed - answered_2xx;
    let mut problems = Vec::new();
    if unaccounted.abs() > tol {
        problems.push(format!("{unaccounted} accepted task(s) neither completed nor failed"));
    }
    if unseen.abs() > tol {
        problems.push(if unseen > 0 {
            format!("{unseen} completion(s) counted by the stack never reached the client")
        } else {
            format!("the client got {} more 2xx answer(s) than the stack counted completions", -unseen)
        });
    }
    let observed = format!("accepted {accepted}, completed {completed}, failed {failed}; the load driver got {answered_2xx} 2xx answers");
    Judgement {
        pass: problems.is_empty(),
        expected,
        observed: if problems.is_empty() { observed } else { format!("{}: {observed}", problems.join("; ")) },
        evidence: json!({
            "accepted": accepted,
            "completed": completed,
            "failed": failed,
            "unaccounted": unaccounted,
            "load": driver_json,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collectors::exposition::{Format, parse};

    fn check() -> NoTaskLostCheck {
        NoTaskLostCheck {
            service: "c".into(),
            metric: "tasks_total".into(),
            label: "status".into(),
            accepted: "accepted".into(),
            completed: "completed".into(),
            failed: "failed".into(),
            tolerance: 0,
        }
    }

    fn store(accepted: f64, completed: f64) -> Recorded {
        let mut s = crate::expect::vacuous::nothing(Vec::new());
        for (i, k) in [0.0, 1.0].into_iter().enumerate() {
            let text = format!(
                "tasks_total{{status=\"accepted\"}} {}\ntasks_total{{status=\"completed\"}} {}\ntasks_total{{status=\"failed\"}} 0\n",
                accepted * k,
                completed * k
            );
            s.metrics.record("c", Duration::from_secs(i as u64), parse(&text, Format::PrometheusText));
        }
        s
    }

    #[test]
    fn counters_that_never_moved_are_no_data() {
        let w = Window::new(Duration::ZERO, Duration::from_secs(5));
        let j = no_task_lost(&check(), &store(0.0, 0.0), w);
        assert!(!j.pass && j.observed.starts_with("no data in the window: no task was accepted"), "{}", j.observed);
        let j = no_task_lost(&check(), &store(3.0, 2.0), w);
        assert!(!j.pass && j.observed.contains("1 accepted task(s) neither completed nor failed"), "{}", j.observed);
    }
}

//! Prometheus metrics (prometheus-client): the cheap-to-clone `Metrics` handle every
//! component records through, and a disabled mode (`MULTIAGENT_METRICS=off`) in which
//! every recording call is a no-op. Names and initial series live in `registry`.

mod registry;

use std::sync::Arc;

use prometheus_client::encoding::text::encode;

use crate::breaker::{BreakerState, TransitionObserver};
use crate::config::Role;
use crate::mutant::Mutant;
use registry::{Inner, l1, llm_labels, token_labels, transition_labels};

/// Distinct `type` label values kept before the rest are folded into `other`.
const MAX_TASK_TYPES: usize = 32;

/// Cheap-to-clone handle; `Metrics::disabled()` records nothing.
#[derive(Clone)]
pub struct Metrics(Option<Arc<Inner>>);

impl Metrics {
    pub fn disabled() -> Self {
        Metrics(None)
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Builds the registry for `role`, initialising the label sets known up front.
    pub fn new(role: Role, model: &str, worker_id: &str, mutant: Option<Mutant>) -> Self {
        Metrics(Some(Arc::new(Inner::build(role, model, worker_id, mutant))))
    }

    /// The exposition text, or `None` when metrics are off.
    pub fn render(&self) -> Option<String> {
        let inner = self.0.as_ref()?;
        let mut out = String::new();
        encode(&mut out, &inner.registry).ok()?;
        Some(out)
    }

    fn with(&self, f: impl FnOnce(&Inner)) {
        if let Some(inner) = &self.0 {
            f(inner);
        }
    }

    /// Bounded `type` label: known-shaped values as is, the rest as `other`.
    pub fn task_type_label(&self, task_type: &str) -> String {
        let shaped = !task_type.is_empty()
            && task_type.len() <= 40
            && task_type.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !shaped {
            return "other".into();
        }
        let Some(inner) = &self.0 else {
            return task_type.to_string();
        };
        let mut seen = inner.task_types.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(task_type) || seen.len() < MAX_TASK_TYPES {
            seen.insert(task_type.to_string());
            task_type.to_string()
        } else {
            "other".into()
        }
    }

    pub fn task(&self, status: &str) {
        self.with(|i| {
            if !(status == "failed" && i.drop_failed) {
                i.tasks.get_or_create(&l1("status", status)).inc();
            }
        });
    }

    pub fn task_duration(&self, task_type: &str, secs: f64) {
        self.with(|i| i.task_duration.get_or_create(&l1("type", task_type)).observe(secs));
    }

    pub fn message(&self, kind: &str) {
        self.with(|i| {
            i.messages.get_or_create(&l1("type", kind)).inc();
        });
    }

    pub fn message_latency(&self, kind: &str, secs: f64) {
        self.with(|i| i.message_latency.get_or_create(&l1("type", kind)).observe(secs));
    }

    /// One LLM attempt: outcome `success` | `error` | `rejected`; duration only for real calls.
    pub fn llm_call(&self, outcome: &str, secs: Option<f64>) {
        self.with(|i| {
            i.llm_calls.get_or_create(&llm_labels(&i.model, outcome)).inc();
            if let Some(s) = secs {
                let labels = vec![("provider", "openai".to_string()), ("model", i.model.clone())];
                i.llm_duration.get_or_create(&labels).observe(s);
            }
        });
    }

    /// The tokens a successful completion's `usage` reported.
    pub fn llm_tokens(&self, prompt: u64, completion: u64) {
        self.with(|i| {
            let times = if i.double_tokens { 2 } else { 1 };
            for (kind, n) in [("prompt", prompt), ("completion", completion)] {
                i.llm_tokens.get_or_create(&token_labels(&i.model, kind)).inc_by(n * times);
            }
        });
    }

    pub fn error(&self, component: &str) {
        self.with(|i| {
            i.errors.get_or_create(&l1("component", component)).inc();
        });
    }

    pub fn worker_duration(&self, worker_id: &str, secs: f64) {
        self.with(|i| i.worker_duration.get_or_create(&l1("worker_id", worker_id)).observe(secs));
    }

    pub fn set_active_workers(&self, n: i64) {
        self.with(|i| {
            i.active_workers.set(n);
        });
    }

    /// Counts one task in `multiagent_pending_tasks` until the guard drops (also when the
    /// request future is cancelled by a client disconnect).
    pub fn pending(&self) -> PendingGuard {
        self.with(|i| {
            i.pending_tasks.inc();
        });
        PendingGuard(self.clone())
    }

    pub fn retry(&self, dependency: &str) {
        self.with(|i| {
            i.retries.get_or_create(&l1("dependency", dependency)).inc();
        });
    }

    pub fn cache(&self, hit: bool) {
        self.with(|i| {
            let family = if hit { &i.cache_hits } else { &i.cache_misses };
            family.get_or_create(&l1("cache", "backend")).inc();
        });
    }

    /// `request_id`: only for the `request_id_label` mutant (a label per request).
    pub fn http_request(&self, method: &str, route: &str, status: u16, secs: f64, request_id: Option<&str>) {
        self.with(|i| {
            let mut labels = vec![("method", method.to_string()), ("route", route.to_string()), ("status", status.to_string())];
            if let Some(id) = request_id {
                labels.push(("request_id", id.to_string()));
            }
            i.http_requests.get_or_create(&labels).inc();
            let labels = vec![("method", method.to_string()), ("route", route.to_string())];
            i.http_duration.get_or_create(&labels).observe(secs);
        });
    }
}

/// Decrements `multiagent_pending_tasks` on drop.
pub struct PendingGuard(Metrics);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.with(|i| {
            i.pending_tasks.dec();
        });
    }
}

impl TransitionObserver for Metrics {
    fn on_transition(&self, dependency: &str, from: BreakerState, to: BreakerState) {
        self.with(|i| {
            i.breaker_state.get_or_create(&l1("dependency", dependency)).set(to.as_gauge());
            i.breaker_transitions.get_or_create(&transition_labels(dependency, from.as_str(), to.as_str())).inc();
        });
        if to == BreakerState::Open {
            tracing::warn!(dependency, from = from.as_str(), to = to.as_str(), "circuit breaker state change");
        } else {
            tracing::info!(dependency, from = from.as_str(), to = to.as_str(), "circuit breaker state change");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_rename_and_drop_failed() {
        let m = Metrics::new(Role::Coordinator, "m", "w", Some(Mutant::RenameMetric));
        m.task("completed");
        let text = m.render().unwrap();
        assert!(text.contains("multiagent_task_total{status=\"completed\"} 1"), "{text}");
        assert!(!text.contains("multiagent_tasks_total"));

        let m = Metrics::new(Role::Coordinator, "m", "w", Some(Mutant::DropFailedMetric));
        m.task("failed");
        assert!(!m.render().unwrap().contains("status=\"failed\""));
    }

    #[test]
    fn task_type_labels_are_bounded() {
        let m = Metrics::new(Role::Coordinator, "m", "w", None);
        assert_eq!(m.task_type_label("analysis"), "analysis");
        assert_eq!(m.task_type_label("Bad Type!"), "other");
        for i in 0..100 {
            m.task_type_label(&format!("t{i}"));
        }
        assert_eq!(m.task_type_label("brand_new"), "other");
        assert_eq!(m.task_type_label("analysis"), "analysis");
    }
}

//! The metric registry: every family's name, help text and buckets, registered per role,
//! plus the label sets initialised up front so series exist from the first scrape.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::Role;
use crate::mutant::Mutant;

pub(super) type Labels = Vec<(&'static str, String)>;
pub(super) type Counters = Family<Labels, Counter>;
pub(super) type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0])
}

pub(super) fn l1(k: &'static str, v: impl Into<String>) -> Labels {
    vec![(k, v.into())]
}

pub(super) struct Inner {
    pub(super) registry: Registry,
    pub(super) drop_failed: bool,
    pub(super) model: String,
    pub(super) task_types: Mutex<HashSet<String>>,
    pub(super) tasks: Counters,
    pub(super) messages: Counters,
    pub(super) llm_calls: Counters,
    /// Mutant `double_count_tokens`: every token is counted twice.
    pub(super) double_tokens: bool,
    pub(super) llm_tokens: Counters,
    pub(super) errors: Counters,
    pub(super) task_duration: Histograms,
    pub(super) llm_duration: Histograms,
    pub(super) worker_duration: Histograms,
    pub(super) message_latency: Histograms,
    pub(super) active_workers: Gauge,
    pub(super) pending_tasks: Gauge,
    pub(super) breaker_state: Family<Labels, Gauge>,
    pub(super) breaker_transitions: Counters,
    pub(super) retries: Counters,
    pub(super) cache_hits: Counters,
    pub(super) cache_misses: Counters,
    pub(super) http_requests: Counters,
    pub(super) http_duration: Histograms,
}

impl Inner {
    /// Builds the registry for `role`, initialising the label sets known up front.
    pub(super) fn build(role: Role, model: &str, worker_id: &str, mutant: Option<Mutant>) -> Inner {
        let h = || Histograms::new_with_constructor(latency_histogram as fn() -> Histogram);
        let mut inner = Inner {
            registry: Registry::default(),
            drop_failed: mutant == Some(Mutant::DropFailedMetric),
            model: model.to_string(),
            task_types: Mutex::new(HashSet::new()),
            tasks: Counters::default(),
            messages: Counters::default(),
            llm_calls: Counters::default(),
            double_tokens: mutant == Some(Mutant::DoubleCountTokens),
            llm_tokens: Counters::default(),
            errors: Counters::default(),
            task_duration: h(),
            llm_duration: h(),
            worker_duration: h(),
            message_latency: h(),
            active_workers: Gauge::default(),
            pending_tasks: Gauge::default(),
            breaker_state: Family::default(),
            breaker_transitions: Counters::default(),
            retries: Counters::default(),
            cache_hits: Counters::default(),
            cache_misses: Counters::default(),
            http_requests: Counters::default(),
            http_duration: h(),
        };
        let r = &mut inner.registry;
        let coordinator = role == Role::Coordinator;
        if coordinator {
            let tasks_name = if mutant == Some(Mutant::RenameMetric) { "multiagent_task" } else { "multiagent_tasks" };
            r.register(tasks_name, "Tasks by lifecycle status", inner.tasks.clone());
            r.register("multiagent_task_duration_seconds", "End-to-end task duration", inner.task_duration.clone());
            r.register("multiagent_active_workers", "Workers answering /health/live", inner.active_workers.clone());
        } else {
            r.register(
                "multiagent_worker_processing_duration_seconds",
                "Time a worker spends on one subtask",
                inner.worker_duration.clone(),
            );
            r.register("multiagent_cache_hits", "Backend reads served from the fallback cache", inner.cache_hits.clone());
            r.register("multiagent_cache_misses", "Backend fallbacks that found no fresh entry", inner.cache_misses.clone());
        }
        r.register("multiagent_messages", "Messages between coordinator and workers", inner.messages.clone());
        r.register("multiagent_llm_calls", "LLM call attempts by outcome", inner.llm_calls.clone());
        r.register("multiagent_llm_tokens", "LLM tokens the provider reported in usage, by type", inner.llm_tokens.clone());
        r.register("multiagent_errors", "Errors by component", inner.errors.clone());
        r.register("multiagent_llm_call_duration_seconds", "LLM call attempt duration", inner.llm_duration.clone());
        r.register("multiagent_message_latency_seconds", "One-way message latency", inner.message_latency.clone());
        r.register("multiagent_pending_tasks", "Tasks in flight in this process", inner.pending_tasks.clone());
        r.register("multiagent_circuit_breaker_state", "Breaker state: 0 closed, 1 open, 2 half_open", inner.breaker_state.clone());
        r.register("multiagent_circuit_breaker_transitions", "Breaker state transitions", inner.breaker_transitions.clone());
        r.register("multiagent_retries", "Retries (not counting first attempts)", inner.retries.clone());
        r.register("http_requests", "HTTP requests served", inner.http_requests.clone());
        r.register("http_request_duration_seconds", "HTTP request duration", inner.http_duration.clone());

        // Series that exist from the first scrape.
        if coordinator {
            for s in ["started", "completed", "failed"] {
                if !(s == "failed" && inner.drop_failed) {
                    touch(&inner.tasks, l1("status", s));
                }
            }
        } else {
            let _ = inner.worker_duration.get_or_create(&l1("worker_id", worker_id));
            touch(&inner.cache_hits, l1("cache", "backend"));
            touch(&inner.cache_misses, l1("cache", "backend"));
        }
        let latency_type = if coordinator { "result" } else { "task" };
        let _ = inner.message_latency.get_or_create(&l1("type", latency_type));
        let _ = inner.llm_duration.get_or_create(&vec![("provider", "openai".into()), ("model", model.into())]);
        for t in ["task", "result", "error"] {
            touch(&inner.messages, l1("type", t));
        }
        for o in ["success", "error", "rejected"] {
            touch(&inner.llm_calls, llm_labels(model, o));
        }
        for t in ["prompt", "completion"] {
            touch(&inner.llm_tokens, token_labels(model, t));
        }
        let (components, deps): (&[&str], &[&'static str]) =
            if coordinator { (&["orchestrator", "worker", "llm"], &["llm"]) } else { (&["worker", "llm", "backend"], &["llm", "backend"]) };
        for c in components {
            touch(&inner.errors, l1("component", *c));
        }
        for d in deps {
            inner.breaker_state.get_or_create(&l1("dependency", *d)).set(0);
            touch(&inner.retries, l1("dependency", *d));
            for (from, to) in [("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")] {
                touch(&inner.breaker_transitions, transition_labels(d, from, to));
            }
        }
        inner
    }
}

/// Creates a zero-valued series so it is exported from the first scrape.
fn touch(family: &Counters, labels: Labels) {
    let _ = family.get_or_create(&labels);
}

pub(super) fn llm_labels(model: &str, outcome: &str) -> Labels {
    vec![("provider", "openai".into()), ("model", model.into()), ("outcome", outcome.into())]
}

pub(super) fn token_labels(model: &str, kind: &str) -> Labels {
    vec![("provider", "openai".into()), ("model", model.into()), ("type", kind.into())]
}

pub(super) fn transition_labels(dep: &str, from: &str, to: &str) -> Labels {
    vec![("dependency", dep.into()), ("from", from.into()), ("to", to.into())]
}

#[cfg(test)]
mod tests {
    use super::super::Metrics;
    use super::*;
    use crate::breaker::{BreakerState, TransitionObserver};

    #[test]
    fn coordinator_families_exist_from_first_scrape() {
        let m = Metrics::new(Role::Coordinator, "gpt-4o-mini", "w", None);
        let text = m.render().unwrap();
        for needle in [
            "multiagent_tasks_total{status=\"failed\"} 0",
            "multiagent_circuit_breaker_state{dependency=\"llm\"} 0",
            "multiagent_llm_calls_total{provider=\"openai\",model=\"gpt-4o-mini\",outcome=\"rejected\"} 0",
            "multiagent_retries_total{dependency=\"llm\"} 0",
            "# TYPE multiagent_active_workers gauge",
            "# TYPE multiagent_llm_call_duration_seconds histogram",
        ] {
            assert!(text.contains(needle), "missing {needle}\n{text}");
        }
        assert!(!text.contains("multiagent_cache_hits"));
    }

    #[test]
    fn worker_families_and_disabled_mode() {
        let m = Metrics::new(Role::Worker, "m", "w", None);
        m.cache(true);
        m.on_transition("backend", BreakerState::Closed, BreakerState::Open);
        let text = m.render().unwrap();
        assert!(text.contains("multiagent_cache_hits_total{cache=\"backend\"} 1"), "{text}");
        assert!(text.contains("multiagent_circuit_breaker_state{dependency=\"backend\"} 1"), "{text}");
        assert!(text.contains("multiagent_circuit_breaker_transitions_total{dependency=\"backend\",from=\"closed\",to=\"open\"} 1"));
        assert!(Metrics::disabled().render().is_none());
        Metrics::disabled().task("started");
    }
}

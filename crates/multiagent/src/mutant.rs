//! Mutants: deliberately broken behaviours selected with `MULTIAGENT_MUTANT`, so the
//! harness can prove that each of its checks catches the defect it is meant to catch.

use std::fmt;
use std::str::FromStr;

/// Exactly one broken behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// The breaker stays closed whatever happens.
    BreakerNeverOpens,
    /// Once opened the breaker never closes (a successful half-open trial re-opens it).
    BreakerNeverCloses,
    /// `multiagent_tasks_total` is exported as `multiagent_task_total`.
    RenameMetric,
    /// `/health/ready` always answers 200.
    ReadyStuck,
    /// Retries happen immediately, with zero delay.
    RetryNoBackoff,
    /// The worker never creates its `LLMCall` span.
    DropSpan,
    /// The worker ignores the incoming `traceparent` and starts a new trace.
    NoPropagation,
    /// The request log line carries the `Authorization` header unredacted.
    LeakSecret,
    /// Failed LLM calls end their span with status OK and no exception event.
    NoErrorStatus,
    /// `multiagent_tasks_total{status="failed"}` is never exported.
    DropFailedMetric,
    /// A task whose worker cannot be reached is answered 202 "queued" and
    /// then forgotten: counted neither completed nor failed (a lost task).
    LoseTasks,
    /// `/health/ready` ignores the LLM breaker (it still needs a live worker).
    ReadyIgnoresLlm,
    /// The coordinator does not pass the caller's `X-Request-ID` to the worker,
    /// which then makes up its own: worker logs cannot be joined to the request.
    NoRequestIdForward,
    /// Every HTTP request's id becomes a label of `multiagent_http_requests_total`
    /// (one series per request: unbounded cardinality).
    RequestIdLabel,
    /// Retries wait the exact exponential backoff, with no jitter: clients that
    /// failed together retry together.
    RetryNoJitter,
    /// The coordinator's `/health/live` fails while the LLM breaker is open:
    /// liveness tied to a dependency (an orchestrator would restart it in a loop).
    LiveFollowsLlm,
    /// A failed retry of an LLM call is not counted in
    /// `multiagent_llm_calls_total{outcome="error"}` (only first attempts are).
    UndercountLlmErrors,
    /// `multiagent_llm_tokens_total` counts every token twice.
    DoubleCountTokens,
    /// Only the first attempt of an LLM call gets its `POST` client span; the
    /// retries go out without one (one span where there were several calls).
    SpanPerTaskNotPerCall,
    /// The JSON log writer drops every unsigned integer field (`status`,
    /// `attempt`): the lines stay valid JSON with their text.
    DropNumericLogFields,
    /// Errors the client marks not retryable (a 400 from the LLM) are retried
    /// like transient ones.
    RetryNonRetryable,
    /// The request log line's headers vanish (`null`) instead of showing each
    /// header with sensitive values masked.
    DropLoggedHeaders,
    /// A half-open trial call whose caller went away keeps the breaker's
    /// trial slot: the breaker rejects every call from then on.
    AbandonedTrialKept,
    /// Request bodies over 2 KiB are refused with 413 (the limit is 1 MiB).
    SmallBodyLimit,
}

impl Mutant {
    pub const ALL: [Mutant; 24] = [
        Mutant::BreakerNeverOpens,
        Mutant::BreakerNeverCloses,
        Mutant::RenameMetric,
        Mutant::ReadyStuck,
        Mutant::RetryNoBackoff,
        Mutant::DropSpan,
        Mutant::NoPropagation,
        Mutant::LeakSecret,
        Mutant::NoErrorStatus,
        Mutant::DropFailedMetric,
        Mutant::LoseTasks,
        Mutant::ReadyIgnoresLlm,
        Mutant::NoRequestIdForward,
        Mutant::RequestIdLabel,
        Mutant::RetryNoJitter,
        Mutant::LiveFollowsLlm,
        Mutant::UndercountLlmErrors,
        Mutant::DoubleCountTokens,
        Mutant::SpanPerTaskNotPerCall,
        Mutant::DropNumericLogFields,
        Mutant::RetryNonRetryable,
        Mutant::DropLoggedHeaders,
        Mutant::AbandonedTrialKept,
        Mutant::SmallBodyLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mutant::BreakerNeverOpens => "breaker_never_opens",
            Mutant::BreakerNeverCloses => "breaker_never_closes",
            Mutant::RenameMetric => "rename_metric",
            Mutant::ReadyStuck => "ready_stuck",
            Mutant::RetryNoBackoff => "retry_no_backoff",
            Mutant::DropSpan => "drop_span",
            Mutant::NoPropagation => "no_propagation",
            Mutant::LeakSecret => "leak_secret",
            Mutant::NoErrorStatus => "no_error_status",
            Mutant::DropFailedMetric => "drop_failed_metric",
            Mutant::LoseTasks => "lose_tasks",
            Mutant::ReadyIgnoresLlm => "ready_ignores_llm",
            Mutant::NoRequestIdForward => "no_request_id_forward",
            Mutant::RequestIdLabel => "request_id_label",
            Mutant::RetryNoJitter => "retry_no_jitter",
            Mutant::LiveFollowsLlm => "live_follows_llm",
            Mutant::UndercountLlmErrors => "undercount_llm_errors",
            Mutant::DoubleCountTokens => "double_count_tokens",
            Mutant::SpanPerTaskNotPerCall => "span_per_task_not_per_call",
            Mutant::DropNumericLogFields => "drop_numeric_log_fields",
            Mutant::RetryNonRetryable => "retry_non_retryable",
            Mutant::DropLoggedHeaders => "drop_logged_headers",
            Mutant::AbandonedTrialKept => "abandoned_trial_kept",
            Mutant::SmallBodyLimit => "small_body_limit",
        }
    }
}

/// Helper for "is this mutant active?" on an optional mutant.
pub fn is(active: Option<Mutant>, m: Mutant) -> bool {
    active == Some(m)
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `MULTIAGENT_MUTANT` named no known mutant.
#[derive(Debug, thiserror::Error)]
#[error("MULTIAGENT_MUTANT={name:?} is not a known mutant (known: {known})")]
pub struct UnknownMutant {
    pub name: String,
    pub known: String,
}

impl FromStr for Mutant {
    type Err = UnknownMutant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mutant::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMutant { name: s.to_string(), known: Mutant::ALL.map(Mutant::as_str).join(", ") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Mutant::ALL {
            assert_eq!(m.as_str().parse::<Mutant>().unwrap(), m);
        }
        let err = "nope".parse::<Mutant>().unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("drop_span"), "{err}");
    }
}

//! Retry with exponential backoff and equal jitter, run through a circuit breaker: every
//! attempt asks the breaker first, so a breaker that opens mid-retry stops the loop.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::breaker::{BreakerState, CircuitBreaker};
use crate::config::RetrySettings;

/// Backoff policy: delay before retry n (1-based) is
/// `min(initial * multiplier^(n-1), max) * U(0.5, 1.0)` ("equal jitter").
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub multiplier: f64,
    /// Mutant `retry_no_backoff`: retry immediately.
    pub no_backoff: bool,
    /// Mutant `retry_no_jitter`: sleep the exact backoff.
    pub no_jitter: bool,
    /// Mutant `retry_non_retryable`: errors marked not retryable are retried too.
    pub retry_everything: bool,
}

impl RetryPolicy {
    pub fn new(s: RetrySettings, no_backoff: bool) -> Self {
        RetryPolicy {
            max_attempts: s.max_attempts.max(1),
            initial_delay: s.initial_delay,
            max_delay: s.max_delay,
            multiplier: 2.0,
            no_backoff,
            no_jitter: false,
            retry_everything: false,
        }
    }

    /// Un-jittered delay before retry `retry` (1 = first retry), capped at `max_delay`.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let exp = self.multiplier.powi(retry.saturating_sub(1).min(62) as i32);
        let secs = (self.initial_delay.as_secs_f64() * exp).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// Delay actually slept before retry `retry`. A server's `Retry-After` replaces the
    /// computed backoff (capped at `max_delay`).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        if self.no_backoff {
            return Duration::ZERO;
        }
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        if self.no_jitter {
            return self.base_delay(retry);
        }
        self.base_delay(retry).mul_f64(rng.random_range(0.5..=1.0))
    }
}

/// How one failed attempt should be treated.
#[derive(Debug)]
pub struct AttemptError<E> {
    pub error: E,
    /// Worth another attempt (5xx, 429, timeout, connection error, malformed body).
    pub retryable: bool,
    /// Counts as a dependency failure for the breaker (a plain 4xx does not).
    pub breaker_failure: bool,
    /// Parsed `Retry-After`, if the server sent one.
    pub retry_after: Option<Duration>,
}

/// Outcome of a protected call that did not succeed.
#[derive(Debug)]
pub enum CallError<E> {
    /// The breaker refused an attempt (fail fast); `last` is the previous attempt's error.
    Rejected { attempts: u32, last: Option<E> },
    /// The last attempt failed and no retry is left or allowed.
    Failed { error: E, attempts: u32 },
}

/// Passed to the retry hook before sleeping.
pub struct RetryEvent<'a, E> {
    /// The retry about to happen (1 = first retry).
    pub retry: u32,
    pub delay: Duration,
    pub error: &'a E,
}

/// Runs `op` through `breaker` with `policy`. `op` receives the 1-based attempt number;
/// `on_retry` is called once per retry (not for the first attempt), before the sleep.
pub async fn call<T, E, F, Fut>(
    breaker: &CircuitBreaker,
    policy: &RetryPolicy,
    mut op: F,
    mut on_retry: impl FnMut(RetryEvent<'_, E>),
) -> Result<(T, u32), CallError<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError<E>>>,
{
    let mut attempt = 1u32;
    let mut last: Option<E> = None;
    loop {
        let permit = match breaker.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                return Err(CallError::Rejected { attempts: attempt - 1, last });
            }
        };
        match op(attempt).await {
            Ok(v) => {
                permit.success();
                return Ok((v, attempt));
            }
            Err(ae) => {
                if ae.breaker_failure {
                    permit.failure();
                } else {
                    permit.success();
                }
                if !(ae.retryable || policy.retry_everything) || attempt >= policy.max_attempts {
                    return Err(CallError::Failed { error: ae.error, attempts: attempt });
                }
                if breaker.state() == BreakerState::Open {
                    // This failure opened the breaker: fail fast instead of sleeping first.
                    return Err(CallError::Rejected { attempts: attempt, last: Some(ae.error) });
                }
                let delay = policy.delay(attempt, ae.retry_after, &mut rand::rng());
                on_retry(RetryEvent { retry: attempt, delay, error: &ae.error });
                last = Some(ae.error);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                attempt += 1;
            }
        }
    }
}

/// Parses a `Retry-After` header given in (possibly fractional) seconds; HTTP dates are ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::{BreakerConfig, SystemClock};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy(no_backoff: bool) -> RetryPolicy {
        RetryPolicy::new(
            RetrySettings { max_attempts: 3, initial_delay: Duration::from_millis(100), max_delay: Duration::from_millis(2000) },
            no_backoff,
        )
    }

    fn breaker(threshold: u32) -> CircuitBreaker {
        let cfg = BreakerConfig { failure_threshold: threshold, reset_timeout: Duration::from_secs(60), ..Default::default() };
        CircuitBreaker::new("llm", cfg, Arc::new(SystemClock), None)
    }

    fn transient() -> AttemptError<&'static str> {
        AttemptError { error: "503", retryable: true, breaker_failure: true, retry_after: None }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = policy(false);
        let ms = |n| p.base_delay(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4), ms(5), ms(6)], [100, 200, 400, 800, 1600, 2000]);
        assert_eq!(ms(1000), 2000);
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let p = policy(false);
        let mut rng = rand::rng();
        for retry in 1..6 {
            let base = p.base_delay(retry);
            for _ in 0..200 {
                let d = p.delay(retry, None, &mut rng);
                assert!(d >= base / 2 && d <= base, "retry {retry}: {d:?} vs {base:?}");
            }
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped_and_mutant_zeroes() {
        let p = policy(false);
        let mut rng = rand::rng();
        assert_eq!(p.delay(1, Some(Duration::from_secs(1)), &mut rng), Duration::from_secs(1));
        assert_eq!(p.delay(1, Some(Duration::from_secs(30)), &mut rng), Duration::from_secs(2));
        assert_eq!(policy(true).delay(3, None, &mut rng), Duration::ZERO);
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let b = breaker(10);
        let mut p = policy(false);
        p.initial_delay = Duration::from_millis(1);
        let calls = AtomicU32::new(0);
        let mut retries = Vec::new();
        let out = call(
            &b,
            &p,
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 3 { Err(transient()) } else { Ok(n) } }
            },
            |ev| retries.push(ev.retry),
        )
        .await
        .unwrap();
        assert_eq!(out, (3, 3));
        assert_eq!(retries, vec![1, 2]);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_nor_breaker_failures() {
        let b = breaker(1);
        let p = policy(false);
        let res: Result<((), u32), _> = call(
            &b,
            &p,
            |_| async { Err(AttemptError { error: "400", retryable: false, breaker_failure: false, retry_after: None }) },
            |_| panic!("must not retry"),
        )
        .await;
        assert!(matches!(res, Err(CallError::Failed { attempts: 1, .. })));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn breaker_opening_mid_retry_fails_fast() {
        let b = breaker(2);
        let p = policy(true);
        let calls = AtomicU32::new(0);
        let res: Result<((), u32), _> = call(
            &b,
            &p,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(transient()) }
            },
            |_| {},
        )
        .await;
        assert!(matches!(res, Err(CallError::Rejected { attempts: 2, last: Some("503"), .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(b.state(), BreakerState::Open);
    }
}

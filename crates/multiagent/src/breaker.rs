//! Circuit breaker state machine (closed → open → half_open → closed/open) with an
//! injectable clock and a transition observer (metrics + logs are wired in by the caller).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Breaker state; `as_gauge` is the value of `multiagent_circuit_breaker_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// Time source, injectable for tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Told about every state change, while the breaker lock is held (keep it quick).
pub trait TransitionObserver: Send + Sync {
    fn on_transition(&self, dependency: &str, from: BreakerState, to: BreakerState);
}

/// Tuning plus the three breaker mutants.
#[derive(Clone, Copy, Debug, Default)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub reset_timeout: Duration,
    pub never_opens: bool,
    pub never_closes: bool,
    /// Mutant `abandoned_trial_kept`: a half-open trial whose caller went away
    /// (the permit dropped unreported) keeps the trial slot, so the breaker
    /// rejects every call from then on.
    pub keeps_abandoned_trial: bool,
}

/// The breaker refused the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker rejected the call (state {})", .0.as_str())]
pub struct Rejected(pub BreakerState);

struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Instant,
    trial_in_flight: bool,
    /// Bumped on every transition; results of permits from an older generation are ignored.
    generation: u64,
}

/// One breaker per dependency.
pub struct CircuitBreaker {
    dependency: &'static str,
    cfg: BreakerConfig,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn TransitionObserver>>,
    inner: Mutex<Inner>,
}

/// Permission for one call. Report the outcome with [`Permit::success`] or
/// [`Permit::failure`]; dropping it unreported releases a half-open trial slot.
#[must_use]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u64,
    trial: bool,
    reported: bool,
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(self.generation, self.trial, true);
    }

    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record(self.generation, self.trial, false);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.trial && !self.breaker.cfg.keeps_abandoned_trial {
            let mut inner = self.breaker.lock();
            if inner.generation == self.generation {
                inner.trial_in_flight = false;
            }
        }
    }
}

impl CircuitBreaker {
    pub fn new(dependency: &'static str, cfg: BreakerConfig, clock: Arc<dyn Clock>, observer: Option<Arc<dyn TransitionObserver>>) -> Self {
        let now = clock.now();
        CircuitBreaker {
            dependency,
            cfg,
            clock,
            observer,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: now,
                trial_in_flight: false,
                generation: 0,
            }),
        }
    }

    /// Current state, after applying a due open → half_open move.
    pub fn state(&self) -> BreakerState {
        let mut inner = self.lock();
        self.maybe_half_open(&mut inner);
        inner.state
    }

    /// Background tick: moves open → half_open once the reset timeout has passed.
    pub fn tick(&self) {
        let mut inner = self.lock();
        self.maybe_half_open(&mut inner);
    }

    /// Asks to make a call: closed lets everything through, open rejects, half_open
    /// lets exactly one trial through at a time.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let mut inner = self.lock();
        self.maybe_half_open(&mut inner);
        let trial = match inner.state {
            BreakerState::Closed => false,
            BreakerState::Open => return Err(Rejected(BreakerState::Open)),
            BreakerState::HalfOpen if inner.trial_in_flight => {
                return Err(Rejected(BreakerState::HalfOpen));
            }
            BreakerState::HalfOpen => {
                inner.trial_in_flight = true;
                true
            }
        };
        Ok(Permit { breaker: self, generation: inner.generation, trial, reported: false })
    }

    fn record(&self, generation: u64, trial: bool, success: bool) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return; // the call started before the last transition: its verdict is stale
        }
        match (inner.state, trial) {
            (BreakerState::Closed, false) => {
                if success {
                    inner.consecutive_failures = 0;
                } else {
                    inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                    if inner.consecutive_failures >= self.cfg.failure_threshold && !self.cfg.never_opens {
                        self.transition(&mut inner, BreakerState::Open);
                    }
                }
            }
            (BreakerState::HalfOpen, true) => {
                inner.trial_in_flight = false;
                if success && !self.cfg.never_closes {
                    self.transition(&mut inner, BreakerState::Closed);
                } else {
                    self.transition(&mut inner, BreakerState::Open);
                }
            }
            _ => {}
        }
    }

    fn maybe_half_open(&self, inner: &mut Inner) {
        if inner.state == BreakerState::Open && self.clock.now().saturating_duration_since(inner.opened_at) >= self.cfg.reset_timeout {
            self.transition(inner, BreakerState::HalfOpen);
        }
    }

    fn transition(&self, inner: &mut Inner, to: BreakerState) {
        let from = inner.state;
        inner.state = to;
        inner.generation += 1;
        inner.trial_in_flight = false;
        inner.consecutive_failures = 0;
        if to == BreakerState::Open {
            inner.opened_at = self.clock.now();
        }
        if let Some(obs) = &self.observer {
            obs.on_transition(self.dependency, from, to);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave Inner inconsistent: recover.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn advance(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(BreakerState, BreakerState)>>);

    impl TransitionObserver for Recorder {
        fn on_transition(&self, _: &str, from: BreakerState, to: BreakerState) {
            self.0.lock().unwrap().push((from, to));
        }
    }

    fn breaker(never_opens: bool, never_closes: bool) -> (CircuitBreaker, Arc<ManualClock>, Arc<Recorder>) {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let rec = Arc::new(Recorder::default());
        let cfg =
            BreakerConfig { failure_threshold: 3, reset_timeout: Duration::from_secs(10), never_opens, never_closes, ..Default::default() };
        let b = CircuitBreaker::new("llm", cfg, clock.clone(), Some(rec.clone()));
        (b, clock, rec)
    }

    fn fail(b: &CircuitBreaker, n: usize) {
        for _ in 0..n {
            b.try_acquire().unwrap().failure();
        }
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let (b, _, _) = breaker(false, false);
        fail(&b, 2);
        b.try_acquire().unwrap().success(); // resets the streak
        fail(&b, 2);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b, 1);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.try_acquire().err(), Some(Rejected(BreakerState::Open)));
    }

    #[test]
    fn half_open_after_reset_timeout_and_single_trial() {
        let (b, clock, rec) = breaker(false, false);
        fail(&b, 3);
        clock.advance(Duration::from_millis(9_999));
        b.tick();
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_millis(1));
        b.tick();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let trial = b.try_acquire().unwrap();
        assert_eq!(b.try_acquire().err(), Some(Rejected(BreakerState::HalfOpen)));
        trial.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![
                (BreakerState::Closed, BreakerState::Open),
                (BreakerState::Open, BreakerState::HalfOpen),
                (BreakerState::HalfOpen, BreakerState::Closed),
            ]
        );
    }

    #[test]
    fn failed_trial_reopens_and_restarts_timer() {
        let (b, clock, _) = breaker(false, false);
        fail(&b, 3);
        clock.advance(Duration::from_secs(10));
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(9));
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn abandoned_trial_frees_the_slot() {
        let (b, clock, _) = breaker(false, false);
        fail(&b, 3);
        clock.advance(Duration::from_secs(10));
        drop(b.try_acquire().unwrap());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.try_acquire().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn stale_results_are_ignored() {
        let (b, clock, _) = breaker(false, false);
        let slow = b.try_acquire().unwrap(); // started while closed
        fail(&b, 3);
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        slow.success(); // must not close the breaker: it is not the trial
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn mutant_never_opens() {
        let (b, _, rec) = breaker(true, false);
        fail(&b, 50);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(rec.0.lock().unwrap().is_empty());
    }

    #[test]
    fn mutant_never_closes() {
        let (b, clock, _) = breaker(false, true);
        fail(&b, 3);
        clock.advance(Duration::from_secs(10));
        b.try_acquire().unwrap().success();
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn gauge_values() {
        assert_eq!(BreakerState::Closed.as_gauge(), 0);
        assert_eq!(BreakerState::Open.as_gauge(), 1);
        assert_eq!(BreakerState::HalfOpen.as_gauge(), 2);
    }
}

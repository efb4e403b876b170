//! The fault engine of one mock: the faults active right now (switched by the
//! harness at timeline offsets) and the seeded RNG that turns them into a
//! per-request [`Decision`]. Shared by the LLM and the HTTP mock so both
//! combine faults identically: latencies add; the first decisive fault that
//! fires by its ratio wins, in the order reset > hang > error > rate_limit > malformed.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::FaultSpec;
use super::latency::{Latency, MAX_SAMPLED_DELAY};
use super::route::RouteFilter;

/// A fault that decides the whole response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decisive {
    Reset,
    Hang(Duration),
    Error(u16),
    RateLimit(Duration),
    Malformed,
}

/// What to do with one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub decisive: Option<Decisive>,
    /// Delay before the response starts (baseline + fault latencies).
    pub latency: Duration,
    /// Streaming only: delay before each token after the first.
    pub token_delay: Duration,
    /// Streaming only: cut the stream after this many tokens.
    pub truncate_after: Option<usize>,
    /// Id of the fault that shaped the response.
    pub fault: Option<String>,
}

/// Which part of the decision to take (the HTTP mock decides resets in a
/// wiremock matcher and the rest in its responder; the RNG sequence is the
/// same as deciding everything at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    All,
    ResetOnly,
    AfterReset,
}

#[derive(Debug)]
struct ActiveFault {
    id: String,
    route: Option<RouteFilter>,
    spec: FaultSpec,
}

#[derive(Debug)]
struct State {
    active: Vec<ActiveFault>,
    rng: StdRng,
}

/// Active faults plus the seeded RNG, behind one lock (decisions are atomic).
#[derive(Debug)]
pub struct FaultEngine {
    state: Mutex<State>,
    baseline: Option<Latency>,
}

/// Derives a per-mock seed from the run seed and the mock name (FNV-1a, stable across builds).
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    seed ^ h
}

fn roll(rng: &mut StdRng, ratio: f64) -> bool {
    rng.random::<f64>() < ratio
}

/// The decisive fault kinds, in priority order.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Reset,
    Hang,
    Error,
    RateLimit,
    Malformed,
}

impl Kind {
    const ORDER: [Kind; 5] = [Kind::Reset, Kind::Hang, Kind::Error, Kind::RateLimit, Kind::Malformed];

    /// This kind's part of `spec`, if present and it fires (one RNG draw when present).
    fn fire(self, spec: &FaultSpec, rng: &mut StdRng) -> Option<Decisive> {
        match self {
            Kind::Reset => spec.reset.as_ref().filter(|r| roll(rng, r.ratio)).map(|_| Decisive::Reset),
            Kind::Hang => spec.hang.as_ref().filter(|h| roll(rng, h.ratio)).map(|h| Decisive::Hang(h.duration)),
            Kind::Error => spec.error.as_ref().filter(|e| roll(rng, e.ratio)).map(|e| Decisive::Error(e.status)),
            Kind::RateLimit => spec.rate_limit.as_ref().filter(|l| roll(rng, l.ratio)).map(|l| Decisive::RateLimit(l.retry_after)),
            Kind::Malformed => spec.malformed.as_ref().filter(|m| roll(rng, m.ratio)).map(|_| Decisive::Malformed),
        }
    }
}

impl FaultEngine {
    pub fn new(seed: u64, baseline: Option<Latency>) -> Self {
        Self { state: Mutex::new(State { active: Vec::new(), rng: StdRng::seed_from_u64(seed) }), baseline }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Activates a fault; re-applying an id replaces it in place.
    pub fn apply(&self, id: &str, route: Option<RouteFilter>, spec: FaultSpec) {
        let mut st = self.lock();
        let fault = ActiveFault { id: id.to_string(), route, spec };
        match st.active.iter_mut().find(|f| f.id == id) {
            Some(slot) => *slot = fault,
            None => st.active.push(fault),
        }
    }

    /// Deactivates a fault; `false` if it was not active.
    pub fn clear(&self, id: &str) -> bool {
        let mut st = self.lock();
        let before = st.active.len();
        st.active.retain(|f| f.id != id);
        st.active.len() != before
    }

    /// Ids of the active faults, in the order they were applied.
    pub fn active(&self) -> Vec<String> {
        self.lock().active.iter().map(|f| f.id.clone()).collect()
    }

    /// Decides what happens to one request.
    pub fn decide(&self, method: &str, path: &str, stage: Stage, stream: bool) -> Decision {
        let mut guard = self.lock();
        let State { active, rng } = &mut *guard;
        let matching: Vec<&ActiveFault> = active.iter().filter(|f| f.route.as_ref().is_none_or(|r| r.matches(method, path))).collect();
        let mut d = Decision::default();
        let kinds = match stage {
            Stage::All => &Kind::ORDER[..],
            Stage::ResetOnly => &Kind::ORDER[..1],
            Stage::AfterReset => &Kind::ORDER[1..],
        };
        // One pass per kind, in priority order; the first fault that fires wins.
        'kinds: for kind in kinds {
            for f in &matching {
                if let Some(what) = kind.fire(&f.spec, rng) {
                    d.decisive = Some(what);
                    d.fault = Some(f.id.clone());
                    break 'kinds;
                }
            }
        }
        if stage == Stage::ResetOnly || matches!(d.decisive, Some(Decisive::Reset | Decisive::Hang(_))) {
            return d;
        }

        let mut latency = self.baseline.map(|b| b.sample(rng)).unwrap_or_default();
        for f in &matching {
            if let Some(l) = &f.spec.latency {
                latency += l.sample(rng);
                d.fault.get_or_insert_with(|| f.id.clone());
            }
        }
        d.latency = latency.min(MAX_SAMPLED_DELAY);

        if stream && d.decisive.is_none() {
            for f in &matching {
                if let Some(s) = &f.spec.slow_stream {
                    d.token_delay += s.token_delay;
                    d.fault.get_or_insert_with(|| f.id.clone());
                }
                if let Some(t) = f.spec.truncate_stream.as_ref().filter(|t| roll(rng, t.ratio)) {
                    d.truncate_after = Some(d.truncate_after.map_or(t.after_tokens, |n| n.min(t.after_tokens)));
                    d.fault.get_or_insert_with(|| f.id.clone());
                }
            }
            d.token_delay = d.token_delay.min(MAX_SAMPLED_DELAY);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(y: &str) -> FaultSpec {
        serde_norway::from_str(y).unwrap()
    }

    #[test]
    fn no_faults_means_plain_answers() {
        let e = FaultEngine::new(1, None);
        assert_eq!(e.decide("GET", "/", Stage::All, false), Decision::default());
    }

    #[test]
    fn priority_and_latency_addition() {
        let e = FaultEngine::new(1, Some(Latency::Fixed(Duration::from_millis(5))));
        e.apply("slow", None, spec("latency: 100ms"));
        e.apply("err", None, spec("error: { status: 503 }"));
        e.apply("slow2", None, spec("latency: 10ms"));
        let d = e.decide("GET", "/", Stage::All, false);
        assert_eq!(d.decisive, Some(Decisive::Error(503)));
        assert_eq!(d.fault.as_deref(), Some("err"));
        assert_eq!(d.latency, Duration::from_millis(115));
        e.apply("boom", None, spec("reset: {}\nhang: {}"));
        let d = e.decide("GET", "/", Stage::All, false);
        assert_eq!((d.decisive, d.fault.as_deref()), (Some(Decisive::Reset), Some("boom")));
        assert!(e.clear("boom"));
        assert!(!e.clear("boom"));
        e.apply("h", None, spec("hang: { for: 2s }\nrate_limit: {}"));
        assert_eq!(e.decide("GET", "/", Stage::All, false).decisive, Some(Decisive::Hang(Duration::from_secs(2))));
        assert_eq!(e.active(), ["slow", "err", "slow2", "h"]);
    }

    #[test]
    fn route_filters_and_stages() {
        let e = FaultEngine::new(1, None);
        e.apply("r", Some("GET /items/*".parse().unwrap()), spec("reset: {}\nerror: {}"));
        assert_eq!(e.decide("POST", "/items/1", Stage::All, false).decisive, None);
        assert_eq!(e.decide("GET", "/items/1", Stage::ResetOnly, false).decisive, Some(Decisive::Reset));
        assert_eq!(e.decide("GET", "/items/1", Stage::AfterReset, false).decisive, Some(Decisive::Error(500)));
    }

    #[test]
    fn stream_faults_combine() {
        let e = FaultEngine::new(1, None);
        e.apply("a", None, spec("slow_stream: { token_delay: 10ms }\ntruncate_stream: { after_tokens: 5 }"));
        e.apply("b", None, spec("slow_stream: { token_delay: 5ms }\ntruncate_stream: { after_tokens: 2 }"));
        let d = e.decide("POST", "/v1/chat/completions", Stage::All, true);
        assert_eq!((d.token_delay, d.truncate_after), (Duration::from_millis(15), Some(2)));
        assert_eq!(d.fault.as_deref(), Some("a"));
        let d = e.decide("POST", "/v1/chat/completions", Stage::All, false);
        assert_eq!((d.token_delay, d.truncate_after), (Duration::ZERO, None));
    }

    #[test]
    fn ratios_are_seeded_and_reproducible() {
        let run = |seed| {
            let e = FaultEngine::new(seed, None);
            e.apply("half", None, spec("error: { status: 503, ratio: 0.5 }"));
            (0..1000).map(|_| e.decide("GET", "/", Stage::All, false).decisive.is_some()).collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let n = a.iter().filter(|x| **x).count();
        assert!((400..=600).contains(&n), "{n}");
        assert_ne!(derive_seed(1, "llm"), derive_seed(1, "backend"));
    }
}

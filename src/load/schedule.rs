//! The load's schedule: when each request is *meant* to leave, on the
//! timeline, whatever the responses do (an open model). The rate is piecewise
//! constant or linear (a phase's `rate:` or `ramp:`, else the load's `rate:`),
//! and arrivals are either evenly spaced or a seeded Poisson process.
//!
//! Arrival `n` is where the cumulative rate Λ(t) = ∫ rate reaches the `n`-th
//! arrival level: `n` itself for even spacing, a running sum of Exp(1) draws
//! for Poisson (the time-rescaling theorem: a unit Poisson process mapped
//! through Λ⁻¹ has intensity `rate(t)`). Inverting Λ segment by segment is exact
//! for constant and linear rates, so a 5-minute ramp does not drift.

use std::time::Duration;

use rand::{Rng, SeedableRng};

/// How arrivals are spaced within the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced: 1/rate apart (default).
    #[default]
    Uniform,
    /// A Poisson process with the same rate, seeded by the scenario's seed.
    Poisson,
}

/// A span of the timeline with a rate going linearly from `from` to `to`
/// (equal for a constant rate), in requests per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub start: Duration,
    pub end: Duration,
    pub from: f64,
    pub to: f64,
}

impl Segment {
    fn len(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }

    /// Λ over the first `tau` seconds of the segment.
    fn integral(&self, tau: f64) -> f64 {
        let k = if self.len() > 0.0 { (self.to - self.from) / self.len() } else { 0.0 };
        self.from * tau + 0.5 * k * tau * tau
    }

    /// The `tau` at which the segment's Λ reaches `level` (0 <= level <= total).
    fn inverse(&self, level: f64) -> f64 {
        let len = self.len();
        let k = if len > 0.0 { (self.to - self.from) / len } else { 0.0 };
        let tau = if k.abs() < 1e-12 {
            level / self.from
        } else {
            // from·τ + k·τ²/2 = level; the root in [0, len]. Written as
            // 2·level / (from + sqrt(from² + 2·k·level)) to stay exact when from > 0.
            let disc = (self.from * self.from + 2.0 * k * level).max(0.0);
            let denom = self.from + disc.sqrt();
            if denom > 0.0 { 2.0 * level / denom } else { (2.0 * level / k).max(0.0).sqrt() }
        };
        tau.clamp(0.0, len)
    }

    /// The rate at `tau` seconds into the segment.
    fn rate_at(&self, tau: f64) -> f64 {
        let len = self.len();
        if len > 0.0 { self.from + (self.to - self.from) * (tau / len) } else { self.from }
    }
}

/// The whole load's schedule: segments in order, covering the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub segments: Vec<Segment>,
    pub arrivals: Arrivals,
    pub seed: u64,
}

impl Schedule {
    /// One constant rate for `duration` (overhead rounds, lint).
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self {
            segments: vec![Segment { start: Duration::ZERO, end: duration, from: rate, to: rate }],
            arrivals: Arrivals::Uniform,
            seed: 1,
        }
    }

    pub fn end(&self) -> Duration {
        self.segments.last().map_or(Duration::ZERO, |s| s.end)
    }

    /// The highest rate anywhere in the schedule.
    pub fn peak(&self) -> f64 {
        self.segments.iter().map(|s| s.from.max(s.to)).fold(0.0, f64::max)
    }

    /// The rate at offset `t` of the timeline (0 outside it).
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.segments.iter().find(|s| t >= s.start && t < s.end).map_or(0.0, |s| s.rate_at((t - s.start).as_secs_f64()))
    }

    /// Requests the schedule intends in `[from, to)` (offsets on the timeline):
    /// the integral of the rate, the denominator of an achieved ratio.
    pub fn expected(&self, from: Duration, to: Duration) -> f64 {
        self.segments
            .iter()
            .map(|s| {
                let a = from.max(s.start);
                let b = to.min(s.end);
                if b <= a {
                    return 0.0;
                }
                s.integral((b - s.start).as_secs_f64()) - s.integral((a - s.start).as_secs_f64())
            })
            .sum()
    }

    /// The intended send offsets, in order, lazily.
    pub fn slots(&self) -> Slots {
        let mut slots =
            Slots { schedule: self.clone(), seg: 0, base: 0.0, level: 0.0, rng: rand::rngs::StdRng::seed_from_u64(self.seed), taken: 0 };
        if self.arrivals == Arrivals::Poisson {
            slots.level = slots.exp1(); // the first arrival is one gap in, like every other
        }
        slots
    }
}

/// Iterator over a schedule's intended send offsets.
#[derive(Debug, Clone)]
pub struct Slots {
    schedule: Schedule,
    /// Current segment, and Λ at its start.
    seg: usize,
    base: f64,
    /// The arrival level of the next slot.
    level: f64,
    rng: rand::rngs::StdRng,
    taken: u64,
}

impl Slots {
    fn exp1(&mut self) -> f64 {
        -self.rng.random_range(f64::EPSILON..1.0).ln()
    }
}

impl Iterator for Slots {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        loop {
            let s = *self.schedule.segments.get(self.seg)?;
            let total = s.integral(s.len());
            let within = self.level - self.base;
            // Segments are half-open: a slot on a segment's end belongs to the next one.
            if within < total - 1e-9 {
                let at = s.start + Duration::from_secs_f64(s.inverse(within));
                if at < s.end {
                    self.taken += 1;
                    self.level = match self.schedule.arrivals {
                        Arrivals::Uniform => self.taken as f64,
                        Arrivals::Poisson => self.level + self.exp1(),
                    };
                    return Some(at);
                }
            }
            self.base += total;
            self.seg += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn schedule(segments: &[(f64, f64, f64, f64)]) -> Schedule {
        Schedule {
            segments: segments.iter().map(|&(a, b, from, to)| Segment { start: secs(a), end: secs(b), from, to }).collect(),
            arrivals: Arrivals::Uniform,
            seed: 7,
        }
    }

    #[test]
    fn a_constant_rate_starts_at_zero_and_is_evenly_spaced() {
        let s = Schedule::constant(10.0, secs(2.0));
        let slots: Vec<Duration> = s.slots().collect();
        assert_eq!(slots.len(), 20);
        assert_eq!(slots[0], Duration::ZERO, "the first request leaves at the timeline's start");
        assert!((slots[1].as_secs_f64() - 0.1).abs() < 1e-9);
        assert!((slots[19].as_secs_f64() - 1.9).abs() < 1e-9);
        assert!((s.expected(secs(0.5), secs(1.5)) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn phases_change_the_rate_and_ramps_integrate_exactly() {
        // 1 s at 10/s, then a ramp 10 -> 110 over 2 s (120 requests), then 1 s at 5/s.
        let s = schedule(&[(0.0, 1.0, 10.0, 10.0), (1.0, 3.0, 10.0, 110.0), (3.0, 4.0, 5.0, 5.0)]);
        let slots: Vec<Duration> = s.slots().collect();
        let count = |a: f64, b: f64| slots.iter().filter(|t| **t >= secs(a) && **t < secs(b)).count();
        assert_eq!(count(0.0, 1.0), 10);
        assert_eq!(count(1.0, 3.0), 120);
        assert_eq!(count(3.0, 4.0), 5);
        assert!((s.expected(secs(1.0), secs(3.0)) - 120.0).abs() < 1e-9);
        // The ramp's second half carries more than its first: 10..60 is 70, 60..110 is 170.
        assert_eq!(count(1.0, 2.0), 35);
        assert!(slots.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!(s.peak(), 110.0);
    }

    #[test]
    fn a_ramp_from_zero_works() {
        let s = schedule(&[(0.0, 2.0, 0.0, 100.0)]);
        let slots: Vec<Duration> = s.slots().collect();
        assert_eq!(slots.len(), 100);
        assert!(slots[1] > secs(0.1) && slots[1] < secs(0.3), "{:?}", slots[1]);
    }

    #[test]
    fn poisson_arrivals_keep_the_rate_and_the_seed() {
        let mut s = Schedule::constant(200.0, secs(50.0));
        s.arrivals = Arrivals::Poisson;
        let a: Vec<Duration> = s.slots().collect();
        let b: Vec<Duration> = s.slots().collect();
        assert_eq!(a, b, "same seed, same arrivals");
        let n = a.len() as f64;
        assert!((n - 10_000.0).abs() < 400.0, "{n} arrivals, expected ~10000 (4 sigma is 400)");
        assert!(a[0] > Duration::ZERO);
    }
}

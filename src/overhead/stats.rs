//! Paired bootstrap confidence intervals for the delta of a statistic between
//! two variants measured in the same rounds.
//!
//! Rounds are the resampling unit and are resampled *paired* (round i of the
//! baseline goes with round i of the variant: they ran back to back, so slow
//! drift of the machine cancels). With the handful of rounds a run affords,
//! the plain percentile interval is too narrow; the interval here is
//! Hesterberg's *expanded percentile* interval: the percentiles are taken at
//! `Φ(-sqrt(n/(n-1)) · t(1-α/2, n-1))` instead of `α/2`, which restores the
//! coverage of a small-sample t interval (T. Hesterberg, "What teachers should
//! know about the bootstrap", The American Statistician 69, 2015).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::Rng;

/// A point estimate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// The interval lies wholly above or wholly below zero.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Deltas of a statistic: absolute (`variant - baseline`) and relative
/// (`variant / baseline - 1`, None when the baseline is zero).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Deltas {
    pub absolute: Interval,
    pub relative: Option<Interval>,
}

/// The percentile levels (lower, upper) of the expanded interval for `n`
/// paired rounds at `confidence`.
pub fn expanded_levels(n: usize, confidence: f64) -> (f64, f64) {
    let alpha = 1.0 - confidence;
    if n < 2 {
        return (alpha / 2.0, 1.0 - alpha / 2.0);
    }
    let df = (n - 1) as f64;
    let t = distrs::StudentsT::ppf(1.0 - alpha / 2.0, df);
    let z = (n as f64 / df).sqrt() * t;
    let lower = distrs::Normal::cdf(-z, 0.0, 1.0);
    (lower, 1.0 - lower)
}

/// Linear-interpolated quantile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Bootstrap the deltas of `stat` between `variant` and `baseline`, whose
/// entries are paired by index (round). `stat` maps the chosen round indices
/// to the statistic for one side (e.g. CPU seconds per request over those
/// rounds); it may return None when those rounds hold no data.
pub fn paired_deltas<T>(
    baseline: &[T],
    variant: &[T],
    stat: impl Fn(&[&T]) -> Option<f64>,
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<Deltas> {
    let n = baseline.len().min(variant.len());
    if n == 0 {
        return None;
    }
    let all: Vec<usize> = (0..n).collect();
    fn pick<'a, T>(side: &'a [T], idx: &[usize]) -> Vec<&'a T> {
        idx.iter().map(|&i| &side[i]).collect()
    }
    let (b, v) = (stat(&pick(baseline, &all))?, stat(&pick(variant, &all))?);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut abs, mut rel) = (Vec::with_capacity(resamples), Vec::with_capacity(resamples));
    let mut idx = vec![0; n];
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            *slot = rng.random_range(0..n);
        }
        let (Some(sb), Some(sv)) = (stat(&pick(baseline, &idx)), stat(&pick(variant, &idx))) else { continue };
        abs.push(sv - sb);
        if sb != 0.0 {
            rel.push(sv / sb - 1.0);
        }
    }
    let (lq, hq) = expanded_levels(n, confidence);
    let interval = |point: f64, mut xs: Vec<f64>| -> Interval {
        xs.sort_by(f64::total_cmp);
        Interval { point, low: percentile(&xs, lq).min(point), high: percentile(&xs, hq).max(point) }
    };
    let relative = (b != 0.0 && rel.len() * 2 >= resamples).then(|| interval(v / b - 1.0, rel));
    Some(Deltas { absolute: interval(v - b, abs), relative })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(xs: &[&f64]) -> Option<f64> {
        (!xs.is_empty()).then(|| xs.iter().copied().sum::<f64>() / xs.len() as f64)
    }

    #[test]
    fn levels_widen_for_few_rounds_and_approach_the_nominal_ones() {
        let (lo5, hi5) = expanded_levels(5, 0.95);
        assert!(lo5 < 0.005 && (lo5 + hi5 - 1.0).abs() < 1e-12, "{lo5}");
        let (lo100, _) = expanded_levels(100, 0.95);
        assert!((lo100 - 0.025).abs() < 0.003, "{lo100}");
    }

    #[test]
    fn a_constant_shift_is_found_exactly() {
        let base = [10.0, 11.0, 9.0, 10.5, 9.5];
        let var: Vec<f64> = base.iter().map(|x| x * 1.2).collect();
        let d = paired_deltas(&base, &var, mean, 0.95, 2000, 1).unwrap();
        let r = d.relative.unwrap();
        assert!((r.point - 0.2).abs() < 1e-9 && (r.low - 0.2).abs() < 1e-9 && (r.high - 0.2).abs() < 1e-9, "{r:?}");
        assert!((d.absolute.point - 2.0).abs() < 1e-9);
        assert!(d.absolute.low > 1.7 && d.absolute.high < 2.3, "{:?}", d.absolute);
    }

    #[test]
    fn identical_noisy_variants_have_an_interval_around_zero() {
        // A/A: the same distribution on both sides; pairing does not help.
        let mut rng = StdRng::seed_from_u64(7);
        let mut misses = 0;
        for trial in 0..200 {
            let base: Vec<f64> = (0..6).map(|_| 100.0 + rng.random_range(-10.0..10.0)).collect();
            let var: Vec<f64> = (0..6).map(|_| 100.0 + rng.random_range(-10.0..10.0)).collect();
            let d = paired_deltas(&base, &var, mean, 0.95, 1000, trial).unwrap();
            if d.relative.unwrap().excludes_zero() {
                misses += 1;
            }
        }
        // Nominal 5%; the plain percentile interval misses about twice that at n=6.
        assert!(misses <= 16, "{misses} of 200 A/A intervals excluded zero");
    }

    #[test]
    fn no_data_gives_no_interval() {
        let none = |_: &[&f64]| None;
        assert!(paired_deltas(&[1.0], &[2.0], none, 0.95, 100, 1).is_none());
        assert!(paired_deltas::<f64>(&[], &[], mean, 0.95, 100, 1).is_none());
        let zero = paired_deltas(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], mean, 0.95, 100, 1).unwrap();
        assert!(zero.relative.is_none() && zero.absolute.point == 1.0);
    }
}

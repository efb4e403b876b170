//! Durations and latency distributions of the fault configuration: humantime
//! strings ("200ms", "2s") in serde, and seeded sampling of a [`Latency`]
//! (fixed, uniform, normal, exponential) without extra dependencies.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Upper bound of any sampled delay, so a wide distribution cannot stall a run.
pub const MAX_SAMPLED_DELAY: Duration = Duration::from_secs(3600);

/// serde helpers for a `Duration` written as a humantime string ("200ms", "1m 30s").
pub(crate) mod dur {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Hd::deserialize(d).map(|h| h.0)
    }
}

/// A humantime duration as a serde value (building block of the reprs, and
/// the schema of every duration field: `#[schemars(with = "Hd")]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hd(pub Duration);

hand_schema!(Hd, "Duration", _g => {
    "type": "string",
    "description": "A duration: a number and a unit (ns, us, ms, s, m, h, d), several summed: `250ms`, `2s`, `1m 30s`.",
    "pattern": r"^\s*([0-9]+\s*[a-zA-Zµ]+\s*)+$",
    "examples": ["250ms", "2s", "1m 30s"],
});

impl Serialize for Hd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        dur::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Hd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Hd;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"200ms\" or \"2s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Hd, E> {
                parse_duration(v).map(Hd).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Parses a humantime duration, with an error message that names the input.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?} ({e}); write it like \"200ms\" or \"2s\""))
}

/// A delay added to a response: a fixed value or a distribution sampled per request.
///
/// YAML: `300ms` | `{ fixed: 300ms }` | `{ uniform: [100ms, 500ms] }` |
/// `{ normal: { mean: 200ms, stddev: 50ms } }` | `{ exponential: { mean: 200ms } }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniformly distributed in `[min, max]`.
    Uniform { min: Duration, max: Duration },
    /// Normally distributed, clamped at zero.
    Normal { mean: Duration, stddev: Duration },
    /// Exponentially distributed with the given mean.
    Exponential { mean: Duration },
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum LatencyRepr {
    Fixed(Hd),
    Uniform([Hd; 2]),
    Normal(NormalRepr),
    Exponential(ExponentialRepr),
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NormalRepr {
    mean: Hd,
    stddev: Hd,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExponentialRepr {
    mean: Hd,
}

impl From<LatencyRepr> for Latency {
    fn from(r: LatencyRepr) -> Self {
        match r {
            LatencyRepr::Fixed(d) => Latency::Fixed(d.0),
            LatencyRepr::Uniform([a, b]) => Latency::Uniform { min: a.0, max: b.0 },
            LatencyRepr::Normal(n) => Latency::Normal { mean: n.mean.0, stddev: n.stddev.0 },
            LatencyRepr::Exponential(e) => Latency::Exponential { mean: e.mean.0 },
        }
    }
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Latency::Fixed(d) => Hd(d).serialize(s),
            Latency::Uniform { min, max } => LatencyRepr::Uniform([Hd(min), Hd(max)]).serialize(s),
            Latency::Normal { mean, stddev } => LatencyRepr::Normal(NormalRepr { mean: Hd(mean), stddev: Hd(stddev) }).serialize(s),
            Latency::Exponential { mean } => LatencyRepr::Exponential(ExponentialRepr { mean: Hd(mean) }).serialize(s),
        }
    }
}

hand_schema!(Latency, "Latency", g => {
    "description": "A fixed delay (`300ms`) or a distribution sampled per request.",
    "anyOf": [g.subschema_for::<Hd>(), g.subschema_for::<LatencyRepr>()],
});

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Latency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration such as \"300ms\" or one of {fixed: D}, {uniform: [D, D]}, \
                     {normal: {mean: D, stddev: D}}, {exponential: {mean: D}}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Latency, E> {
                parse_duration(v).map(Latency::Fixed).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Latency, A::Error> {
                LatencyRepr::deserialize(de::value::MapAccessDeserializer::new(map)).map(Into::into)
            }
        }
        d.deserialize_any(V)
    }
}

impl Latency {
    /// Draws one delay (clamped to `0..=MAX_SAMPLED_DELAY`).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match *self {
            Latency::Fixed(d) => return d.min(MAX_SAMPLED_DELAY),
            Latency::Uniform { min, max } => {
                let (lo, hi) = (min.as_secs_f64(), max.as_secs_f64());
                if hi > lo { rng.random_range(lo..=hi) } else { lo }
            }
            Latency::Normal { mean, stddev } => {
                // Box–Muller: u1 in (0, 1] so ln(u1) is finite.
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                mean.as_secs_f64() + z * stddev.as_secs_f64()
            }
            Latency::Exponential { mean } => {
                let u: f64 = 1.0 - rng.random::<f64>();
                -u.ln() * mean.as_secs_f64()
            }
        };
        Duration::try_from_secs_f64(secs.clamp(0.0, MAX_SAMPLED_DELAY.as_secs_f64())).unwrap_or(Duration::ZERO)
    }

    /// Problems with the parameters (empty when usable).
    pub fn problems(&self) -> Vec<String> {
        match *self {
            Latency::Uniform { min, max } if min > max => {
                vec![format!("uniform latency: min {} is above max {}", humantime::format_duration(min), humantime::format_duration(max))]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn yaml(s: &str) -> Result<Latency, String> {
        serde_norway::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_shape() {
        let ms = Duration::from_millis;
        assert_eq!(yaml("300ms").unwrap(), Latency::Fixed(ms(300)));
        assert_eq!(yaml("{ fixed: 2s }").unwrap(), Latency::Fixed(ms(2000)));
        assert_eq!(yaml("{ uniform: [100ms, 500ms] }").unwrap(), Latency::Uniform { min: ms(100), max: ms(500) });
        assert_eq!(yaml("{ normal: { mean: 200ms, stddev: 50ms } }").unwrap(), Latency::Normal { mean: ms(200), stddev: ms(50) });
        assert_eq!(yaml("{ exponential: { mean: 200ms } }").unwrap(), Latency::Exponential { mean: ms(200) });
    }

    #[test]
    fn rejects_bad_input_with_a_useful_message() {
        assert!(yaml("fast").unwrap_err().contains("invalid duration"));
        assert!(yaml("{ gamma: 1s }").is_err());
        assert!(yaml("{ normal: { mean: 1s, sd: 1s } }").is_err());
    }

    #[test]
    fn round_trips_through_serde() {
        for s in ["300ms", "{ uniform: [100ms, 500ms] }", "{ normal: { mean: 1s, stddev: 10ms } }"] {
            let l = yaml(s).unwrap();
            let back: Latency = serde_json::from_value(serde_json::to_value(l).unwrap()).unwrap();
            assert_eq!(back, l);
        }
    }

    #[test]
    fn samples_have_the_right_mean_and_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 4000;
        let mean_of = |l: Latency, rng: &mut StdRng| (0..n).map(|_| l.sample(rng).as_secs_f64()).sum::<f64>() / n as f64;
        let u = Latency::Uniform { min: Duration::from_millis(100), max: Duration::from_millis(300) };
        for _ in 0..100 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(300));
        }
        let m = mean_of(u, &mut rng);
        assert!((m - 0.2).abs() < 0.01, "{m}");
        let m = mean_of(Latency::Normal { mean: Duration::from_secs(1), stddev: Duration::from_millis(100) }, &mut rng);
        assert!((m - 1.0).abs() < 0.02, "{m}");
        let m = mean_of(Latency::Exponential { mean: Duration::from_millis(200) }, &mut rng);
        assert!((m - 0.2).abs() < 0.02, "{m}");
        // A normal with a huge stddev never goes negative.
        let wide = Latency::Normal { mean: Duration::ZERO, stddev: Duration::from_secs(10) };
        assert!((0..100).all(|_| wide.sample(&mut rng) <= MAX_SAMPLED_DELAY));
    }
}

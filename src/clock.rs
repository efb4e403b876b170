//! The run's single time base. Every collector, mock journal and timeline
//! event records offsets from one `RunClock` start, so expectations can
//! compare them without converting between clocks.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Monotonic clock started when the run starts. Cheap to copy into every task.
/// Also remembers the wall-clock time of its start, to place timestamps that
/// other processes wrote (span start/end in Unix nanoseconds) on the run clock.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    start: Instant,
    wall_start: SystemTime,
}

impl RunClock {
    pub fn start() -> Self {
        Self { start: Instant::now(), wall_start: SystemTime::now() }
    }

    /// Run offset of a Unix timestamp in nanoseconds (e.g. an OTLP span's
    /// start); `None` if it is before the run started.
    pub fn offset_of_unix_nanos(&self, nanos: u64) -> Option<Duration> {
        let at = UNIX_EPOCH + Duration::from_nanos(nanos);
        at.duration_since(self.wall_start).ok()
    }

    /// Run offset of an RFC 3339 timestamp written by another process (e.g.
    /// Prometheus' `activeAt`); `None` if unparsable or before the run started.
    pub fn offset_of_rfc3339(&self, text: &str) -> Option<Duration> {
        let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
        let nanos = u64::try_from(t.timestamp_nanos_opt()?).ok()?;
        self.offset_of_unix_nanos(nanos)
    }

    /// Unix time (seconds) of a run offset, for APIs that take wall-clock
    /// times (Prometheus `query_range`).
    pub fn unix_secs_at(&self, offset: Duration) -> f64 {
        (self.wall_start + offset).duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }

    /// Run offset of a Unix time in seconds (a Prometheus sample timestamp).
    pub fn offset_of_unix_secs(&self, secs: f64) -> Option<Duration> {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        self.offset_of_unix_nanos((secs * 1e9) as u64)
    }

    /// Time elapsed since the run started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Offset of an instant taken elsewhere (saturates at zero for instants before the start).
    pub fn offset_of(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    /// The instant at a given offset (for sleeping until a timeline point).
    pub fn instant_at(&self, offset: Duration) -> Instant {
        self.start + offset
    }
}

/// A half-open interval `[start, end)` of run offsets, resolved from a scenario
/// window such as `during: fault` or `after: recovery+5s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Window {
    #[serde(serialize_with = "ser_ms")]
    #[schemars(with = "f64")]
    pub start: Duration,
    #[serde(serialize_with = "ser_ms")]
    #[schemars(with = "f64")]
    pub end: Duration,
}

/// Serde: a run offset as milliseconds (`#[serde(with = "crate::clock::ms")]`).
pub mod ms {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        super::ser_ms(d, s)
    }
}

/// Serde: an optional run offset as milliseconds or `null`.
pub mod opt_ms {
    pub fn serialize<S: serde::Serializer>(d: &Option<std::time::Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::ser_ms(d, s),
            None => s.serialize_none(),
        }
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl Window {
    pub fn new(start: Duration, end: Duration) -> Self {
        Self { start, end: end.max(start) }
    }

    pub fn contains(&self, t: Duration) -> bool {
        t >= self.start && t < self.end
    }

    pub fn len(&self) -> Duration {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}s..{:.1}s", self.start.as_secs_f64(), self.end.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_half_open() {
        let w = Window::new(Duration::from_secs(1), Duration::from_secs(2));
        assert!(w.contains(Duration::from_secs(1)));
        assert!(!w.contains(Duration::from_secs(2)));
        assert_eq!(w.len(), Duration::from_secs(1));
    }

    #[test]
    fn unix_timestamps_map_onto_the_run_clock() {
        let clock = RunClock::start();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let off = clock.offset_of_unix_nanos(now).unwrap();
        assert!(off < Duration::from_secs(1));
        assert_eq!(clock.offset_of_unix_nanos(now - 60_000_000_000), None);
    }

    #[test]
    fn wall_clock_round_trips_through_unix_seconds_and_rfc3339() {
        let clock = RunClock::start();
        let at = Duration::from_millis(1500);
        let unix = clock.unix_secs_at(at);
        let back = clock.offset_of_unix_secs(unix).unwrap();
        assert!(back.abs_diff(at) < Duration::from_millis(1), "{back:?}");
        let text = chrono::DateTime::from_timestamp(unix.trunc() as i64, (unix.fract() * 1e9) as u32).unwrap().to_rfc3339();
        let parsed = clock.offset_of_rfc3339(&text).unwrap();
        assert!(parsed.abs_diff(at) < Duration::from_millis(1), "{text} -> {parsed:?}");
        assert_eq!(clock.offset_of_rfc3339("yesterday"), None);
        assert_eq!(clock.offset_of_unix_secs(f64::NAN), None);
    }

    #[test]
    fn inverted_window_is_empty_not_negative() {
        let w = Window::new(Duration::from_secs(3), Duration::from_secs(2));
        assert!(w.is_empty());
    }
}

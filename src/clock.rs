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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    #[serde(serialize_with = "ser_ms")]
    pub start: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub end: Duration,
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
    fn inverted_window_is_empty_not_negative() {
        let w = Window::new(Duration::from_secs(3), Duration::from_secs(2));
        assert!(w.is_empty());
    }
}

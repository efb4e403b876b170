//! Whether the scraper was looking: an absence (`present: false`,
//! `absent_as_zero`, a canary found nowhere) is an answer only from scrapes
//! that covered the window, so the gap rule lives beside the store that
//! records when each service was scraped.

use std::time::Duration;

use super::MetricStore;
use crate::clock::Window;

/// Missed scrape rounds an absence tolerates inside its window: more than
/// this many intervals (and more than [`MIN_BLIND`]) without a successful
/// scrape and the collector was not looking.
pub const BLIND_ROUNDS: u32 = 4;
/// The shortest blind stretch that counts (fast intervals jitter by more than one round).
pub const MIN_BLIND: Duration = Duration::from_secs(1);

impl MetricStore {
    /// Whether every service in scope (`service`, or every service scraped at
    /// all) was watched through `window` (closed at both ends): a successful
    /// scrape inside it and, when the interval is known, no stretch of the
    /// window longer than [`BLIND_ROUNDS`] intervals (at least [`MIN_BLIND`])
    /// without one. An absence is only an answer from a collector that was
    /// looking the whole time.
    pub fn scraped_in(&self, service: Option<&str>, window: Window) -> Result<(), String> {
        self.watched(service, window, true)
    }

    /// [`Self::scraped_in`] without the gap rule: one successful scrape of
    /// each service inside `window` (for a search of the whole run, where a
    /// restart's gap hides nothing that stays exported).
    pub fn scraped_once_in(&self, service: Option<&str>, window: Window) -> Result<(), String> {
        self.watched(service, window, false)
    }

    fn watched(&self, service: Option<&str>, window: Window, gaps: bool) -> Result<(), String> {
        let services: Vec<&str> = match service {
            Some(s) => vec![s],
            None => self.services().collect(),
        };
        if services.is_empty() {
            return Err("no service was scraped".into());
        }
        let mut never = Vec::new();
        let mut blind = Vec::new();
        for s in services {
            let times = self.scrape_times(s);
            let i = times.partition_point(|t| *t < window.start);
            if times.get(i).is_none_or(|t| *t > window.end) {
                never.push(s);
                continue;
            }
            let Some(interval) = self.interval.filter(|_| gaps) else { continue };
            let max_gap = (interval * BLIND_ROUNDS).max(MIN_BLIND);
            // From the last scrape at or before the start (else the start) to the
            // first at or after the end (else the end).
            let first = times[..times.partition_point(|t| *t <= window.start)].last().copied().unwrap_or(window.start);
            let after = times.partition_point(|t| *t < window.end);
            let last = times.get(after).copied().unwrap_or(window.end);
            let inside = &times[times.partition_point(|t| *t <= window.start)..after];
            let points = std::iter::once(first).chain(inside.iter().copied()).chain(std::iter::once(last));
            let worst = points.clone().zip(points.skip(1)).max_by_key(|(a, b)| b.saturating_sub(*a));
            if let Some((a, b)) = worst.filter(|(a, b)| b.saturating_sub(*a) > max_gap) {
                blind.push(format!(
                    "{s} had no successful scrape for {:.2}s from {:.2}s (scrapes every {interval:?})",
                    (b - a).as_secs_f64(),
                    a.as_secs_f64()
                ));
            }
        }
        let mut why = Vec::new();
        if !never.is_empty() {
            why.push(format!("no successful scrape of {} in the window", never.join(", ")));
        }
        why.extend(blind);
        if why.is_empty() { Ok(()) } else { Err(why.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::exposition::{Format, parse};
    use crate::collectors::store::tests::{s, scrape, w};

    #[test]
    fn an_absence_needs_a_scrape_inside_the_window() {
        let mut st = MetricStore::new();
        scrape(&mut st, "a", 1, "x 1\n");
        scrape(&mut st, "a", 5, "x 1\n");
        st.record_error("b", s(3), "timeout", "timed out");
        assert!(st.scraped_in(Some("a"), w(1, 2)).is_ok(), "closed at the start");
        assert!(st.scraped_in(Some("a"), w(4, 5)).is_ok(), "closed at the end");
        assert!(st.scraped_in(Some("a"), w(2, 4)).is_err());
        let e = st.scraped_in(None, w(0, 9)).unwrap_err();
        assert!(e.contains("of b in the window"), "{e}");
        assert!(MetricStore::new().scraped_in(None, w(0, 9)).is_err());
    }

    #[test]
    fn an_absence_needs_the_scraper_looking_through_the_whole_window() {
        let mut st = MetricStore::new();
        st.set_interval(Duration::from_millis(250));
        let ms = Duration::from_millis;
        for t in (0..=2000).step_by(250).chain((4000..=6000).step_by(250)) {
            st.record("a", ms(t), parse("x 1\n", Format::PrometheusText));
        }
        let win = |a, b| Window { start: ms(a), end: ms(b) };
        assert!(st.scraped_in(Some("a"), win(0, 2000)).is_ok());
        assert!(st.scraped_in(Some("a"), win(100, 1900)).is_ok(), "scrapes just outside the window bound it");
        assert!(st.scraped_in(Some("a"), win(4100, 7000)).is_ok(), "the last stretch is within a few rounds");
        let e = st.scraped_in(Some("a"), win(1000, 5000)).unwrap_err();
        assert_eq!(e, "a had no successful scrape for 2.00s from 2.00s (scrapes every 250ms)");
        assert!(st.scraped_in(Some("a"), win(5000, 9000)).is_err(), "nothing scraped after 6 s");
        assert!(st.scraped_once_in(Some("a"), win(1000, 5000)).is_ok(), "one scrape is enough without the gap rule");
        assert!(st.scraped_in(Some("a"), win(2500, 3500)).unwrap_err().starts_with("no successful scrape of a in the window"));
    }
}

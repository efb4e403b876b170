//! Store queries on synthetic series, with expected values computed by hand.

use super::query::bucket_quantile;
use super::*;
use crate::clock::Window;
use crate::collectors::exposition::{Format, parse};

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn w(a: u64, b: u64) -> Window {
    Window::new(s(a), s(b))
}

/// Records one scrape of `service` at `at` seconds from exposition text.
fn scrape(store: &mut MetricStore, service: &str, at: u64, body: &str) {
    store.record(service, s(at), parse(body, Format::PrometheusText));
}

fn counter_store(values: &[(u64, f64)]) -> MetricStore {
    let mut st = MetricStore::new();
    for &(t, v) in values {
        scrape(&mut st, "svc", t, &format!("# TYPE c_total counter\nc_total {v}\n"));
    }
    st
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn increase_uses_baseline_at_or_before_start_and_last_at_or_before_end() {
    let st = counter_store(&[(0, 0.0), (10, 5.0), (20, 12.0), (30, 20.0)]);
    let c = Selector::new("c_total");
    assert_eq!(st.increase(&c, w(10, 30)).unwrap().value, 15.0);
    assert_eq!(st.increase(&c, w(5, 25)).unwrap().value, 12.0);
    assert!(close(st.rate(&c, w(5, 25)).unwrap(), 12.0 / 20.0));
    // Adjacent windows add up exactly.
    let parts = st.increase(&c, w(0, 15)).unwrap().value + st.increase(&c, w(15, 30)).unwrap().value;
    assert_eq!(parts, st.increase(&c, w(0, 30)).unwrap().value);
    // After the last sample nothing moves; before the first there is no data.
    assert_eq!(st.increase(&c, w(30, 40)).unwrap().value, 0.0);
    assert_eq!(counter_store(&[(10, 1.0)]).increase(&c, w(0, 5)), None);
    assert_eq!(st.rate(&c, w(10, 10)), None);
}

#[test]
fn a_drop_is_a_reset_and_the_post_reset_value_counts() {
    let st = counter_store(&[(0, 10.0), (10, 15.0), (20, 3.0), (30, 8.0)]);
    let inc = st.increase(&Selector::new("c_total"), w(0, 30)).unwrap();
    assert_eq!(inc, Increase { value: 5.0 + 3.0 + 5.0, series: 1, resets: 1 });
}

#[test]
fn series_first_seen_inside_the_window_starts_from_zero() {
    let mut st = MetricStore::new();
    scrape(&mut st, "svc", 0, "other 1\n");
    scrape(&mut st, "svc", 10, "other 1\n");
    scrape(&mut st, "svc", 20, "c_total{status=\"error\"} 4\n");
    scrape(&mut st, "svc", 30, "c_total{status=\"error\"} 6\n");
    let inc = st.increase(&Selector::new("c_total"), w(10, 30)).unwrap();
    assert_eq!(inc.value, 6.0);
}

#[test]
fn series_in_the_services_first_scrape_has_its_first_sample_as_baseline() {
    let st = counter_store(&[(2, 100.0), (10, 105.0)]);
    assert_eq!(st.increase(&Selector::new("c_total"), w(0, 10)).unwrap().value, 5.0);
}

#[test]
fn increase_sums_selected_series_and_honours_matchers_and_service() {
    let mut st = MetricStore::new();
    for (t, ok, err) in [(0, 1, 0), (10, 11, 2)] {
        let body = format!("t_total{{status=\"ok\"}} {ok}\nt_total{{status=\"error\"}} {err}\n");
        scrape(&mut st, "a", t, &body);
        scrape(&mut st, "b", t, &body);
    }
    let all = Selector::new("t_total");
    assert_eq!(st.increase(&all, w(0, 10)).unwrap(), Increase { value: 24.0, series: 4, resets: 0 });
    let a = all.clone().service("a");
    assert_eq!(st.increase(&a, w(0, 10)).unwrap().value, 12.0);
    assert_eq!(st.increase(&a.clone().eq("status", "ok"), w(0, 10)).unwrap().value, 10.0);
    assert_eq!(st.increase(&a.clone().ne("status", "ok"), w(0, 10)).unwrap().value, 2.0);
    // A missing label compares as "".
    assert_eq!(st.increase(&a.clone().eq("region", ""), w(0, 10)).unwrap().value, 12.0);
    assert_eq!(st.increase(&a.eq("status", "nope"), w(0, 10)), None);
}

#[test]
fn gauge_stats_step_series_and_value_at() {
    let mut st = MetricStore::new();
    for (t, x, y) in [(0, 1, 0), (10, 3, 1), (20, 2, 5), (30, 0, 0)] {
        scrape(&mut st, "svc", t, &format!("g{{w=\"x\"}} {x}\ng{{w=\"y\"}} {y}\nbreaker 0\n"));
    }
    let g = Selector::new("g");
    assert_eq!(st.step_series(&g, w(10, 30)), vec![(s(10), 4.0), (s(20), 7.0)]);
    let stats = st.gauge_stats(&g, w(0, 30)).unwrap();
    assert_eq!(stats, GaugeStats { min: 1.0, max: 7.0, last: 7.0, avg: 4.0, samples: 3 });
    assert_eq!(st.gauge_at(&g, s(15)), Some(4.0));
    assert_eq!(st.gauge_at(&g.clone().eq("w", "y"), s(25)), Some(5.0));
    assert_eq!(st.gauge_stats(&g, w(31, 40)), None);
    assert_eq!(st.gauge_at(&Selector::new("missing"), s(15)), None);
}

fn histogram_body(kind: &str, counts: [u32; 4]) -> String {
    let les = ["0.1", "0.5", "1", "+Inf"];
    les.iter().zip(counts).map(|(le, c)| format!("h_bucket{{kind=\"{kind}\",le=\"{le}\"}} {c}\n")).collect()
}

#[test]
fn histogram_quantile_interpolates_like_prometheus() {
    let mut st = MetricStore::new();
    scrape(&mut st, "svc", 0, &histogram_body("a", [0, 0, 0, 0]));
    scrape(&mut st, "svc", 10, &histogram_body("a", [10, 30, 38, 40]));
    scrape(&mut st, "svc", 20, &histogram_body("a", [20, 50, 58, 60]));
    let h = Selector::new("h");
    // rank 20 of 40 lies in (0.1, 0.5] holding 20: 0.1 + 0.4 * 10/20.
    assert!(close(st.histogram_quantile(0.5, &h, w(0, 10)).unwrap(), 0.3));
    // rank 36 in (0.5, 1] holding 8: 0.5 + 0.5 * 6/8.
    assert!(close(st.histogram_quantile(0.9, &h, w(0, 10)).unwrap(), 0.875));
    // rank 39.6 falls in +Inf: the highest finite bound.
    assert_eq!(st.histogram_quantile(0.99, &h, w(0, 10)), Some(1.0));
    // rank 2 in the first bucket, which starts at 0: 0.1 * 2/10.
    assert!(close(st.histogram_quantile(0.05, &h, w(0, 10)).unwrap(), 0.02));
    // Only the window's observations: increases (10,20,20,20); rank 10 -> 0.1.
    assert!(close(st.histogram_quantile(0.5, &h.clone(), w(10, 20)).unwrap(), 0.1));
    // The `_bucket` name works too; out-of-range q behaves as in PromQL.
    assert_eq!(st.histogram_quantile(1.5, &Selector::new("h_bucket"), w(0, 10)), Some(f64::INFINITY));
    // Empty window -> None.
    assert_eq!(st.histogram_quantile(0.5, &h, w(20, 30)), None);
}

#[test]
fn histogram_quantile_sums_buckets_across_series_and_survives_resets() {
    let mut st = MetricStore::new();
    let both = |a: [u32; 4], b: [u32; 4]| histogram_body("a", a) + &histogram_body("b", b);
    scrape(&mut st, "svc", 0, &both([0, 0, 0, 0], [0, 0, 0, 0]));
    scrape(&mut st, "svc", 10, &both([5, 15, 19, 20], [5, 15, 19, 20]));
    // Series b restarts and observes (1, 1, 1, 1) -> reset adds those.
    scrape(&mut st, "svc", 20, &both([5, 15, 19, 20], [1, 1, 1, 1]));
    let h = Selector::new("h");
    // Summed (10, 30, 38, 40) as in the single-series test.
    assert!(close(st.histogram_quantile(0.5, &h, w(0, 10)).unwrap(), 0.3));
    // Window (10, 20]: only b's post-reset observations, all <= 0.1: rank 0.5 of 1.
    assert!(close(st.histogram_quantile(0.5, &h, w(10, 20)).unwrap(), 0.05));
    assert!(close(st.histogram_quantile(0.5, &h.eq("kind", "a"), w(0, 20)).unwrap(), 0.3));
}

#[test]
fn bucket_quantile_edge_cases() {
    let inf = f64::INFINITY;
    assert_eq!(bucket_quantile(0.5, vec![]), None);
    assert_eq!(bucket_quantile(0.5, vec![(1.0, 5.0), (2.0, 5.0)]), None, "no +Inf bucket");
    assert_eq!(bucket_quantile(0.5, vec![(1.0, 0.0), (inf, 0.0)]), None, "no observations");
    assert_eq!(bucket_quantile(0.5, vec![(inf, 3.0)]), None, "a single bucket");
    assert_eq!(bucket_quantile(0.5, vec![(-1.0, 4.0), (inf, 4.0)]), Some(-1.0));
    assert!(bucket_quantile(f64::NAN, vec![(1.0, 1.0), (inf, 1.0)]).unwrap().is_nan());
    assert_eq!(bucket_quantile(-0.1, vec![(1.0, 1.0), (inf, 1.0)]), Some(f64::NEG_INFINITY));
    // Unsorted input, duplicated bounds summed, non-monotonic counts repaired.
    let q = bucket_quantile(0.5, vec![(inf, 4.0), (1.0, 1.0), (1.0, 1.0), (2.0, 1.0)]).unwrap();
    assert!(close(q, 1.0), "{q}");
}

#[test]
fn presence_label_values_and_errors() {
    let mut st = MetricStore::new();
    let body = "# HELP tasks Tasks.\n# TYPE tasks counter\ntasks_total{status=\"ok\"} 1\n\
                tasks_total{status=\"error\"} 1\n# TYPE declared_only gauge\nbad{ 1\n# EOF\n";
    st.record("coord", s(1), parse(body, Format::OpenMetrics));
    st.record_error("worker", s(1), "connection refused");
    assert!(st.family_present("coord", "tasks"));
    assert!(st.family_present("coord", "tasks_total"));
    assert!(st.family_present("coord", "declared_only"));
    assert!(!st.family_present("coord", "nope"));
    assert!(!st.family_present("worker", "tasks"));
    assert_eq!(st.families("coord").count(), 2);
    let values: Vec<String> = st.label_values(None, "tasks", "status").into_iter().collect();
    assert_eq!(values, ["error", "ok"]);
    assert_eq!(st.series_count(Some("coord"), "tasks"), 2);
    assert_eq!(st.parse_errors().len(), 1);
    assert_eq!(st.parse_errors()[0].error.line, 6);
    assert_eq!(st.scrape_errors()[0].message, "connection refused");
    assert_eq!(st.scrape_times("coord"), &[s(1)]);
    assert!(st.scrape_times("worker").is_empty());
    assert_eq!(st.services().collect::<Vec<_>>(), ["coord", "worker"]);
}

#[test]
fn duplicate_series_in_one_body_keeps_last_and_is_reported() {
    let mut st = MetricStore::new();
    scrape(&mut st, "svc", 1, "x 1\nx 2\n");
    let (_, series) = st.select(&Selector::new("x")).next().unwrap();
    assert_eq!(series.points, vec![(s(1), 2.0)]);
    assert_eq!(st.scrape_errors().len(), 1);
}

#[test]
fn a_quiet_store_still_records_failed_scrapes() {
    let mut st = MetricStore::with_quiet_errors();
    st.record_error("worker", s(1), "GET http://127.0.0.1:1/metrics answered HTTP 404");
    st.record_error("worker", s(2), "GET http://127.0.0.1:1/metrics answered HTTP 404");
    assert_eq!(st.scrape_errors().len(), 2);
    assert_eq!(st.scrape_errors()[1].at, s(2));
}

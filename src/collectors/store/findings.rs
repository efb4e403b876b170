//! What went wrong while scraping, summarised for the report: failed scrapes
//! counted by service and reason, series exposed twice in one body, lines
//! that did not parse — and the warnings a person should see about them.
//! A scrape error is the harness's view of the target, never a verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use super::MetricStore;

/// Above this share of failed scrapes, a service gets a terminal warning.
pub const WARN_FAILED_SHARE: f64 = 0.05;

/// Scrape findings of a run, as written into report.json's `collectors`.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ScrapeFindings {
    /// service -> reason -> failed scrapes.
    pub scrape_failures: BTreeMap<String, BTreeMap<&'static str, usize>>,
    pub duplicate_series: Vec<DuplicateReport>,
    /// service -> lines that did not parse, and the first of them (in
    /// report.json beside the total `parse_errors`, hence the name).
    #[serde(rename = "parse_errors_by_service")]
    pub parse_errors: BTreeMap<String, ParseErrors>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DuplicateReport {
    pub service: String,
    pub series: String,
    pub first_at_ms: f64,
    /// Later samples ignored over all scrapes.
    pub ignored: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ParseErrors {
    pub lines: usize,
    /// The first, with its line number in the body.
    pub first: String,
}

impl MetricStore {
    pub fn findings(&self) -> ScrapeFindings {
        let mut f = ScrapeFindings::default();
        for e in self.scrape_errors() {
            *f.scrape_failures.entry(e.service.clone()).or_default().entry(e.reason).or_default() += 1;
        }
        f.duplicate_series = self
            .duplicates()
            .map(|d| DuplicateReport {
                service: d.service.clone(),
                series: d.series.clone(),
                first_at_ms: d.first_at.as_secs_f64() * 1000.0,
                ignored: d.ignored,
            })
            .collect();
        for e in self.parse_errors() {
            f.parse_errors.entry(e.service.clone()).or_insert_with(|| ParseErrors { lines: 0, first: e.error.to_string() }).lines += 1;
        }
        f
    }

    /// One line per service whose scrapes went wrong enough to doubt its data.
    pub fn warnings(&self) -> Vec<String> {
        let f = self.findings();
        let mut out = Vec::new();
        for (service, reasons) in &f.scrape_failures {
            let failed: usize = reasons.values().sum();
            let total = failed + self.scrape_times(service).len();
            if failed as f64 > WARN_FAILED_SHARE * total as f64 {
                let by: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
                let first = self.scrape_errors().iter().find(|e| &e.service == service).map(|e| e.message.as_str()).unwrap_or_default();
                out.push(format!("service `{service}`: {failed} of {total} scrapes failed ({}); first: {first}", by.join(", ")));
            }
        }
        let mut dups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for d in &f.duplicate_series {
            dups.entry(&d.service).or_default().push(&d.series);
        }
        for (service, series) in dups {
            out.push(format!(
                "service `{service}` exposed {} series twice in one body (first: {}); the first sample of each body was kept",
                series.len(),
                series[0]
            ));
        }
        for (service, p) in &f.parse_errors {
            out.push(format!("service `{service}`: {} exposition lines did not parse (first: {})", p.lines, p.first));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::collectors::exposition::{Format, parse};
    use crate::collectors::store::MetricStore;

    #[test]
    fn failures_are_counted_by_reason_and_warned_above_five_percent() {
        let mut st = MetricStore::new();
        for i in 0..19 {
            st.record("ok", Duration::from_secs(i), parse("x 1\n", Format::PrometheusText));
        }
        st.record_error("ok", Duration::from_secs(20), "timeout", "GET … timed out");
        st.record("bad", Duration::from_secs(1), parse("x 1\nx 2\ny{ 1\n", Format::PrometheusText));
        st.record_error("bad", Duration::from_secs(2), "http_status", "GET … answered HTTP 500");
        st.record_error("bad", Duration::from_secs(3), "timeout", "GET … timed out");
        let f = st.findings();
        assert_eq!(f.scrape_failures["bad"]["http_status"], 1);
        assert_eq!(f.scrape_failures["ok"]["timeout"], 1);
        assert_eq!(f.duplicate_series[0].series, "x");
        assert_eq!(f.parse_errors["bad"].lines, 1);
        let w = st.warnings();
        assert_eq!(w.len(), 3, "1 of 20 is 5 %, not above: {w:?}");
        assert!(
            w[0].starts_with("service `bad`: 2 of 3 scrapes failed (http_status 1, timeout 1); first: GET … answered HTTP 500"),
            "{w:?}"
        );
        assert!(w[1].contains("exposed 1 series twice"), "{w:?}");
        assert!(w[2].contains("1 exposition lines did not parse"), "{w:?}");
    }
}

//! JUnit XML: one test suite per scenario, one test case per expectation
//! (failure message = expected vs observed), one error case when the run
//! could not happen.

use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};

use super::{Report, RunVerdict};
use crate::expect::Verdict;

pub(super) fn render(r: &Report) -> String {
    combined(std::slice::from_ref(r))
}

/// One document with a suite per scenario run (`ordeal run DIR`).
pub(super) fn combined(reports: &[Report]) -> String {
    let mut report = JReport::new("ordeal");
    for r in reports {
        report.add_test_suite(suite(r));
    }
    report.to_string().unwrap_or_default()
}

fn suite(r: &Report) -> TestSuite {
    let mut suite = TestSuite::new(format!("ordeal.{}", r.scenario));
    suite.set_time(std::time::Duration::from_millis(r.duration_ms));
    for c in &r.expectations {
        let status = match c.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Fail | Verdict::Inconclusive => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("expected {}; observed {}", c.expected, c.observed));
                s.set_type(c.kind);
                s.set_description(serde_json::to_string_pretty(&c.evidence).unwrap_or_default());
                s
            }
        };
        let mut case = TestCase::new(c.name.clone(), status);
        case.set_classname(format!("{}.{}", r.scenario, c.kind));
        suite.add_test_case(case);
    }
    if r.verdict == RunVerdict::Error {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(r.error.clone().unwrap_or_default());
        let mut case = TestCase::new("run", s);
        case.set_classname(format!("{}.harness", r.scenario));
        suite.add_test_case(case);
    }
    suite
}

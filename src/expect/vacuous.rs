//! No vacuous pass, for every kind at once: each expectation of every bundled
//! scenario is judged against a run in which nothing was recorded (no scrape,
//! no request, no span, no log line, no poll), and none may pass. The bundled
//! scenarios (and the test stacks' in `fixtures/`) together use every kind of the registry; the test says which
//! kind is missing if one stops being used.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::{Recorded, Verdict, evaluate_one};
use crate::collectors::store::MetricStore;
use crate::scenario::PhaseSpan;

/// A run that recorded nothing at all over `phases`.
pub(crate) fn nothing(phases: Vec<PhaseSpan>) -> Recorded {
    Recorded {
        origin: Duration::from_secs(1),
        phases,
        metrics: MetricStore::new(),
        journals: Default::default(),
        health: Vec::new(),
        load: None,
        logs: Vec::new(),
        log_gaps: Vec::new(),
        canary: None,
        traces: Default::default(),
        traces_end: Duration::from_secs(3600),
        alerts: None,
        promql: Default::default(),
        contract: Default::default(),
    }
}

#[test]
fn no_bundled_expectation_passes_when_nothing_was_recorded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut kinds = BTreeSet::new();
    let mut passed = Vec::new();
    let mut files = crate::plan::scenario_files(&dir).unwrap();
    files.extend(["fixtures/pyshop/pyshop.yaml", "fixtures/fallback/fallback.yaml"].map(|f| dir.join("..").join(f)));
    for file in &files {
        let plan = crate::plan::load(file).unwrap_or_else(|d| panic!("{}: {d}", file.display()));
        let rec = nothing(plan.phases.clone());
        for e in &plan.expectations {
            kinds.insert(e.kind());
            let c = evaluate_one(e, &rec);
            if c.verdict == Verdict::Pass {
                passed.push(format!("{}: {} ({}): {}", file.display(), c.name, c.kind, c.observed));
            }
        }
    }
    assert!(passed.is_empty(), "passed on an empty recording:\n{}", passed.join("\n"));
    let missing: Vec<&str> = super::KINDS.iter().copied().filter(|k| !kinds.contains(k)).collect();
    assert!(missing.is_empty(), "no bundled scenario uses {missing:?}: add one, so that this test covers it");
}

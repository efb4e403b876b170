//! `kind: contract`: the contract lint (see `lint`) as an expectation. The
//! sources and promtool's verdicts were gathered while the stack ran; the
//! selectors are checked here against every series the run scraped.

use serde_json::json;

use super::Judgement;
use crate::collectors::store::MetricStore;
use crate::lint::ContractInput;
use crate::scenario::ContractCheck;

pub(crate) fn judge(c: &ContractCheck, input: Option<&Result<ContractInput, String>>, store: &MetricStore) -> Judgement {
    let mut parts = Vec::new();
    if !c.spec.rules.is_empty() {
        parts.push(format!("{} rule file(s)", c.spec.rules.len()));
    }
    if !c.spec.dashboards.is_empty() {
        parts.push(format!("{} dashboard(s)", c.spec.dashboards.len()));
    }
    if !c.spec.queries.is_empty() {
        parts.push(format!("{} PromQL quer(ies)", c.spec.queries.len()));
    }
    let what = if parts.is_empty() { "no references".to_string() } else { parts.join(", ") };
    let expected = format!(
        "{what} match exported metrics{}; at most {} series per family",
        if c.spec.naming { "; promtool check metrics clean" } else { "" },
        c.spec.cardinality.max_series
    );
    let input = match input {
        Some(Ok(i)) => i,
        Some(Err(e)) => {
            return Judgement { pass: false, expected, observed: format!("the lint could not run: {e}"), evidence: json!(null) };
        }
        None => {
            return Judgement {
                pass: false,
                expected,
                observed: "the lint did not run (the stack did not get that far)".into(),
                evidence: json!(null),
            };
        }
    };
    let report = crate::lint::judge(input, store, &c.spec.cardinality);
    let references = input.sources.references.len();
    let observed = match report.findings.first() {
        None => format!("{references} expressions checked, no findings ({} notes)", report.notes.len()),
        Some(first) => format!("{} finding(s); first: {first}", report.findings.len()),
    };
    Judgement {
        pass: report.passed(),
        expected,
        observed,
        evidence: json!({ "references": references, "findings": report.findings, "notes": report.notes }),
    }
}

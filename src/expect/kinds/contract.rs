//! `kind: contract`: the contract lint (see `lint`) as an expectation. The
//! sources and promtool's verdicts were gathered while the stack ran; the
//! selectors are checked here against every series the run scraped.

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::store::MetricStore;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::lint::ContractInput;
use crate::scenario::{Ctx, Names};

fn yes() -> bool {
    true
}

/// `kind: contract` — the contract lint as an expectation: rules, dashboards
/// and the scenario's PromQL against every series the run saw; promtool's
/// naming lint; cardinality budgets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawContract {
    /// Check `alerting.rules` (default true).
    #[serde(default = "yes")]
    pub rules: bool,
    /// Check `alerting.dashboards` (default true).
    #[serde(default = "yes")]
    pub dashboards: bool,
    /// Check the scenario's `kind: promql` queries (default true).
    #[serde(default = "yes")]
    pub queries: bool,
    /// `promtool check metrics` on every service's exposition (default true).
    #[serde(default = "yes")]
    pub naming: bool,
    /// Series per family (default `max_series: 200`), with per-family overrides.
    #[serde(default)]
    pub cardinality: crate::lint::CardinalityBudget,
}

/// `kind: contract` — the contract lint during a run.
#[derive(Debug, Clone)]
pub struct ContractCheck {
    pub spec: crate::lint::ContractSpec,
    /// Also lint the scenario's `kind: promql` queries (filled into `spec`).
    pub with_queries: bool,
}

impl Kind for ContractCheck {
    const NAME: &'static str = "contract";
    type Raw = RawContract;

    fn compile(_cx: &mut Ctx, _path: &str, r: RawContract, names: &Names) -> Option<Self> {
        let alerting = names.alerting;
        let spec = crate::lint::ContractSpec {
            rules: if r.rules { alerting.map(|a| a.rules.clone()).unwrap_or_default() } else { Vec::new() },
            dashboards: if r.dashboards { alerting.map(|a| a.dashboards.clone()).unwrap_or_default() } else { Vec::new() },
            queries: Vec::new(),
            naming: r.naming,
            cardinality: r.cardinality,
        };
        Some(ContractCheck { spec, with_queries: r.queries })
    }

    fn describe(&self) -> String {
        "rules, dashboards and metrics match the contract".to_string()
    }

    fn judge(&self, rec: &Recorded, _w: Window, id: &str) -> Judgement {
        judge(self, rec.contract.get(id), &rec.metrics)
    }

    fn signals(&self) -> Signals {
        Signals::default()
    }

    /// The scenario's PromQL queries (from every expectation that has Prometheus evaluate one).
    fn link(&mut self, all: &[(String, Signals)]) {
        if self.with_queries {
            self.spec.queries = crate::expect::kind::promql_sources(all);
        }
    }
}

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
    if store.all_series().next().is_none() {
        let observed = "no data: no series was scraped from any service, so nothing can match the references".into();
        return Judgement { pass: false, expected, observed, evidence: json!({ "unfetched": input.unfetched }) };
    }
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

//! One contract lint, as `ordeal lint` and `kind: contract` run it: the I/O
//! part ([`gather`]: read rule files and dashboards, run promtool on them and
//! on each service's exposition) while the stack is up, and the pure part
//! ([`judge`]: selectors against every series the run saw, cardinality).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::promtool::{Promtool, PromtoolError};
use super::sources::{self, SourceError, Sources};
use super::{CardinalityBudget, Finding, FindingKind, LintReport, LiveView, check_cardinality, check_contract};
use crate::collectors::store::MetricStore;

/// What to lint.
#[derive(Debug, Clone, Default)]
pub struct ContractSpec {
    pub rules: Vec<PathBuf>,
    pub dashboards: Vec<PathBuf>,
    /// PromQL written elsewhere (e.g. the scenario's `kind: promql`): `(source, expr)`.
    pub queries: Vec<(String, String)>,
    /// Run `promtool check metrics` on every service's exposition.
    pub naming: bool,
    pub cardinality: CardinalityBudget,
}

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Promtool(#[from] PromtoolError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// What [`gather`] collected: parsed sources, and promtool's findings.
#[derive(Debug, Clone, Default)]
pub struct ContractInput {
    pub sources: Sources,
    pub tool_findings: Vec<Finding>,
    /// Services whose exposition could not be fetched for promtool.
    pub unfetched: Vec<(String, String)>,
}

/// Reads the sources and runs promtool (`check rules` on the rule files,
/// `check metrics` on each `raw` exposition when `spec.naming`).
pub async fn gather(
    spec: &ContractSpec,
    raw: &BTreeMap<String, Result<String, String>>,
    promtool: &Promtool,
) -> Result<ContractInput, LintError> {
    let mut input = ContractInput::default();
    for r in &spec.rules {
        input.sources.merge(sources::load_rules(r)?);
    }
    for d in &spec.dashboards {
        input.sources.merge(sources::load_dashboard(d)?);
    }
    for (source, expr) in &spec.queries {
        input.sources.add(source.clone(), expr);
    }
    if !spec.rules.is_empty() {
        input.tool_findings.extend(promtool.check_rules(&spec.rules).await?);
    }
    if spec.naming {
        for (service, text) in raw {
            match text {
                Ok(t) => input.tool_findings.extend(promtool.check_metrics(service, t).await?),
                Err(e) => input.unfetched.push((service.clone(), e.clone())),
            }
        }
    }
    Ok(input)
}

/// Every finding: selectors missing from what the run saw, promtool's
/// objections, families over budget.
pub fn judge(input: &ContractInput, store: &MetricStore, budget: &CardinalityBudget) -> LintReport {
    let view = LiveView::from_store(store);
    let mut report = check_contract(&input.sources, &view);
    // check_contract reports the sources' parse errors; promtool may repeat them.
    let parse_errors: Vec<&str> =
        report.findings.iter().filter(|f| f.check == FindingKind::ParseError).map(|f| f.source.as_str()).collect::<Vec<_>>();
    let tool: Vec<Finding> = input
        .tool_findings
        .iter()
        .filter(|f| !(f.check == FindingKind::RulesInvalid && parse_errors.iter().any(|s| s.starts_with(&f.source))))
        .cloned()
        .collect();
    report.extend(tool);
    report.extend(check_cardinality(store, budget));
    for (service, e) in &input.unfetched {
        report.note(service.clone(), format!("exposition not checked by promtool: {e}"));
    }
    if view.is_empty() {
        report.finding(Finding::new(
            FindingKind::MetricMissing,
            "stack",
            "no metrics were scraped from any service, so no reference can be checked",
        ));
    }
    report
}

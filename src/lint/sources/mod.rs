//! Where PromQL comes from: Prometheus rule files ([`rules`]) and Grafana
//! dashboards ([`grafana`]), each turned into [`Reference`]s that say where
//! an expression is written and which selectors it uses.
//!
//! Reading never stops at the first problem: an expression that does not
//! parse, or a file of the wrong shape, becomes a finding in
//! [`Sources::findings`] and the rest is still read. Only I/O is an `Err`.

pub mod grafana;
pub mod rules;

use std::collections::BTreeSet;
use std::path::Path;

use super::promql::{self, MetricSelector};
use super::{Finding, FindingKind};

/// One expression and where it is written.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Reference {
    /// e.g. `alerts/rules.yaml:12 alert HighErrorRate` or
    /// `dashboards/x.json panel "Task rate" (id 3) target A`.
    pub source: String,
    pub expr: String,
    pub selectors: Vec<MetricSelector>,
}

/// Everything read from some rule files and dashboards.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Sources {
    pub references: Vec<Reference>,
    /// Metric names defined by recording rules: references to them are satisfied.
    pub recorded: BTreeSet<String>,
    /// Expressions that did not parse, files of the wrong shape.
    pub findings: Vec<Finding>,
}

impl Sources {
    pub fn merge(&mut self, other: Sources) {
        self.references.extend(other.references);
        self.recorded.extend(other.recorded);
        self.findings.extend(other.findings);
    }

    /// Parses `expr` and records it as a reference, or its parse error as a finding.
    pub fn add(&mut self, source: impl Into<String>, expr: &str) {
        let source = source.into();
        match promql::selectors(expr) {
            Ok(selectors) => self.references.push(Reference { source, expr: expr.to_owned(), selectors }),
            Err(e) => self.findings.push(Finding::new(FindingKind::ParseError, source, format!("invalid PromQL: {e}"))),
        }
    }
}

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct SourceError {
    pub path: String,
    pub source: crate::files::ReadError,
}

fn read(path: &Path) -> Result<String, SourceError> {
    crate::files::read_to_string(path).map_err(|source| SourceError { path: path.display().to_string(), source })
}

/// Reads a Prometheus rule file; see [`rules::parse`].
pub fn load_rules(path: &Path) -> Result<Sources, SourceError> {
    Ok(rules::parse(&path.display().to_string(), &read(path)?))
}

/// Reads a Grafana dashboard; see [`grafana::parse`].
pub fn load_dashboard(path: &Path) -> Result<Sources, SourceError> {
    Ok(grafana::parse(&path.display().to_string(), &read(path)?))
}

//! Contract lint: do the alert rules and dashboards users point ordeal at
//! query metrics and labels the stack really exports, and are the stack's
//! metrics well named and within cardinality budgets?
//!
//! - [`promql`]: every selector of a PromQL expression (via `promql-parser`).
//! - [`sources`]: Prometheus rule files and Grafana dashboards -> [`sources::Reference`]s.
//! - [`contract`]: references against a [`contract::LiveView`] of a run's series (pure).
//! - [`cardinality`]: series per family against budgets (pure).
//! - [`promtool`]: the real `promtool check rules` / `check metrics`, as findings.
//! - [`fetch`]: raw exposition text per target, for `promtool check metrics`.
//! - [`gather`]: one lint end to end: gather (I/O, while the stack is up), judge (pure).
//!
//! A problem found is a [`Finding`] (the lint fails); an observation that
//! cannot fail the lint (a family with no series yet, a label value not seen
//! during the run) is a [`Note`]. `Err` is kept for "could not run".

pub mod cardinality;
pub mod contract;
pub mod fetch;
pub mod gather;
pub mod promql;
pub mod promtool;
pub mod sources;
#[cfg(test)]
mod tests;
mod text_format;

use std::fmt;

pub use cardinality::{CardinalityBudget, check_cardinality};
pub use contract::{LiveView, check_contract};
pub use fetch::collect_raw;
pub use gather::{ContractInput, ContractSpec, LintError, gather, judge};
pub use sources::{Reference, Sources};

/// Which check produced a [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A selector names a metric no service exports.
    MetricMissing,
    /// A selector matches on a label the metric does not have.
    LabelMissing,
    /// `promtool check rules` (or our own reading) rejected a rule file.
    RulesInvalid,
    /// `promtool check metrics` objected to a metric's name, type or help.
    Naming,
    /// A family has more series than its budget.
    Cardinality,
    /// An expression, dashboard or exposition did not parse.
    ParseError,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MetricMissing => "metric_missing",
            FindingKind::LabelMissing => "label_missing",
            FindingKind::RulesInvalid => "rules_invalid",
            FindingKind::Naming => "naming",
            FindingKind::Cardinality => "cardinality",
            FindingKind::ParseError => "parse_error",
        }
    }
}

/// One problem: the lint fails if there is any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub check: FindingKind,
    /// Where: `rules.yaml:12 alert HighErrorRate`, `x.json panel "Rate" (id 3) target A`, a service.
    pub source: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(check: FindingKind, source: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { check, source: source.into(), message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)?;
        match &self.hint {
            Some(hint) => write!(f, " ({hint})"),
            None => Ok(()),
        }
    }
}

/// An observation that does not fail the lint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    pub source: String,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "note: {}: {}", self.source, self.message)
    }
}

/// Findings and notes, each kept once, in the order found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub notes: Vec<Note>,
}

impl LintReport {
    /// Adds a finding unless the same one is already there.
    pub fn finding(&mut self, finding: Finding) {
        if !self.findings.contains(&finding) {
            self.findings.push(finding);
        }
    }

    /// Adds a note unless the same one is already there.
    pub fn note(&mut self, source: impl Into<String>, message: impl Into<String>) {
        let note = Note { source: source.into(), message: message.into() };
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Adds everything of `other`.
    pub fn merge(&mut self, other: LintReport) {
        other.findings.into_iter().for_each(|f| self.finding(f));
        other.notes.into_iter().for_each(|n| self.note(n.source, n.message));
    }

    /// No findings (notes do not count).
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

impl Extend<Finding> for LintReport {
    fn extend<T: IntoIterator<Item = Finding>>(&mut self, iter: T) {
        iter.into_iter().for_each(|f| self.finding(f));
    }
}

/// One line per finding (`source: message (hint)`), then one per note.
impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

//! Diagnostics for scenario files: every problem carries the file, line,
//! column, the field path (`expect[2].increase`) and a hint saying how to fix
//! it. The compiler collects all of them before giving up.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a scenario file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no position (e.g. the file cannot be read).
    pub line: usize,
    pub col: usize,
    /// Field path such as `stack.services.worker.env`; empty for file-level problems.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        write!(f, ": error")?;
        if !self.path.is_empty() {
            write!(f, " in `{}`", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// All problems of one scenario file (never empty when returned as an error).
#[derive(Debug, Clone, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

/// Diagnostics printed at most; the rest are counted.
pub const MAX_SHOWN: usize = 50;

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().take(MAX_SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > MAX_SHOWN {
            write!(f, "\n... and {} more", self.0.len() - MAX_SHOWN)?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{} errors", self.0.len())?;
        }
        Ok(())
    }
}

/// Closest candidate to a misspelled name, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_path_and_hint() {
        let d = Diagnostic {
            file: "s.yaml".into(),
            line: 3,
            col: 5,
            path: "load.rate".into(),
            message: "must be positive".into(),
            hint: Some("use e.g. `rate: 20`".into()),
        };
        assert_eq!(d.to_string(), "s.yaml:3:5: error in `load.rate`: must be positive\n  hint: use e.g. `rate: 20`");
    }

    #[test]
    fn at_most_fifty_are_printed_then_a_count() {
        let d = |line| Diagnostic { file: "s.yaml".into(), line, col: 1, path: "x".into(), message: "bad".into(), hint: None };
        let text = Diagnostics((1..=73).map(d).collect()).to_string();
        assert!(text.contains("s.yaml:50:1:") && !text.contains("s.yaml:51:1:"), "{text}");
        assert!(text.ends_with("\n... and 23 more\n73 errors"), "{text}");
        assert_eq!(Diagnostics(vec![d(1)]).to_string(), "s.yaml:1:1: error in `x`: bad");
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("duraton", ["duration", "name"]), Some("duration"));
        assert_eq!(did_you_mean("zzz", ["duration", "name"]), None);
    }
}

//! `summary.md`: the run for a CI job page (GitHub's step summary renders
//! it): the verdict, then the failed expectations and the passed ones, each a
//! table row with its window, what was expected and what was observed (in
//! the unit of the gate).

use std::fmt::Write;

use super::{Report, RunVerdict};
use crate::expect::{Checked, Verdict};

/// A table cell: one line, `|` escaped, at most 300 characters.
fn cell(s: &str) -> String {
    // Masked before the text changes shape (a secret holding `|` or a line break).
    let s = crate::secrets::mask(s);
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
    if one.chars().count() > 300 { format!("{}…", one.chars().take(300).collect::<String>()) } else { one }
}

fn table(out: &mut String, title: &str, rows: &[&Checked]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### {title} ({})\n", rows.len());
    out.push_str("| expectation | kind | window | expected | observed |\n|---|---|---|---|---|\n");
    for c in rows {
        let window = format!("{} ({:.1}s..{:.1}s)", c.window.expr, c.window.start_ms / 1000.0, c.window.end_ms / 1000.0);
        let _ = writeln!(out, "| {} | {} | {} | {} | {} |", cell(&c.name), c.kind, cell(&window), cell(&c.expected), cell(&c.observed));
    }
}

pub fn render(r: &Report) -> String {
    let mark = match r.verdict {
        RunVerdict::Pass => "✅",
        RunVerdict::Fail => "❌",
        RunVerdict::Error => "⚠️",
    };
    let word = r.verdict.word();
    let mut out = format!("## {mark} {word} — {}\n\n", cell(&r.scenario));
    let failed: Vec<&Checked> = r.expectations.iter().filter(|c| c.verdict != Verdict::Pass).collect();
    let passed: Vec<&Checked> = r.expectations.iter().filter(|c| c.verdict == Verdict::Pass).collect();
    let _ = writeln!(
        out,
        "`{}` · seed {} · {} · {:.1} s · {} of {} expectations met",
        r.file.display(),
        r.seed,
        r.runtime,
        r.duration_ms as f64 / 1000.0,
        passed.len(),
        r.expectations.len()
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "\n**The harness could not run the scenario:** {}", cell(e));
    }
    table(&mut out, "Failed", &failed);
    table(&mut out, "Passed", &passed);
    let _ = writeln!(out, "\nReport: `{}`", r.run_dir.join("report.html").display());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell("a |b\n  c"), "a \\|b c");
        assert_eq!(cell(&"x".repeat(400)).chars().count(), 301);
    }
}

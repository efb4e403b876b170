//! `ordeal history`: the runs under a reports folder, by scenario over time,
//! for scheduled drills reviewed after the fact — a terminal table and
//! `index.html` with each run's verdict, failed expectations and key figures
//! (p95 latency per phase, when each alert fired), and **regressions**
//! marked: an expectation that passed in the scenario's previous run and
//! fails now, or a key figure more than 20 % (and 5 ms) worse than in the
//! previous run.
//!
//! It reads report.json files as JSON values (not the `Report` type), so
//! reports written by older versions still load; a file that is not a report
//! is skipped with a warning.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::html::escape;

/// A key figure this much worse than in the previous run is a regression...
pub const WORSE_BY: f64 = 0.20;

/// ...and worse by at least this much (ms): 20 % of a 3 ms p95 is noise.
pub const WORSE_BY_MS: f64 = 5.0;

/// How deep below the folder report.json files are looked for.
const MAX_DEPTH: usize = 4;

/// One run, as history needs it.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub scenario: String,
    pub started_at: String,
    pub verdict: String,
    pub failed: Vec<String>,
    pub passed: Vec<String>,
    /// Key figures, lower is better: `p95 <phase> ms`, `<alert> fires after ms`.
    pub figures: BTreeMap<String, f64>,
    /// Filled by [`History::load`]: what got worse since the previous run.
    pub regressions: Vec<String>,
}

impl Run {
    fn from_report(dir: &Path, r: &Value) -> Option<Run> {
        let scenario = r["scenario"].as_str()?.to_string();
        let names = |pass: bool| -> Vec<String> {
            r["expectations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| (e["verdict"] == "pass") == pass)
                .filter_map(|e| e["name"].as_str().map(String::from))
                .collect()
        };
        let mut figures = BTreeMap::new();
        for p in r["phases"].as_array().into_iter().flatten() {
            if let (Some(name), Some(v)) = (p["name"].as_str(), p["load"]["p95_ms"].as_f64()) {
                figures.insert(format!("p95 {name} ms"), v);
            }
        }
        for a in r["alerting"]["alerts"].as_array().into_iter().flatten() {
            if let (Some(name), Some(v)) = (a["name"].as_str(), a["firing_at_ms"].as_f64()) {
                figures.entry(format!("{name} fires after ms")).or_insert(v);
            }
        }
        Some(Run {
            dir: dir.to_path_buf(),
            scenario,
            started_at: r["started_at"].as_str().unwrap_or_default().to_string(),
            verdict: r["verdict"].as_str().unwrap_or("?").to_string(),
            failed: names(false),
            passed: names(true),
            figures,
            regressions: Vec::new(),
        })
    }

    /// What got worse since `prev`.
    fn compare(&mut self, prev: &Run) {
        for f in &self.failed {
            if prev.passed.contains(f) {
                self.regressions.push(format!("`{f}` failed (passed before)"));
            }
        }
        for (k, v) in &self.figures {
            if let Some(p) = prev.figures.get(k)
                && *p > 0.0
                && *v > p * (1.0 + WORSE_BY)
                && *v - p >= WORSE_BY_MS
            {
                self.regressions.push(format!("{k}: {v:.1} (was {p:.1}, +{:.0}%)", (v / p - 1.0) * 100.0));
            }
        }
    }
}

/// Every run under a folder, by scenario, oldest first.
#[derive(Debug, Default)]
pub struct History {
    pub scenarios: BTreeMap<String, Vec<Run>>,
    /// Files that looked like reports but could not be read.
    pub skipped: Vec<String>,
    /// The folder read (index.html lives there; its links are relative to it).
    pub root: PathBuf,
}

fn find_reports(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() && depth < MAX_DEPTH {
            find_reports(&p, depth + 1, out);
        } else if kind.is_file() && p.file_name().is_some_and(|n| n == "report.json") {
            out.push(p);
        }
    }
}

impl History {
    pub fn load(dir: &Path) -> std::io::Result<History> {
        std::fs::read_dir(dir)?;
        let mut h = History { root: dir.to_path_buf(), ..History::default() };
        let mut files = Vec::new();
        find_reports(dir, 0, &mut files);
        for f in files {
            let parsed = crate::files::read(&f).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            match parsed.as_ref().and_then(|r| Run::from_report(f.parent().unwrap_or(dir), r)) {
                Some(run) => h.scenarios.entry(run.scenario.clone()).or_default().push(run),
                None => h.skipped.push(format!("{}: not a report ordeal can read", f.display())),
            }
        }
        for runs in h.scenarios.values_mut() {
            // By instant: runs written in different UTC offsets (a CI runner, a laptop) still sort right.
            let instant = |r: &Run| chrono::DateTime::parse_from_rfc3339(&r.started_at).map(|t| t.timestamp_micros()).ok();
            runs.sort_by(|a, b| instant(a).cmp(&instant(b)).then_with(|| a.started_at.cmp(&b.started_at)));
            for i in 1..runs.len() {
                let prev = runs[i - 1].clone();
                runs[i].compare(&prev);
            }
        }
        Ok(h)
    }

    pub fn runs(&self) -> usize {
        self.scenarios.values().map(Vec::len).sum()
    }

    /// The terminal table: a line per run, regressions under it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for (name, runs) in &self.scenarios {
            let _ = writeln!(out, "{name}");
            for r in runs {
                let mark = if r.regressions.is_empty() { " " } else { "!" };
                let _ = writeln!(
                    out,
                    " {mark} {:<32} {:<5} {:>3} failed  {}",
                    r.started_at.get(..19).unwrap_or(&r.started_at),
                    r.verdict.to_uppercase(),
                    r.failed.len(),
                    r.dir.display()
                );
                for g in &r.regressions {
                    let _ = writeln!(out, "      regression: {g}");
                }
            }
        }
        out
    }

    /// `index.html`: self-contained, a section per scenario.
    pub fn html(&self) -> String {
        let mut h = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ordeal history</title><style>\
             body{font:14px/1.4 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:16px}\
             table{border-collapse:collapse;width:100%;margin-bottom:18px}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}\
             .pass{color:#2ca02c;font-weight:700}.fail,.error{color:#d62728;font-weight:700}.reg{background:#fde8e8}.small{color:#666;font-size:12px}\
             </style></head><body><h1>ordeal history</h1>\n",
        );
        for (name, runs) in &self.scenarios {
            let _ = write!(h, "<h2>{}</h2>{}", escape(name), trend(runs));
            h.push_str("<table><tr><th>started</th><th>verdict</th><th>failed</th><th>key figures</th><th>regressions</th></tr>");
            for r in runs.iter().rev() {
                let figures: Vec<String> = r.figures.iter().map(|(k, v)| format!("{} {v:.1}", escape(k))).collect();
                let _ = write!(
                    h,
                    "<tr class=\"{}\"><td><a href=\"{}\">{}</a></td><td class=\"{}\">{}</td><td>{}</td><td class=\"small\">{}</td><td>{}</td></tr>",
                    if r.regressions.is_empty() { "" } else { "reg" },
                    escape(&link(r.dir.strip_prefix(&self.root).unwrap_or(&r.dir).join("report.html"))),
                    escape(&r.started_at),
                    escape(&r.verdict),
                    escape(&r.verdict.to_uppercase()),
                    escape(&r.failed.join(", ")),
                    figures.join("<br>"),
                    escape(&r.regressions.join("; "))
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

/// A relative path as a URL path (each segment percent-encoded).
fn link(p: PathBuf) -> String {
    p.iter().map(|s| crate::load::vars::url_escape(&s.to_string_lossy())).collect::<Vec<_>>().join("/")
}

/// The worst p95 of each run, oldest to newest, as a small line.
fn trend(runs: &[Run]) -> String {
    let values: Vec<f64> =
        runs.iter().map(|r| r.figures.iter().filter(|(k, _)| k.starts_with("p95 ")).map(|(_, v)| *v).fold(0.0, f64::max)).collect();
    if values.len() < 2 {
        return String::new();
    }
    let max = values.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", 4.0 + i as f64 * 192.0 / (values.len() - 1) as f64, 36.0 - v / max * 32.0))
        .collect();
    format!(
        "<p class=\"small\">worst phase p95 over runs (max {max:.1} ms)</p><svg viewBox=\"0 0 200 40\" width=\"200\" height=\"40\"><polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/></svg>",
        pts.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(failed: &[&str], passed: &[&str], p95: f64) -> Run {
        Run {
            dir: PathBuf::from("r"),
            scenario: "s".into(),
            started_at: String::new(),
            verdict: String::new(),
            failed: failed.iter().map(|s| s.to_string()).collect(),
            passed: passed.iter().map(|s| s.to_string()).collect(),
            figures: [("p95 outage ms".to_string(), p95)].into(),
            regressions: Vec::new(),
        }
    }

    #[test]
    fn regressions_are_new_failures_and_figures_clearly_worse() {
        let prev = run(&["old"], &["a", "b"], 100.0);
        let mut now = run(&["a", "old"], &["b"], 130.0);
        now.compare(&prev);
        assert_eq!(now.regressions.len(), 2, "{:?}", now.regressions);
        assert!(now.regressions[0].contains("`a` failed") && now.regressions[1].contains("+30%"), "{:?}", now.regressions);
        let mut noise = run(&[], &["a"], 4.0);
        noise.compare(&run(&[], &["a"], 2.0));
        assert!(noise.regressions.is_empty(), "2 ms to 4 ms is noise: {:?}", noise.regressions);
    }
}

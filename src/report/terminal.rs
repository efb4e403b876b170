//! The summary printed at the end of a run: one row per expectation, the
//! load per phase, and the verdict.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{Report, RunVerdict};
use crate::expect::Verdict;

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

/// The overhead table: per variant, its values and deltas with intervals.
fn overhead(o: &crate::overhead::OverheadReport) -> String {
    use crate::scenario::{OverheadMetric as M, format_value};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["variant", "CPU µs/req", "Δ CPU", "RSS MB", "Δ RSS", "p99 ms", "Δ p99", "ok/s", "Δ ok/s", "harness µs/req"]);
    let delta = |v: &crate::overhead::VariantReport, m: M, relative: bool| -> String {
        let Some(d) = v.deltas.get(&m) else { return "-".into() };
        let Some(iv) = (if relative { d.relative } else { Some(d.absolute) }) else { return "-".into() };
        let f = |x| format_value(m, x, relative);
        format!("{} [{}, {}]{}", f(iv.point), f(iv.low), f(iv.high), if d.significant { " *" } else { "" })
    };
    for v in &o.variants {
        let val = |m: M, scale: f64, digits: usize| v.values.get(&m).map_or("-".into(), |x| format!("{:.*}", digits, x * scale));
        let name = match &v.pillar {
            Some(p) => format!("{} ({p})", v.name),
            None => v.name.clone(),
        };
        t.add_row([
            if v.name == o.baseline { format!("{name} = baseline") } else { name },
            val(M::Cpu, 1e6, 0),
            delta(v, M::Cpu, true),
            val(M::Memory, 1e-6, 1),
            delta(v, M::Memory, false),
            val(M::P99, 1e3, 1),
            delta(v, M::P99, true),
            val(M::Throughput, 1.0, 1),
            delta(v, M::Throughput, true),
            v.harness_cpu_per_request.map_or("-".into(), |h| format!("{:.0}", h * 1e6)),
        ]);
    }
    let claims: String = o
        .claims
        .iter()
        .map(|c| {
            format!(
                "claim{}: {} {} — {}\n",
                c.source.as_deref().map(|s| format!(" ({s})")).unwrap_or_default(),
                c.variant,
                c.budget,
                c.shown
            )
        })
        .collect();
    format!(
        "{t}\n{claims}Δ: point [{} interval] vs `{}` over {} rounds of {:.1}s (after {:.1}s warm-up); * = the interval excludes zero\n",
        crate::scenario::format_confidence(o.confidence),
        o.baseline,
        o.rounds,
        o.measure_ms as f64 / 1000.0,
        o.warmup_ms as f64 / 1000.0
    )
}

pub fn summary(r: &Report, color: bool) -> String {
    let mut out = String::new();
    if let Some(o) = r.overhead.as_ref().filter(|o| !o.measurements.is_empty()) {
        out.push_str(&overhead(o));
        if let Some(c) = &o.chart {
            out.push_str(&format!("chart: {}\n", r.run_dir.join(c).display()));
        }
    }
    if !r.phases.is_empty() && r.load.is_some() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
        t.set_header(["phase", "window", "req/s (target)", "ok", "failed", "missed", "p50 ms", "p95 ms", "p99 ms"]);
        for p in &r.phases {
            let Some(l) = &p.load else { continue };
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
            let target = l.target_rate.map_or_else(|| "max".to_string(), |t| format!("{t:.1}"));
            t.add_row([
                p.name.clone(),
                format!("{:.1}s..{:.1}s", p.start_ms as f64 / 1000.0, p.end_ms as f64 / 1000.0),
                format!("{:.1} ({target})", l.achieved_rate),
                l.ok.to_string(),
                l.failed.to_string(),
                l.missed.to_string(),
                f(l.p50_ms),
                f(l.p95_ms),
                f(l.p99_ms),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if color {
        // Colour was decided by the caller (`--color`, NO_COLOR, a terminal).
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(["", "kind", "expectation", "window", "observed"]);
    for c in &r.expectations {
        let (mark, col) = match c.verdict {
            Verdict::Pass => ("PASS", Color::Green),
            Verdict::Fail => ("FAIL", Color::Red),
            Verdict::Inconclusive => ("INCONCLUSIVE", Color::Yellow),
        };
        let mark = if color { Cell::new(mark).fg(col) } else { Cell::new(mark) };
        t.add_row(vec![
            mark,
            Cell::new(c.kind),
            Cell::new(truncate(&c.name, 60)),
            Cell::new(&c.window.expr),
            Cell::new(truncate(&c.observed, 80)),
        ]);
    }
    if !r.expectations.is_empty() {
        out.push_str(&t.to_string());
        out.push('\n');
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    let failed = r.failed().count();
    let line = match r.verdict {
        RunVerdict::Pass => format!("{}: PASS — {} expectations met", r.scenario, r.expectations.len()),
        RunVerdict::Fail => format!("{}: FAIL — {failed} of {} expectations failed", r.scenario, r.expectations.len()),
        RunVerdict::Error => format!("{}: ERROR — {}", r.scenario, r.error.as_deref().unwrap_or("the run could not complete")),
    };
    out.push_str(&line);
    out.push_str(&format!("\nreport: {}\n", r.run_dir.join("report.json").display()));
    out
}

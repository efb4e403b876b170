//! `report.html`: the run for a person to look at, in one self-contained file
//! (inline CSS and SVG drawn here; no script, no network at view time): the
//! verdict and what the run cost, stacked timelines on one time axis (load,
//! errors, latency, the scraped series the expectations read, probes,
//! alerts) with phases labelled and fault windows shaded, then one panel per
//! expectation — failed first — with its window on the same axis and its
//! evidence. Prints cleanly (a print stylesheet opens every panel).

use std::fmt::Write;

use super::Report;
use super::timeline::{MetricTrace, Timeline};
use crate::expect::Verdict;

/// Width of every timeline (SVG user units) and its left / right margins.
const W: f64 = 1000.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const COLORS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes.
/// Registered secrets are masked first: once escaped, a secret holding `&`
/// or `<` would no longer match the mask applied to the page.
pub fn escape(s: &str) -> String {
    let s = crate::secrets::mask(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The timeline's x axis: ms from the start to SVG x.
#[derive(Clone, Copy)]
struct Axis {
    end_ms: f64,
}

impl Axis {
    fn x(self, ms: f64) -> f64 {
        LEFT + (ms.clamp(0.0, self.end_ms) / self.end_ms.max(1.0)) * (W - LEFT - RIGHT)
    }
}

/// The whole page; `overhead_svg` is the overhead chart to show inline, if any.
pub fn render(r: &Report, overhead_svg: Option<&str>) -> String {
    let mut h = String::new();
    let verdict = r.verdict.word();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{verdict} — {name} — ordeal</title>\n<style>{CSS}</style></head><body>\n",
        name = escape(&r.scenario)
    );
    header(&mut h, r, verdict);
    let end_ms = r.phases.last().map_or(r.duration_ms as f64, |p| p.end_ms as f64);
    let axis = Axis { end_ms };
    if let Some(t) = &r.timeline {
        h.push_str("<section><h2>Timeline</h2>\n");
        timelines(&mut h, r, t, axis);
        h.push_str("</section>\n");
    }
    expectations(&mut h, r, axis);
    if let Some(o) = &r.overhead {
        h.push_str("<section><h2>Overhead</h2>\n");
        if let Some(svg) = overhead_svg {
            h.push_str(svg);
        }
        let json = serde_json::to_string_pretty(o).unwrap_or_default();
        let _ = writeln!(h, "<details><summary>figures</summary><pre>{}</pre></details></section>", escape(&json));
    }
    if !r.warnings.is_empty() {
        h.push_str("<section><h2>Warnings</h2><ul>");
        for w in &r.warnings {
            let _ = write!(h, "<li>{}</li>", escape(w));
        }
        h.push_str("</ul></section>\n");
    }
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, r: &Report, verdict: &str) {
    let class = verdict.to_lowercase();
    let _ = write!(h, "<header><span class=\"badge {class}\" id=\"verdict\">{verdict}</span><h1>{}</h1>", escape(&r.scenario));
    if let Some(d) = &r.description {
        let _ = write!(h, "<p class=\"desc\">{}</p>", escape(d));
    }
    let failed = r.failed().count();
    let mut facts = vec![
        ("expectations", format!("{} passed, {failed} failed", r.expectations.len() - failed)),
        ("file", r.file.display().to_string()),
        ("seed", r.seed.to_string()),
        ("runtime", r.runtime.to_string()),
        ("started", r.started_at.clone()),
        ("duration", format!("{:.1} s", r.duration_ms as f64 / 1000.0)),
    ];
    if let Some(res) = &r.resources {
        let stack: f64 = res.services.values().map(|s| s.cpu_seconds).sum();
        facts.push(("harness cost", format!("{:.2} CPU-s (stack {:.2} CPU-s)", res.harness_cpu_seconds, stack)));
    }
    if !r.overrides.is_empty() {
        facts.push(("overrides", r.overrides.join(" ")));
    }
    h.push_str("<dl>");
    for (k, v) in facts {
        let _ = write!(h, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    h.push_str("</dl>");
    if let Some(e) = &r.error {
        let _ = write!(h, "<p class=\"error\">{}</p>", escape(e));
    }
    h.push_str("</header>\n");
}

/// A panel's series: name, colour, points (ms, value).
struct Line<'a> {
    name: String,
    color: &'a str,
    points: Vec<(f64, f64)>,
}

fn timelines(h: &mut String, r: &Report, t: &Timeline, axis: Axis) {
    phase_ruler(h, r, t, axis);
    if !t.load.is_empty() {
        // The last bucket may be shorter than a step.
        let secs = |p: &super::timeline::LoadPoint| ((axis.end_ms - p.t_ms).min(t.step_ms as f64) / 1000.0).max(1e-3);
        let per_s = |f: fn(&super::timeline::LoadPoint) -> u64| {
            t.load.iter().map(|p| (p.t_ms + t.step_ms as f64 / 2.0, f(p) as f64 / secs(p))).collect()
        };
        panel(
            h,
            r,
            t,
            axis,
            "requests/s (by scheduled time)",
            &[
                Line { name: "sent".into(), color: COLORS[0], points: per_s(|p| p.sent) },
                Line { name: "ok".into(), color: COLORS[2], points: per_s(|p| p.ok) },
                Line { name: "failed".into(), color: COLORS[1], points: per_s(|p| p.failed) },
                Line { name: "missed".into(), color: COLORS[3], points: per_s(|p| p.missed) },
            ],
        );
        let ratio = t
            .load
            .iter()
            .filter(|p| p.ok + p.failed > 0)
            .map(|p| (p.t_ms + t.step_ms as f64 / 2.0, p.failed as f64 / (p.ok + p.failed) as f64))
            .collect();
        panel(h, r, t, axis, "error ratio", &[Line { name: "failed / answered".into(), color: COLORS[1], points: ratio }]);
        let q = |f: fn(&super::timeline::LoadPoint) -> Option<f64>| {
            t.load.iter().filter_map(|p| f(p).map(|v| (p.t_ms + t.step_ms as f64 / 2.0, v))).collect()
        };
        panel(
            h,
            r,
            t,
            axis,
            "latency ms (from the intended send time)",
            &[
                Line { name: "p50".into(), color: COLORS[2], points: q(|p| p.p50_ms) },
                Line { name: "p95".into(), color: COLORS[3], points: q(|p| p.p95_ms) },
                Line { name: "p99".into(), color: COLORS[1], points: q(|p| p.p99_ms) },
            ],
        );
    }
    let mut families: Vec<&str> = Vec::new();
    for m in t.metrics.iter().filter(|m| !m.name.ends_with("_bucket")) {
        if !families.contains(&m.name.as_str()) {
            families.push(&m.name);
        }
    }
    for f in families {
        let series: Vec<&MetricTrace> = t.metrics.iter().filter(|m| m.name == f).collect();
        let counter = series.iter().all(|m| m.kind == "counter") || f.ends_with("_total") || f.ends_with("_count");
        let lines: Vec<Line> = series
            .iter()
            .enumerate()
            .map(|(i, m)| Line {
                name: format!("{} {}", m.service, crate::collectors::store::series_name("", &m.labels)),
                color: COLORS[i % COLORS.len()],
                points: if counter { rate(&m.points) } else { m.points.clone() },
            })
            .collect();
        let title = if counter { format!("{f} (per second)") } else { f.to_string() };
        panel(h, r, t, axis, &title, &lines);
    }
    for (endpoint, probes) in &t.health {
        strip(h, axis, &format!("probe {endpoint}"), probes);
    }
    alerts(h, r, axis);
}

/// A counter's per-second rate over steps of at least a second (scrapes
/// closer than that make a saw-tooth of their rounding); a reset restarts from 0.
fn rate(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let Some(&(mut t0, mut v0)) = points.first() else { return out };
    for &(t, v) in &points[1..] {
        if t - t0 < 1000.0 {
            continue;
        }
        let inc = if v >= v0 { v - v0 } else { v };
        out.push((t, inc / ((t - t0) / 1000.0)));
        (t0, v0) = (t, v);
    }
    out
}

/// Fault windows shaded, phase boundaries dashed: drawn under every panel.
fn backdrop(h: &mut String, r: &Report, t: &Timeline, axis: Axis, top: f64, bottom: f64) {
    for f in &t.faults {
        let (a, b) = (axis.x(f.start_ms), axis.x(f.end_ms.max(f.start_ms)));
        let _ = write!(
            h,
            "<rect class=\"fault\" x=\"{a:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} {}</title></rect>",
            (b - a).max(1.5),
            bottom - top,
            escape(&f.id),
            escape(&f.target),
            escape(&f.what)
        );
    }
    for p in r.phases.iter().skip(1) {
        let x = axis.x(p.start_ms as f64);
        let _ = write!(h, "<line class=\"phase\" x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>");
    }
}

/// The phases by name and the faults by id, above the panels, with a time axis.
fn phase_ruler(h: &mut String, r: &Report, t: &Timeline, axis: Axis) {
    let rows = t.faults.len() as f64;
    let height = 40.0 + rows * 16.0;
    let _ = write!(h, "<svg class=\"panel\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"phases and faults\">");
    for p in &r.phases {
        let (a, b) = (axis.x(p.start_ms as f64), axis.x(p.end_ms as f64));
        let _ = write!(
            h,
            "<rect class=\"phasebox\" x=\"{a:.1}\" y=\"2\" width=\"{:.1}\" height=\"18\"/><text x=\"{:.1}\" y=\"15\" text-anchor=\"middle\">{}</text>",
            b - a,
            (a + b) / 2.0,
            escape(&p.name)
        );
    }
    for (i, f) in t.faults.iter().enumerate() {
        let y = 26.0 + i as f64 * 16.0;
        let (a, b) = (axis.x(f.start_ms), axis.x(f.end_ms.max(f.start_ms)));
        let _ = write!(
            h,
            "<rect class=\"fault solid\" x=\"{a:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"12\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"small\">{} — {} {}</text>",
            (b - a).max(1.5),
            a + 3.0,
            y + 10.0,
            escape(&f.id),
            escape(&f.target),
            escape(&truncate(&f.what, 60))
        );
    }
    let _ = write!(h, "<text x=\"4\" y=\"15\" class=\"small\">phases</text>");
    h.push_str("</svg>\n");
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// One chart: lines on the shared time axis, y from 0 to the largest value.
fn panel(h: &mut String, r: &Report, t: &Timeline, axis: Axis, title: &str, lines: &[Line]) {
    const HEIGHT: f64 = 150.0;
    let (top, bottom) = (22.0, HEIGHT - 20.0);
    let max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let ymax = if max > 0.0 { nice(max) } else { 1.0 };
    let y = |v: f64| bottom - (v / ymax).clamp(0.0, 1.0) * (bottom - top);
    let _ = write!(h, "<svg class=\"panel\" viewBox=\"0 0 {W} {HEIGHT}\" role=\"img\" aria-label=\"{}\">", escape(title));
    backdrop(h, r, t, axis, top, bottom);
    let _ = write!(
        h,
        "<text x=\"{LEFT}\" y=\"14\" class=\"title\">{}</text><line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\"/>",
        escape(title),
        W - RIGHT
    );
    for v in [0.0, ymax / 2.0, ymax] {
        let _ = write!(h, "<text x=\"{:.1}\" y=\"{:.1}\" class=\"small\" text-anchor=\"end\">{}</text>", LEFT - 4.0, y(v) + 4.0, short(v));
    }
    let step = nice(axis.end_ms / 8.0).max(1.0);
    let mut ms = 0.0;
    while ms <= axis.end_ms + 0.5 {
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"small\" text-anchor=\"middle\">{}s</text>",
            axis.x(ms),
            HEIGHT - 6.0,
            (ms / 1000.0 * 10.0).round() / 10.0
        );
        ms += step;
    }
    let mut legend_x = LEFT + 8.0 + title.len() as f64 * 7.0;
    for l in lines {
        if l.points.is_empty() {
            continue;
        }
        let pts: Vec<String> =
            l.points.iter().filter(|p| p.1.is_finite()).map(|(t, v)| format!("{:.1},{:.1}", axis.x(*t), y(*v))).collect();
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" points=\"{}\"><title>{}</title></polyline>",
            l.color,
            pts.join(" "),
            escape(&l.name)
        );
        if legend_x < W - 150.0 {
            let _ = write!(
                h,
                "<text x=\"{legend_x:.1}\" y=\"14\" class=\"small\" style=\"fill:{}\">■ {}</text>",
                l.color,
                escape(&truncate(&l.name, 40))
            );
            legend_x += 20.0 + truncate(&l.name, 40).chars().count() as f64 * 6.0;
        }
    }
    h.push_str("</svg>\n");
}

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}

fn short(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Probes as ticks: green answered 2xx, red not.
fn strip(h: &mut String, axis: Axis, title: &str, probes: &[(f64, bool)]) {
    strip_head(h, title);
    for (t, up) in probes {
        let _ =
            write!(h, "<rect x=\"{:.1}\" y=\"14\" width=\"2\" height=\"12\" class=\"{}\"/>", axis.x(*t), if *up { "up" } else { "down" });
    }
    let _ = writeln!(h, "<title>{}</title></svg>", escape(title));
}

/// A strip's frame: its title above the time axis.
fn strip_head(h: &mut String, title: &str) {
    let _ = write!(h, "<svg class=\"panel\" viewBox=\"0 0 {W} 28\" role=\"img\" aria-label=\"{}\">", escape(title));
    let _ = write!(h, "<text x=\"{LEFT}\" y=\"10\" class=\"small\">{}</text>", escape(title));
    let _ = write!(h, "<line class=\"axis\" x1=\"{LEFT}\" y1=\"26\" x2=\"{:.1}\" y2=\"26\"/>", W - RIGHT);
}

/// Alerts: pending (amber) then firing (red) until resolved or the end.
fn alerts(h: &mut String, r: &Report, axis: Axis) {
    let Some(a) = &r.alerting else { return };
    for al in &a.alerts {
        let title = format!("alert {}", al.name);
        strip_head(h, &title);
        let end = al.resolved_at_ms.unwrap_or(axis.end_ms);
        if let Some(p) = al.pending_at_ms {
            let to = al.firing_at_ms.unwrap_or(end);
            let _ = write!(
                h,
                "<rect x=\"{:.1}\" y=\"14\" width=\"{:.1}\" height=\"12\" class=\"pending\"/>",
                axis.x(p),
                (axis.x(to) - axis.x(p)).max(1.5)
            );
        }
        if let Some(f) = al.firing_at_ms {
            let _ = write!(
                h,
                "<rect x=\"{:.1}\" y=\"14\" width=\"{:.1}\" height=\"12\" class=\"firing\"/>",
                axis.x(f),
                (axis.x(end) - axis.x(f)).max(1.5)
            );
        }
        let _ = writeln!(h, "<title>{}</title></svg>", escape(&title));
    }
}

fn expectations(h: &mut String, r: &Report, axis: Axis) {
    h.push_str("<section><h2>Expectations</h2>\n");
    let mut order: Vec<&crate::expect::Checked> = r.expectations.iter().collect();
    order.sort_by_key(|c| c.verdict == Verdict::Pass);
    for c in order {
        let pass = c.verdict == Verdict::Pass;
        let (class, word) = if pass { ("pass", "PASS") } else { ("fail", "FAIL") };
        let _ = write!(
            h,
            "<article class=\"check {class}\"><h3><span class=\"badge {class}\">{word}</span> {} <span class=\"kind\">{}</span></h3>\
             <dl><dt>expected</dt><dd>{}</dd><dt>observed</dt><dd>{}</dd><dt>window</dt><dd>{} ({:.1}s..{:.1}s)</dd></dl>",
            escape(&c.name),
            escape(c.kind),
            escape(&c.expected),
            escape(&c.observed),
            escape(&c.window.expr),
            c.window.start_ms / 1000.0,
            c.window.end_ms / 1000.0,
        );
        let (a, b) = (axis.x(c.window.start_ms), axis.x(c.window.end_ms));
        let _ = write!(
            h,
            "<svg class=\"window\" viewBox=\"0 0 {W} 14\"><line class=\"axis\" x1=\"{LEFT}\" y1=\"7\" x2=\"{:.1}\" y2=\"7\"/><rect class=\"win\" x=\"{a:.1}\" y=\"1\" width=\"{:.1}\" height=\"12\"/></svg>",
            W - RIGHT,
            (b - a).max(1.5)
        );
        if !c.evidence.is_null() {
            let json = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
            let open = if pass { "" } else { " open" };
            let _ = write!(h, "<details{open}><summary>evidence</summary><pre>{}</pre></details>", escape(&json));
        }
        h.push_str("</article>\n");
    }
    h.push_str("</section>\n");
}

const CSS: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#222}
header{border-bottom:1px solid #ccc;margin-bottom:12px}
h1{display:inline;margin-left:10px;font-size:22px}
h2{font-size:17px;margin:18px 0 6px}
h3{font-size:15px;margin:0 0 6px}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-weight:700}
.badge.pass{background:#2ca02c}.badge.fail{background:#d62728}.badge.error{background:#7f3fbf}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}
dt{color:#666}dd{margin:0;word-break:break-word}
.desc{color:#444}.error{color:#d62728;font-weight:600}
svg.panel{display:block;width:100%;height:auto;margin:2px 0}
svg.window{display:block;width:100%;height:14px}
svg text{font:11px system-ui,sans-serif;fill:#333}
svg text.title{font-weight:600}
.small{font-size:10px}
rect.fault{fill:#d62728;fill-opacity:.12}rect.fault.solid{fill-opacity:.35}
rect.phasebox{fill:#eef;stroke:#99a;stroke-width:.5}
line.phase{stroke:#888;stroke-dasharray:4 3}
line.axis{stroke:#999}
rect.up{fill:#2ca02c}rect.down{fill:#d62728}
rect.pending{fill:#ff7f0e}rect.firing{fill:#d62728}
rect.win{fill:#1f77b4;fill-opacity:.35}
article.check{border:1px solid #ddd;border-left:5px solid #2ca02c;border-radius:4px;padding:8px 12px;margin:8px 0;break-inside:avoid}
article.check.fail{border-left-color:#d62728}
.kind{color:#666;font-weight:400;font-size:12px}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:360px;font-size:12px}
@media print{body{max-width:none;padding:0}details{display:block}details>*{display:block}pre{max-height:none;white-space:pre-wrap}svg.panel{break-inside:avoid}}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_axes_are_round() {
        assert_eq!(escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(3.2), 5.0);
        assert_eq!(nice(120.0), 200.0);
        assert_eq!(rate(&[(0.0, 5.0), (1000.0, 15.0), (2000.0, 3.0)]), vec![(1000.0, 10.0), (2000.0, 3.0)], "a reset restarts from 0");
        assert_eq!(
            rate(&[(0.0, 0.0), (250.0, 1.0), (500.0, 2.0), (1000.0, 4.0), (1250.0, 5.0)]),
            vec![(1000.0, 4.0)],
            "over a second at least"
        );
    }
}

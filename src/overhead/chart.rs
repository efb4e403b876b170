//! `overhead.svg`: one panel per metric (CPU per request, mean memory, p99
//! latency, throughput), one bar per compared variant with its confidence
//! interval as a whisker; left of it a red dash for a gating budget (`kind:
//! overhead`), right of it an orange one for a claimed budget (`overhead.claims`).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{OverheadReport, VariantReport};
use crate::scenario::{Budget, OverheadMetric};

/// A panel: which metric, shown relative (percent) or absolute (MB).
struct Panel {
    metric: OverheadMetric,
    relative: bool,
    title: &'static str,
    unit: &'static str,
    scale: f64,
}

const PANELS: [Panel; 4] = [
    Panel { metric: OverheadMetric::Cpu, relative: true, title: "stack CPU per request", unit: "% vs baseline", scale: 100.0 },
    Panel { metric: OverheadMetric::Memory, relative: false, title: "mean RSS", unit: "MB vs baseline", scale: 1e-6 },
    Panel { metric: OverheadMetric::P99, relative: true, title: "p99 latency", unit: "% vs baseline", scale: 100.0 },
    Panel { metric: OverheadMetric::Throughput, relative: true, title: "throughput", unit: "% vs baseline", scale: 100.0 },
];

/// Point, low, high of one variant's delta in the panel's unit.
fn bar(v: &VariantReport, p: &Panel) -> Option<(f64, f64, f64)> {
    let d = v.deltas.get(&p.metric)?;
    let iv = if p.relative { d.relative? } else { d.absolute };
    Some((iv.point * p.scale, iv.low * p.scale, iv.high * p.scale))
}

/// A dash on the chart: `(variant, budget, gating)`.
pub type Mark = (String, Budget, bool);

/// Draw the chart with the scenario's budgets and claims.
pub fn draw(report: &OverheadReport, budgets: &[Mark], path: &Path) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let compared: Vec<&VariantReport> = report.variants.iter().filter(|v| v.name != report.baseline).collect();
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root
        .titled(
            &format!(
                "overhead vs `{}`: {} rounds, {} intervals",
                report.baseline,
                report.rounds,
                crate::scenario::format_confidence(report.confidence)
            ),
            ("sans-serif", 22),
        )
        .map_err(|x| e(&x))?;
    for (area, p) in root.split_evenly((2, 2)).iter().zip(PANELS.iter()) {
        panel(area, p, &compared, budgets)?;
    }
    root.present().map_err(|x| e(&x))
}

/// One panel: a bar and whisker per compared variant, gates and claims as dashes.
fn panel(area: &DrawingArea<SVGBackend<'_>, Shift>, p: &Panel, compared: &[&VariantReport], budgets: &[Mark]) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let bars: Vec<Option<(f64, f64, f64)>> = compared.iter().map(|v| bar(v, p)).collect();
    // (x, value, gating) of every dash in this panel.
    let marks: Vec<(f64, f64, bool)> = compared
        .iter()
        .enumerate()
        .flat_map(|(i, v)| {
            budgets
                .iter()
                .filter(move |(n, b, _)| n == &v.name && b.metric == p.metric && b.relative == p.relative)
                .map(move |(_, b, gate)| (i as f64, b.cmp.value * p.scale, *gate))
        })
        .collect();
    let values = bars.iter().flatten().flat_map(|(a, b, c)| [*a, *b, *c]).chain(marks.iter().map(|m| m.1)).chain([0.0]);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
    let pad = ((hi - lo) * 0.1).max(0.5);
    // Room above the highest mark for the legend (upper right).
    let top = if marks.is_empty() { pad } else { pad * 3.0 };
    let n = compared.len().max(1);
    let names: Vec<String> = compared.iter().map(|v| v.pillar.clone().unwrap_or_else(|| v.name.clone())).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), (lo - pad)..(hi + top))
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 { names.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_desc(p.unit)
        .draw()
        .map_err(|x| e(&x))?;
    chart.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)], BLACK))).map_err(|x| e(&x))?;
    for (i, b) in bars.iter().enumerate() {
        let Some((point, low, high)) = *b else { continue };
        let x = i as f64;
        let color = if low > 0.0 || high < 0.0 { RGBColor(214, 96, 77) } else { RGBColor(67, 147, 195) };
        chart
            .draw_series(std::iter::once(Rectangle::new([(x - 0.28, 0.0), (x + 0.28, point)], color.mix(0.75).filled())))
            .map_err(|x| e(&x))?;
        chart.draw_series(std::iter::once(ErrorBar::new_vertical(x, low, point, high, BLACK.stroke_width(2), 14))).map_err(|x| e(&x))?;
    }
    let claim = RGBColor(240, 150, 20);
    for gate in [true, false] {
        let (color, label) = if gate { (RED, "budget (gate)") } else { (claim, "claimed budget") };
        let dashes: Vec<_> = marks.iter().filter(|m| m.2 == gate).collect();
        if dashes.is_empty() {
            continue;
        }
        chart
            .draw_series(dashes.iter().map(|(x, m, _)| {
                // Gates left of the bar, claims right: equal values stay visible.
                let (a, b) = if gate { (x - 0.46, x - 0.3) } else { (x + 0.3, x + 0.46) };
                PathElement::new(vec![(a, *m), (b, *m)], color.stroke_width(4))
            }))
            .map_err(|x| e(&x))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(4)));
    }
    if !marks.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|x| e(&x))?;
    }
    Ok(())
}

//! OpenMetrics text -> Prometheus text 0.0.4, line by line, for
//! `promtool check metrics`, whose parser only reads 0.0.4.
//!
//! Fed OpenMetrics as is, promtool reports every counter as having "no help
//! text" (OpenMetrics names the family `x` and the sample `x_total`), and
//! fails on exemplars, `# UNIT` and non-0.0.4 types. Converted here:
//! counter metadata renamed to the sample name, `info` to a gauge `x_info`,
//! `stateset` to gauge, `gaugehistogram` / `unknown` to untyped, `# UNIT`,
//! `# EOF` and exemplars dropped, `_created` samples dropped (Prometheus does
//! not ingest them by default), `\"` in HELP unescaped. Sample timestamps are
//! left alone. Anything else passes through for promtool to judge.

use std::collections::BTreeMap;

/// Converts `text` if it is OpenMetrics (ends with `# EOF`); returns 0.0.4 text as is.
pub(crate) fn to_prometheus_text(text: &str) -> String {
    if !text.lines().any(|l| l.trim_end() == "# EOF") {
        return text.to_owned();
    }
    let types: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("# TYPE ")?.split_whitespace();
            Some((parts.next()?, parts.next()?))
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(converted) = convert(line, &types) {
            out.push_str(&converted);
            out.push('\n');
        }
    }
    out
}

/// The 0.0.4 form of one line, or `None` to drop it.
fn convert(line: &str, types: &BTreeMap<&str, &str>) -> Option<String> {
    let trimmed = line.trim_end();
    if trimmed == "# EOF" || line.starts_with("# UNIT ") {
        return None;
    }
    for keyword in ["HELP", "TYPE"] {
        let Some(rest) = line.strip_prefix(&format!("# {keyword} ")) else { continue };
        let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let kind = types.get(name).copied().unwrap_or("");
        let name = sample_name(name, kind);
        let tail = match keyword {
            "TYPE" => type_0_0_4(kind).to_owned(),
            _ => tail.replace("\\\"", "\""),
        };
        return Some(format!("# {keyword} {name} {tail}"));
    }
    if line.starts_with('#') {
        return Some(line.to_owned());
    }
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    if let Some(base) = line[..name_end].strip_suffix("_created")
        && matches!(types.get(base), Some(&("counter" | "histogram" | "summary")))
    {
        return None;
    }
    Some(strip_exemplar(line).to_owned())
}

/// The name Prometheus stores a family's main sample under.
fn sample_name(family: &str, kind: &str) -> String {
    match kind {
        "counter" if !family.ends_with("_total") => format!("{family}_total"),
        "info" => format!("{family}_info"),
        _ => family.to_owned(),
    }
}

fn type_0_0_4(kind: &str) -> &str {
    match kind {
        "counter" | "gauge" | "histogram" | "summary" => kind,
        "info" | "stateset" => "gauge",
        _ => "untyped",
    }
}

/// The sample without ` # {exemplar} value`: cut at the first ` #` outside quotes.
fn strip_exemplar(line: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes && line[..i].ends_with(' ') => return line[..i].trim_end(),
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_openmetrics_metadata_samples_and_exemplars() {
        let om = "\
# HELP tasks Tasks \\\"done\\\".
# TYPE tasks counter
# UNIT tasks tasks
tasks_total{s=\"a # b\"} 3 # {trace_id=\"x\"} 1.0
tasks_created{s=\"a # b\"} 1.7e9
# TYPE build info
build_info{v=\"1\"} 1
# TYPE g unknown
g 1
# EOF
";
        let want = "\
# HELP tasks_total Tasks \"done\".
# TYPE tasks_total counter
tasks_total{s=\"a # b\"} 3
# TYPE build_info gauge
build_info{v=\"1\"} 1
# TYPE g untyped
g 1
";
        assert_eq!(to_prometheus_text(om), want);
    }

    #[test]
    fn leaves_prometheus_text_alone() {
        let text = "# TYPE x counter\nx 1 # not an exemplar in 0.0.4\n";
        assert_eq!(to_prometheus_text(text), text);
    }
}

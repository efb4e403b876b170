//! Grafana dashboards (JSON) -> one [`Reference`](super::Reference) per
//! Prometheus target: `panels[].targets[].expr`, including panels nested in
//! rows (`panels[].panels[]`) and old-style `rows[].panels[]`; a dashboard
//! wrapped as the HTTP API returns it (`{"dashboard": {...}}`) too.
//!
//! Targets of other data sources (Loki, SQL...) are skipped: those with no
//! `expr`, and those whose data source type (the target's, else the panel's)
//! is known and is not `prometheus`.
//!
//! Template variables are substituted before parsing: interval variables
//! (`$__rate_interval`, `$__interval`, `$__range`, and any variable in a
//! range, step or `offset` position) become `1m`, their `_ms` / `_s` forms a
//! number; every other `$var`, `${var}`, `${var:fmt}`, `[[var]]` becomes a
//! placeholder identifier. Matchers whose value held a variable are marked
//! [`variable`](crate::lint::promql::LabelMatcher::variable) and shown with the
//! variable again; a metric name built from a variable is unknown (`None`).

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

use super::Sources;
use crate::lint::{Finding, FindingKind};

/// Reads dashboard JSON text; `file` names it in sources.
pub fn parse(file: &str, text: &str) -> Sources {
    let mut out = Sources::default();
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let finding = Finding::new(FindingKind::ParseError, file, format!("not JSON: {e}"));
            out.findings.push(finding);
            return out;
        }
    };
    let dashboard = root.get("dashboard").filter(|d| d.is_object()).unwrap_or(&root);
    let rows = items(dashboard, "rows").flat_map(|row| items(row, "panels"));
    for panel in items(dashboard, "panels").chain(rows) {
        panel_targets(file, panel, &mut out);
    }
    out
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> + use<'a> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn panel_targets(file: &str, panel: &Value, out: &mut Sources) {
    let title = panel.get("title").and_then(Value::as_str).unwrap_or("");
    let id = panel.get("id").map_or(String::new(), |id| format!(" (id {id})"));
    let panel_ds = datasource_type(panel).filter(|t| *t != "datasource"); // "-- Mixed --"
    for (i, target) in items(panel, "targets").enumerate() {
        let Some(expr) = target.get("expr").and_then(Value::as_str) else { continue };
        let ds = datasource_type(target).or(panel_ds);
        if expr.trim().is_empty() || ds.is_some_and(|t| t != "prometheus") {
            continue;
        }
        let target_name = match target.get("refId").and_then(Value::as_str) {
            Some(r) => r.to_owned(),
            None => format!("#{}", i + 1),
        };
        let source = format!("{file} panel {title:?}{id} target {target_name}");
        add_templated(out, source, expr);
    }
    for nested in items(panel, "panels") {
        panel_targets(file, nested, out);
    }
}

/// `datasource.type`, when the data source is an object that has one.
fn datasource_type(v: &Value) -> Option<&str> {
    v.get("datasource")?.get("type")?.as_str()
}

/// Substitutes variables, parses, then shows variables as written again.
fn add_templated(out: &mut Sources, source: String, expr: &str) {
    let (text, placeholders) = substitute(expr);
    let before = out.references.len();
    out.add(source, &text);
    let restore = |s: &str| placeholders.iter().fold(s.to_owned(), |s, (ph, original)| s.replace(ph, original));
    for reference in &mut out.references[before..] {
        reference.expr = expr.to_owned();
        for sel in &mut reference.selectors {
            if sel.metric.as_deref().is_some_and(|m| m.contains(PLACEHOLDER)) {
                sel.metric = None;
            }
            for m in &mut sel.matchers {
                if m.value.contains(PLACEHOLDER) {
                    m.variable = true;
                    m.value = restore(&m.value);
                }
            }
            sel.text = restore(&sel.text);
        }
    }
}

const PLACEHOLDER: &str = "__ordeal_var_";

/// `${name}`, `${name:format}`, `[[name]]`, `[[name:format]]`, `$name`.
static VARIABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)").expect("valid regex"));

/// `expr` with variables replaced, and each placeholder with the text it replaced.
fn substitute(expr: &str) -> (String, Vec<(String, String)>) {
    let mut placeholders = Vec::new();
    let text = VARIABLE.replace_all(expr, |c: &Captures| {
        let whole = c.get(0).map_or("", |m| m.as_str());
        let name = (1..=3).find_map(|i| c.get(i)).map_or("", |m| m.as_str());
        let start = c.get(0).map_or(0, |m| m.start());
        if let Some(value) = builtin(name) {
            return value.to_owned();
        }
        if in_duration_position(&expr[..start]) {
            return "1m".to_owned();
        }
        let placeholder = format!("{PLACEHOLDER}{}__", placeholders.len());
        placeholders.push((placeholder.clone(), whole.to_owned()));
        placeholder
    });
    (text.into_owned(), placeholders)
}

/// Grafana's own time variables, as a plausible value.
fn builtin(name: &str) -> Option<&'static str> {
    Some(match name {
        "__interval" | "__rate_interval" | "__range" => "1m",
        _ if name.starts_with("__auto_interval") => "1m",
        "__interval_ms" | "__range_ms" | "__rate_interval_ms" => "60000",
        "__range_s" => "60",
        _ => return None,
    })
}

/// Whether what precedes a variable makes it a duration: `[`, `:` (subquery
/// step) or `offset`.
fn in_duration_position(before: &str) -> bool {
    let before = before.trim_end();
    before.ends_with('[') || before.ends_with(':') || before.ends_with("offset")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_ranges_and_label_variables() {
        let (text, ph) = substitute(r#"rate(x{job=~"$job", i="${instance:pipe}", k="[[k]]"}[$__rate_interval]) offset $off / $__range_s"#);
        assert_eq!(text, r#"rate(x{job=~"__ordeal_var_0__", i="__ordeal_var_1__", k="__ordeal_var_2__"}[1m]) offset 1m / 60"#);
        assert_eq!(ph[1].1, "${instance:pipe}");
    }

    const DASHBOARD: &str = r#"{"dashboard": {"panels": [
      {"id": 1, "title": "Rate", "datasource": {"type": "prometheus"},
       "targets": [{"refId": "A", "expr": "sum(rate(x_total{job=\"$job\"}[$__interval]))"},
                   {"refId": "B", "expr": "${metric}_total"},
                   {"refId": "C", "datasource": {"type": "loki"}, "expr": "{app=\"x\"}"},
                   {"refId": "D", "rawSql": "select 1"},
                   {"refId": "E", "expr": "sum(rate(x_total[5m])"}]},
      {"type": "row", "title": "Row", "panels": [
        {"id": 7, "title": "Nested", "datasource": {"type": "datasource", "uid": "-- Mixed --"},
         "targets": [{"expr": "y"}]}]},
      {"id": 9, "title": "Logs", "datasource": {"type": "loki"}, "targets": [{"expr": "{a=\"b\"}"}]}
    ]}, "rows": []}"#;

    #[test]
    fn targets_of_nested_panels_and_prometheus_only() {
        let s = parse("d.json", DASHBOARD);
        let sources: Vec<_> = s.references.iter().map(|r| r.source.as_str()).collect();
        assert_eq!(
            sources,
            [
                r#"d.json panel "Rate" (id 1) target A"#,
                r#"d.json panel "Rate" (id 1) target B"#,
                r#"d.json panel "Nested" (id 7) target #1"#,
            ]
        );
        let a = &s.references[0];
        assert_eq!(a.expr, r#"sum(rate(x_total{job="$job"}[$__interval]))"#);
        let m = &a.selectors[0].matchers[0];
        assert!(m.variable && m.value == "$job", "{m:?}");
        assert!(a.selectors[0].text.contains(r#"job="$job""#), "{}", a.selectors[0].text);
        assert_eq!(s.references[1].selectors[0].metric, None);
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].source, r#"d.json panel "Rate" (id 1) target E"#);
    }

    #[test]
    fn old_style_rows_and_bad_json() {
        let s = parse("d.json", r#"{"rows": [{"panels": [{"title": "T", "targets": [{"expr": "up"}]}]}]}"#);
        assert_eq!(s.references[0].source, r#"d.json panel "T" target #1"#);
        let s = parse("d.json", "{");
        assert_eq!(s.findings[0].check, FindingKind::ParseError);
    }
}

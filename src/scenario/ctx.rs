//! The compile toolkit every section and expectation kind uses: [`Ctx`]
//! collects located errors (file:line:col, field path, hint) and deserializes
//! values with precise paths; [`Names`] says what an expectation may refer to;
//! small parsers shared by several kinds (windows, comparisons, label
//! matchers, routes, "exactly one of these fields").
//!
//! This is the bottom floor of compilation: it knows the section plans
//! (stack, mocks, load, timeline, alerting, overhead) and nothing of the
//! expectation kinds, which build on it (see `expect::kinds`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::alerting::AlertingPlan;
use super::cmp::Comparison;
use super::diag::{Diagnostic, did_you_mean};
use super::load::LoadPlan;
use super::locate::{LineIndex, Pos};
use super::overhead::OverheadPlan;
use super::stack::StackPlan;
use super::window::{PhaseSpan, WindowExpr};
use crate::collectors::store::{LabelMatcher, MatchOp};

/// A YAML scalar accepted as a string (`5`, `true` and `"x"` all work), for env
/// values and headers where users naturally write numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

hand_schema!(Scalar, "Scalar", _g => {
    "description": "A string, number or boolean, used as a string (templates such as `{{mocks.llm.url}}` allowed).",
    "type": ["string", "number", "boolean"],
});

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            S(String),
            I(i64),
            U(u64),
            F(f64),
            B(bool),
        }
        Ok(Scalar(match Any::deserialize(d).map_err(|_| serde::de::Error::custom("expected a string, number or boolean"))? {
            Any::S(s) => s,
            Any::I(i) => i.to_string(),
            Any::U(u) => u.to_string(),
            Any::F(f) => f.to_string(),
            Any::B(b) => b.to_string(),
        }))
    }
}

/// The longest duration a scenario field may hold.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Error collector with the file's line index.
pub struct Ctx<'a> {
    pub file: &'a Path,
    pub index: LineIndex,
    pub diags: Vec<Diagnostic>,
    /// What failed to compile, already reported (`timeline`, `stack`,
    /// `mocks`, `mocks.llm`, `services.worker`): references to it are not
    /// reported again, so one root error does not produce a cascade.
    pub broken: std::collections::BTreeSet<String>,
    /// Files merged in by `include:`, in merge order (the last wins over the
    /// earlier ones; the scenario itself wins over all): a field is reported
    /// in the file that wrote it.
    pub included: Vec<(PathBuf, LineIndex)>,
    /// Field paths the command line set (`load.rate`) and the argument that
    /// did (`--set load.rate=100`): errors there name the argument.
    pub overrides: Vec<(String, String)>,
}

impl<'a> Ctx<'a> {
    /// A collector for `file`, whose `text` locates field paths.
    pub fn new(file: &'a Path, text: &str) -> Self {
        Ctx {
            file,
            index: LineIndex::build(text),
            diags: Vec::new(),
            broken: Default::default(),
            included: Vec::new(),
            overrides: Vec::new(),
        }
    }

    /// Whether `section` (or the `section.name` item) failed to compile.
    pub fn is_broken(&self, section: &str, name: &str) -> bool {
        self.broken.contains(section) || self.broken.contains(&format!("{section}.{name}"))
    }

    pub fn err(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let (file, pos) = self.whose(path, LineIndex::locate_depth);
        self.push(file, path, pos, message.into(), hint);
    }

    /// The file that wrote `path` and where: the deepest match among the
    /// scenario and its includes (the scenario, then the last include, on a tie).
    fn whose(&self, path: &str, find: fn(&LineIndex, &str) -> Option<(Pos, usize)>) -> (PathBuf, Option<Pos>) {
        let under = |p: &String| path == p || path.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with(['.', '[']));
        if let Some((_, arg)) = self.overrides.iter().rev().find(|(p, _)| under(p)) {
            return (PathBuf::from(arg), None);
        }
        let mut best = (self.file.to_path_buf(), find(&self.index, path));
        for (file, index) in self.included.iter().rev() {
            if let Some(found) = find(index, path)
                && best.1.is_none_or(|(_, depth)| found.1 > depth)
            {
                best = (file.clone(), Some(found));
            }
        }
        (best.0, best.1.map(|(pos, _)| pos))
    }

    /// A duration field: longer than zero unless `zero_ok`, and at most
    /// [`MAX_DURATION`] (beyond that no timeline or timeout makes sense, and
    /// arithmetic on it would overflow). `false` when it is out of range.
    pub fn duration(&mut self, path: &str, d: Duration, zero_ok: bool) -> bool {
        if d > MAX_DURATION {
            self.err_value(
                path,
                format!("{} is longer than 24h", humantime::format_duration(d)),
                Some("durations in a scenario are seconds to hours".into()),
            );
            return false;
        }
        if d.is_zero() && !zero_ok {
            self.err_value(path, "must be longer than zero", None);
            return false;
        }
        true
    }

    /// [`Ctx::duration`] on each `(field, value)` under `path`; `false` if one is out of range.
    pub fn durations(&mut self, path: &str, fields: &[(&str, Option<Duration>)], zero_ok: bool) -> bool {
        let mut ok = true;
        for (field, d) in fields {
            if let Some(d) = d {
                ok &= self.duration(&format!("{path}.{field}"), *d, zero_ok);
            }
        }
        ok
    }

    /// Like `err` but points at the value rather than its key.
    pub fn err_value(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let (file, pos) = self.whose(path, LineIndex::locate_value_depth);
        self.push(file, path, pos, message.into(), hint);
    }

    fn push(&mut self, file: PathBuf, path: &str, pos: Option<Pos>, message: String, hint: Option<String>) {
        self.diags.push(Diagnostic {
            file,
            line: pos.map_or(0, |p| p.line),
            col: pos.map_or(0, |p| p.col),
            path: path.to_string(),
            message,
            hint,
        });
    }

    /// Deserialize `value` (found at `path`) into `T`, recording a located error on failure.
    pub fn de<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.inner().to_string();
                let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
                let sub = e.path().to_string();
                let mut full = match sub.as_str() {
                    "." => path.to_string(),
                    s if path.is_empty() => s.to_string(),
                    s if s.starts_with('[') => format!("{path}{s}"),
                    s => format!("{path}.{s}"),
                };
                let mut hint = None;
                if let Some(field) = between(&inner, "unknown field `", "`") {
                    // serde leaves the unknown field itself out of the path.
                    if !full.ends_with(field) {
                        full = if full.is_empty() { field.to_string() } else { format!("{full}.{field}") };
                    }
                    let expected = expected_fields(&inner);
                    hint = Some(match did_you_mean(field, expected.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if !expected.is_empty() => format!("valid fields here: {}", expected.join(", ")),
                        None => "remove this field".to_string(),
                    });
                } else if let Some(field) = between(&inner, "missing field `", "`") {
                    hint = Some(format!("add `{field}:` here (see the scenario reference in README.md)"));
                } else if inner.contains("invalid type") {
                    hint = Some(type_hint(&inner));
                }
                self.err(&full, inner, hint);
                None
            }
        }
    }
}

/// A hint for a value of the wrong type that teaches the usual fix: a bare
/// number where a duration or a comparison belongs.
fn type_hint(inner: &str) -> String {
    let number = between(inner, "invalid type: integer `", "`").or_else(|| between(inner, "invalid type: floating point `", "`"));
    match number {
        Some(n) if inner.ends_with("expected a duration") => format!("a duration needs a unit: write `{n}s` (or `{n}ms`, `{n}m`)"),
        Some(n) if inner.ends_with("expected a string") => {
            format!("a comparison needs an operator: write `\"> {n}\"` or `\"== {n}\"`; any other text field: quote it, `\"{n}\"`")
        }
        _ => "check the value's type against the scenario reference in README.md".into(),
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)?;
    Some(&s[i..i + j])
}

fn expected_fields(msg: &str) -> Vec<String> {
    msg.split_once("expected one of ")
        .map(|(_, list)| list.split(", ").map(|f| f.trim_matches('`').to_string()).collect())
        .unwrap_or_default()
}

pub fn parse_window(cx: &mut Ctx, path: &str, text: &str, phases: &[PhaseSpan], after: bool) -> Option<WindowExpr> {
    let parsed = if after { WindowExpr::after(text) } else { WindowExpr::parse(text) };
    let w = match parsed {
        Ok(w) => w,
        Err(e) => {
            cx.err_value(
                path,
                format!("bad window `{text}`: {e}"),
                Some("e.g. `outage`, `outage+2s..recovery`, `recovery.start+5s..end`".into()),
            );
            return None;
        }
    };
    let mut ok = true;
    for p in w.phases() {
        if !phases.iter().any(|s| s.name == p) {
            ok = false;
            if cx.broken.contains("timeline") {
                continue; // the timeline's own error says why its phases are unknown
            }
            let names: Vec<&str> = phases.iter().map(|s| s.name.as_str()).collect();
            let hint = did_you_mean(p, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("phases are: {}", names.join(", ")));
            cx.err_value(path, format!("unknown phase `{p}` in window `{text}`"), Some(hint));
        }
    }
    if ok && let Some((from, to)) = w.bounds_ms(phases).filter(|_| !phases.is_empty()) {
        // An empty window has no data to judge: every check on it would pass or fail vacuously.
        let total = phases.last().map_or(0, |p| p.end.as_millis() as i64);
        let s = |ms: i64| format!("{:.1}s", ms as f64 / 1000.0);
        let hint = Some(format!("the timeline runs from 0s to {}; phases: {}", s(total), phase_list(phases)));
        if from >= total {
            cx.err_value(path, format!("window `{text}` starts at {}, at or past the end of the timeline", s(from)), hint);
            return None;
        }
        if to <= from {
            cx.err_value(path, format!("window `{text}` is empty or reversed ({} to {})", s(from), s(to)), hint);
            return None;
        }
    }
    ok.then_some(w)
}

/// `warmup 0-3s, steady 3-9s`, for hints.
fn phase_list(phases: &[PhaseSpan]) -> String {
    let s = |d: std::time::Duration| format!("{}", d.as_secs_f64());
    phases.iter().map(|p| format!("{} {}-{}s", p.name, s(p.start), s(p.end))).collect::<Vec<_>>().join(", ")
}

pub fn check_route(r: &str) -> Result<(), String> {
    r.parse::<crate::faults::RouteFilter>().map(|_| ()).map_err(|e| e.to_string())
}

/// What expectations may refer to.
pub struct Names<'a> {
    pub phases: &'a [PhaseSpan],
    pub stack: Option<&'a StackPlan>,
    pub mocks: &'a BTreeMap<String, crate::faults::MockConfig>,
    pub load: Option<&'a LoadPlan>,
    pub alerting: Option<&'a AlertingPlan>,
    pub overhead: Option<&'a OverheadPlan>,
}

impl Names<'_> {
    pub fn service(&self, cx: &mut Ctx, path: &str, name: &str) -> bool {
        let Some(stack) = self.stack else { return true };
        if stack.services.iter().any(|s| s.name == name) || cx.is_broken("services", name) {
            return true;
        }
        let hint = did_you_mean(name, stack.services.iter().map(|s| s.name.as_str())).map(|s| format!("did you mean `{s}`?"));
        cx.err_value(path, format!("no service named `{name}`"), hint);
        false
    }

    pub fn mock(&self, cx: &mut Ctx, path: &str, name: &str) {
        if !self.mocks.contains_key(name) && !cx.is_broken("mocks", name) {
            let hint = did_you_mean(name, self.mocks.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(path, format!("no mock named `{name}`"), hint.or(Some("declare it under `mocks:`".into())));
        }
    }
}

pub fn cmp(cx: &mut Ctx, path: &str, text: &str) -> Option<Comparison> {
    Comparison::parse(text)
        .map_err(|e| cx.err_value(path, e, Some("write an operator and a number, e.g. `\"> 0\"`, `\"<= 3\"`, `\"< 250ms\"`".into())))
        .ok()
}

pub fn matchers(labels: &BTreeMap<String, Scalar>) -> Vec<LabelMatcher> {
    labels
        .iter()
        .map(|(k, v)| match v.0.strip_prefix('!') {
            Some(rest) => LabelMatcher { label: k.clone(), op: MatchOp::Ne, value: rest.to_string() },
            None => LabelMatcher { label: k.clone(), op: MatchOp::Eq, value: v.0.clone() },
        })
        .collect()
}

/// A Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// A Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `s` with what a name cannot hold replaced by `_`.
fn name_fix(s: &str, colon: bool) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Check a metric name (at `path.field`) and the label names of its matchers
/// (at `path.labels.NAME`): a name Prometheus cannot have matches nothing,
/// and would only show up at run time as "no data".
pub fn metric_names(cx: &mut Ctx, path: &str, field: &str, metric: &str, labels: &BTreeMap<String, Scalar>) {
    if !valid_metric_name(metric) {
        let hint = if metric.contains('{') {
            "name the metric alone and put label matchers in `labels:`".to_string()
        } else {
            format!("letters, digits, `_` and `:`, not starting with a digit, e.g. `{}`", name_fix(metric, true))
        };
        cx.err_value(&format!("{path}.{field}"), format!("`{metric}` is not a valid Prometheus metric name"), Some(hint));
    }
    for k in labels.keys() {
        label_name(cx, &format!("{path}.labels.{k}"), k);
    }
}

/// Check one label name.
pub fn label_name(cx: &mut Ctx, path: &str, name: &str) {
    if !valid_label_name(name) {
        cx.err(
            path,
            format!("`{name}` is not a valid Prometheus label name"),
            Some(format!("letters, digits and `_`, not starting with a digit, e.g. `{}`", name_fix(name, false))),
        );
    }
}

/// Exactly one of the named optional checks must be set.
pub fn one_of<'a, T>(cx: &mut Ctx, path: &str, options: Vec<(&'static str, Option<&'a T>)>) -> Option<(&'static str, &'a T)> {
    let set: Vec<_> = options.iter().filter_map(|(n, v)| v.map(|v| (*n, v))).collect();
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    match set.as_slice() {
        [one] => Some(*one),
        [] => {
            cx.err(path, "no check given", Some(format!("add one of: {}", names.join(", "))));
            None
        }
        many => {
            let given: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
            cx.err(
                path,
                format!("several checks in one expectation: {}", given.join(", ")),
                Some("split them into separate expectations".into()),
            );
            None
        }
    }
}

pub fn route(cx: &mut Ctx, path: &str, r: Option<&str>) {
    if let Some(Err(e)) = r.map(check_route) {
        cx.err_value(&format!("{path}.route"), e, Some("write `METHOD /path`, e.g. `POST /v1/chat/completions`".into()));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn phases() -> Vec<PhaseSpan> {
        let s =
            |n: &str, a: u64, b: u64| PhaseSpan { name: n.into(), start: Duration::from_secs(a), end: Duration::from_secs(b), rate: None };
        vec![s("steady", 0, 6), s("outage", 6, 12), s("recovery", 12, 20)]
    }

    /// The errors `parse_window` reports for `text`.
    fn errors(text: &str, after: bool) -> Vec<String> {
        let file = Path::new("s.yaml");
        let mut cx = Ctx::new(file, "expect:\n  - during: x\n");
        let w = parse_window(&mut cx, "expect[0].during", text, &phases(), after);
        assert_eq!(w.is_some(), cx.diags.is_empty(), "{text}");
        cx.diags.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn empty_reversed_and_past_the_end_windows_are_errors() {
        for ok in ["outage", "outage+2s..outage.end", "steady..end", "recovery+7s..end"] {
            assert!(errors(ok, false).is_empty(), "{ok}: {:?}", errors(ok, false));
        }
        assert!(errors("recovery+4s", true).is_empty());
        assert_eq!(errors("outage+2s..outage.start", false), ["window `outage+2s..outage.start` is empty or reversed (8.0s to 6.0s)"]);
        assert_eq!(errors("outage.end..outage.end", false), ["window `outage.end..outage.end` is empty or reversed (12.0s to 12.0s)"]);
        assert_eq!(errors("recovery+8s", true), ["window `recovery+8s` starts at 20.0s, at or past the end of the timeline"]);
        assert_eq!(errors("end+1s..end+5s", false), ["window `end+1s..end+5s` starts at 21.0s, at or past the end of the timeline"]);
    }
}
